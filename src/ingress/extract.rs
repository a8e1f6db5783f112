//! The extractor traits: how a handler's arguments are made from a request.
//!
//! Invariant: head extractors ([`FromRequestParts`]) only borrow the request, so any number of
//! them run first, in argument order; at most one body extractor ([`FromRequest`]), the last
//! argument, then takes the request by value. A failed extraction is a [`Rejection`]: validation
//! errors are collected from every extractor and answered together as one `422`, as FastAPI
//! does; any other rejection (a `401` from an auth dependency, say) answers at once and no later
//! extractor or handler runs.

use std::borrow::Cow;
use std::future::Future;
use std::ops::Range;

use http::{HeaderMap, Method, Version};
use smallvec::SmallVec;

use super::http_error::HttpError;
use super::openapi::OperationDoc;
use super::validation::{ErrorDetail, ValidationErrors};
use crate::{Request, Response};

/// Path parameters inline before they spill to the heap: routes rarely have more.
const PATH_PARAMS_INLINE: usize = 4;

/// The path parameters a route matched: names from the route template, values as ranges into
/// [`Request::route_path`], still percent-encoded.
#[derive(Clone, Debug, Default)]
pub struct PathParams<'r> {
    /// The template's parameter names, in order (matchit yields values in the same order).
    names: &'r [String],
    ranges: SmallVec<[Range<usize>; PATH_PARAMS_INLINE]>,
}

impl<'r> PathParams<'r> {
    pub(crate) fn new(names: &'r [String]) -> Self {
        PathParams {
            names,
            ranges: SmallVec::new(),
        }
    }

    pub(crate) fn push(&mut self, range: Range<usize>) {
        self.ranges.push(range);
    }

    /// The parameters as `(name, value)`, values percent-decoded (invalid UTF-8 replaced by
    /// U+FFFD, as Starlette does).
    pub fn decoded<'p>(
        &'p self,
        route_path: &'p str,
    ) -> impl Iterator<Item = (&'r str, Cow<'p, str>)> + 'p {
        self.names
            .iter()
            .zip(&self.ranges)
            .map(move |(name, range)| {
                let raw = route_path.get(range.clone()).unwrap_or_default();
                (
                    name.as_str(),
                    percent_encoding::percent_decode_str(raw).decode_utf8_lossy(),
                )
            })
    }

    /// How many parameters the route matched.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the route has no parameters.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// What head extractors see: the request (borrowed), its path parameters and the replica's
/// state.
pub struct RequestParts<'a, S> {
    request: &'a Request,
    params: &'a PathParams<'a>,
    state: &'a S,
}

impl<'a, S> RequestParts<'a, S> {
    pub(crate) fn new(request: &'a Request, params: &'a PathParams<'a>, state: &'a S) -> Self {
        RequestParts {
            request,
            params,
            state,
        }
    }

    /// The request, without its body.
    pub fn request(&self) -> &'a Request {
        self.request
    }

    /// The route's path parameters.
    pub fn path_params(&self) -> &'a PathParams<'a> {
        self.params
    }

    /// The replica's state (the `self` of a Ray Serve deployment class).
    pub fn state(&self) -> &'a S {
        self.state
    }
}

/// Why an extractor refused the request.
#[derive(Debug)]
pub enum Rejection {
    /// Bad values: collected with those of the other extractors into one `422`.
    Invalid(ValidationErrors),
    /// Any other answer (`401`, `403`, `413`, …), sent at once. Boxed: rejections are the
    /// cold path, and a `Response` is large.
    Respond(Box<Response>),
}

impl From<ErrorDetail> for Rejection {
    fn from(detail: ErrorDetail) -> Self {
        Rejection::Invalid(detail.into())
    }
}

impl From<ValidationErrors> for Rejection {
    fn from(errors: ValidationErrors) -> Self {
        Rejection::Invalid(errors)
    }
}

impl From<HttpError> for Rejection {
    fn from(error: HttpError) -> Self {
        Rejection::Respond(Box::new(error.into_response()))
    }
}

impl From<Response> for Rejection {
    fn from(response: Response) -> Self {
        Rejection::Respond(Box::new(response))
    }
}

/// Gathers rejections while a handler's arguments are extracted.
#[doc(hidden)]
#[derive(Default)]
pub struct Rejections {
    errors: ValidationErrors,
}

impl Rejections {
    /// Keeps an extraction's value, or records why it failed. `Err` carries a response that
    /// must be sent at once.
    pub(crate) fn absorb<T>(
        &mut self,
        extracted: Result<T, Rejection>,
    ) -> Result<Option<T>, Box<Response>> {
        match extracted {
            Ok(value) => Ok(Some(value)),
            Err(Rejection::Invalid(errors)) => {
                self.errors.extend(errors);
                Ok(None)
            }
            Err(Rejection::Respond(response)) => Err(response),
        }
    }

    /// Whether no validation error was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The `422` for everything collected.
    pub(crate) fn into_response(self) -> Response {
        self.errors.into_response()
    }
}

/// An argument made from the request's head (and the replica state): path, query, headers,
/// dependencies. Any number may appear in a handler's arguments; they run in order, before the
/// body is read.
///
/// A dependency is an extractor the user writes; it may use other extractors, and may reject:
///
/// ```
/// use ringserve::ingress::{FromRequestParts, HttpError, Rejection, RequestParts};
/// use ringserve::StatusCode;
///
/// /// Requires `x-api-key: secret`.
/// struct ApiKey;
///
/// impl<S> FromRequestParts<S> for ApiKey {
///     async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
///         match parts.request().header("x-api-key") {
///             Some(b"secret") => Ok(ApiKey),
///             _ => Err(HttpError::new(StatusCode::FORBIDDEN, "Not authenticated").into()),
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be extracted from a request head",
    note = "`Json<T>`, `Path<T>`, `Query<T>`, `Header<T>` need `T: ToSchema` (derive utoipa's `ToSchema`) and `Deserialize`"
)]
pub trait FromRequestParts<S>: Sized {
    /// Extracts the value, or says why the request cannot be served.
    fn from_request_parts(
        parts: &RequestParts<'_, S>,
    ) -> impl Future<Output = Result<Self, Rejection>>;

    /// Adds what this extractor needs to the route's OpenAPI operation (parameters, security).
    fn describe(_operation: &mut OperationDoc) {}
}

/// Marks a [`FromRequest`] implemented through [`FromRequestParts`].
#[doc(hidden)]
pub enum ViaParts {}

/// Marks a [`FromRequest`] implemented directly (it consumes the request).
#[doc(hidden)]
pub enum ViaRequest {}

/// An argument made from the whole request, body included: `Json<T>`, `Bytes`, `String`,
/// `Request`. Only the last argument of a handler may be one. Every [`FromRequestParts`] is
/// also one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be extracted from a request",
    note = "only the last argument of a handler may read the body"
)]
pub trait FromRequest<S, M = ViaRequest>: Sized {
    /// Extracts the value, reading the body if it needs to.
    fn from_request(
        request: Request,
        params: &PathParams<'_>,
        state: &S,
    ) -> impl Future<Output = Result<Self, Rejection>>;

    /// Adds what this extractor needs to the route's OpenAPI operation (request body).
    fn describe(_operation: &mut OperationDoc) {}
}

impl<S, T: FromRequestParts<S>> FromRequest<S, ViaParts> for T {
    async fn from_request(
        request: Request,
        params: &PathParams<'_>,
        state: &S,
    ) -> Result<Self, Rejection> {
        T::from_request_parts(&RequestParts::new(&request, params, state)).await
    }

    fn describe(operation: &mut OperationDoc) {
        T::describe(operation);
    }
}

impl<S> FromRequest<S> for Request {
    async fn from_request(
        request: Request,
        _params: &PathParams<'_>,
        _state: &S,
    ) -> Result<Self, Rejection> {
        Ok(request)
    }
}

impl<S> FromRequestParts<S> for Method {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        Ok(parts.request().method().clone())
    }
}

impl<S> FromRequestParts<S> for Version {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        Ok(parts.request().version())
    }
}

/// Every header, copied into an `http::HeaderMap` (one allocation per field: use `Header<T>` or
/// `Request::header` on hot routes).
impl<S> FromRequestParts<S> for HeaderMap {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        let mut map = HeaderMap::new();
        for (name, value) in parts.request().headers() {
            // The parser admitted only valid field names and values, so these conversions hold.
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_bytes(value),
            ) {
                map.append(name, value);
            }
        }
        Ok(map)
    }
}
