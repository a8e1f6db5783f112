//! `IntoResponse`: what a handler may return, and how each return type documents itself.
//!
//! Invariant: every conversion is infallible and sets the content type that matches the body;
//! the engine still owns framing (`content-length`, chunking).

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use utoipa::PartialSchema;
use utoipa::openapi::{Content, ResponseBuilder};

use super::extract::Rejection;
use super::http_error::HttpError;
use super::openapi::OperationDoc;
use super::validation::ValidationErrors;
use crate::Response;

/// A value a handler can return.
///
/// Implemented for the engine's [`Response`], `&'static str` and `String` (text/plain),
/// `Bytes`, [`Json<T>`](super::Json), [`HttpError`], `StatusCode` (empty body),
/// [`Status<CODE, T>`] (a fixed status, documented), `(StatusCode, T)` (a status chosen per
/// request, documented as `200`), `([(HeaderName, HeaderValue); N], T)`,
/// `(StatusCode, [(HeaderName, HeaderValue); N], T)` and `Result<T, E>` of two such types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler's response",
    note = "return `&str`, `String`, `Json<T>` (with `T: Serialize + ToSchema`), `(StatusCode, T)`, `Result<T, HttpError>` or a `Response`"
)]
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response;

    /// Documents the successful response in the route's OpenAPI operation.
    fn describe(operation: &mut OperationDoc) {
        operation.response(
            "200",
            ResponseBuilder::new()
                .description("Successful Response")
                .build(),
        );
    }
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

fn describe_text(operation: &mut OperationDoc) {
    operation.response(
        "200",
        ResponseBuilder::new()
            .description("Successful Response")
            .content("text/plain", Content::new(Some(String::schema())))
            .build(),
    );
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }

    fn describe(operation: &mut OperationDoc) {
        describe_text(operation);
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }

    fn describe(operation: &mut OperationDoc) {
        describe_text(operation);
    }
}

/// `application/octet-stream`.
impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::new(StatusCode::OK)
            .with_header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            .with_body(self)
    }
}

/// The status with an empty body.
impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(StatusCode::OK)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        HttpError::into_response(self)
    }

    /// An error documents no success; a route declares its errors with `responds_with`.
    fn describe(_operation: &mut OperationDoc) {}
}

/// FastAPI's `422` with these details, from a handler that validates something itself (a
/// required upload it did not find, say).
impl IntoResponse for ValidationErrors {
    fn into_response(self) -> Response {
        ValidationErrors::into_response(self)
    }

    fn describe(operation: &mut OperationDoc) {
        operation.validates_input();
    }
}

/// What an extractor would answer: a `422` or the response it carries — so a handler can
/// refuse as extractors do (`Result<T, Rejection>`, with `?` on an `HttpError` or an
/// `ErrorDetail`).
impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Invalid(errors) => errors.into_response(),
            Rejection::Respond(response) => *response,
        }
    }

    fn describe(operation: &mut OperationDoc) {
        operation.validates_input();
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(value) => value.into_response(),
            Err(error) => error.into_response(),
        }
    }

    /// `T`'s success, and what `E` adds (a `Rejection`'s `422`) — but never a `200` of `E`'s
    /// own: where `T` answers another status (`Status<201, _>`), the error branch's default
    /// success must not appear as a second one.
    fn describe(operation: &mut OperationDoc) {
        T::describe(operation);
        let success_documented = operation.has_response("200");
        E::describe(operation);
        if !success_documented {
            operation.remove_response("200");
        }
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }

    fn describe(operation: &mut OperationDoc) {
        T::describe(operation);
    }
}

impl<T: IntoResponse, const N: usize> IntoResponse for ([(HeaderName, HeaderValue); N], T) {
    fn into_response(self) -> Response {
        let (headers, body) = self;
        body.into_response().with_headers(headers)
    }

    fn describe(operation: &mut OperationDoc) {
        T::describe(operation);
    }
}

impl<T: IntoResponse, const N: usize> IntoResponse
    for (StatusCode, [(HeaderName, HeaderValue); N], T)
{
    fn into_response(self) -> Response {
        let (status, headers, body) = self;
        body.into_response()
            .with_headers(headers)
            .with_status(status)
    }

    fn describe(operation: &mut OperationDoc) {
        T::describe(operation);
    }
}

/// `T` answered with status `CODE` instead of `200`, and documented under it — FastAPI's
/// `status_code=` on a route: `Status<201, Json<Item>>` answers and documents `201` with the
/// item's schema; `Status<204, ()>` an empty `204`. A `CODE` outside 100–999 does not compile.
///
/// ```
/// use ringserve::ingress::{Json, Status, ToSchema};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize, Serialize, ToSchema)]
/// struct Item { name: String }
///
/// async fn create_item(Json(item): Json<Item>) -> Status<201, Json<Item>> {
///     Status(Json(item))
/// }
/// # let _ = create_item;
/// ```
///
/// ```compile_fail
/// use ringserve::ingress::{IntoResponse, Status};
///
/// // 1000 is no status code: refused when compiled.
/// let _ = Status::<1000, ()>(()).into_response();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status<const CODE: u16, T>(pub T);

impl<const CODE: u16, T> Status<CODE, T> {
    /// `CODE` as a status; refused at compile time when it is not one.
    const STATUS: StatusCode = {
        match StatusCode::from_u16(CODE) {
            Ok(status) => status,
            Err(_) => panic!("Status<CODE, _>: CODE must be an HTTP status code, 100 to 999"),
        }
    };
}

impl<const CODE: u16, T: IntoResponse> IntoResponse for Status<CODE, T> {
    /// `CODE` in place of `T`'s `200`; any other status `T` chose — an `HttpError`'s 404 in a
    /// `Result`, say — is kept, as FastAPI's `status_code=` applies to success only.
    fn into_response(self) -> Response {
        let response = self.0.into_response();
        if response.status() == StatusCode::OK {
            response.with_status(Self::STATUS)
        } else {
            response
        }
    }

    fn describe(operation: &mut OperationDoc) {
        T::describe(operation);
        operation.move_response("200", Self::STATUS.as_str());
    }
}
