//! Raw body extractors: `Bytes` and `String`, and the answer to a body that could not be read.
//!
//! Invariant: a body is read only by the last argument of a handler, after every head
//! extractor has run; a read failure answers with the status the engine would give it.

use bytes::Bytes;
use utoipa::PartialSchema;

use super::extract::{FromRequest, PathParams, Rejection};
use super::http_error::HttpError;
use super::openapi::OperationDoc;
use super::pydantic::STRING_UNICODE;
use super::validation::{ErrorDetail, Location};
use crate::Request;

/// Whether a `Content-Type` value names the media type `essence` (`multipart/form-data`),
/// parameters aside and case ignored.
pub(crate) fn media_type_is(value: &[u8], essence: &str) -> bool {
    value
        .split(|&byte| byte == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii()
        .eq_ignore_ascii_case(essence.as_bytes())
}

/// Reads the whole body, turning a failure into the answer it deserves.
pub(crate) async fn read_body(request: &mut Request) -> Result<Bytes, Rejection> {
    request
        .body()
        .await
        .map_err(|error| HttpError::new(error.status(), error.to_string()).into())
}

/// The body as bytes, whatever its content type.
impl<S> FromRequest<S> for Bytes {
    async fn from_request(
        mut request: Request,
        _params: &PathParams<'_>,
        _state: &S,
    ) -> Result<Self, Rejection> {
        read_body(&mut request).await
    }

    fn describe(operation: &mut OperationDoc) {
        let schema = utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .content_media_type("application/octet-stream")
            .into();
        operation.required_body("application/octet-stream", schema);
    }
}

/// The body as text; a body that is not UTF-8 is a 422 (`string_unicode`), as pydantic reports.
impl<S> FromRequest<S> for String {
    async fn from_request(
        mut request: Request,
        _params: &PathParams<'_>,
        _state: &S,
    ) -> Result<Self, Rejection> {
        let body = read_body(&mut request).await?;
        String::from_utf8(body.to_vec())
            .map_err(|_| ErrorDetail::of(STRING_UNICODE, Location::Body).into())
    }

    fn describe(operation: &mut OperationDoc) {
        operation.validates_input();
        operation.required_body("text/plain", String::schema());
    }
}
