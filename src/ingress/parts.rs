//! Head extractors: `Path<T>`, `Query<T>`, `Header<T>` and `State<T>`.
//!
//! Invariant: each reads only the request head — path parameters, query string, header fields
//! — into a typed `T` through `params::from_pairs`, which locates every error FastAPI's way
//! (`["path","item_id"]`, `["query","limit"]`, `["header","x-token"]`); values are borrowed
//! from the request and percent-decoded only where they were encoded.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use smallvec::SmallVec;
use utoipa::PartialSchema;
use utoipa::openapi::path::ParameterIn;

use super::extract::{FromRequestParts, Rejection, RequestParts};
use super::http_error::HttpError;
use super::openapi::OperationDoc;
use super::params::{PAIRS_INLINE, from_pairs, from_urlencoded};
use super::validation::Location;

/// Typed path parameters. For one parameter `T` is its type (`Path<i64>` for
/// `/items/{item_id}`); for several, a struct whose fields are named like the parameters.
///
/// A value that does not parse answers 422 with `loc: ["path", <name>]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<S, T: DeserializeOwned + PartialSchema> FromRequestParts<S> for Path<T> {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        let route_path = parts.request().route_path();
        let decoded: SmallVec<[(&str, Cow<'_, str>); PAIRS_INLINE]> =
            parts.path_params().decoded(route_path).collect();
        let pairs: SmallVec<[(&str, &str); PAIRS_INLINE]> = decoded
            .iter()
            .map(|(name, value)| (*name, value.as_ref()))
            .collect();
        from_pairs(&pairs, Location::Path)
            .map(Path)
            .map_err(Rejection::from)
    }

    fn describe(operation: &mut OperationDoc) {
        operation.parameters_from::<T>("Path<T>", ParameterIn::Path, str::to_owned);
    }
}

/// Typed query parameters: a struct whose fields are the parameters; `Option` fields and
/// `#[serde(default)]` fields may be absent, `Vec` fields collect repeated parameters.
///
/// A missing or bad value answers 422 with `loc: ["query", <name>]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<S, T: DeserializeOwned + PartialSchema> FromRequestParts<S> for Query<T> {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        let query = parts.request().query().unwrap_or_default();
        from_urlencoded(query.as_bytes(), Location::Query)
            .map(Query)
            .map_err(Rejection::from)
    }

    fn describe(operation: &mut OperationDoc) {
        operation.parameters_from::<T>("Query<T>", ParameterIn::Query, str::to_owned);
    }
}

/// Typed request headers: a struct whose fields are headers, `_` in a field name standing for
/// `-` and case ignored, as FastAPI's `Header()` does (`x_token` reads `X-Token`). A required
/// field is a required header: when it is missing the answer is 422 with
/// `loc: ["header","x-token"]`; an `Option` field is an optional header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header<T>(pub T);

impl<S, T: DeserializeOwned + PartialSchema> FromRequestParts<S> for Header<T> {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        let request = parts.request();
        let decoded: SmallVec<[(&str, Cow<'_, str>); PAIRS_INLINE]> = request
            .headers()
            .map(|(name, value)| (name, String::from_utf8_lossy(value)))
            .collect();
        let pairs: SmallVec<[(&str, &str); PAIRS_INLINE]> = decoded
            .iter()
            .map(|(name, value)| (*name, value.as_ref()))
            .collect();
        from_pairs(&pairs, Location::Header)
            .map(Header)
            .map_err(Rejection::from)
    }

    fn describe(operation: &mut OperationDoc) {
        operation.parameters_from::<T>("Header<T>", ParameterIn::Header, |field| {
            field.replace('_', "-")
        });
    }
}

/// A value a middleware attached to the request (`request.extensions_mut().insert(..)`),
/// cloned for the handler. Missing, it is the server's mistake — the middleware that should
/// insert it is not installed — and answers `500`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extension<T>(pub T);

impl<S, T: Clone + 'static> FromRequestParts<S> for Extension<T> {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        match parts.request().extensions().get::<T>() {
            Some(value) => Ok(Extension(value.clone())),
            None => Err(HttpError::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            )
            .into()),
        }
    }
}

/// The replica's state: what the router was given with [`Router::with_state`](super::Router),
/// cloned for the handler (an `Rc` clone for shared mutable state; no `Send` needed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State<T>(pub T);

impl<S: Clone> FromRequestParts<S> for State<S> {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        Ok(State(parts.state().clone()))
    }
}
