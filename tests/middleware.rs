//! Middleware end to end over loopback sockets: layers that add headers, answer without the
//! handler, read the request, wrap streamed responses and hold `!Send` state; the order of
//! application and server layers; per-application request timeouts; middleware around an
//! ingress router; and panicking middleware. Responses are compared byte for byte, with only
//! the `date` and generated `x-request-id` values redacted.

mod common;

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ringserve::ingress::{Extension, Router};
use ringserve::middleware::{Middleware, Next};
use ringserve::rt::stream::{self, StreamExt};
use ringserve::{
    Application, Deployment, HeaderName, HeaderValue, Request, Response, Serve, StatusCode, header,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A `Response::text` answer with `extra` header lines after its content type.
fn text(status_line: &str, extra: &str, body: &str) -> String {
    text_response(status_line, false, extra, body)
}

fn name(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

fn value(value: &'static str) -> HeaderValue {
    HeaderValue::from_static(value)
}

/// The milliseconds of a `?ms=<n>` query (0 without one).
fn millis(request: &Request) -> u64 {
    request
        .query()
        .and_then(|query| query.strip_prefix("ms="))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Handlers and middleware
// ---------------------------------------------------------------------------------------------

/// Counts its calls in per-replica (so per-shard) state and answers `handled <n>`.
#[derive(Default)]
struct Counted {
    calls: Rc<Cell<u32>>,
}

impl Deployment for Counted {
    async fn call(&self, _request: Request) -> Response {
        self.calls.set(self.calls.get() + 1);
        Response::text(format!("handled {}", self.calls.get()))
    }
}

/// Sleeps for `?ms=<n>` milliseconds on the shard's timer, then answers `slept <n>`; counts its
/// starts and finishes where the test can see them.
#[derive(Clone, Default)]
struct Sleepy {
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl Sleepy {
    fn counts(&self) -> (usize, usize) {
        (
            self.started.load(Ordering::SeqCst),
            self.finished.load(Ordering::SeqCst),
        )
    }
}

impl Deployment for Sleepy {
    async fn call(&self, request: Request) -> Response {
        let ms = millis(&request);
        self.started.fetch_add(1, Ordering::SeqCst);
        ringserve::rt::sleep(Duration::from_millis(ms)).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Response::text(format!("slept {ms}"))
    }
}

/// Adds one header to every response, after whatever the handler set.
#[derive(Clone)]
struct AddHeader(&'static str, &'static str);

impl Middleware for AddHeader {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        next.run(request)
            .await
            .with_header(name(self.0), value(self.1))
    }
}

/// Answers `401` itself, without calling the rest of the chain, unless the request carries
/// `x-api-key: secret`.
#[derive(Clone)]
struct RequireKey;

impl Middleware for RequireKey {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        if request.header("x-api-key") != Some(b"secret") {
            return Response::text("missing or wrong x-api-key")
                .with_status(StatusCode::UNAUTHORIZED)
                .with_header(header::WWW_AUTHENTICATE, value("ApiKey"));
        }
        next.run(request).await
    }
}

/// `!Send` state built on the shard by a `layer_with` factory: counts the requests that reach
/// it and says so in `x-calls`.
struct Counter {
    calls: Rc<Cell<u32>>,
}

impl Counter {
    fn new() -> Self {
        Counter {
            calls: Rc::new(Cell::new(0)),
        }
    }
}

impl Middleware for Counter {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        self.calls.set(self.calls.get() + 1);
        let calls = self.calls.get();
        next.run(request)
            .await
            .with_header(name("x-calls"), HeaderValue::from(calls))
    }
}

/// Compiles only if `T` is not `Send` (two blanket impls make the call ambiguous for a `Send`
/// type).
fn assert_not_send<T>() {
    trait AmbiguousIfSend<A> {
        fn check() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
    <T as AmbiguousIfSend<_>>::check();
}

// ---------------------------------------------------------------------------------------------
// 1. What a middleware may do
// ---------------------------------------------------------------------------------------------

#[test]
fn a_middleware_adds_a_header_after_the_handlers_own() {
    let server =
        start_app(Application::new(Counted::default).layer(AddHeader("x-served-by", "ringserve")));
    let addr = server.local_addr();
    let mut stream = connect(addr);
    for round in 1..=3 {
        assert_eq!(
            get_on(&mut stream, "/").redacted(),
            text(
                "HTTP/1.1 200 OK",
                "x-served-by: ringserve\r\n",
                &format!("handled {round}")
            )
        );
    }
    // A framing header a middleware sets is the engine's to decide: it is dropped.
    server.shutdown();
    let server = start_app(
        Application::new(Counted::default)
            .layer(AddHeader("content-length", "999"))
            .layer(AddHeader("x-after", "1")),
    );
    assert_eq!(
        get(server.local_addr(), "/").redacted(),
        text("HTTP/1.1 200 OK", "x-after: 1\r\n", "handled 1")
    );
    server.shutdown();
}

#[test]
fn a_middleware_that_answers_itself_never_calls_the_handler() {
    let factory_calls = Arc::new(AtomicUsize::new(0));
    let app = {
        let factory_calls = factory_calls.clone();
        Application::new(Counted::default)
            .layer(RequireKey)
            // Inside the key check: counts only the requests the check let through.
            .layer_with(move || {
                factory_calls.fetch_add(1, Ordering::SeqCst);
                Counter::new()
            })
    };
    let server = start_app(app);
    let addr = server.local_addr();
    assert_eq!(
        factory_calls.load(Ordering::SeqCst),
        1,
        "one shard, one build"
    );
    let refused = text(
        "HTTP/1.1 401 Unauthorized",
        "www-authenticate: ApiKey\r\n",
        "missing or wrong x-api-key",
    );
    let mut stream = connect(addr);
    for _ in 0..3 {
        assert_eq!(get_on(&mut stream, "/").redacted(), refused);
        assert_eq!(
            get_with(addr, "/", "x-api-key: wrong\r\n").redacted(),
            refused
        );
    }
    // Neither the inner layer nor the handler ran for the six refusals.
    let response = roundtrip(
        &mut stream,
        b"GET / HTTP/1.1\r\nHost: test\r\nx-api-key: secret\r\n\r\n",
    );
    assert_eq!(
        response.redacted(),
        text("HTTP/1.1 200 OK", "x-calls: 1\r\n", "handled 1")
    );
    assert_eq!(
        get_with(addr, "/", "X-Api-Key: secret\r\n").redacted(),
        text("HTTP/1.1 200 OK", "x-calls: 2\r\n", "handled 2")
    );
    assert_eq!(
        factory_calls.load(Ordering::SeqCst),
        1,
        "built once, not per request"
    );
    server.shutdown();
}

/// Reads everything a middleware can read of a request — method, paths, query, headers, the
/// whole body — and reports it in `x-audit`, then passes the same request on.
#[derive(Clone)]
struct Audit;

impl Middleware for Audit {
    async fn call(&self, mut request: Request, next: Next<'_>) -> Response {
        let body = match request.body().await {
            Ok(body) => body,
            Err(error) => return Response::text(format!("audit: {error}")),
        };
        let audit = format!(
            "{} {} route_path={} prefix={} query={} app={} tenant={} body={}",
            request.method(),
            request.path(),
            request.route_path(),
            request.route_prefix(),
            request.query().unwrap_or("-"),
            request.app_name(),
            request.header_str("x-tenant").unwrap_or("-"),
            String::from_utf8_lossy(&body),
        );
        next.run(request)
            .await
            .with_header(name("x-audit"), HeaderValue::try_from(audit).unwrap())
    }
}

#[test]
fn a_middleware_reads_the_request_and_its_body_and_the_handler_still_gets_them() {
    let server = start(
        Serve::new().options(test_options()).app(
            Application::new(|| Inspect)
                .name("api")
                .route_prefix("/api")
                .layer(Audit),
        ),
    );
    let addr = server.local_addr();
    let response = send(
        addr,
        "POST",
        "/api/echo?x=1",
        "X-Tenant: acme\r\nx-request-id: audit-1\r\n",
        "hello",
    );
    let body = "app=api\nmethod=POST\npath=/api/echo\nroute_path=/echo\nroute_prefix=/api\n\
                query=x=1\nrequest_id=audit-1\nheader.host=test\nheader.x-tenant=acme\n\
                header.x-request-id=audit-1\nheader.content-length=5\nbody=hello";
    assert_eq!(
        response.raw,
        format!(
            "HTTP/1.1 200 OK\r\ndate: {}\r\nx-request-id: audit-1\r\ncontent-length: {}\r\n\
             {TEXT_PLAIN}x-audit: POST /api/echo route_path=/echo prefix=/api query=x=1 app=api \
             tenant=acme body=hello\r\n\r\n{body}",
            response.header("date").unwrap(),
            body.len()
        )
    );
    // A body that arrives after the head is read from the socket by the middleware, and still
    // reaches the handler whole.
    let mut stream = connect(addr);
    stream
        .write_all(b"POST /api/late HTTP/1.1\r\nHost: test\r\ncontent-length: 10\r\n\r\nfirst")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    stream.write_all(b"-half").unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(response.status(), 200, "{}", response.raw);
    assert_eq!(
        response.header("x-audit"),
        Some(
            "POST /api/late route_path=/late prefix=/api query=- app=api tenant=- body=first-half"
        )
    );
    assert!(
        response.body_text().ends_with("\nbody=first-half"),
        "{}",
        response.body_text()
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 2. Order of the layers
// ---------------------------------------------------------------------------------------------

/// What the layers and the handler saw, in order, shared with the test thread.
type Log = Arc<Mutex<Vec<String>>>;

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// Logs `name>` on the way in and `<name` on the way out, and appends `x-order: name` to the
/// response.
#[derive(Clone)]
struct Tag {
    name: &'static str,
    log: Log,
}

impl Middleware for Tag {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        self.log.lock().unwrap().push(format!("{}>", self.name));
        let response = next.run(request).await;
        self.log.lock().unwrap().push(format!("<{}", self.name));
        response.with_header(name("x-order"), value(self.name))
    }
}

/// Logs `handler` and answers `ok`.
struct Logged {
    log: Log,
}

impl Deployment for Logged {
    async fn call(&self, _request: Request) -> Response {
        self.log.lock().unwrap().push("handler".to_owned());
        Response::text("ok")
    }
}

fn logged_app(log: &Log) -> Application {
    let log = log.clone();
    Application::new(move || Logged { log: log.clone() })
}

fn tag(name: &'static str, log: &Log) -> Tag {
    Tag {
        name,
        log: log.clone(),
    }
}

#[test]
fn the_first_layer_added_is_the_outermost() {
    let log = Log::default();
    let server = start_app(
        logged_app(&log)
            .layer(tag("a", &log))
            .layer(tag("b", &log))
            .layer(tag("c", &log)),
    );
    let response = get(server.local_addr(), "/");
    assert_eq!(
        response.redacted(),
        text(
            "HTTP/1.1 200 OK",
            "x-order: c\r\nx-order: b\r\nx-order: a\r\n",
            "ok"
        )
    );
    assert_eq!(take(&log), ["a>", "b>", "c>", "handler", "<c", "<b", "<a"]);
    server.shutdown();
}

#[test]
fn server_layers_run_outside_every_applications_layers() {
    let log = Log::default();
    let server = start(
        Serve::new()
            .options(test_options())
            .layer(tag("s1", &log))
            .app(
                logged_app(&log)
                    .name("one")
                    .route_prefix("/one")
                    .layer(tag("a", &log))
                    .layer(tag("b", &log)),
            )
            .app(logged_app(&log).name("two").route_prefix("/two"))
            // Added after the applications: still outside them, inside `s1`.
            .layer(tag("s2", &log)),
    );
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/one").redacted(),
        text(
            "HTTP/1.1 200 OK",
            "x-order: b\r\nx-order: a\r\nx-order: s2\r\nx-order: s1\r\n",
            "ok"
        )
    );
    assert_eq!(
        take(&log),
        [
            "s1>", "s2>", "a>", "b>", "handler", "<b", "<a", "<s2", "<s1"
        ]
    );
    // An application without layers of its own is still inside the server's.
    assert_eq!(
        get(addr, "/two").redacted(),
        text("HTTP/1.1 200 OK", "x-order: s2\r\nx-order: s1\r\n", "ok")
    );
    assert_eq!(take(&log), ["s1>", "s2>", "handler", "<s2", "<s1"]);
    // The engine's own answers are not wrapped: the system endpoints (as documented) and the
    // 404 for a path no application serves.
    assert_eq!(
        get(addr, "/-/healthz").redacted(),
        text("HTTP/1.1 200 OK", "", "success")
    );
    let response = get(addr, "/three");
    assert_eq!(response.status(), 404);
    assert_eq!(response.header("x-order"), None);
    assert!(take(&log).is_empty());
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 3. Streamed responses
// ---------------------------------------------------------------------------------------------

/// Streams `a`, `bb`, `ccc` with `x-inner: 1`; `/created` answers `201`, `/whole` a whole body.
struct Streamer;

impl Deployment for Streamer {
    async fn call(&self, request: Request) -> Response {
        if request.path() == "/whole" {
            return Response::text("whole body").with_header(name("x-inner"), value("1"));
        }
        let response = Response::stream(stream::iter(["a", "bb", "ccc"].map(Ok::<_, Infallible>)))
            .with_header(name("x-inner"), value("1"));
        if request.path() == "/created" {
            response.with_status(StatusCode::CREATED)
        } else {
            response
        }
    }
}

#[test]
fn headers_a_middleware_adds_to_a_streamed_response_arrive_and_it_stays_chunked() {
    let server = start_app(
        Application::new(|| Streamer)
            .layer(AddHeader("x-outer", "2"))
            .layer(AddHeader("x-middle", "1")),
    );
    assert_eq!(
        get_streamed(server.local_addr(), "/", ""),
        format!(
            "{}1\r\na\r\n2\r\nbb\r\n3\r\nccc\r\n0\r\n\r\n",
            chunked_head(true, "x-inner: 1\r\nx-middle: 1\r\nx-outer: 2\r\n")
        )
    );
    // And on a keep-alive connection the next response starts cleanly after the last chunk.
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\nGET /whole HTTP/1.1\r\nHost: test\r\nconnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(
        redact(&read_to_close(&mut stream)),
        format!(
            "{}1\r\na\r\n2\r\nbb\r\n3\r\nccc\r\n0\r\n\r\n{}",
            chunked_head(false, "x-inner: 1\r\nx-middle: 1\r\nx-outer: 2\r\n"),
            expected_response(
                "HTTP/1.1 200 OK",
                Some("close"),
                &format!("{TEXT_PLAIN}x-inner: 1\r\nx-middle: 1\r\nx-outer: 2\r\n"),
                "whole body"
            )
        )
    );
    server.shutdown();
}

/// Upper-cases a whole body; replaces a streamed one by a stream of its own (keeping the status
/// and headers, copied onto a new `Response::stream`) or, with `?whole`, by a whole body.
#[derive(Clone)]
struct Shout;

impl Middleware for Shout {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        let to_whole = request.query() == Some("whole");
        let response = next.run(request).await;
        if let Some(body) = response.body_bytes() {
            let upper = body.to_ascii_uppercase();
            return response.with_body(upper);
        }
        if to_whole {
            return response.with_body("replaced by a whole body");
        }
        let mut replaced = Response::stream(stream::iter(["X", "YY"].map(Ok::<_, Infallible>)))
            .with_status(response.status());
        for (name, value) in response.headers() {
            replaced = replaced.with_header(name.clone(), value.clone());
        }
        replaced.with_header(name("x-shouted"), value("replaced"))
    }
}

#[test]
fn a_middleware_can_replace_a_streamed_body() {
    let server = start_app(Application::new(|| Streamer).layer(Shout));
    let addr = server.local_addr();
    // A whole body is mapped.
    assert_eq!(
        get(addr, "/whole").redacted(),
        text("HTTP/1.1 200 OK", "x-inner: 1\r\n", "WHOLE BODY")
    );
    // A streamed one is replaced by another stream: status and headers kept, still chunked.
    assert_eq!(
        get_streamed(addr, "/created", ""),
        format!(
            "{}1\r\nX\r\n2\r\nYY\r\n0\r\n\r\n",
            chunked_head(true, "x-inner: 1\r\nx-shouted: replaced\r\n").replacen(
                "200 OK",
                "201 Created",
                1
            )
        )
    );
    // Or by a whole body: framed by content-length from then on.
    assert_eq!(
        get(addr, "/?whole").redacted(),
        expected_response(
            "HTTP/1.1 200 OK",
            None,
            "x-inner: 1\r\n",
            "replaced by a whole body"
        )
    );
    server.shutdown();
}

/// Maps every body, whole or streamed, chunk by chunk with `Response::map_body` (upper-case,
/// then a trailer chunk), removes the handler's `x-inner` and sets `x-mapped` twice (the
/// second replacing the first).
#[derive(Clone)]
struct MapEveryChunk;

impl Middleware for MapEveryChunk {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        let mut response = next.run(request).await;
        assert_eq!(response.remove_header(&name("x-inner")), Some(value("1")));
        let mut response = response.with_header(name("x-mapped"), value("first"));
        response.set_header(name("x-mapped"), value("yes"));
        response.map_body(|chunk| match chunk {
            Some(chunk) => Some(bytes::Bytes::from(chunk.to_ascii_uppercase())),
            None => Some(bytes::Bytes::from_static(b"|end")),
        })
    }
}

#[test]
fn a_middleware_maps_whole_and_streamed_bodies_and_replaces_headers() {
    let server = start_app(Application::new(|| Streamer).layer(MapEveryChunk));
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/whole").redacted(),
        text("HTTP/1.1 200 OK", "x-mapped: yes\r\n", "WHOLE BODY|end")
    );
    assert_eq!(
        get_streamed(addr, "/", ""),
        format!(
            "{}1\r\nA\r\n2\r\nBB\r\n3\r\nCCC\r\n4\r\n|end\r\n0\r\n\r\n",
            chunked_head(true, "x-mapped: yes\r\n")
        )
    );
    server.shutdown();
}

/// Attaches the caller's name for the handler, as an authentication middleware would.
#[derive(Clone)]
struct Identify;

#[derive(Clone)]
struct Caller(Rc<str>);

impl Middleware for Identify {
    async fn call(&self, mut request: Request, next: Next<'_>) -> Response {
        let caller = request.header_str("x-user").map(Rc::from);
        if let Some(caller) = caller {
            request.extensions_mut().insert(Caller(caller));
        }
        next.run(request).await
    }
}

async fn whoami(Extension(Caller(caller)): Extension<Caller>) -> String {
    format!("you are {caller}")
}

#[test]
fn a_middleware_passes_values_to_ingress_handlers_through_extensions() {
    let app = Application::try_new(|| Router::new().get("/me", whoami).build()).layer(Identify);
    let server = start_app(app);
    let addr = server.local_addr();
    assert_eq!(
        get_with(addr, "/me", "x-user: ada\r\n").body_text(),
        "you are ada"
    );
    // Without the value the handler cannot run: the server's mistake, a 500.
    assert_eq!(get(addr, "/me").status(), 500);
    server.shutdown();
}

/// Rewrites the request's headers for the handler: normalizes `x-tenant`, hides the
/// credentials it checked.
#[derive(Clone)]
struct RewriteHeaders;

impl Middleware for RewriteHeaders {
    async fn call(&self, mut request: Request, next: Next<'_>) -> Response {
        let tenant = request
            .header_str("x-tenant")
            .unwrap_or("public")
            .to_ascii_lowercase();
        request.set_header(name("x-tenant"), HeaderValue::from_str(&tenant).unwrap());
        request.remove_header(&name("authorization"));
        next.run(request).await
    }
}

/// Answers with every header it sees, one per line.
struct EchoHeaders;

impl Deployment for EchoHeaders {
    async fn call(&self, request: Request) -> Response {
        let lines: Vec<String> = request
            .headers()
            .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value)))
            .collect();
        Response::text(lines.join("\n"))
    }
}

#[test]
fn a_middleware_sets_and_removes_request_headers_for_the_handler() {
    let server = start_app(Application::new(|| EchoHeaders).layer(RewriteHeaders));
    let addr = server.local_addr();
    assert_eq!(
        get_with(
            addr,
            "/",
            "X-Tenant: ACME\r\nAuthorization: Bearer t\r\nx-tenant: second\r\n"
        )
        .body_text(),
        "Host: test\nx-tenant: acme"
    );
    assert_eq!(
        get_with(addr, "/", "").body_text(),
        "Host: test\nx-tenant: public"
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 4. `!Send` middleware
// ---------------------------------------------------------------------------------------------

#[test]
fn a_not_send_middleware_built_by_layer_with_counts_the_shards_requests() {
    assert_not_send::<Counter>();
    let server = start_app(Application::new(Counted::default).layer_with(Counter::new));
    let addr = server.local_addr();
    let mut stream = connect(addr);
    for round in 1..=3 {
        assert_eq!(
            get_on(&mut stream, "/").redacted(),
            text(
                "HTTP/1.1 200 OK",
                &format!("x-calls: {round}\r\n"),
                &format!("handled {round}")
            )
        );
    }
    // Other connections reach the same shard, so the same middleware.
    assert_eq!(get(addr, "/").header("x-calls"), Some("4"));
    server.shutdown();
}

#[test]
fn a_server_layer_with_factory_builds_one_middleware_per_application_on_each_shard() {
    let built = Arc::new(AtomicUsize::new(0));
    let server = {
        let built = built.clone();
        start(
            Serve::new()
                .options(test_options())
                .layer_with(move || {
                    built.fetch_add(1, Ordering::SeqCst);
                    Counter::new()
                })
                .app(
                    Application::new(Counted::default)
                        .name("one")
                        .route_prefix("/one"),
                )
                .app(
                    Application::new(Counted::default)
                        .name("two")
                        .route_prefix("/two"),
                ),
        )
    };
    let addr = server.local_addr();
    // One shard, two applications: each application's chain has its own instance.
    assert_eq!(built.load(Ordering::SeqCst), 2);
    assert_eq!(get(addr, "/one").header("x-calls"), Some("1"));
    assert_eq!(get(addr, "/one").header("x-calls"), Some("2"));
    assert_eq!(get(addr, "/two").header("x-calls"), Some("1"));
    assert_eq!(
        built.load(Ordering::SeqCst),
        2,
        "built once, not per request"
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 5. Per-application request timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn an_application_timeout_answers_408_and_closes_while_another_application_has_none() {
    let slow = Sleepy::default();
    let free = Sleepy::default();
    let server = {
        let (slow, free) = (slow.clone(), free.clone());
        start(
            Serve::new()
                .options(test_options())
                .app(
                    Application::new(move || slow.clone())
                        .name("slow")
                        .route_prefix("/slow")
                        .request_timeout(Duration::from_millis(200)),
                )
                .app(
                    Application::new(move || free.clone())
                        .name("free")
                        .route_prefix("/free"),
                ),
        )
    };
    let addr = server.local_addr();
    let mut stream = connect(addr);
    let sent = Instant::now();
    let response = get_on(&mut stream, "/slow?ms=2000");
    let elapsed = sent.elapsed();
    assert_timed_out(&response, "0.2");
    assert!(
        elapsed >= Duration::from_millis(190) && elapsed < Duration::from_millis(1500),
        "answered after {elapsed:?}"
    );
    assert_closed(&mut stream);
    assert_eq!(slow.counts(), (1, 0), "(started, finished)");
    let response = get_with(addr, "/slow?ms=2000", "x-request-id: slow-1\r\n");
    assert_eq!(assert_timed_out(&response, "0.2"), "slow-1");
    // The same application within its time, and the other one without any timeout.
    assert_eq!(
        get(addr, "/slow?ms=50").redacted(),
        text("HTTP/1.1 200 OK", "", "slept 50")
    );
    assert_eq!(
        get(addr, "/free?ms=400").redacted(),
        text("HTTP/1.1 200 OK", "", "slept 400")
    );
    assert_eq!(free.counts(), (1, 1));
    server.shutdown();
}

#[test]
fn an_application_timeout_longer_than_the_server_timeout_overrides_it() {
    let patient = Sleepy::default();
    let server = {
        let patient = patient.clone();
        start(
            Serve::new()
                .options(test_options().request_timeout(Duration::from_millis(100)))
                .app(
                    Application::new(move || patient.clone())
                        .name("patient")
                        .route_prefix("/patient")
                        .request_timeout(Duration::from_secs(2)),
                )
                .app(
                    Application::new(Sleepy::default)
                        .name("hasty")
                        .route_prefix("/hasty"),
                ),
        )
    };
    let addr = server.local_addr();
    // One keep-alive connection going from one application's timeout to the other's: the
    // connection's timer takes each request's own duration.
    let mut stream = connect(addr);
    for _ in 0..2 {
        assert_eq!(
            get_on(&mut stream, "/patient?ms=300").redacted(),
            text("HTTP/1.1 200 OK", "", "slept 300")
        );
        assert_eq!(
            get_on(&mut stream, "/hasty?ms=0").redacted(),
            text("HTTP/1.1 200 OK", "", "slept 0")
        );
    }
    assert_eq!(patient.counts(), (2, 2));
    assert_timed_out(&get_on(&mut stream, "/hasty?ms=300"), "0.1");
    assert_closed(&mut stream);
    // The application's own limit still holds.
    assert_timed_out(&get(addr, "/patient?ms=5000"), "2");
    server.shutdown();
}

#[test]
fn the_timeout_header_shortens_an_application_timeout_but_cannot_lengthen_it() {
    let server =
        start_app(Application::new(Sleepy::default).request_timeout(Duration::from_millis(300)));
    let addr = server.local_addr();
    let response = get_with(addr, "/?ms=5000", "x-request-timeout-seconds: 0.1\r\n");
    assert_timed_out(&response, "0.1");
    let response = get_with(addr, "/?ms=5000", "x-request-timeout-seconds: 30\r\n");
    assert_timed_out(&response, "0.3");
    server.shutdown();
}

/// Waits for `?ms=<n>` milliseconds before calling the rest of the chain.
#[derive(Clone)]
struct Delay;

impl Middleware for Delay {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        ringserve::rt::sleep(Duration::from_millis(millis(&request))).await;
        next.run(request).await
    }
}

#[test]
fn an_application_timeout_covers_the_time_spent_in_its_middleware() {
    let handler = Sleepy::default();
    let server = {
        let handler = handler.clone();
        start_app(
            Application::new(move || handler.clone())
                .request_timeout(Duration::from_millis(200))
                .layer(Delay),
        )
    };
    // Delay sleeps `ms`, then the handler sleeps `ms` again.
    assert_timed_out(&get(server.local_addr(), "/?ms=2000"), "0.2");
    assert_eq!(handler.counts(), (0, 0), "the handler was never reached");
    assert_timed_out(&get(server.local_addr(), "/?ms=150"), "0.2");
    assert_eq!(handler.counts(), (1, 0), "dropped while the handler slept");
    server.shutdown();
}

#[test]
fn an_application_timeout_cuts_its_streamed_body() {
    let server = start_app(
        Application::new(|| Handler)
            .request_timeout(Duration::from_millis(300))
            .layer(AddHeader("x-outer", "1")),
    );

    /// Streams `first`, then waits far longer than any test.
    struct Handler;

    impl Deployment for Handler {
        async fn call(&self, _request: Request) -> Response {
            Response::stream(stream::iter([Ok::<_, Infallible>("first")]).chain(
                stream::once_future(async {
                    ringserve::rt::sleep(Duration::from_secs(3600)).await;
                    Ok("never")
                }),
            ))
        }
    }

    let start = Instant::now();
    let raw = redact(&exchange_until_close(
        server.local_addr(),
        b"GET / HTTP/1.1\r\nHost: test\r\n\r\n",
    ));
    let closed_at = start.elapsed();
    assert_eq!(
        raw,
        format!("{}5\r\nfirst\r\n", chunked_head(false, "x-outer: 1\r\n")),
        "expected the first chunk, then a close without the last chunk"
    );
    assert!(
        closed_at >= Duration::from_millis(250) && closed_at < Duration::from_secs(5),
        "closed after {closed_at:?}"
    );
    server.shutdown();
}

#[test]
fn a_zero_application_timeout_fails_start_naming_the_application() {
    let serve = Serve::new()
        .options(test_options())
        .app(
            Application::new(|| Hello)
                .name("fine")
                .route_prefix("/fine"),
        )
        .app(
            Application::new(|| Hello)
                .name("zero")
                .route_prefix("/zero")
                .request_timeout(Duration::ZERO),
        );
    match serve.start() {
        Ok(server) => {
            server.shutdown();
            panic!("a zero application timeout was accepted");
        }
        Err(error) => assert_eq!(
            error.to_string(),
            "invalid configuration: application \"zero\": request_timeout must be longer than zero"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Middleware around an ingress router
// ---------------------------------------------------------------------------------------------

#[test]
fn middleware_wraps_an_ingress_router_application() {
    let server = start_app(
        Application::try_new(|| {
            Router::new()
                .get("/items/{item_id}", read_item)
                .post("/items/", create_item)
                .build()
        })
        .name("items")
        .route_prefix("/api")
        .layer(AddHeader("x-served-by", "ringserve"))
        .layer(RequireKey),
    );
    let addr = server.local_addr();
    let key = "x-api-key: secret\r\n";
    let json_type = "content-type: application/json\r\n";
    let served_by = "x-served-by: ringserve\r\n";
    assert_eq!(
        get_with(addr, "/api/items/5", key).redacted(),
        expected_response(
            "HTTP/1.1 200 OK",
            None,
            &format!("{json_type}{served_by}"),
            r#"{"item_id":5}"#
        )
    );
    assert_eq!(
        send(
            addr,
            "POST",
            "/api/items/",
            &format!("{key}content-type: application/json\r\n"),
            r#"{"name":"x"}"#
        )
        .redacted(),
        expected_response(
            "HTTP/1.1 200 OK",
            None,
            &format!("{json_type}{served_by}"),
            r#"{"created":{"name":"x"}}"#
        )
    );
    // The router's own answers pass through the layers too.
    assert_eq!(
        get_with(addr, "/api/nothing", key).redacted(),
        expected_response(
            "HTTP/1.1 404 Not Found",
            None,
            &format!("{json_type}{served_by}"),
            r#"{"detail":"Not Found"}"#
        )
    );
    let response = get_with(addr, "/api/items/abc", key);
    assert_eq!(response.status(), 422, "{}", response.raw);
    assert_eq!(response.header("x-served-by"), Some("ringserve"));
    // Without the key the router is never reached.
    assert_eq!(
        get(addr, "/api/items/5").redacted(),
        text(
            "HTTP/1.1 401 Unauthorized",
            &format!("www-authenticate: ApiKey\r\n{served_by}"),
            "missing or wrong x-api-key"
        )
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 7. Panicking middleware
// ---------------------------------------------------------------------------------------------

/// Panics in `call` itself on `/sync`, on first poll on `/before`, after the rest of the chain
/// answered on `/after`; anything else passes through.
#[derive(Clone)]
struct Explosive;

impl Middleware for Explosive {
    fn call(&self, request: Request, next: Next<'_>) -> impl Future<Output = Response> {
        if request.path() == "/sync" {
            panic!("middleware panics before returning its future");
        }
        async move {
            match request.path() {
                "/before" => panic!("middleware panics on purpose"),
                "/after" => {
                    let _response = next.run(request).await;
                    panic!("middleware panics after the handler answered")
                }
                _ => next.run(request).await,
            }
        }
    }
}

/// Checks that every kind of panic of `Explosive` is a 500 on a connection that goes on, and
/// that the server keeps serving; the handler (on a fresh server) counts every call it gets.
fn assert_panics_are_500(addr: SocketAddr) {
    let mut stream = connect(addr);
    let mut handled = 0;
    for round in 0..5 {
        for path in ["/sync", "/before", "/after"] {
            assert_eq!(
                get_on(&mut stream, path).redacted(),
                internal_server_error(),
                "{path}, round {round}"
            );
            if path == "/after" {
                handled += 1;
            }
            // The same connection goes on, and so does a new one.
            handled += 1;
            assert_eq!(
                get_on(&mut stream, "/ok").redacted(),
                text("HTTP/1.1 200 OK", "", &format!("handled {handled}")),
                "after {path}, round {round}"
            );
            handled += 1;
            assert_eq!(
                get(addr, "/ok").body_text(),
                format!("handled {handled}"),
                "after {path}, round {round}"
            );
        }
    }
}

#[test]
fn a_panicking_application_middleware_gets_500_and_the_server_keeps_serving() {
    let server = start_app(Application::new(Counted::default).layer(Explosive));
    assert_panics_are_500(server.local_addr());
    server.shutdown();
}

#[test]
fn a_panicking_server_middleware_gets_500_and_the_server_keeps_serving() {
    let server = start(
        Serve::new()
            .options(test_options())
            .layer(Explosive)
            .app(Application::new(Counted::default)),
    );
    assert_panics_are_500(server.local_addr());
    server.shutdown();
}
