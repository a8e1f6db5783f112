//! Route guards: the [`Guard`] trait that [`Router::guard`](super::Router::guard) takes, and its
//! implementations for the credential checks of [`middleware::auth`](crate::middleware::auth),
//! which add their security schemes to each guarded route's OpenAPI operation.
//!
//! It lives in the ingress, not beside the checks, so that the dependency goes one way: the
//! ingress builds on middleware, and middleware knows nothing of routes or OpenAPI operations.
//!
//! Invariant: a guard that refuses answers with its own response, and the route's handler
//! never runs; the checks of `middleware::auth` refuse with `401`, FastAPI's `{"detail": …}`
//! body and a `WWW-Authenticate` challenge (RFC 9110 §11.6.1 requires one on every 401).

use http::{StatusCode, header};

use super::openapi::OperationDoc;
use crate::middleware::auth::{ApiKeyAuth, BearerAuth};
use crate::{Request, Response};

/// A check of a request's credentials, usable as a route guard
/// ([`Router::guard`](super::Router::guard)).
///
/// ```
/// use ringserve::ingress::{Guard, Router};
/// use ringserve::{Request, Response, StatusCode};
///
/// /// Lets through only requests that name a tenant.
/// struct Tenanted;
///
/// impl Guard for Tenanted {
///     fn check(&self, request: &Request) -> Result<(), Box<Response>> {
///         match request.header("x-tenant") {
///             Some(_) => Ok(()),
///             None => Err(Box::new(Response::new(StatusCode::FORBIDDEN))),
///         }
///     }
/// }
///
/// async fn hello() -> &'static str {
///     "hello"
/// }
///
/// let router = Router::new().guard(Tenanted).get("/", hello);
/// # let _ = router.build();
/// ```
pub trait Guard: 'static {
    /// `Ok` lets the request through; `Err` is the answer instead (boxed: refusals are the
    /// cold path, and a `Response` is large).
    fn check(&self, request: &Request) -> Result<(), Box<Response>>;

    /// Adds the security scheme to a guarded route's OpenAPI operation.
    fn describe(&self, _operation: &mut OperationDoc) {}
}

impl Guard for BearerAuth {
    fn check(&self, request: &Request) -> Result<(), Box<Response>> {
        let checked = BearerAuth::check(self, request);
        debug_assert!(
            checked
                .as_ref()
                .err()
                .is_none_or(|refused| is_challenge(refused))
        );
        checked
    }

    fn describe(&self, operation: &mut OperationDoc) {
        let (name, scheme) = self.security_scheme();
        operation.security_scheme(name, scheme);
    }
}

impl Guard for ApiKeyAuth {
    fn check(&self, request: &Request) -> Result<(), Box<Response>> {
        let checked = ApiKeyAuth::check(self, request);
        debug_assert!(
            checked
                .as_ref()
                .err()
                .is_none_or(|refused| is_challenge(refused))
        );
        checked
    }

    fn describe(&self, operation: &mut OperationDoc) {
        let (name, scheme) = self.security_scheme();
        operation.security_scheme(name, scheme);
    }
}

/// Whether a refusal is a `401` with the challenge every 401 must carry.
fn is_challenge(refused: &Response) -> bool {
    refused.status() == StatusCode::UNAUTHORIZED
        && refused.header(&header::WWW_AUTHENTICATE).is_some()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::ingress::HttpError;

    fn request(headers: &str) -> Request {
        let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        Request::from_http1(raw.into_bytes()).expect("valid request")
    }

    /// The head and body of a response, to compare two of them.
    fn parts(response: &Response) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
        let headers = response
            .headers()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        let body = response.body_bytes().unwrap().to_vec();
        (response.status(), headers, body)
    }

    /// The refusals the auth checks build themselves are what `HttpError` renders: the
    /// ingress's `{"detail": …}` shape, which middleware cannot name.
    #[test]
    fn refusals_are_http_errors() {
        let bearer = BearerAuth::new(["t"]).unwrap();
        let api_key = ApiKeyAuth::new(["k"]).unwrap();
        let refusals = [
            (
                Guard::check(&bearer, &request("")),
                "Not authenticated",
                "Bearer",
            ),
            (
                Guard::check(&bearer, &request("Authorization: Bearer u\r\n")),
                "Invalid token",
                "Bearer error=\"invalid_token\"",
            ),
            (
                Guard::check(&api_key, &request("")),
                "Not authenticated",
                "ApiKey",
            ),
        ];
        for (refused, detail, challenge) in refusals {
            let expected = HttpError::new(StatusCode::UNAUTHORIZED, detail)
                .with_header(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                )
                .into_response();
            assert_eq!(parts(&refused.unwrap_err()), parts(&expected), "{detail}");
        }
    }
}
