//! The ingress: FastAPI-style routing for one application — Ray Serve's
//! `@serve.ingress(FastAPI())` for thread-per-core handlers.
//!
//! A [`Router`] maps method + path template to handlers: async functions whose arguments are
//! extractors ([`Path`], [`Query`], [`Header`], [`Json`] — of a model, of a [`Dict`] for any
//! object, of a `serde_json::Value` for any JSON —, [`State`], `Bytes`, `String`, the
//! [`Request`](crate::Request) itself, or a dependency the user writes by implementing
//! [`FromRequestParts`]) and whose return value is anything [`IntoResponse`]. Built, it is an
//! [`Ingress`]: a [`Deployment`](crate::Deployment) that each shard builds for itself, so its
//! state may be `Rc<RefCell<…>>` — nothing in the handler path asks for `Send`.
//!
//! Behaviour follows FastAPI so that its clients work unchanged:
//!
//! - validation errors answer `422` with `{"detail":[{"type","loc","msg","input"}]}`, every
//!   extractor's errors together; `loc` says where (`path`, `query`, `header`, `body` and the
//!   field path inside a JSON body);
//! - an unknown path answers `404 {"detail":"Not Found"}` — or `307` to the same path with its
//!   trailing slash toggled, when that one exists; a known path with another method answers
//!   `405 {"detail":"Method Not Allowed"}` with `Allow`;
//! - [`HttpError`] is `HTTPException`: `{"detail": …}` with its status and headers;
//! - `<prefix>/openapi.json` serves an OpenAPI 3.1 document generated from the routes and the
//!   handlers' own types (via utoipa's `ToSchema`), `<prefix>/docs` a Swagger UI page (with
//!   its OAuth2 redirect page) and `<prefix>/redoc` a ReDoc page.
//!
//! Where ringserve differs, deliberately:
//!
//! - a JSON body must come with a JSON content type (`application/json` or
//!   `application/*+json`; FastAPI also accepts none), and is read strictly, as pydantic's
//!   strict mode reads it: `"1"` and `1.0` are not integers (`int_type`), `"1.5"` is not a
//!   number (`float_type`);
//! - a key repeated in a JSON object is refused when it is a struct's field (`value_error`
//!   naming it), where Python keeps the last value — parsers that disagree on duplicates are
//!   how a body slips past a check (a `serde_json::Value` or map keeps the last, as Python);
//! - a struct nested inside a JSON body may be sent as an array of its fields (serde's
//!   leniency; the body's top-level struct must be an object);
//! - a struct's fields stop at the first bad one (serde reports one error per value), where
//!   pydantic lists every bad field;
//! - `HEAD` is answered by the `GET` route and `OPTIONS` with `204` and `Allow`, where FastAPI
//!   answers both with `405` (RFC 9110 asks servers for `HEAD` wherever `GET` works);
//! - paths are matched as sent, before percent-decoding (`/items/m%65` is not `/items/me`);
//!   parameter values are decoded after matching, so `%2F` inside one stays in its segment;
//! - a dependency runs once per request only when taken as [`Depends<D>`] (its value is cloned
//!   for each taker); a bare `D` runs wherever it is taken, as FastAPI's
//!   `Depends(d, use_cache=False)` — Rust cannot share a value that is not `Clone`;
//! - several path parameters are read into a struct (`Path<T>` with named fields), not a
//!   tuple, because the OpenAPI document needs `T`'s schema and utoipa has none for tuples;
//! - a [`Dict`] is documented as utoipa spells "any value" (`"additionalProperties": {}`,
//!   with `propertyNames` and a description), where FastAPI writes `true`: the same schema;
//! - an upload is read with [`Multipart`], field by field, where FastAPI fills `UploadFile`
//!   parameters: the handler finds its fields (and answers a missing one with
//!   `ErrorDetail::missing`), and `Multipart<T>`'s `T` documents the form;
//! - background tasks ride on the answer (`tasks.after(response)`), as Starlette's
//!   `Response(background=…)` does, rather than being injected as a parameter.
//!
//! Extractors that can never match their route — `Path<i64>` on a route with two
//! parameters, a `Path` struct field the template lacks, `Query<i64>` — are refused when the
//! router is built (`RouteError::Extractor`), not answered with a 422 on every request.
//!
//! Query strings are split by `form_urlencoded` (the parser under `serde_urlencoded`) and read
//! by ringserve's own typed deserializer (`params`), because `serde_urlencoded` reports a bad
//! value as a bare message, without the expected type or the field, so FastAPI's error types
//! could not be told apart.
//!
//! Cost over a bare `Deployment`, measured by `cargo bench --bench ingress` (criterion medians
//! on the 2-core development machine, each including the 186 ns of building the request from
//! bytes): a hand-written `Deployment` answering `GET /items/5` with `{"item_id":5}` takes
//! 400 ns; the same through a ten-route `Router` (matchit lookup, `Path<i64>`, `Json` response)
//! 645 ns — the ingress adds about 0.25 µs per request. A 422 for a bad id takes 1.16 µs, a
//! `POST` of a JSON body into a struct and back 1.19 µs.

mod background;
mod body;
mod cookie;
mod depends;
mod dict;
mod dispatch;
mod docs;
mod extract;
mod form;
mod guard;
mod handler;
mod http_error;
mod json;
mod multipart;
mod openapi;
mod params;
mod parts;
mod pydantic;
mod python_json;
mod respond;
mod route;
mod router;
mod validation;

pub use background::{Background, BackgroundTasks, Teardown};
pub use cookie::Cookie;
pub use depends::Depends;
pub use dict::Dict;
pub use dispatch::{DOCS_OAUTH2_REDIRECT_PATH, DOCS_PATH, Ingress, OPENAPI_PATH, REDOC_PATH};
pub use extract::{
    FromRequest, FromRequestParts, PathParams, Rejection, Rejections, RequestParts, ViaParts,
    ViaRequest,
};
pub use form::Form;
pub use guard::Guard;
pub use handler::Handler;
pub use http_error::HttpError;
pub use json::Json;
pub use multipart::{Field, Multipart};
pub use openapi::OperationDoc;
pub use parts::{Extension, Header, Path, Query, State};
pub use respond::{IntoResponse, Status};
pub use route::RouteError;
pub use router::Router;
pub use validation::{ErrorDetail, LocItem, Location, ValidationErrors};

/// utoipa, whose `ToSchema` derive documents the types handlers take and return.
pub use utoipa;
pub use utoipa::ToSchema;
