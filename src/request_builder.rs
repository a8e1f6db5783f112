//! Requests made in code rather than read from a socket: [`RequestBuilder`] for calls to
//! other deployments through a `DeploymentHandle` (and for tests), and the re-encoding of a
//! request whose headers a middleware changed, before it crosses to another core.
//!
//! Invariant: a request made here is encoded as an HTTP/1.1 head and parsed by the same
//! parser as one from a socket, so it obeys the same rules and limits and every accessor works
//! on it unchanged; the engine, not the caller, writes its framing (`content-length`).

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, header};

use crate::Limits;
use crate::http1::parse::parse_head;
use crate::http1::reject::ParseError;
use crate::request::{AppScope, Request, RequestId};
use crate::request_body::Body;
use crate::request_id::REQUEST_ID_BYTES;

/// W3C Trace Context's field.
const TRACEPARENT: &str = "traceparent";

/// The `Host` a built request gets when the caller sets none (HTTP/1.1 requires one).
const DEFAULT_HOST: &str = "localhost";

/// Builds a [`Request`]: method, target (path and query), headers, body.
///
/// ```
/// use ringserve::{Method, Request, header, HeaderValue};
///
/// let request = Request::builder(Method::POST, "/predict?verbose=1")
///     .with_header(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))
///     .body(r#"{"x": 1}"#)
///     .unwrap();
/// assert_eq!(request.path(), "/predict");
/// assert_eq!(request.query(), Some("verbose=1"));
/// assert_eq!(request.header_str("content-length"), Some("8"));
/// ```
#[derive(Debug)]
pub struct RequestBuilder {
    method: Method,
    target: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

// Written here rather than in `request.rs`, so that the builder builds on `Request` and not
// the other way round.
impl Request {
    /// A request made in code — to call another deployment through a
    /// [`DeploymentHandle`](crate::DeploymentHandle), or in a test.
    pub fn builder(method: Method, target: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new(method, target)
    }
}

impl RequestBuilder {
    pub(crate) fn new(method: Method, target: impl Into<String>) -> Self {
        RequestBuilder {
            method,
            target: target.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header. `Content-Length` and `Transfer-Encoding` are the engine's: set here,
    /// they are ignored.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The request, with `body` (which may be empty). An `Err` when the target is not an
    /// origin-form target (`/path?query`, visible ASCII) or the head breaks the default
    /// [`Limits`] — as the engine would refuse it from a client.
    ///
    /// Built while a handler runs — to call another deployment — it carries that handler's
    /// request's `traceparent` on (W3C Trace Context), unless it was given one.
    pub fn body(self, body: impl Into<Bytes>) -> Result<Request, ParseError> {
        if !self.target.starts_with('/') {
            return Err(ParseError::BadTarget);
        }
        let body = body.into();
        let mut head = BytesMut::with_capacity(128 + self.target.len());
        head.put_slice(self.method.as_str().as_bytes());
        head.put_u8(b' ');
        head.put_slice(self.target.as_bytes());
        head.put_slice(b" HTTP/1.1\r\n");
        let has_host = self.headers.iter().any(|(name, _)| name == header::HOST);
        if !has_host {
            put_field(&mut head, header::HOST.as_str(), DEFAULT_HOST.as_bytes());
        }
        for (name, value) in &self.headers {
            if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
                put_field(&mut head, name.as_str(), value.as_bytes());
            }
        }
        let has_trace = self.headers.iter().any(|(name, _)| name == TRACEPARENT);
        if let Some(parent) = crate::trace::current().filter(|_| !has_trace) {
            put_field(&mut head, TRACEPARENT, parent.as_str().as_bytes());
        }
        if !body.is_empty() {
            head.put_slice(b"content-length: ");
            crate::http1::encode::write_decimal(&mut head, body.len() as u64);
            head.put_slice(b"\r\n");
        }
        head.put_slice(b"\r\n");
        parsed(head.freeze(), Body::Full(body), 0, None, &Limits::default())
    }
}

/// A request whose headers a middleware changed, encoded afresh with the changes applied, so
/// that it can cross to another core as owned bytes. Method, target, version, body, route
/// offset and a generated request id are kept; the server's `limits` apply, as they did to the
/// request when it arrived.
pub(crate) fn reencode(request: Request, limits: &Limits) -> Result<Request, ParseError> {
    let mut head = BytesMut::with_capacity(256);
    head.put_slice(request.method().as_str().as_bytes());
    head.put_u8(b' ');
    head.put_slice(request.path().as_bytes());
    if let Some(query) = request.query() {
        head.put_u8(b'?');
        head.put_slice(query.as_bytes());
    }
    head.put_slice(match request.version() {
        http::Version::HTTP_10 => b" HTTP/1.0\r\n",
        _ => b" HTTP/1.1\r\n",
    });
    for (name, value) in request.headers() {
        put_field(&mut head, name, value);
    }
    head.put_slice(b"\r\n");
    let route_offset = request.route_offset();
    let generated_id = request.generated_id();
    let scope = request.scope();
    let body = request.into_body();
    let mut rebuilt = parsed(head.freeze(), body, route_offset, generated_id, limits)?;
    rebuilt.set_scope(scope);
    Ok(rebuilt)
}

fn put_field(head: &mut BytesMut, name: &str, value: &[u8]) {
    head.put_slice(name.as_bytes());
    head.put_slice(b": ");
    head.put_slice(value);
    head.put_slice(b"\r\n");
}

/// Parses `head` (exactly one head) into a request with `body`.
fn parsed(
    head: Bytes,
    body: Body,
    route_offset: usize,
    generated_id: Option<[u8; REQUEST_ID_BYTES]>,
    limits: &Limits,
) -> Result<Request, ParseError> {
    let parts = parse_head(&head, limits)?.ok_or(ParseError::Malformed)?;
    if parts.head_len != head.len() {
        return Err(ParseError::Malformed);
    }
    let request_id = match (parts.request_id, generated_id) {
        (Some(span), _) => RequestId::FromClient(span),
        (None, Some(generated)) => RequestId::Generated(generated),
        (None, None) => RequestId::Generated(crate::request_id::generate_here()),
    };
    Ok(Request::new(
        head,
        parts,
        route_offset,
        body,
        AppScope::unbound(),
        request_id,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_requests_parse_like_received_ones() {
        let mut request = Request::builder(Method::PUT, "/a/b?c=1")
            .with_header(
                HeaderName::from_static("x-one"),
                HeaderValue::from_static("1"),
            )
            .with_header(header::CONTENT_LENGTH, HeaderValue::from_static("999"))
            .body("hello")
            .unwrap();
        assert_eq!(request.method(), Method::PUT);
        assert_eq!(request.path(), "/a/b");
        assert_eq!(request.query(), Some("c=1"));
        assert_eq!(request.header_str("host"), Some(DEFAULT_HOST));
        assert_eq!(request.header_str("x-one"), Some("1"));
        assert_eq!(request.header_str("content-length"), Some("5"));
        let body = futures_lite::future::block_on(request.body()).unwrap();
        assert_eq!(body, "hello");
    }

    #[test]
    fn bad_targets_are_refused() {
        for target in ["", "relative", "/with space", "/a\r\nx: y"] {
            assert!(
                Request::builder(Method::GET, target).body("").is_err(),
                "{target:?}"
            );
        }
    }

    #[test]
    fn reencoding_applies_header_edits_and_keeps_the_rest() {
        let mut request = Request::from_http1(
            &b"POST /api/x?q=2 HTTP/1.1\r\nHost: h\r\nX-Drop: 1\r\nx-request-id: abc\r\nContent-Length: 2\r\n\r\nhi"[..],
        )
        .unwrap();
        request.set_header(
            HeaderName::from_static("x-added"),
            HeaderValue::from_static("yes"),
        );
        request.remove_header(&HeaderName::from_static("x-drop"));
        let mut rebuilt = reencode(request, &Limits::default()).unwrap();
        assert_eq!(rebuilt.path(), "/api/x");
        assert_eq!(rebuilt.query(), Some("q=2"));
        assert_eq!(rebuilt.header_str("x-added"), Some("yes"));
        assert_eq!(rebuilt.header("x-drop"), None);
        assert_eq!(rebuilt.request_id(), "abc");
        let body = futures_lite::future::block_on(rebuilt.body()).unwrap();
        assert_eq!(body, "hi");
    }
}
