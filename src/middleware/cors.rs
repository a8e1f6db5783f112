//! CORS (the Fetch standard's cross-origin resource sharing) as a middleware: preflights
//! answered without calling the handler, simple and actual requests decorated with the
//! `Access-Control-*` headers the browser checks.
//!
//! Invariant: the rules are validated and their header values rendered once, by
//! [`CorsBuilder::build`]; per request the middleware only compares bytes and copies
//! ready-made header values (an allowed origin from a list is answered with the list's own
//! value, so nothing is allocated; only an origin admitted by a predicate is copied). A
//! disallowed origin gets no CORS header at all, so the browser blocks the response; an answer
//! that depends on the origin carries `Vary: Origin` so caches keep one per origin.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, StatusCode, header};

use super::{Middleware, Next};
use crate::limits::{CORS_MAX_AGE_DEFAULT, CORS_REQUEST_HEADERS_BYTES_MAX};
use crate::{Request, Response};

/// Request headers a browser may always send cross-origin (the Fetch standard's CORS-safelisted
/// request headers), so a preflight may name them without their being configured.
const SAFELISTED_HEADERS: [&str; 4] = [
    "accept",
    "accept-language",
    "content-language",
    "content-type",
];

const ANY: HeaderValue = HeaderValue::from_static("*");
const TRUE: HeaderValue = HeaderValue::from_static("true");
const ORIGIN: HeaderValue = HeaderValue::from_static("Origin");

/// Which origins may read responses.
#[derive(Clone)]
pub enum Origins {
    /// Every origin (`Access-Control-Allow-Origin: *`); not allowed with credentials.
    Any,
    /// These serialized origins, e.g. `https://app.example` or `http://localhost:3000`.
    List(Vec<String>),
    /// Origins for which the predicate returns `true`.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl fmt::Debug for Origins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origins::Any => f.write_str("Any"),
            Origins::List(list) => f.debug_tuple("List").field(list).finish(),
            Origins::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// Why CORS rules were refused; each names the value at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsError {
    /// No origin is allowed: the middleware would only ever block.
    NoOrigins,
    /// Not a serialized origin (`scheme://host[:port]`, no path, no trailing `/`).
    InvalidOrigin(String),
    /// Not a valid header name.
    InvalidHeader(String),
    /// Credentials with a wildcard: the Fetch standard treats `*` literally when credentials
    /// are included, so the browser would block every response.
    CredentialsWithWildcard(&'static str),
}

impl fmt::Display for CorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorsError::NoOrigins => f.write_str(
                "CORS allows no origin; call allow_origins, allow_any_origin or allow_origin_fn",
            ),
            CorsError::InvalidOrigin(origin) => {
                write!(f, "CORS origin {origin:?} is not scheme://host[:port]")
            }
            CorsError::InvalidHeader(name) => {
                write!(f, "CORS header {name:?} is not a valid header name")
            }
            CorsError::CredentialsWithWildcard(what) => write!(
                f,
                "CORS allow_credentials with {what} \"*\": browsers refuse credentialed responses with a wildcard; list them instead"
            ),
        }
    }
}

impl std::error::Error for CorsError {}

/// A list that may be "anything".
#[derive(Clone, Debug)]
enum Allowed<T> {
    Any,
    Only(Vec<T>),
}

/// Builds [`Cors`]; defaults are Starlette's `CORSMiddleware`'s: no origin, `GET` only, no
/// extra request header, nothing exposed, no credentials, preflights cached 600 s.
#[derive(Clone, Debug)]
pub struct CorsBuilder {
    origins: Option<Origins>,
    methods: Allowed<Method>,
    headers: Allowed<String>,
    expose: Allowed<String>,
    credentials: bool,
    max_age: Duration,
}

/// The CORS middleware. Build it with [`Cors::builder`] and add it with
/// [`Application::layer`](crate::Application::layer) or [`Serve::layer`](crate::Serve::layer).
///
/// ```
/// use ringserve::Method;
/// use ringserve::middleware::Cors;
///
/// let cors = Cors::builder()
///     .allow_origins(["https://app.example"])
///     .allow_methods([Method::GET, Method::POST])
///     .allow_headers(["content-type", "authorization"])
///     .allow_credentials(true)
///     .build()
///     .expect("valid rules");
/// # let _ = cors;
/// // With credentials, a wildcard origin is refused when built:
/// assert!(Cors::builder().allow_any_origin().allow_credentials(true).build().is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Cors {
    origins: RenderedOrigins,
    methods: Allowed<Method>,
    headers: Allowed<HeaderName>,
    credentials: bool,
    allow_methods: HeaderValue,
    allow_headers: Option<HeaderValue>,
    expose_headers: Option<HeaderValue>,
    max_age: HeaderValue,
}

#[derive(Clone)]
enum RenderedOrigins {
    Any,
    /// Each allowed origin with its header value, made once so answering copies a reference.
    List(Vec<HeaderValue>),
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl fmt::Debug for RenderedOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderedOrigins::Any => f.write_str("Any"),
            RenderedOrigins::List(list) => f.debug_tuple("List").field(list).finish(),
            RenderedOrigins::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

impl Cors {
    /// Rules to fill in; nothing is allowed until an origin is.
    pub fn builder() -> CorsBuilder {
        CorsBuilder {
            origins: None,
            methods: Allowed::Only(vec![Method::GET]),
            headers: Allowed::Only(Vec::new()),
            expose: Allowed::Only(Vec::new()),
            credentials: false,
            max_age: CORS_MAX_AGE_DEFAULT,
        }
    }
}

impl CorsBuilder {
    /// Allows every origin (`*`), as `allow_origins=["*"]` does.
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = Some(Origins::Any);
        self
    }

    /// Allows these origins (`"*"` among them means any).
    pub fn allow_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<String> = origins.into_iter().map(Into::into).collect();
        self.origins = Some(if list.iter().any(|origin| origin == "*") {
            Origins::Any
        } else {
            Origins::List(list)
        });
        self
    }

    /// Allows the origins for which `predicate` returns `true` (Starlette's
    /// `allow_origin_regex`); each allowed origin is echoed back, which copies it.
    pub fn allow_origin_fn(
        mut self,
        predicate: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.origins = Some(Origins::Predicate(Arc::new(predicate)));
        self
    }

    /// The methods a cross-origin request may use (default: `GET`, as Starlette's). A
    /// preflight for any other — `POST` and `HEAD` included — is refused with Starlette's `400`
    /// `Disallowed CORS method`, so a page cannot send a JSON `POST` the rules do not name.
    pub fn allow_methods<I: IntoIterator<Item = Method>>(mut self, methods: I) -> Self {
        self.methods = Allowed::Only(methods.into_iter().collect());
        self
    }

    /// Any method: a preflight is answered with the method it asks for.
    pub fn allow_any_method(mut self) -> Self {
        self.methods = Allowed::Any;
        self
    }

    /// The request headers a cross-origin request may send, beyond the safelisted ones.
    pub fn allow_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.headers = Allowed::Only(headers.into_iter().map(Into::into).collect());
        self
    }

    /// Any request header: a preflight is answered with the headers it asks for.
    pub fn allow_any_header(mut self) -> Self {
        self.headers = Allowed::Any;
        self
    }

    /// Response headers the page's script may read, beyond the safelisted ones.
    pub fn expose_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.expose = Allowed::Only(headers.into_iter().map(Into::into).collect());
        self
    }

    /// Every response header readable (`*`); not allowed with credentials.
    pub fn expose_any_header(mut self) -> Self {
        self.expose = Allowed::Any;
        self
    }

    /// Lets requests carry cookies and HTTP authentication (`Access-Control-Allow-Credentials`).
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// How long a browser may cache a preflight's answer (default 600 s).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Checks the rules and renders their header values.
    pub fn build(self) -> Result<Cors, CorsError> {
        let origins = match self.origins.ok_or(CorsError::NoOrigins)? {
            Origins::Any if self.credentials => {
                return Err(CorsError::CredentialsWithWildcard("origin"));
            }
            Origins::Any => RenderedOrigins::Any,
            Origins::List(list) if list.is_empty() => return Err(CorsError::NoOrigins),
            Origins::List(list) => RenderedOrigins::List(
                list.into_iter()
                    .map(|origin| render_origin(&origin).ok_or(CorsError::InvalidOrigin(origin)))
                    .collect::<Result<_, _>>()?,
            ),
            Origins::Predicate(predicate) => RenderedOrigins::Predicate(predicate),
        };
        if self.credentials && matches!(self.expose, Allowed::Any) {
            return Err(CorsError::CredentialsWithWildcard("expose_headers"));
        }
        let methods = self.methods;
        let headers = match self.headers {
            Allowed::Any => Allowed::Any,
            Allowed::Only(names) => Allowed::Only(parse_header_names(names)?),
        };
        let allow_methods = match &methods {
            Allowed::Any => ANY,
            Allowed::Only(methods) => join(methods.iter().map(Method::as_str)),
        };
        // The safelisted names are always granted, as Starlette grants them: a browser names
        // `content-type` in a preflight when its value is not safelisted (`application/json`)
        // and then needs it listed, configured or not.
        let allow_headers = match &headers {
            Allowed::Any => None,
            Allowed::Only(names) => Some(join(
                SAFELISTED_HEADERS.iter().copied().chain(
                    names
                        .iter()
                        .map(HeaderName::as_str)
                        .filter(|name| !SAFELISTED_HEADERS.contains(name)),
                ),
            )),
        };
        let expose_headers = match self.expose {
            Allowed::Any => Some(ANY),
            Allowed::Only(names) if names.is_empty() => None,
            Allowed::Only(names) => {
                let names = parse_header_names(names)?;
                Some(join(names.iter().map(HeaderName::as_str)))
            }
        };
        Ok(Cors {
            origins,
            methods,
            headers,
            credentials: self.credentials,
            allow_methods,
            allow_headers,
            expose_headers,
            max_age: HeaderValue::from(self.max_age.as_secs()),
        })
    }
}

fn parse_header_names(names: Vec<String>) -> Result<Vec<HeaderName>, CorsError> {
    names
        .into_iter()
        .map(|name| {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| CorsError::InvalidHeader(name))
        })
        .collect()
}

/// `a, b, c` as a header value; its parts are validated tokens, so it is a valid value.
fn join<'a>(parts: impl Iterator<Item = &'a str>) -> HeaderValue {
    static_value(parts.collect::<Vec<_>>().join(", ")).unwrap_or(HeaderValue::from_static(""))
}

/// A configured header value made `'static`, so that copying it into each response neither
/// allocates nor touches a shared reference count. The text is leaked: CORS rules are built
/// once and live as long as the server, and their few strings are bounded by the
/// configuration.
fn static_value(text: String) -> Option<HeaderValue> {
    HeaderValue::from_str(&text).ok()?;
    Some(HeaderValue::from_static(Box::leak(text.into_boxed_str())))
}

/// The header value for a configured origin, if it is one a browser can send: a serialized
/// origin (`scheme "://" host [ ":" port ]`) with a lower-case scheme and host, no default
/// port (443 for https, 80 for http — browsers omit it), no path, query or user info. The host
/// is lower-cased here, as browsers send it; anything else is refused rather than kept as an
/// origin that could never match.
fn render_origin(origin: &str) -> Option<HeaderValue> {
    let (scheme, authority) = origin.split_once("://")?;
    let scheme_ok = !scheme.is_empty()
        && scheme.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"+-.".contains(&byte)
        });
    let (host, port) = split_host_port(authority)?;
    let host_ok = !host.is_empty()
        && !host.contains("..")
        && !host.starts_with('.')
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-.:[]".contains(&byte));
    let port_ok = match port {
        None => true,
        Some(port) => {
            let default = matches!((scheme, port), ("https", "443") | ("http", "80"));
            !default
                && !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
        }
    };
    if !(scheme_ok && host_ok && port_ok) {
        return None;
    }
    static_value(origin.to_ascii_lowercase())
}

/// Host and optional port of an authority; an IPv6 host keeps its brackets.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, rest) = authority.split_at(close + 1);
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host, Some(port))),
        Some(_) => None,
        None => Some((authority, None)),
    }
}

/// How a request's origin was judged.
enum Verdict {
    /// Answer with `*`: any origin, the same answer for all.
    Wildcard,
    /// Answer with this origin; the answer depends on the origin.
    Echo(HeaderValue),
    /// No CORS headers; the answer still depends on the origin.
    Refused,
}

impl Cors {
    fn judge(&self, origin: &[u8]) -> Verdict {
        match &self.origins {
            RenderedOrigins::Any => Verdict::Wildcard,
            RenderedOrigins::List(list) => list
                .iter()
                .find(|allowed| allowed.as_bytes() == origin)
                .map_or(Verdict::Refused, |allowed| Verdict::Echo(allowed.clone())),
            RenderedOrigins::Predicate(predicate) => match std::str::from_utf8(origin) {
                Ok(text) if predicate(text) => {
                    HeaderValue::from_bytes(origin).map_or(Verdict::Refused, Verdict::Echo)
                }
                _ => Verdict::Refused,
            },
        }
    }

    /// Whether a preflight's method may be used: exactly the configured ones, as Starlette
    /// decides (`GET` alone by default). A preflight for a CORS-safelisted method (`HEAD`,
    /// `POST`) comes only from a request that is not simple — a JSON `POST`, say — so granting
    /// it unasked would let pages send requests the application never allowed. With any
    /// method allowed, the method must still be a valid token, since it is echoed back.
    fn method_allowed(&self, method: &[u8]) -> bool {
        match &self.methods {
            Allowed::Any => Method::from_bytes(method).is_ok(),
            Allowed::Only(methods) => methods
                .iter()
                .any(|allowed| allowed.as_str().as_bytes() == method),
        }
    }

    /// Whether every header a preflight names may be sent.
    fn headers_allowed(&self, requested: &[u8]) -> bool {
        if matches!(self.headers, Allowed::Any) {
            return true;
        }
        if requested.len() > CORS_REQUEST_HEADERS_BYTES_MAX {
            return false;
        }
        requested
            .split(|&byte| byte == b',')
            .map(<[u8]>::trim_ascii)
            .filter(|name| !name.is_empty())
            .all(|name| {
                SAFELISTED_HEADERS.iter().any(|safe| safe.as_bytes().eq_ignore_ascii_case(name))
                    || matches!(&self.headers, Allowed::Only(allowed)
                        if allowed.iter().any(|allowed| allowed.as_str().as_bytes().eq_ignore_ascii_case(name)))
            })
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`), which never
    /// reaches the handler: `200` with the grants, or Starlette's `400` naming what was refused,
    /// without any CORS header.
    fn preflight(&self, request: &Request, origin: &[u8], method: &[u8]) -> Response {
        let verdict = self.judge(origin);
        let requested_headers = request
            .header("access-control-request-headers")
            .unwrap_or_default();
        let mut refused = Vec::new();
        if matches!(verdict, Verdict::Refused) {
            refused.push("origin");
        }
        if !self.method_allowed(method) {
            refused.push("method");
        }
        if !self.headers_allowed(requested_headers) {
            refused.push("headers");
        }
        if !refused.is_empty() {
            let mut response = Response::text(format!("Disallowed CORS {}", refused.join(", ")))
                .with_status(StatusCode::BAD_REQUEST);
            if !matches!(verdict, Verdict::Wildcard) {
                response = response.with_header(header::VARY, ORIGIN);
            }
            return response;
        }
        let mut response = Response::new(StatusCode::OK);
        response = self.grant_origin(response, verdict);
        let allow_methods = match self.methods {
            // Any method: grant the one asked for (a valid token: `method_allowed` checked).
            Allowed::Any => HeaderValue::from_bytes(method).unwrap_or(ANY),
            Allowed::Only(_) => self.allow_methods.clone(),
        };
        response = response
            .with_header(header::ACCESS_CONTROL_ALLOW_METHODS, allow_methods)
            .with_header(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        let allow_headers = match self.headers {
            Allowed::Any => Some(requested_headers)
                .filter(|names| !names.is_empty())
                .and_then(|names| HeaderValue::from_bytes(names).ok()),
            Allowed::Only(_) => self.allow_headers.clone(),
        };
        if let Some(allow_headers) = allow_headers {
            response = response.with_header(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        }
        response
    }

    /// Adds the origin grant (and credentials, and `Vary`) for an allowed origin.
    fn grant_origin(&self, mut response: Response, verdict: Verdict) -> Response {
        match verdict {
            // Set, not added: a handler's own grant is replaced, never doubled (a browser
            // refuses a response with two).
            Verdict::Wildcard => response.set_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY),
            Verdict::Echo(origin) => {
                response.set_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                response = response.with_header(header::VARY, ORIGIN);
            }
            Verdict::Refused => return response.with_header(header::VARY, ORIGIN),
        }
        if self.credentials {
            response.set_header(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
        response
    }
}

impl Middleware for Cors {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        let Some(origin) = request.header("origin") else {
            // Not a cross-origin request from a browser: nothing to grant. But when the grant
            // depends on the origin, a cache must not hand this answer to a CORS request
            // (Fetch §3.2.5): it varies on `Origin` all the same.
            let response = next.run(request).await;
            return match self.origins {
                RenderedOrigins::Any => response,
                _ => response.with_header(header::VARY, ORIGIN),
            };
        };
        if request.method() == Method::OPTIONS
            && let Some(method) = request.header("access-control-request-method")
        {
            return self.preflight(&request, origin, method);
        }
        let verdict = self.judge(origin);
        let exposes = !matches!(verdict, Verdict::Refused);
        let mut response = self.grant_origin(next.run(request).await, verdict);
        if exposes && let Some(expose) = &self.expose_headers {
            response.set_header(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_validated_when_built() {
        assert_eq!(Cors::builder().build().unwrap_err(), CorsError::NoOrigins);
        assert_eq!(
            Cors::builder()
                .allow_origins(["https://a.example/"])
                .build()
                .unwrap_err(),
            CorsError::InvalidOrigin("https://a.example/".to_owned())
        );
        assert_eq!(
            Cors::builder()
                .allow_origins(["a.example"])
                .build()
                .unwrap_err(),
            CorsError::InvalidOrigin("a.example".to_owned())
        );
        assert!(
            Cors::builder()
                .allow_origins(["http://localhost:3000", "https://[::1]:8443"])
                .build()
                .is_ok()
        );
    }

    #[test]
    fn configured_origins_are_normalized_or_refused() {
        let value =
            |origin: &str| render_origin(origin).map(|value| value.to_str().unwrap().to_owned());
        assert_eq!(
            value("https://App.Example").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            value("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(
            value("https://[::1]:8443").as_deref(),
            Some("https://[::1]:8443")
        );
        for never_sent in [
            "https://a.example:443",
            "http://a.example:80",
            "https://:80",
            "https://a:b:c",
            "https://a..b",
            "https://a.example/",
            "https://a.example:",
            "https://[::1",
        ] {
            assert_eq!(value(never_sent), None, "{never_sent}");
        }
    }

    #[test]
    fn only_configured_methods_are_allowed_in_a_preflight_safelisted_ones_too() {
        let cors = Cors::builder().allow_any_origin().build().unwrap();
        assert!(cors.method_allowed(b"GET"));
        assert!(!cors.method_allowed(b"POST"));
        assert!(!cors.method_allowed(b"HEAD"));
        assert!(!cors.method_allowed(b"DELETE"));
        let any = Cors::builder()
            .allow_any_origin()
            .allow_any_method()
            .build()
            .unwrap();
        assert!(any.method_allowed(b"PURGE"));
        assert!(!any.method_allowed(b"PUT, DELETE"));
    }

    #[test]
    fn credentials_refuse_wildcards() {
        assert_eq!(
            Cors::builder()
                .allow_any_origin()
                .allow_credentials(true)
                .build()
                .unwrap_err(),
            CorsError::CredentialsWithWildcard("origin")
        );
        assert_eq!(
            Cors::builder()
                .allow_origins(["*"])
                .allow_credentials(true)
                .build()
                .unwrap_err(),
            CorsError::CredentialsWithWildcard("origin")
        );
        assert_eq!(
            Cors::builder()
                .allow_origins(["https://a.example"])
                .expose_any_header()
                .allow_credentials(true)
                .build()
                .unwrap_err(),
            CorsError::CredentialsWithWildcard("expose_headers")
        );
    }

    #[test]
    fn bad_methods_and_headers_are_named() {
        assert_eq!(
            Cors::builder()
                .allow_any_origin()
                .allow_headers(["bad header"])
                .build()
                .unwrap_err(),
            CorsError::InvalidHeader("bad header".to_owned())
        );
    }

    #[test]
    fn requested_headers_must_all_be_allowed_or_safelisted() {
        let cors = Cors::builder()
            .allow_any_origin()
            .allow_headers(["X-Token"])
            .build()
            .unwrap();
        assert!(cors.headers_allowed(b"x-token, Content-Type"));
        assert!(cors.headers_allowed(b""));
        assert!(!cors.headers_allowed(b"x-token, x-other"));
        assert!(!cors.headers_allowed(&[b'a'; CORS_REQUEST_HEADERS_BYTES_MAX + 1]));
    }
}
