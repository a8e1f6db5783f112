//! The CORS middleware over loopback sockets: preflights allowed and refused, simple and actual
//! requests from allowed, refused and absent origins, wildcard methods and headers, origin
//! predicates, configuration errors, plain `OPTIONS`, and the `examples/cors.rs` setup on an
//! ingress router. Responses are compared byte for byte, with only the `date` and generated
//! `x-request-id` values redacted; the handler's calls are counted where the test sees them.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use ringserve::ingress::Router;
use ringserve::middleware::{Cors, CorsError};
use ringserve::{Application, Deployment, HeaderName, HeaderValue, Method, Request, Response};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A preflight granted: `200` with no body and these CORS headers.
fn granted(headers: &str) -> String {
    expected("HTTP/1.1 200 OK", headers, "")
}

/// A preflight refused: Starlette's `400` naming what was refused, no CORS header, and
/// `vary: Origin` when the answer depends on the origin.
fn refused(what: &str, vary: bool) -> String {
    let vary = if vary { "vary: Origin\r\n" } else { "" };
    expected(
        "HTTP/1.1 400 Bad Request",
        &format!("{TEXT_PLAIN}{vary}"),
        &format!("Disallowed CORS {what}"),
    )
}

/// The handler's answer (`handled <method>`), with `extra` header lines after its own.
fn handled(method: &str, extra: &str) -> String {
    expected(
        "HTTP/1.1 200 OK",
        &format!("{TEXT_PLAIN}x-handler: 1\r\n{extra}"),
        &format!("handled {method}"),
    )
}

/// `OPTIONS path` from `origin`, asking for `method` and, if given, `headers`.
fn preflight(
    addr: SocketAddr,
    path: &str,
    origin: &str,
    method: &str,
    headers: Option<&str>,
) -> RawResponse {
    let headers = headers
        .map(|headers| format!("Access-Control-Request-Headers: {headers}\r\n"))
        .unwrap_or_default();
    request(
        addr,
        format!(
            "OPTIONS {path} HTTP/1.1\r\nHost: api.example\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: {method}\r\n{headers}\r\n"
        )
        .as_bytes(),
    )
}

/// `method path` with extra header lines (each ending in CRLF) and no body.
fn send_bodyless(addr: SocketAddr, method: &str, path: &str, headers: &str) -> RawResponse {
    request(
        addr,
        format!("{method} {path} HTTP/1.1\r\nHost: api.example\r\n{headers}\r\n").as_bytes(),
    )
}

/// `GET /` from `origin`, or with no `Origin` header.
fn get_from(addr: SocketAddr, origin: Option<&str>) -> RawResponse {
    let origin = origin
        .map(|origin| format!("Origin: {origin}\r\n"))
        .unwrap_or_default();
    send_bodyless(addr, "GET", "/", &origin)
}

/// Answers `handled <method>` with `x-handler: 1`, counting its calls where the test sees them.
#[derive(Clone, Default)]
struct Api {
    calls: Arc<AtomicUsize>,
}

impl Api {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Deployment for Api {
    async fn call(&self, request: Request) -> Response {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Response::text(format!("handled {}", request.method())).with_header(
            HeaderName::from_static("x-handler"),
            HeaderValue::from_static("1"),
        )
    }
}

/// Serves `api` on one shard inside `cors`.
fn serve_api(api: &Api, cors: Cors) -> ringserve::ServerHandle {
    let api = api.clone();
    start_app(Application::new(move || api.clone()).layer(cors))
}

/// Any origin, `GET` and `POST`, `content-type`: `examples/cors.rs`'s rules.
fn example_rules() -> Cors {
    Cors::builder()
        .allow_any_origin()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(["content-type"])
        .build()
        .expect("valid CORS rules")
}

/// Two listed origins, `GET`, `POST` and `PUT`, `x-token`, credentials, `x-total` exposed.
fn listed_rules() -> Cors {
    Cors::builder()
        .allow_origins(["https://app.example", "http://localhost:3000"])
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers(["X-Token"])
        .expose_headers(["x-total"])
        .allow_credentials(true)
        .max_age(Duration::from_secs(60))
        .build()
        .expect("valid CORS rules")
}

// ---------------------------------------------------------------------------------------------
// 1–3. Preflights
// ---------------------------------------------------------------------------------------------

#[test]
fn an_allowed_preflight_is_answered_without_calling_the_handler() {
    let api = Api::default();
    let server = serve_api(&api, example_rules());
    let addr = server.local_addr();
    let expected = granted(
        "access-control-allow-origin: *\r\naccess-control-allow-methods: GET, POST\r\n\
         access-control-max-age: 600\r\naccess-control-allow-headers: accept, accept-language, content-language, content-type\r\n",
    );
    assert_eq!(
        preflight(
            addr,
            "/items/",
            "http://a.example",
            "POST",
            Some("content-type")
        )
        .redacted(),
        expected
    );
    // Any path, any origin, requested headers in any case, or none at all.
    assert_eq!(
        preflight(
            addr,
            "/x?y=1",
            "https://b.example:8443",
            "GET",
            Some("Content-Type")
        )
        .redacted(),
        expected
    );
    assert_eq!(
        preflight(addr, "/", "null", "GET", None).redacted(),
        expected
    );
    assert_eq!(api.calls(), 0, "a preflight never reaches the handler");
    server.shutdown();
}

#[test]
fn a_preflight_from_a_listed_origin_with_credentials_echoes_it_and_varies() {
    let api = Api::default();
    let server = serve_api(&api, listed_rules());
    let addr = server.local_addr();
    for origin in ["https://app.example", "http://localhost:3000"] {
        assert_eq!(
            preflight(addr, "/", origin, "PUT", Some("X-Token")).redacted(),
            granted(&format!(
                "access-control-allow-origin: {origin}\r\nvary: Origin\r\n\
                 access-control-allow-credentials: true\r\n\
                 access-control-allow-methods: GET, POST, PUT\r\naccess-control-max-age: 60\r\n\
                 access-control-allow-headers: accept, accept-language, content-language, content-type, x-token\r\n"
            )),
            "{origin}"
        );
    }
    assert_eq!(api.calls(), 0);
    server.shutdown();
}

#[test]
fn a_refused_preflight_is_400_naming_what_was_refused_without_cors_headers() {
    let api = Api::default();
    let server = serve_api(&api, listed_rules());
    let addr = server.local_addr();
    let ok = "https://app.example";
    // Origin: not listed, a listed one's near miss (case, trailing slash, other port).
    for origin in [
        "https://evil.example",
        "https://APP.example",
        "https://app.example/",
        "https://app.example:443",
        "http://localhost:3001",
    ] {
        assert_eq!(
            preflight(addr, "/", origin, "GET", None).redacted(),
            refused("origin", true),
            "{origin}"
        );
    }
    // Method: not listed, or not in its exact case.
    assert_eq!(
        preflight(addr, "/", ok, "DELETE", None).redacted(),
        refused("method", true)
    );
    assert_eq!(
        preflight(addr, "/", ok, "put", None).redacted(),
        refused("method", true)
    );
    // Headers: one not allowed among allowed and safelisted ones.
    assert_eq!(
        preflight(addr, "/", ok, "GET", Some("x-token, x-other, accept")).redacted(),
        refused("headers", true)
    );
    // Several at once, in Starlette's order.
    assert_eq!(
        preflight(addr, "/", "https://evil.example", "DELETE", None).redacted(),
        refused("origin, method", true)
    );
    assert_eq!(
        preflight(addr, "/", "https://evil.example", "DELETE", Some("x-other")).redacted(),
        refused("origin, method, headers", true)
    );
    assert_eq!(
        preflight(addr, "/", ok, "PATCH", Some("x-other")).redacted(),
        refused("method, headers", true)
    );
    assert_eq!(api.calls(), 0);
    server.shutdown();

    // With any origin, the refusal does not depend on the origin: no `vary`.
    let server = serve_api(&api, example_rules());
    assert_eq!(
        preflight(
            server.local_addr(),
            "/",
            "http://a.example",
            "DELETE",
            Some("x-other")
        )
        .redacted(),
        refused("method, headers", false)
    );
    assert_eq!(api.calls(), 0);
    server.shutdown();
}

/// Starlette's `CORSMiddleware(allow_origins=["*"])` allows `GET` alone: a preflight for `POST`
/// (a cross-origin JSON `POST` always sends one) or `HEAD` gets `400 Disallowed CORS method`, so
/// the browser never sends a request the rules do not name. The CORS-safelisted methods get no
/// pass of their own.
#[test]
fn only_the_configured_methods_are_granted_safelisted_ones_included() {
    let api = Api::default();
    let server = serve_api(&api, Cors::builder().allow_any_origin().build().unwrap());
    let addr = server.local_addr();
    for method in ["POST", "HEAD", "PUT"] {
        assert_eq!(
            preflight(addr, "/items/", "http://a.example", method, None).redacted(),
            refused("method", false),
            "{method}"
        );
    }
    assert_eq!(
        preflight(addr, "/items/", "http://a.example", "GET", None).redacted(),
        granted(
            "access-control-allow-origin: *\r\naccess-control-allow-methods: GET\r\n\
             access-control-max-age: 600\r\naccess-control-allow-headers: accept, \
             accept-language, content-language, content-type\r\n"
        )
    );
    assert_eq!(api.calls(), 0);
    server.shutdown();
}

/// The Fetch standard makes a browser name in `Access-Control-Request-Headers` only the headers
/// that are not CORS-safelisted for their value — `content-type: application/json` among them —
/// and then refuse the actual request unless `Access-Control-Allow-Headers` names each of them
/// (Starlette therefore always lists `Accept, Accept-Language, Content-Language, Content-Type`).
/// A preflight that the middleware grants for `content-type` must say so.
#[test]
fn a_granted_preflight_names_every_requested_header_safelisted_ones_included() {
    fn allowed_headers(response: &RawResponse) -> Vec<String> {
        response
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .split(',')
            .map(|name| name.trim().to_ascii_lowercase())
            .collect()
    }
    let api = Api::default();
    // No extra header configured: `content-type` is accepted, so it must be granted.
    let server = serve_api(
        &api,
        Cors::builder()
            .allow_any_origin()
            .allow_methods([Method::POST])
            .build()
            .unwrap(),
    );
    let response = preflight(
        server.local_addr(),
        "/items/",
        "http://a.example",
        "POST",
        Some("content-type"),
    );
    assert_eq!(response.status(), 200, "{}", response.raw);
    assert!(
        allowed_headers(&response).contains(&"content-type".to_owned()),
        "{}",
        response.raw
    );
    server.shutdown();
    // A configured header plus a safelisted one: both must be granted.
    let server = serve_api(&api, listed_rules());
    let response = preflight(
        server.local_addr(),
        "/",
        "https://app.example",
        "POST",
        Some("x-token, content-type"),
    );
    assert_eq!(response.status(), 200, "{}", response.raw);
    let allowed = allowed_headers(&response);
    assert!(
        allowed.contains(&"x-token".to_owned()) && allowed.contains(&"content-type".to_owned()),
        "{}",
        response.raw
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 4. Simple and actual requests
// ---------------------------------------------------------------------------------------------

#[test]
fn a_request_from_an_allowed_origin_reaches_the_handler_and_is_granted() {
    let api = Api::default();
    let server = serve_api(&api, listed_rules());
    let addr = server.local_addr();
    assert_eq!(
        get_from(addr, Some("https://app.example")).redacted(),
        handled(
            "GET",
            "access-control-allow-origin: https://app.example\r\nvary: Origin\r\n\
             access-control-allow-credentials: true\r\naccess-control-expose-headers: x-total\r\n"
        )
    );
    // An actual request after a preflight, with another listed origin and method.
    assert_eq!(
        send_bodyless(
            addr,
            "PUT",
            "/items/5",
            "Origin: http://localhost:3000\r\nX-Token: t\r\n"
        )
        .redacted(),
        handled(
            "PUT",
            "access-control-allow-origin: http://localhost:3000\r\nvary: Origin\r\n\
             access-control-allow-credentials: true\r\naccess-control-expose-headers: x-total\r\n"
        )
    );
    assert_eq!(api.calls(), 2);
    server.shutdown();

    // Any origin: `*`, the same for every origin, so no `vary`.
    let server = serve_api(&api, example_rules());
    assert_eq!(
        get_from(server.local_addr(), Some("http://a.example")).redacted(),
        handled("GET", "access-control-allow-origin: *\r\n")
    );
    assert_eq!(api.calls(), 3);
    server.shutdown();
}

#[test]
fn a_request_from_a_refused_origin_reaches_the_handler_without_cors_headers() {
    let api = Api::default();
    let server = serve_api(&api, listed_rules());
    let addr = server.local_addr();
    // The browser, not the server, blocks the response; `vary` keeps caches per origin.
    assert_eq!(
        get_from(addr, Some("https://evil.example")).redacted(),
        handled("GET", "vary: Origin\r\n")
    );
    // The method is not checked outside a preflight.
    assert_eq!(
        send_bodyless(addr, "DELETE", "/", "Origin: https://evil.example\r\n").redacted(),
        handled("DELETE", "vary: Origin\r\n")
    );
    assert_eq!(api.calls(), 2);
    server.shutdown();
}

/// Without `Origin` nothing is granted; with rules that depend on the origin the answer still
/// varies on it (Fetch §3.2.5), so a cache never hands it to a CORS request.
#[test]
fn a_request_without_an_origin_gets_no_grant_but_varies_when_the_rules_depend_on_it() {
    let api = Api::default();
    for (cors, vary) in [(listed_rules(), "vary: Origin\r\n"), (example_rules(), "")] {
        let server = serve_api(&api, cors);
        let addr = server.local_addr();
        assert_eq!(get_from(addr, None).redacted(), handled("GET", vary));
        // Not even a would-be preflight: without an origin it is the handler's.
        assert_eq!(
            send_bodyless(
                addr,
                "OPTIONS",
                "/",
                "Access-Control-Request-Method: POST\r\n"
            )
            .redacted(),
            handled("OPTIONS", vary)
        );
        server.shutdown();
    }
    assert_eq!(api.calls(), 4);
}

// ---------------------------------------------------------------------------------------------
// 5. Any method, any header
// ---------------------------------------------------------------------------------------------

#[test]
fn any_method_and_any_header_mirror_what_the_preflight_asks_for() {
    let api = Api::default();
    let server = serve_api(
        &api,
        Cors::builder()
            .allow_origins(["https://app.example"])
            .allow_any_method()
            .allow_any_header()
            .allow_credentials(true)
            .build()
            .unwrap(),
    );
    let addr = server.local_addr();
    assert_eq!(
        preflight(
            addr,
            "/",
            "https://app.example",
            "PATCH",
            Some("X-Custom, x-other")
        )
        .redacted(),
        granted(
            "access-control-allow-origin: https://app.example\r\nvary: Origin\r\n\
             access-control-allow-credentials: true\r\naccess-control-allow-methods: PATCH\r\n\
             access-control-max-age: 600\r\naccess-control-allow-headers: X-Custom, x-other\r\n"
        )
    );
    // Nothing asked: no header granted.
    assert_eq!(
        preflight(addr, "/", "https://app.example", "PURGE", None).redacted(),
        granted(
            "access-control-allow-origin: https://app.example\r\nvary: Origin\r\n\
             access-control-allow-credentials: true\r\naccess-control-allow-methods: PURGE\r\n\
             access-control-max-age: 600\r\n"
        )
    );
    // A long list of headers is no reason to refuse when any header is allowed.
    let many: Vec<String> = (0..600).map(|index| format!("x-h{index}")).collect();
    let many = many.join(", ");
    let response = preflight(addr, "/", "https://app.example", "GET", Some(&many));
    assert_eq!(response.status(), 200, "{}", response.raw);
    assert_eq!(
        response.header("access-control-allow-headers"),
        Some(many.as_str())
    );
    // The origin is still checked.
    assert_eq!(
        preflight(addr, "/", "https://evil.example", "PATCH", Some("x-custom")).redacted(),
        refused("origin", true)
    );
    assert_eq!(api.calls(), 0);
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 6. An origin predicate
// ---------------------------------------------------------------------------------------------

#[test]
fn an_origin_predicate_echoes_the_origins_it_admits_and_refuses_the_others() {
    let api = Api::default();
    let server = serve_api(
        &api,
        Cors::builder()
            .allow_origin_fn(|origin| {
                origin
                    .strip_prefix("https://")
                    .is_some_and(|host| host.ends_with(".tenant.example"))
            })
            .allow_methods([Method::GET, Method::POST])
            .build()
            .unwrap(),
    );
    let addr = server.local_addr();
    assert_eq!(
        get_from(addr, Some("https://a.tenant.example")).redacted(),
        handled(
            "GET",
            "access-control-allow-origin: https://a.tenant.example\r\nvary: Origin\r\n"
        )
    );
    assert_eq!(
        preflight(addr, "/", "https://b.tenant.example", "POST", None).redacted(),
        granted(
            "access-control-allow-origin: https://b.tenant.example\r\nvary: Origin\r\n\
             access-control-allow-methods: GET, POST\r\naccess-control-max-age: 600\r\n\
             access-control-allow-headers: accept, accept-language, content-language, content-type\r\n"
        )
    );
    assert_eq!(
        get_from(addr, Some("http://a.tenant.example")).redacted(),
        handled("GET", "vary: Origin\r\n")
    );
    assert_eq!(
        preflight(addr, "/", "https://tenant.example.evil", "POST", None).redacted(),
        refused("origin", true)
    );
    assert_eq!(api.calls(), 2);
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 7. Configuration errors
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_rules_are_refused_when_built_naming_the_value() {
    let cases: Vec<(Result<Cors, CorsError>, CorsError, &str)> = vec![
        (
            Cors::builder().allow_methods([Method::GET]).build(),
            CorsError::NoOrigins,
            "CORS allows no origin; call allow_origins, allow_any_origin or allow_origin_fn",
        ),
        (
            Cors::builder().allow_origins(Vec::<String>::new()).build(),
            CorsError::NoOrigins,
            "CORS allows no origin; call allow_origins, allow_any_origin or allow_origin_fn",
        ),
        (
            Cors::builder()
                .allow_any_origin()
                .allow_credentials(true)
                .build(),
            CorsError::CredentialsWithWildcard("origin"),
            "CORS allow_credentials with origin \"*\": browsers refuse credentialed responses \
             with a wildcard; list them instead",
        ),
        (
            Cors::builder()
                .allow_origins(["https://a.example", "*"])
                .allow_credentials(true)
                .build(),
            CorsError::CredentialsWithWildcard("origin"),
            "CORS allow_credentials with origin \"*\": browsers refuse credentialed responses \
             with a wildcard; list them instead",
        ),
        (
            Cors::builder()
                .allow_origins(["https://a.example"])
                .expose_any_header()
                .allow_credentials(true)
                .build(),
            CorsError::CredentialsWithWildcard("expose_headers"),
            "CORS allow_credentials with expose_headers \"*\": browsers refuse credentialed \
             responses with a wildcard; list them instead",
        ),
        (
            Cors::builder()
                .allow_origins(["https://a.example/"])
                .build(),
            CorsError::InvalidOrigin("https://a.example/".to_owned()),
            "CORS origin \"https://a.example/\" is not scheme://host[:port]",
        ),
        (
            Cors::builder()
                .allow_origins(["https://ok.example", "HTTPS://a.example"])
                .build(),
            CorsError::InvalidOrigin("HTTPS://a.example".to_owned()),
            "CORS origin \"HTTPS://a.example\" is not scheme://host[:port]",
        ),
        (
            Cors::builder()
                .allow_origins(["https://user@a.example"])
                .build(),
            CorsError::InvalidOrigin("https://user@a.example".to_owned()),
            "CORS origin \"https://user@a.example\" is not scheme://host[:port]",
        ),
        (
            Cors::builder()
                .allow_any_origin()
                .allow_headers(["content-type", "x token"])
                .build(),
            CorsError::InvalidHeader("x token".to_owned()),
            "CORS header \"x token\" is not a valid header name",
        ),
        (
            Cors::builder()
                .allow_any_origin()
                .expose_headers(["x-total", "x:total"])
                .build(),
            CorsError::InvalidHeader("x:total".to_owned()),
            "CORS header \"x:total\" is not a valid header name",
        ),
    ];
    for (built, error, display) in cases {
        let got = built.expect_err(display);
        assert_eq!(got, error);
        assert_eq!(got.to_string(), display);
    }
    // The error is a std error, so `?` into `Box<dyn Error>` works as in the example.
    let boxed: Box<dyn std::error::Error> = Cors::builder().build().expect_err("no origin").into();
    assert!(boxed.to_string().starts_with("CORS allows no origin"));
    // Valid: ports, IPv6, custom schemes; expose `*` without credentials.
    for origin in [
        "http://localhost:3000",
        "https://[::1]:8443",
        "chrome-extension://abcdef",
    ] {
        assert!(
            Cors::builder().allow_origins([origin]).build().is_ok(),
            "{origin}"
        );
    }
    assert!(
        Cors::builder()
            .allow_any_origin()
            .expose_any_header()
            .build()
            .is_ok()
    );
}

#[test]
fn expose_any_header_is_a_wildcard_on_actual_requests_only() {
    let api = Api::default();
    let server = serve_api(
        &api,
        Cors::builder()
            .allow_any_origin()
            .expose_any_header()
            .build()
            .unwrap(),
    );
    let addr = server.local_addr();
    assert_eq!(
        get_from(addr, Some("http://a.example")).redacted(),
        handled(
            "GET",
            "access-control-allow-origin: *\r\naccess-control-expose-headers: *\r\n"
        )
    );
    assert_eq!(
        preflight(addr, "/", "http://a.example", "GET", None).redacted(),
        granted(
            "access-control-allow-origin: *\r\naccess-control-allow-methods: GET\r\n\
             access-control-max-age: 600\r\n\
             access-control-allow-headers: accept, accept-language, content-language, content-type\r\n"
        )
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 8. Plain OPTIONS
// ---------------------------------------------------------------------------------------------

#[test]
fn an_options_request_that_is_not_a_preflight_reaches_the_handler() {
    let api = Api::default();
    let server = serve_api(&api, example_rules());
    assert_eq!(
        send_bodyless(
            server.local_addr(),
            "OPTIONS",
            "/",
            "Origin: http://a.example\r\n"
        )
        .redacted(),
        handled("OPTIONS", "access-control-allow-origin: *\r\n")
    );
    assert_eq!(api.calls(), 1);
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 9. `examples/cors.rs` on an ingress router
// ---------------------------------------------------------------------------------------------

#[test]
fn the_cors_example_setup_serves_a_preflight_then_the_actual_post() {
    let server = start_app(
        Application::try_new(|| {
            Router::new()
                .title("Items with CORS")
                .get("/items/{item_id}", read_item)
                .post("/items/", create_item)
                .build()
        })
        .name("items")
        .layer(example_rules()),
    );
    let addr = server.local_addr();
    let json_type = "content-type: application/json\r\n";
    assert_eq!(
        preflight(
            addr,
            "/items/",
            "http://a.example",
            "POST",
            Some("content-type")
        )
        .redacted(),
        granted(
            "access-control-allow-origin: *\r\naccess-control-allow-methods: GET, POST\r\n\
             access-control-max-age: 600\r\naccess-control-allow-headers: accept, accept-language, content-language, content-type\r\n"
        )
    );
    let body = r#"{"name":"x"}"#;
    assert_eq!(
        request(
            addr,
            format!(
                "POST /items/ HTTP/1.1\r\nHost: api.example\r\nOrigin: http://a.example\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes()
        )
        .redacted(),
        expected(
            "HTTP/1.1 200 OK",
            &format!("{json_type}access-control-allow-origin: *\r\n"),
            r#"{"created":{"name":"x"}}"#
        )
    );
    assert_eq!(
        send_bodyless(addr, "GET", "/items/5", "Origin: http://a.example\r\n").redacted(),
        expected(
            "HTTP/1.1 200 OK",
            &format!("{json_type}access-control-allow-origin: *\r\n"),
            r#"{"item_id":5}"#
        )
    );
    // The router's own answers are granted too, so a page can read its errors.
    assert_eq!(
        send_bodyless(addr, "GET", "/items/abc", "Origin: http://a.example\r\n")
            .header("access-control-allow-origin"),
        Some("*")
    );
    // A plain OPTIONS is the router's: `204` with `allow`, plus the grant.
    assert_eq!(
        send_bodyless(addr, "OPTIONS", "/items/", "Origin: http://a.example\r\n").redacted(),
        "HTTP/1.1 204 No Content\r\ndate: <date>\r\nx-request-id: <id>\r\n\
         allow: POST, OPTIONS\r\naccess-control-allow-origin: *\r\n\r\n"
    );
    server.shutdown();
}
