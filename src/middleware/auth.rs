//! Authentication helpers: a bearer-token check and an API-key check, each usable as a
//! middleware for a whole application ([`Application::layer`](crate::Application::layer)) or
//! as a guard on ingress routes ([`Router::guard`](crate::ingress::Router::guard)), where it
//! also documents its security scheme in the OpenAPI document. The guard side — the
//! [`Guard`](crate::ingress::Guard) trait and its implementations for these checks — lives in
//! the ingress, which builds on middleware; nothing here names the ingress.
//!
//! Invariant: credentials are validated when the check is built and compared in constant time
//! per credential — every configured credential is compared in full, whatever matched, so the
//! time taken says nothing about how much of a guess was right (only a guess's length can
//! show). A refused request gets `401` with FastAPI's `{"detail": …}` body and a
//! `WWW-Authenticate` challenge (RFC 9110 §11.6.1 requires one on every 401) and never reaches
//! the handler.

use std::fmt;
use std::sync::Arc;

use http::{HeaderName, HeaderValue, StatusCode, header};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};

use super::{Middleware, Next};
use crate::limits::CREDENTIAL_BYTES_MAX;
use crate::{Request, Response};

/// Why credentials were refused when building a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No credential configured: every request would be refused.
    NoCredentials,
    /// A credential that is empty, too long, or holds characters a header cannot carry
    /// (the index in the list given).
    InvalidCredential(usize),
    /// The API key's header name is not a valid header name.
    InvalidHeaderName(String),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::NoCredentials => f.write_str("no credential configured"),
            AuthError::InvalidCredential(index) => write!(
                f,
                "credential #{index} is empty, longer than {CREDENTIAL_BYTES_MAX} bytes, or not visible ASCII"
            ),
            AuthError::InvalidHeaderName(name) => write!(f, "{name:?} is not a valid header name"),
        }
    }
}

impl std::error::Error for AuthError {}

/// Compares two byte strings without stopping at the first difference.
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    // `black_box` keeps the optimiser from turning the fold into an early exit.
    let difference = left.iter().zip(right).fold(0u8, |difference, (a, b)| {
        std::hint::black_box(difference | (a ^ b))
    });
    std::hint::black_box(difference) == 0
}

/// Credentials, checked and shared by every shard (read-only after build).
#[derive(Clone)]
struct Credentials(Arc<[Box<[u8]>]>);

impl Credentials {
    fn new<I, S>(credentials: I) -> Result<Self, AuthError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<Box<[u8]>> = credentials
            .into_iter()
            .enumerate()
            .map(|(index, credential)| {
                let credential = credential.into();
                let valid = !credential.is_empty()
                    && credential.len() <= CREDENTIAL_BYTES_MAX
                    && credential.bytes().all(|byte| byte.is_ascii_graphic());
                valid
                    .then(|| credential.into_bytes().into_boxed_slice())
                    .ok_or(AuthError::InvalidCredential(index))
            })
            .collect::<Result<_, _>>()?;
        if list.is_empty() {
            return Err(AuthError::NoCredentials);
        }
        Ok(Credentials(list.into()))
    }

    /// Whether `presented` is one of the credentials; compares against all of them.
    fn contains(&self, presented: &[u8]) -> bool {
        debug_assert!(!self.0.is_empty(), "credentials are never empty once built");
        presented.len() <= CREDENTIAL_BYTES_MAX
            && self.0.iter().fold(false, |found, known| {
                found | constant_time_eq(known, presented)
            })
    }
}

impl fmt::Debug for Credentials {
    // Never print the secrets themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} credential(s)", self.0.len())
    }
}

/// Requires `Authorization: Bearer <token>` with one of the configured tokens (RFC 6750):
/// missing → `401 {"detail":"Not authenticated"}`, wrong → `401 {"detail":"Invalid token"}`,
/// both with `WWW-Authenticate: Bearer`.
///
/// ```
/// use ringserve::middleware::auth::BearerAuth;
///
/// let auth = BearerAuth::new(["s3cret-token"]).expect("valid tokens");
/// assert!(BearerAuth::new(Vec::<String>::new()).is_err());
/// # let _ = auth;
/// ```
#[derive(Clone, Debug)]
pub struct BearerAuth {
    tokens: Credentials,
}

impl BearerAuth {
    /// Accepts any of `tokens` (visible ASCII, 1 to 4096 bytes each).
    pub fn new<I, S>(tokens: I) -> Result<Self, AuthError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ok(BearerAuth {
            tokens: Credentials::new(tokens)?,
        })
    }
}

/// A `401` with FastAPI's `{"detail": …}` body — the shape `ingress::HttpError` renders, built
/// here because middleware sits below the ingress (a test in `ingress::guard` holds the two
/// to the same bytes) — and the `WWW-Authenticate` challenge every 401 must carry.
fn unauthorized(detail: &'static str, challenge: HeaderValue) -> Box<Response> {
    let body = serde_json::to_vec(&serde_json::json!({ "detail": detail })).unwrap_or_default();
    Box::new(
        Response::new(StatusCode::UNAUTHORIZED)
            .with_header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .with_header(header::WWW_AUTHENTICATE, challenge)
            .with_body(body),
    )
}

impl BearerAuth {
    /// Checks the request's `Authorization`: `Ok` lets it through, `Err` is the `401` to
    /// answer instead.
    pub fn check(&self, request: &Request) -> Result<(), Box<Response>> {
        const CHALLENGE: HeaderValue = HeaderValue::from_static("Bearer");
        let Some(value) = request.header("authorization") else {
            return Err(unauthorized("Not authenticated", CHALLENGE));
        };
        // The scheme is case-insensitive (RFC 9110 §11.1); one space, then the token.
        let token = value
            .split_at_checked(7)
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
            .map(|(_, token)| token.trim_ascii());
        match token {
            Some(token) if self.tokens.contains(token) => Ok(()),
            Some(_) => Err(unauthorized(
                "Invalid token",
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            )),
            None => Err(unauthorized("Not authenticated", CHALLENGE)),
        }
    }

    /// The OpenAPI security scheme this check enforces, with its name in the document.
    pub(crate) fn security_scheme(&self) -> (&'static str, SecurityScheme) {
        (
            "bearerAuth",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
    }
}

/// Requires an API key in a header (`x-api-key` by default) with one of the configured keys:
/// missing or wrong → `401 {"detail":"Not authenticated"}` with `WWW-Authenticate: ApiKey`.
///
/// ```
/// use ringserve::middleware::auth::ApiKeyAuth;
///
/// let auth = ApiKeyAuth::new(["k-123"])
///     .and_then(|auth| auth.header_name("x-key"))
///     .expect("valid keys and header name");
/// # let _ = auth;
/// ```
#[derive(Clone, Debug)]
pub struct ApiKeyAuth {
    keys: Credentials,
    header: HeaderName,
}

impl ApiKeyAuth {
    /// Accepts any of `keys` (visible ASCII, 1 to 4096 bytes each) in `x-api-key`.
    pub fn new<I, S>(keys: I) -> Result<Self, AuthError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ok(ApiKeyAuth {
            keys: Credentials::new(keys)?,
            header: HeaderName::from_static("x-api-key"),
        })
    }

    /// Reads the key from this header instead, or says why the name is not valid.
    pub fn header_name(mut self, name: &str) -> Result<Self, AuthError> {
        self.header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| AuthError::InvalidHeaderName(name.to_owned()))?;
        Ok(self)
    }
}

impl ApiKeyAuth {
    /// Checks the request's API-key header: `Ok` lets it through, `Err` is the `401` to answer
    /// instead.
    pub fn check(&self, request: &Request) -> Result<(), Box<Response>> {
        match request.header(self.header.as_str()) {
            Some(key) if self.keys.contains(key.trim_ascii()) => Ok(()),
            _ => Err(unauthorized(
                "Not authenticated",
                HeaderValue::from_static("ApiKey"),
            )),
        }
    }

    /// The OpenAPI security scheme this check enforces, with its name in the document.
    pub(crate) fn security_scheme(&self) -> (&'static str, SecurityScheme) {
        (
            "apiKeyAuth",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(self.header.as_str()))),
        )
    }
}

impl Middleware for BearerAuth {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        match self.check(&request) {
            Ok(()) => next.run(request).await,
            Err(refused) => *refused,
        }
    }
}

impl Middleware for ApiKeyAuth {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        match self.check(&request) {
            Ok(()) => next.run(request).await,
            Err(refused) => *refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &str) -> Request {
        let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        Request::from_http1(raw.into_bytes()).expect("valid request")
    }

    fn refused(result: Result<(), Box<Response>>) -> (u16, String, String) {
        let response = result.expect_err("refused");
        let challenge = response
            .header(&header::WWW_AUTHENTICATE)
            .map(|value| value.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let body = String::from_utf8_lossy(response.body_bytes().unwrap()).into_owned();
        (response.status().as_u16(), challenge, body)
    }

    #[test]
    fn bearer_tokens() {
        let auth = BearerAuth::new(["abc", "second"]).unwrap();
        assert!(
            auth.check(&request("Authorization: Bearer abc\r\n"))
                .is_ok()
        );
        assert!(
            auth.check(&request("authorization: bearer second\r\n"))
                .is_ok()
        );
        assert_eq!(
            refused(auth.check(&request(""))),
            (
                401,
                "Bearer".to_owned(),
                r#"{"detail":"Not authenticated"}"#.to_owned()
            )
        );
        assert_eq!(
            refused(auth.check(&request("Authorization: Bearer abd\r\n"))),
            (
                401,
                "Bearer error=\"invalid_token\"".to_owned(),
                r#"{"detail":"Invalid token"}"#.to_owned()
            )
        );
        assert_eq!(
            refused(auth.check(&request("Authorization: Basic abc\r\n"))).1,
            "Bearer"
        );
        assert_eq!(
            refused(auth.check(&request("Authorization: Bear\r\n"))).1,
            "Bearer"
        );
    }

    #[test]
    fn api_keys() {
        let auth = ApiKeyAuth::new(["k1"])
            .unwrap()
            .header_name("x-key")
            .unwrap();
        assert!(auth.check(&request("X-Key: k1\r\n")).is_ok());
        assert_eq!(
            refused(auth.check(&request("X-Key: k2\r\n"))),
            (
                401,
                "ApiKey".to_owned(),
                r#"{"detail":"Not authenticated"}"#.to_owned()
            )
        );
        assert_eq!(refused(auth.check(&request("x-api-key: k1\r\n"))).0, 401);
        assert_eq!(
            ApiKeyAuth::new(["k"])
                .unwrap()
                .header_name("bad name")
                .unwrap_err(),
            AuthError::InvalidHeaderName("bad name".to_owned())
        );
    }

    #[test]
    fn credentials_are_validated_when_built() {
        assert_eq!(
            BearerAuth::new(Vec::<String>::new()).unwrap_err(),
            AuthError::NoCredentials
        );
        assert_eq!(
            BearerAuth::new(["ok", ""]).unwrap_err(),
            AuthError::InvalidCredential(1)
        );
        assert_eq!(
            BearerAuth::new(["has space"]).unwrap_err(),
            AuthError::InvalidCredential(0)
        );
        assert_eq!(
            format!("{:?}", BearerAuth::new(["secret"]).unwrap()),
            "BearerAuth { tokens: 1 credential(s) }"
        );
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
