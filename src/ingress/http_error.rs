//! `HttpError`: FastAPI's `HTTPException` — a status, a `detail`, optional headers.
//!
//! Invariant: it always renders as `{"detail": <detail>}` with `application/json`, the shape
//! FastAPI clients parse, and its headers are validated when they are added.

use http::{HeaderName, HeaderValue, StatusCode, header};
use serde_json::Value;
use smallvec::SmallVec;

use crate::Response;

/// An error a handler or dependency returns to answer with a status and a JSON `detail`.
///
/// ```
/// use ringserve::ingress::HttpError;
/// use ringserve::{StatusCode, HeaderValue, header};
///
/// let error = HttpError::new(StatusCode::UNAUTHORIZED, "Invalid token")
///     .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
/// let response = error.into_response();
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.body_bytes().unwrap(), r#"{"detail":"Invalid token"}"#);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct HttpError {
    status: StatusCode,
    detail: Value,
    headers: SmallVec<[(HeaderName, HeaderValue); 2]>,
}

impl HttpError {
    /// An error with this status and `detail` (any JSON value; usually a string).
    pub fn new(status: StatusCode, detail: impl Into<Value>) -> Self {
        HttpError {
            status,
            detail: detail.into(),
            headers: SmallVec::new(),
        }
    }

    /// An error whose detail is the status's reason phrase, as `HTTPException(404)` gives
    /// `{"detail":"Not Found"}`.
    pub fn from_status(status: StatusCode) -> Self {
        HttpError::new(status, status.canonical_reason().unwrap_or("Error"))
    }

    /// Adds a header to the error response (e.g. `WWW-Authenticate`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The detail.
    pub fn detail(&self) -> &Value {
        &self.detail
    }

    /// The response: `{"detail": …}` with this status and headers.
    pub fn into_response(self) -> Response {
        let body =
            serde_json::to_vec(&serde_json::json!({ "detail": self.detail })).unwrap_or_default();
        Response::new(self.status)
            .with_header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .with_headers(self.headers)
            .with_body(body)
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_status_uses_reason_phrase() {
        let response = HttpError::from_status(StatusCode::NOT_FOUND).into_response();
        assert_eq!(response.body_bytes().unwrap(), r#"{"detail":"Not Found"}"#);
    }

    #[test]
    fn structured_detail_and_headers() {
        let response = HttpError::new(StatusCode::CONFLICT, serde_json::json!({"id": 5}))
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("3"))
            .into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(response.body_bytes().unwrap(), r#"{"detail":{"id":5}}"#);
        assert_eq!(response.header(&header::RETRY_AFTER).unwrap(), "3");
    }
}
