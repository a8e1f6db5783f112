//! `Respond`: one fixed answer to every request under its route prefix — a redirect, a
//! maintenance page, a `robots.txt` — as nginx's `return` does.
//!
//! Invariant: the status, headers and body are checked once, when it is built; each request
//! clones them (reference counts, no copy of the body).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde::Deserialize;

use crate::deployment::Deployment;
use crate::http1::encode::is_engine_header;
use crate::request::Request;
use crate::response::Response;

/// The arguments of `ringserve.respond:Respond` in a config file:
///
/// ```yaml
/// import_path: ringserve.respond:Respond
/// args:
///   status: 301
///   headers: {location: "https://example.com/"}
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondArgs {
    /// The status, 200 to 599 (default 200).
    #[serde(default = "default_status")]
    pub status: u16,
    /// The body (default empty). Without a `content-type` header a body is sent as
    /// `text/plain; charset=utf-8`.
    #[serde(default)]
    pub body: String,
    /// Headers, by name. The engine's own (`content-length`, `transfer-encoding`,
    /// `connection`, `date`, `x-request-id`) and `upgrade` are refused.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_status() -> u16 {
    200
}

/// A deployment that answers every request with the same response.
///
/// ```
/// use ringserve::builtin::{Respond, RespondArgs};
///
/// let moved = Respond::new(&RespondArgs {
///     status: 308,
///     body: String::new(),
///     headers: [("location".to_owned(), "https://example.com/".to_owned())].into(),
/// })
/// .unwrap();
/// let app = ringserve::Application::new(move || moved.clone()).route_prefix("/old");
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct Respond {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Respond {
    /// Checks `args`: the error names the bad status, header name or value.
    pub fn new(args: &RespondArgs) -> Result<Self, String> {
        let status = StatusCode::from_u16(args.status)
            .ok()
            .filter(|status| (200..=599).contains(&status.as_u16()))
            .ok_or_else(|| format!("status: {} is not a final status (200 to 599)", args.status))?;
        if !args.body.is_empty() && matches!(status.as_u16(), 204 | 304) {
            return Err(format!("body: a {status} response has no body"));
        }
        let mut headers = Vec::with_capacity(args.headers.len() + 1);
        for (name, value) in &args.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers: {name:?} is not a header name"))?;
            // The engine's own (it would ignore them), and `upgrade`, which means nothing
            // without a 101.
            if is_engine_header(&name) || name == header::UPGRADE {
                return Err(format!(
                    "headers: {name} is written by the engine, not by a deployment"
                ));
            }
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("headers.{name}: {value:?} is not a header value"))?;
            headers.push((name, value));
        }
        let typed = headers.iter().any(|(name, _)| name == header::CONTENT_TYPE);
        if !args.body.is_empty() && !typed {
            headers.push((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ));
        }
        Ok(Respond {
            status,
            headers,
            body: Bytes::from(args.body.clone()),
        })
    }
}

impl Deployment for Respond {
    async fn call(&self, _request: Request) -> Response {
        let mut response = Response::new(self.status).with_body(self.body.clone());
        for (name, value) in &self.headers {
            response.set_header(name.clone(), value.clone());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(status: u16, body: &str, headers: &[(&str, &str)]) -> RespondArgs {
        RespondArgs {
            status,
            body: body.to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn bad_arguments_are_named() {
        let refused = |args: RespondArgs| Respond::new(&args).unwrap_err();
        assert_eq!(
            refused(args(100, "", &[])),
            "status: 100 is not a final status (200 to 599)"
        );
        assert_eq!(
            refused(args(700, "", &[])),
            "status: 700 is not a final status (200 to 599)"
        );
        assert_eq!(
            refused(args(204, "x", &[])),
            "body: a 204 No Content response has no body"
        );
        assert_eq!(
            refused(args(200, "", &[("bad name", "x")])),
            "headers: \"bad name\" is not a header name"
        );
        assert_eq!(
            refused(args(200, "", &[("x-a", "line\nbreak")])),
            "headers.x-a: \"line\\nbreak\" is not a header value"
        );
        assert_eq!(
            refused(args(200, "", &[("Content-Length", "3")])),
            "headers: content-length is written by the engine, not by a deployment"
        );
    }

    #[test]
    fn a_body_without_a_type_is_text() {
        let respond = Respond::new(&args(503, "down for maintenance", &[])).unwrap();
        let request = Request::from_http1(&b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"[..]).unwrap();
        let response = crate::rt::block_on(respond.call(request));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.header("content-type").unwrap(),
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.body_bytes().unwrap(), "down for maintenance");
    }
}
