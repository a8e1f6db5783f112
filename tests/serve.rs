//! Serving behaviour end to end over loopback sockets: route prefixes, system endpoints,
//! configuration errors, request accessors, request ids, request timeouts, panics, per-replica
//! state, several shards, root path, shutdown, the connection limit and failing factories.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use ringserve::{Application, Cores, Deployment, HttpOptions, Limits, Request, Response, Serve};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The value of a `key=value` line in a handler's text body.
fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

/// Ray Serve's 404 text for `path` on a server listening on `addr`.
fn not_found_body(addr: SocketAddr, path: &str) -> String {
    format!(
        "Path '{path}' not found. Ping http://127.0.0.1:{}/-/routes for available routes.",
        addr.port()
    )
}

/// Runs `work` on another thread and fails the test if it takes longer than `limit`.
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    match result.recv_timeout(limit) {
        Ok(value) => value,
        Err(_) => panic!("{what} did not finish within {limit:?}"),
    }
}

/// Starts `serve`, expecting an error; returns its Display text.
fn start_error(serve: Serve) -> String {
    within(Duration::from_secs(30), "Serve::start", move || {
        serve.start().map(|_| ()).map_err(|error| error.to_string())
    })
    .expect_err("Serve::start should fail")
}

/// Shared counters a [`Sleepy`] handler updates, so a test can tell whether its future ran to
/// the end or was dropped.
#[derive(Clone, Default)]
struct Probe {
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl Probe {
    fn counts(&self) -> (usize, usize, usize) {
        (
            self.started.load(Ordering::SeqCst),
            self.finished.load(Ordering::SeqCst),
            self.dropped.load(Ordering::SeqCst),
        )
    }

    fn wait_started(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.started.load(Ordering::SeqCst) < count {
            assert!(Instant::now() < deadline, "the handler never started");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Counts up when dropped: the handler's future holds one while it runs.
struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sleeps for `?ms=<n>` milliseconds on the shard's timer, then answers `slept <n>`.
struct Sleepy {
    probe: Probe,
}

impl Deployment for Sleepy {
    async fn call(&self, request: Request) -> Response {
        let ms: u64 = request
            .query()
            .and_then(|query| query.strip_prefix("ms="))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0);
        let _guard = DropGuard(self.probe.dropped.clone());
        self.probe.started.fetch_add(1, Ordering::SeqCst);
        ringserve::rt::sleep(Duration::from_millis(ms)).await;
        self.probe.finished.fetch_add(1, Ordering::SeqCst);
        Response::text(format!("slept {ms}"))
    }
}

fn start_sleepy(options: ringserve::HttpOptions, probe: &Probe) -> ringserve::ServerHandle {
    let probe = probe.clone();
    start(
        Serve::new()
            .options(options)
            .app(Application::new(move || Sleepy {
                probe: probe.clone(),
            })),
    )
}

/// Every accessor of a request, header names exactly as sent.
struct Accessors;

impl Deployment for Accessors {
    async fn call(&self, mut request: Request) -> Response {
        let body = request.body().await.unwrap_or_default();
        let mut text = format!(
            "method={}\nversion={:?}\npath={}\nroute_path={}\nroute_prefix={}\nquery={}\napp={}\n\
             request_id={}\n",
            request.method(),
            request.version(),
            request.path(),
            request.route_path(),
            request.route_prefix(),
            request.query().unwrap_or("<none>"),
            request.app_name(),
            request.request_id(),
        );
        for (index, (name, value)) in request.headers().enumerate() {
            text.push_str(&format!(
                "header[{index}]={name}: {}\n",
                String::from_utf8_lossy(value)
            ));
        }
        text.push_str(&format!(
            "header(x-custom)={}\n",
            request
                .header("x-custom")
                .map_or("<none>".into(), String::from_utf8_lossy)
        ));
        text.push_str(&format!(
            "header_str(CONTENT-TYPE)={}\n",
            request.header_str("CONTENT-TYPE").unwrap_or("<none>")
        ));
        text.push_str(&format!(
            "header(missing)={}\n",
            request.header("missing").map_or("<none>", |_| "present")
        ));
        text.push_str(&format!(
            "body_len={}\nbody={}",
            body.len(),
            String::from_utf8_lossy(&body)
        ));
        Response::text(text)
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Route prefixes
// ---------------------------------------------------------------------------------------------

fn three_apps() -> Serve {
    Serve::new()
        .options(test_options())
        .app(
            Application::new(|| Inspect)
                .name("a")
                .route_prefix("/api/v1"),
        )
        .app(Application::new(|| Inspect).name("b").route_prefix("/api"))
        .app(Application::new(|| Inspect).name("root").route_prefix("/"))
}

#[test]
fn longest_route_prefix_wins_on_whole_segments() {
    let server = start(three_apps());
    let addr = server.local_addr();
    // (path as sent, app, path, route_path, route_prefix, query)
    let cases = [
        ("/api/v1", "a", "/api/v1", "/", "/api/v1", "<none>"),
        ("/api/v1/", "a", "/api/v1/", "/", "/api/v1", "<none>"),
        (
            "/api/v1/items/5",
            "a",
            "/api/v1/items/5",
            "/items/5",
            "/api/v1",
            "<none>",
        ),
        (
            "/api/v1/items?q=1&r=2",
            "a",
            "/api/v1/items",
            "/items",
            "/api/v1",
            "q=1&r=2",
        ),
        ("/api/v1?q", "a", "/api/v1", "/", "/api/v1", "q"),
        ("/api/v1x", "b", "/api/v1x", "/v1x", "/api", "<none>"),
        ("/api", "b", "/api", "/", "/api", "<none>"),
        ("/api/", "b", "/api/", "/", "/api", "<none>"),
        ("/api/x", "b", "/api/x", "/x", "/api", "<none>"),
        ("/api/x/y/", "b", "/api/x/y/", "/x/y/", "/api", "<none>"),
        ("/api?x=1", "b", "/api", "/", "/api", "x=1"),
        ("/apix", "root", "/apix", "/apix", "", "<none>"),
        ("/ap", "root", "/ap", "/ap", "", "<none>"),
        ("/", "root", "/", "/", "", "<none>"),
        (
            "/other/deep",
            "root",
            "/other/deep",
            "/other/deep",
            "",
            "<none>",
        ),
        ("/?z=9", "root", "/", "/", "", "z=9"),
    ];
    let mut stream = connect(addr);
    for (sent, app, path, route_path, route_prefix, query) in cases {
        let response = get_on(&mut stream, sent);
        assert_eq!(response.status(), 200, "{sent}: {}", response.raw);
        let body = response.body_text();
        let seen = (
            field(&body, "app"),
            field(&body, "path"),
            field(&body, "route_path"),
            field(&body, "route_prefix"),
            field(&body, "query"),
        );
        assert_eq!(
            seen,
            (
                Some(app),
                Some(path),
                Some(route_path),
                Some(route_prefix),
                Some(query)
            ),
            "GET {sent}"
        );
    }

    // One response in full, byte for byte.
    let response = get_with(addr, "/api/v1/items?q=1&r=2", "X-Request-Id: rid-1\r\n");
    let body = "app=a\nmethod=GET\npath=/api/v1/items\nroute_path=/items\nroute_prefix=/api/v1\n\
                query=q=1&r=2\nrequest_id=rid-1\nheader.host=test\nheader.x-request-id=rid-1\nbody=";
    assert_eq!(
        response.redacted(),
        text_response("HTTP/1.1 200 OK", false, "", body)
    );
    assert_eq!(response.header("x-request-id"), Some("rid-1"));
    server.shutdown();
}

#[test]
fn without_a_root_app_unmatched_paths_are_404_naming_the_path_and_the_routes_url() {
    let server = start(
        Serve::new()
            .options(test_options())
            .app(
                Application::new(|| Inspect)
                    .name("a")
                    .route_prefix("/api/v1"),
            )
            .app(Application::new(|| Inspect).name("b").route_prefix("/api")),
    );
    let addr = server.local_addr();
    let mut stream = connect(addr);
    for path in ["/apix", "/other", "/", "/ap", "/API"] {
        let response = get_on(&mut stream, path);
        assert_eq!(
            response.redacted(),
            text_response(
                "HTTP/1.1 404 Not Found",
                false,
                "",
                &not_found_body(addr, path)
            ),
            "GET {path}"
        );
    }
    // The query is not part of the path named in the 404.
    let response = get_on(&mut stream, "/apix?a=b");
    assert_eq!(response.body_text(), not_found_body(addr, "/apix"));
    // The 404s kept the connection open, and matching paths still route.
    let response = get_on(&mut stream, "/api/x");
    assert_eq!(response.status(), 200);
    assert_eq!(field(&response.body_text(), "app"), Some("b"));
    let response = get_on(&mut stream, "/api/v1/y");
    assert_eq!(field(&response.body_text(), "app"), Some("a"));
    assert_eq!(field(&response.body_text(), "route_path"), Some("/y"));
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 2. System endpoints
// ---------------------------------------------------------------------------------------------

#[test]
fn routes_healthz_and_their_methods() {
    let server = start(
        Serve::new()
            .options(test_options())
            .app(
                Application::new(|| Inspect)
                    .name("a")
                    .route_prefix("/api/v1"),
            )
            .app(Application::new(|| Inspect).name("b").route_prefix("/api")),
    );
    let addr = server.local_addr();
    let routes = r#"{"/api":"b","/api/v1":"a"}"#;
    let routes_response = format!(
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: {}\r\n\
         content-type: application/json\r\n\r\n{routes}",
        routes.len()
    );
    let mut stream = connect(addr);
    let response = get_on(&mut stream, "/-/routes");
    assert_eq!(response.redacted(), routes_response);

    let response = get_on(&mut stream, "/-/healthz");
    assert_eq!(
        response.redacted(),
        text_response("HTTP/1.1 200 OK", false, "", "success")
    );

    // HEAD: the GET's head, no body.
    let response = roundtrip(&mut stream, b"HEAD /-/healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        response.redacted(),
        text_response("HTTP/1.1 200 OK", false, "", "success").replace("success", "")
    );
    let response = roundtrip(&mut stream, b"HEAD /-/routes HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.redacted(), routes_response.replace(routes, ""));

    // Any other method: 405 with `allow`.
    for (method, path) in [
        ("POST", "/-/routes"),
        ("PUT", "/-/routes"),
        ("DELETE", "/-/healthz"),
        ("POST", "/-/healthz"),
    ] {
        let response = roundtrip(
            &mut stream,
            format!("{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        );
        assert_eq!(
            response.redacted(),
            text_response(
                "HTTP/1.1 405 Method Not Allowed",
                false,
                "allow: GET, HEAD\r\n",
                "Method Not Allowed"
            ),
            "{method} {path}"
        );
    }
    // The connection survived all of it.
    let response = get_on(&mut stream, "/-/routes");
    assert_eq!(response.body_text(), routes);
    server.shutdown();
}

#[test]
fn system_endpoints_take_precedence_over_a_root_app_and_routes_lists_it() {
    let server = start(three_apps());
    let addr = server.local_addr();
    let response = get(addr, "/-/routes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.body_text(),
        r#"{"/":"root","/api":"b","/api/v1":"a"}"#
    );
    let response = get(addr, "/-/healthz");
    assert_eq!(response.body_text(), "success");
    // Other paths under `/-/` are ordinary paths.
    let response = get(addr, "/-/other");
    assert_eq!(field(&response.body_text(), "app"), Some("root"));
    assert_eq!(field(&response.body_text(), "route_path"), Some("/-/other"));
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 3. Configuration errors
// ---------------------------------------------------------------------------------------------

#[test]
fn configuration_errors_name_the_value_and_nothing_binds() {
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let options = || test_options().port(port);
    let app = |prefix: &str| Application::new(|| Hello).name(prefix).route_prefix(prefix);
    let cases: Vec<(&str, Serve, &str)> = vec![
        (
            "prefix without leading slash",
            Serve::new()
                .options(options())
                .app(Application::new(|| Hello).route_prefix("api")),
            "\"api\"",
        ),
        (
            "prefix with trailing slash",
            Serve::new()
                .options(options())
                .app(Application::new(|| Hello).route_prefix("/api/")),
            "\"/api/\"",
        ),
        (
            "prefix with a brace",
            Serve::new()
                .options(options())
                .app(Application::new(|| Hello).route_prefix("/items/{id}")),
            "\"/items/{id}\"",
        ),
        (
            "duplicate prefix",
            Serve::new()
                .options(options())
                .app(Application::new(|| Hello).name("one").route_prefix("/dup"))
                .app(Application::new(|| Hello).name("two").route_prefix("/dup")),
            "\"/dup\"",
        ),
        (
            "duplicate app name",
            Serve::new()
                .options(options())
                .app(Application::new(|| Hello).name("same").route_prefix("/x"))
                .app(Application::new(|| Hello).name("same").route_prefix("/y")),
            "\"same\"",
        ),
        (
            "empty app name",
            Serve::new()
                .options(options())
                .app(Application::new(|| Hello).name("")),
            "name \"\"",
        ),
        (
            "zero cores",
            Serve::new()
                .options(options().cores(Cores::Count(0)))
                .app(app("/")),
            "Count(0)",
        ),
        (
            "too many cores",
            Serve::new()
                .options(options().cores(Cores::Count(999)))
                .app(app("/")),
            "Count(999)",
        ),
        (
            "unknown core id",
            Serve::new()
                .options(options().cores(Cores::List(vec![9999])))
                .app(app("/")),
            "9999",
        ),
        (
            "busy polling past its ceiling",
            Serve::new()
                .options(options().busy_poll(Duration::from_millis(11)))
                .app(app("/")),
            "busy_poll = 11ms",
        ),
        (
            "root path without leading slash",
            Serve::new()
                .options(options().root_path("serve"))
                .app(app("/")),
            "\"serve\"",
        ),
        (
            "head limit above the ceiling",
            Serve::new()
                .options(options().limits(Limits {
                    head_bytes_max: 100_000,
                    ..Limits::default()
                }))
                .app(app("/")),
            "head_bytes_max = 100000",
        ),
        (
            "zero request timeout",
            Serve::new()
                .options(options().request_timeout(Duration::ZERO))
                .app(app("/")),
            "request_timeout",
        ),
        (
            "bad host",
            Serve::new()
                .options(options().host("not a host name!"))
                .app(app("/")),
            "\"not a host name!\"",
        ),
    ];
    for (what, serve, needle) in cases {
        let error = start_error(serve);
        assert!(
            error.contains(needle),
            "{what}: the error should name {needle}, got: {error}"
        );
        assert_refused(addr);
    }
}

#[test]
fn a_port_taken_by_another_listener_is_an_error_naming_the_address() {
    // std's listener does not set SO_REUSEPORT, so no one may share its port.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let error = start_error(
        Serve::new()
            .options(test_options().port(addr.port()))
            .app(Application::new(|| Hello)),
    );
    assert!(
        error.contains(&addr.to_string()),
        "the error should name {addr}: {error}"
    );
    // The other listener still owns the port.
    let client = TcpStream::connect(addr).unwrap();
    let (accepted, _) = taken.accept().unwrap();
    assert_eq!(accepted.peer_addr().unwrap(), client.local_addr().unwrap());
}

// ---------------------------------------------------------------------------------------------
// 4. Request accessors
// ---------------------------------------------------------------------------------------------

#[test]
fn request_accessors_see_the_request_as_sent() {
    let server = start(
        Serve::new().options(test_options()).app(
            Application::new(|| Accessors)
                .name("things")
                .route_prefix("/api"),
        ),
    );
    let addr = server.local_addr();
    let mut stream = connect(addr);
    let response = roundtrip(
        &mut stream,
        b"POST /api/items/5?x=1&y=two%20words HTTP/1.1\r\nHost: t\r\nX-Custom: One\r\n\
          x-custom: two\r\nContent-Type: text/plain\r\nX-Request-Id: abc-123\r\n\
          Content-Length: 11\r\n\r\nhello world",
    );
    let body = "method=POST\nversion=HTTP/1.1\npath=/api/items/5\nroute_path=/items/5\n\
                route_prefix=/api\nquery=x=1&y=two%20words\napp=things\nrequest_id=abc-123\n\
                header[0]=Host: t\nheader[1]=X-Custom: One\nheader[2]=x-custom: two\n\
                header[3]=Content-Type: text/plain\nheader[4]=X-Request-Id: abc-123\n\
                header[5]=Content-Length: 11\nheader(x-custom)=One\n\
                header_str(CONTENT-TYPE)=text/plain\nheader(missing)=<none>\nbody_len=11\n\
                body=hello world";
    assert_eq!(
        response.redacted(),
        text_response("HTTP/1.1 200 OK", false, "", body)
    );
    assert_eq!(response.header("x-request-id"), Some("abc-123"));

    // A chunked body on the same connection arrives whole; a missing query is None.
    let response = roundtrip(
        &mut stream,
        b"PUT /api HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    let body = response.body_text();
    assert_eq!(field(&body, "method"), Some("PUT"));
    assert_eq!(field(&body, "path"), Some("/api"));
    assert_eq!(field(&body, "route_path"), Some("/"));
    assert_eq!(field(&body, "query"), Some("<none>"));
    assert_eq!(field(&body, "header(x-custom)"), Some("<none>"));
    assert_eq!(field(&body, "body_len"), Some("11"));
    assert_eq!(field(&body, "body"), Some("hello world"));
    let id = field(&body, "request_id").unwrap();
    assert_eq!(Some(id), response.header("x-request-id"));

    // HTTP/1.0 is reported as such.
    let response = request(addr, b"GET /api/v HTTP/1.0\r\n\r\n");
    assert_eq!(response.status(), 200);
    assert_eq!(field(&response.body_text(), "version"), Some("HTTP/1.0"));
    assert_eq!(field(&response.body_text(), "route_path"), Some("/v"));
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 5. x-request-id
// ---------------------------------------------------------------------------------------------

#[test]
fn request_ids_are_echoed_or_generated_and_match_what_the_handler_sees() {
    let server = start_app(Application::new(|| Inspect));
    let addr = server.local_addr();

    let response = get_with(addr, "/", "X-Request-Id: my-id-123\r\n");
    assert_eq!(response.header("x-request-id"), Some("my-id-123"));
    assert_eq!(
        field(&response.body_text(), "request_id"),
        Some("my-id-123")
    );

    // Surrounding whitespace is not part of the id.
    let response = get_with(addr, "/", "x-request-id:   spaced  \r\n");
    assert_eq!(response.header("x-request-id"), Some("spaced"));
    assert_eq!(field(&response.body_text(), "request_id"), Some("spaced"));

    // The longest id kept as sent is 128 bytes; a longer one is replaced.
    let longest = "i".repeat(128);
    let response = get_with(addr, "/", &format!("X-Request-Id: {longest}\r\n"));
    assert_eq!(response.header("x-request-id"), Some(longest.as_str()));
    let too_long = "j".repeat(129);
    let response = get_with(addr, "/", &format!("X-Request-Id: {too_long}\r\n"));
    let id = response.header("x-request-id").unwrap().to_owned();
    assert!(is_generated_id(&id), "{id}");
    assert_eq!(
        field(&response.body_text(), "request_id"),
        Some(id.as_str())
    );

    // Without one, each request gets its own 32-hex id, the same the handler saw.
    let mut stream = connect(addr);
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let response = get_on(&mut stream, "/");
        let id = response.header("x-request-id").unwrap().to_owned();
        assert!(is_generated_id(&id), "{id}");
        assert_eq!(
            field(&response.body_text(), "request_id"),
            Some(id.as_str())
        );
        assert!(seen.insert(id), "request ids repeat");
    }
    server.shutdown();
}

#[test]
fn engine_answers_carry_the_clients_request_id_too() {
    let server = start(
        Serve::new()
            .options(test_options())
            .app(Application::new(|| Hello).route_prefix("/hello")),
    );
    let addr = server.local_addr();
    let response = get_with(addr, "/nowhere", "X-Request-Id: lost-1\r\n");
    assert_eq!(response.status(), 404);
    assert_eq!(response.header("x-request-id"), Some("lost-1"));
    let response = get_with(addr, "/-/healthz", "X-Request-Id: health-1\r\n");
    assert_eq!(response.header("x-request-id"), Some("health-1"));
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 6. Request timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn a_handler_past_the_request_timeout_gets_408_and_its_future_is_dropped() {
    let probe = Probe::default();
    let server = start_sleepy(
        test_options().request_timeout(Duration::from_millis(200)),
        &probe,
    );
    let addr = server.local_addr();
    let mut stream = connect(addr);
    let sent = Instant::now();
    let response = get_on(&mut stream, "/?ms=600000");
    let elapsed = sent.elapsed();
    let id = assert_timed_out(&response, "0.2");
    assert!(is_generated_id(&id), "{id}");
    assert!(
        elapsed >= Duration::from_millis(190),
        "answered after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(8),
        "answered after {elapsed:?}"
    );
    // The handler started, never finished, and its future (with the guard) was dropped.
    assert_eq!(probe.counts(), (1, 0, 1), "(started, finished, dropped)");
    // 408 closes the connection.
    assert_closed(&mut stream);

    // A client-given id appears in the text; the shard keeps serving.
    let response = get_with(addr, "/?ms=600000", "X-Request-Id: slow-1\r\n");
    assert_eq!(assert_timed_out(&response, "0.2"), "slow-1");
    assert_eq!(probe.counts(), (2, 0, 2));
    let response = get(addr, "/?ms=0");
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_text(), "slept 0");
    assert_eq!(response.header("connection"), None);
    server.shutdown();
}

#[test]
fn timeout_header_shortens_a_longer_server_timeout() {
    let probe = Probe::default();
    let server = start_sleepy(
        test_options().request_timeout(Duration::from_secs(20)),
        &probe,
    );
    let sent = Instant::now();
    let response = get_with(
        server.local_addr(),
        "/?ms=600000",
        "x-request-timeout-seconds: 0.1\r\n",
    );
    assert_timed_out(&response, "0.1");
    assert!(
        sent.elapsed() < Duration::from_secs(8),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(probe.counts(), (1, 0, 1));
    server.shutdown();
}

#[test]
fn timeout_header_cannot_lengthen_the_server_timeout() {
    let probe = Probe::default();
    let server = start_sleepy(
        test_options().request_timeout(Duration::from_millis(200)),
        &probe,
    );
    let response = get_with(
        server.local_addr(),
        "/?ms=600000",
        "X-Request-Timeout-Seconds: 30\r\n",
    );
    assert_timed_out(&response, "0.2");
    server.shutdown();
}

#[test]
fn timeout_header_zero_disables_the_timeout() {
    let probe = Probe::default();
    let server = start_sleepy(
        test_options().request_timeout(Duration::from_millis(200)),
        &probe,
    );
    let addr = server.local_addr();
    for value in ["0", "none"] {
        let response = get_with(
            addr,
            "/?ms=300",
            &format!("x-request-timeout-seconds: {value}\r\n"),
        );
        assert_eq!(
            response.redacted(),
            text_response("HTTP/1.1 200 OK", false, "", "slept 300"),
            "x-request-timeout-seconds: {value}"
        );
    }
    assert_eq!(probe.counts(), (2, 2, 2));
    server.shutdown();
}

#[test]
fn an_invalid_timeout_header_is_400() {
    let probe = Probe::default();
    let server = start_sleepy(test_options(), &probe);
    let addr = server.local_addr();
    for value in ["abc", "-1", "1e3", ""] {
        let mut stream = connect(addr);
        stream
            .write_all(
                format!(
                    "GET /?ms=0 HTTP/1.1\r\nHost: t\r\nx-request-timeout-seconds: {value}\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
        let response = read_response(&mut stream, false);
        assert_eq!(
            response.redacted(),
            text_response(
                "HTTP/1.1 400 Bad Request",
                true,
                "",
                "Bad Request: invalid x-request-timeout-seconds"
            ),
            "x-request-timeout-seconds: {value:?}"
        );
        assert_closed(&mut stream);
    }
    assert_eq!(probe.counts(), (0, 0, 0), "the handler must not run");
    server.shutdown();
}

#[test]
fn timeout_header_applies_without_a_server_timeout() {
    let probe = Probe::default();
    let server = start_sleepy(test_options(), &probe);
    let addr = server.local_addr();
    let response = get_with(addr, "/?ms=600000", "x-request-timeout-seconds: 0.1\r\n");
    assert_timed_out(&response, "0.1");
    assert_eq!(probe.counts(), (1, 0, 1));
    // Without the header there is no timeout at all.
    let response = get(addr, "/?ms=300");
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_text(), "slept 300");
    server.shutdown();
}

#[test]
fn each_request_on_a_keep_alive_connection_gets_its_own_timeout() {
    let probe = Probe::default();
    let server = start_sleepy(
        test_options().request_timeout(Duration::from_millis(500)),
        &probe,
    );
    let mut stream = connect(server.local_addr());
    let response = get_on(&mut stream, "/?ms=0");
    assert_eq!(response.body_text(), "slept 0");
    // Idle past the timeout: the first request's timer must not fire into the next request.
    std::thread::sleep(Duration::from_millis(700));
    let response = get_on(&mut stream, "/?ms=50");
    assert_eq!(response.status(), 200, "{}", response.raw);
    assert_eq!(response.body_text(), "slept 50");
    // Requests whose handlers together run past the timeout each get the full time.
    for _ in 0..4 {
        let response = get_on(&mut stream, "/?ms=200");
        assert_eq!(response.status(), 200, "{}", response.raw);
    }
    // And the timeout still fires for a slow one.
    let response = get_on(&mut stream, "/?ms=600000");
    assert_timed_out(&response, "0.5");
    assert_closed(&mut stream);
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 7. Panics
// ---------------------------------------------------------------------------------------------

/// `/panic` panics on first poll, `/panic-later` after an await, anything else answers `ok`.
struct Panicky;

impl Deployment for Panicky {
    async fn call(&self, request: Request) -> Response {
        match request.path() {
            "/panic" => panic!("handler panics on purpose"),
            "/panic-later" => {
                ringserve::rt::sleep(Duration::from_millis(1)).await;
                panic!("handler panics on purpose after an await")
            }
            _ => Response::text("ok"),
        }
    }
}

#[test]
fn a_panicking_handler_gets_500_and_the_shard_keeps_serving() {
    let server = start_app(Application::new(|| Panicky));
    let addr = server.local_addr();
    let mut stream = connect(addr);
    for round in 0..20 {
        let path = if round % 2 == 0 {
            "/panic"
        } else {
            "/panic-later"
        };
        let response = get_on(&mut stream, path);
        assert_eq!(
            response.redacted(),
            internal_server_error(),
            "round {round}"
        );
        // The same connection goes on.
        let response = get_on(&mut stream, "/ok");
        assert_eq!(
            response.redacted(),
            text_response("HTTP/1.1 200 OK", false, "", "ok"),
            "round {round}"
        );
        // So do other connections.
        assert_eq!(get(addr, "/panic").redacted(), internal_server_error());
        assert_eq!(get(addr, "/ok").body_text(), "ok");
    }
    server.shutdown();
}

/// Panics in `call` itself, before it returns a future.
struct PanicsBeforeFuture;

impl Deployment for PanicsBeforeFuture {
    fn call(&self, request: Request) -> impl std::future::Future<Output = Response> {
        if request.path() == "/panic" {
            panic!("call panics before returning its future");
        }
        async { Response::text("ok") }
    }
}

#[test]
fn a_handler_that_panics_before_returning_its_future_gets_500_too() {
    let server = start_app(Application::new(|| PanicsBeforeFuture));
    let addr = server.local_addr();
    let mut stream = connect(addr);
    for round in 0..5 {
        let response = get_on(&mut stream, "/panic");
        assert_eq!(
            response.redacted(),
            internal_server_error(),
            "round {round}"
        );
        let response = get_on(&mut stream, "/ok");
        assert_eq!(response.body_text(), "ok", "round {round}");
        assert_eq!(get(addr, "/ok").body_text(), "ok", "round {round}");
    }
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 8. Per-replica state
// ---------------------------------------------------------------------------------------------

/// Counts its calls in state that is not `Send`.
struct Counter {
    calls: Rc<RefCell<u64>>,
    also: Cell<u64>,
}

impl Deployment for Counter {
    async fn call(&self, _request: Request) -> Response {
        *self.calls.borrow_mut() += 1;
        self.also.set(self.also.get() + 1);
        Response::text(format!("{} {}", self.calls.borrow(), self.also.get()))
    }
}

#[test]
fn a_replica_keeps_non_send_state_between_requests() {
    let server = start_app(Application::new(|| Counter {
        calls: Rc::new(RefCell::new(0)),
        also: Cell::new(0),
    }));
    let addr = server.local_addr();
    let mut stream = connect(addr);
    for expected in 1..=3 {
        assert_eq!(
            get_on(&mut stream, "/").body_text(),
            format!("{expected} {expected}")
        );
    }
    for expected in 4..=6 {
        assert_eq!(get(addr, "/").body_text(), format!("{expected} {expected}"));
    }
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 9. Several shards
// ---------------------------------------------------------------------------------------------

/// Answers `<thread name> <calls on this replica>`.
struct WhereAmI {
    calls: Cell<u64>,
}

impl Deployment for WhereAmI {
    async fn call(&self, _request: Request) -> Response {
        self.calls.set(self.calls.get() + 1);
        let thread = std::thread::current();
        Response::text(format!(
            "{} {}",
            thread.name().unwrap_or("<unnamed>"),
            self.calls.get()
        ))
    }
}

#[test]
fn two_shards_both_serve_each_with_its_own_replica() {
    let built = Arc::new(AtomicUsize::new(0));
    let factory_built = built.clone();
    let server = start(
        Serve::new()
            .options(test_options().cores(Cores::Count(2)))
            .app(Application::new(move || {
                factory_built.fetch_add(1, Ordering::SeqCst);
                WhereAmI {
                    calls: Cell::new(0),
                }
            })),
    );
    assert_eq!(built.load(Ordering::SeqCst), 2, "one replica per shard");
    let addr = server.local_addr();
    let mut calls: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    // Several rounds of many simultaneous connections; SO_REUSEPORT spreads them.
    for _ in 0..3 {
        let mut streams: Vec<TcpStream> = (0..40).map(|_| connect(addr)).collect();
        for stream in &mut streams {
            stream
                .write_all(b"GET /where HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
        }
        for stream in &mut streams {
            let response = read_response(stream, false);
            assert_eq!(response.status(), 200, "{}", response.raw);
            let body = response.body_text();
            let (thread, count) = body.split_once(' ').expect("thread and count");
            calls
                .entry(common::shard_name(thread).to_owned())
                .or_default()
                .push(count.parse().unwrap());
        }
        if calls.len() == 2 {
            break;
        }
    }
    let threads: Vec<&str> = calls.keys().map(String::as_str).collect();
    assert_eq!(threads, ["ringserve-shard-0", "ringserve-shard-1"]);
    // Each shard counted its own calls, from 1 without gaps.
    for (thread, mut counts) in calls {
        counts.sort_unstable();
        let expected: Vec<u64> = (1..=counts.len() as u64).collect();
        assert_eq!(counts, expected, "{thread}");
    }
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 10. Root path
// ---------------------------------------------------------------------------------------------

/// `Inspect` as the application `api` at `/api`, under `options`.
fn start_api(options: HttpOptions) -> ringserve::ServerHandle {
    start(
        Serve::new().options(options).app(
            Application::new(|| Inspect)
                .name("api")
                .route_prefix("/api"),
        ),
    )
}

/// What `Inspect` saw of `GET path`: each `key=value` of `expected`.
fn assert_inspected(addr: SocketAddr, path: &str, expected: &[(&str, &str)]) {
    let response = get(addr, path);
    assert_eq!(response.status(), 200, "{}", response.raw);
    let body = response.body_text();
    for (key, value) in expected {
        assert_eq!(field(&body, key), Some(*value), "{key} of GET {path}");
    }
}

/// Each of `paths` gets the server's own 404, naming the path.
fn assert_not_found(addr: SocketAddr, paths: &[&str]) {
    for path in paths {
        assert_eq!(
            get(addr, path).redacted(),
            text_response(
                "HTTP/1.1 404 Not Found",
                false,
                "",
                &not_found_body(addr, path)
            ),
            "GET {path}"
        );
    }
}

/// Ray Serve's `root_path` (ASGI's): a proxy in front mounts the server there and removes it,
/// so requests are routed as received — `/api/x` reaches the application, `/root/api/x` is a
/// 404, as Ray Serve 2.60 answers — and handlers read it to build URLs.
#[test]
fn root_path_is_where_a_proxy_mounts_the_server_and_requests_arrive_without_it() {
    let server = start_api(test_options().root_path("/root"));
    let addr = server.local_addr();
    assert_inspected(
        addr,
        "/api/x?k=v",
        &[
            ("app", "api"),
            ("path", "/api/x"),
            ("route_path", "/x"),
            ("route_prefix", "/api"),
            ("root_path", "/root"),
            ("query", "k=v"),
        ],
    );
    assert_not_found(addr, &["/root/api/x", "/root"]);
    assert_eq!(get(addr, "/-/routes").body_text(), r#"{"/api":"api"}"#);
    server.shutdown();
}

/// `strip_root_path`: requests carry the root path, which must start the path (on a segment
/// boundary) and is removed before route prefixes are matched.
#[test]
fn strip_root_path_requires_the_root_path_and_removes_it_before_route_prefixes() {
    let server = start_api(test_options().root_path("/serve").strip_root_path(true));
    let addr = server.local_addr();
    assert_inspected(
        addr,
        "/serve/api/x?k=v",
        &[
            ("app", "api"),
            ("path", "/serve/api/x"),
            ("route_path", "/x"),
            ("route_prefix", "/api"),
            ("root_path", "/serve"),
            ("query", "k=v"),
        ],
    );
    assert_inspected(addr, "/serve/api", &[("route_path", "/")]);
    // Outside the root path, or not on a segment boundary: 404 naming the full path.
    assert_not_found(addr, &["/api/x", "/server/api/x", "/serve", "/serve/other"]);
    // The system endpoints answer both outside and inside the root path.
    for path in ["/-/routes", "/serve/-/routes"] {
        let response = get(addr, path);
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.body_text(), r#"{"/api":"api"}"#, "{path}");
    }
    assert_eq!(get(addr, "/-/healthz").body_text(), "success");
    server.shutdown();
}

/// With busy polling (`HttpOptions::busy_poll`) the shard polls its ring before it sleeps:
/// keep-alive requests are answered in order, and glommio's timers still fire while it polls
/// (a request timeout answers 408 on time, not after the next request).
#[test]
fn busy_polling_serves_requests_and_keeps_timers() {
    struct SlowOnSlow;
    impl Deployment for SlowOnSlow {
        async fn call(&self, request: Request) -> Response {
            if request.route_path() == "/slow" {
                ringserve::rt::sleep(Duration::from_secs(5)).await;
            }
            Response::text(format!("done {}", request.route_path()))
        }
    }
    let server = start(
        Serve::new()
            .options(
                test_options()
                    .busy_poll(Duration::from_micros(500))
                    .request_timeout(Duration::from_millis(200)),
            )
            .app(Application::new(|| SlowOnSlow)),
    );
    let addr = server.local_addr();
    let mut stream = connect(addr);
    for i in 0..50 {
        let response = roundtrip(
            &mut stream,
            format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        );
        assert_eq!(response.body_text(), format!("done /{i}"));
    }
    let started = Instant::now();
    let timed_out = roundtrip(&mut stream, b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(timed_out.status(), 408, "{}", timed_out.raw);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout fired only when the handler finished"
    );
    server.shutdown();
}

/// `Request::url()` is Starlette's `request.url`: scheme, `Host` (the server's own address
/// when the request names none), the root path where a proxy removed it, the path as sent
/// and the query; the scheme comes from `X-Forwarded-Proto` only when the operator trusts it.
#[test]
fn a_request_knows_the_url_the_client_asked_for() {
    struct Url;
    impl Deployment for Url {
        async fn call(&self, request: Request) -> Response {
            Response::text(request.url())
        }
    }
    let url_of = |options: HttpOptions, raw: &str| {
        let server = start(Serve::new().options(options).app(Application::new(|| Url)));
        let answer = request(server.local_addr(), raw.as_bytes()).body_text();
        let port = server.local_addr().port();
        server.shutdown();
        (answer, port)
    };
    let (url, _) = url_of(
        test_options(),
        "GET /items/a%20b?k=v HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
    );
    assert_eq!(url, "http://example.com:8080/items/a%20b?k=v");
    // A proxy removed the root path: it is put back.
    let (url, _) = url_of(
        test_options().root_path("/root"),
        "GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(url, "http://example.com/root/x");
    // The request carried it: the path already has it.
    let (url, _) = url_of(
        test_options().root_path("/root").strip_root_path(true),
        "GET /root/x HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(url, "http://example.com/root/x");
    // HTTP/1.0 without a host: the server's own address.
    let (url, port) = url_of(test_options(), "GET /x HTTP/1.0\r\n\r\n");
    assert_eq!(url, format!("http://127.0.0.1:{port}/x"));
    // X-Forwarded-Proto: ignored unless trusted.
    let forwarded = "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Proto: https\r\n\r\n";
    assert_eq!(url_of(test_options(), forwarded).0, "http://a.example/x");
    assert_eq!(
        url_of(test_options().trust_forwarded_proto(true), forwarded).0,
        "https://a.example/x"
    );
}

// ---------------------------------------------------------------------------------------------
// 11. Shutdown
// ---------------------------------------------------------------------------------------------

#[test]
fn shutdown_with_idle_connections_returns_promptly_and_closes_them() {
    let server = start(
        Serve::new()
            .options(test_options().shutdown_grace(Duration::from_secs(60)))
            .app(Application::new(|| Hello)),
    );
    let addr = server.local_addr();
    let mut idle: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
    for stream in &mut idle {
        assert_eq!(get_on(stream, "/").body_text(), "hello");
    }
    let begun = Instant::now();
    within(Duration::from_secs(20), "shutdown", move || {
        server.shutdown()
    });
    let took = begun.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "shutdown took {took:?} with only idle connections"
    );
    for stream in &mut idle {
        assert_closed(stream);
    }
    assert_refused(addr);
}

#[test]
fn shutdown_lets_an_in_flight_request_finish_with_connection_close() {
    let probe = Probe::default();
    let server = start_sleepy(test_options(), &probe);
    let addr = server.local_addr();
    let mut stream = connect(addr);
    stream
        .write_all(b"GET /?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    probe.wait_started(1);
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        server.shutdown();
        let _ = done.send(());
    });
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        text_response("HTTP/1.1 200 OK", true, "", "slept 300")
    );
    assert_closed(&mut stream);
    finished
        .recv_timeout(Duration::from_secs(20))
        .expect("shutdown returns once the request is answered");
    assert_eq!(probe.counts(), (1, 1, 1));
    assert_refused(addr);
}

#[test]
fn dropping_the_handle_shuts_the_server_down() {
    let server = start_app(Application::new(|| Hello));
    let addr = server.local_addr();
    assert_eq!(get(addr, "/").body_text(), "hello");
    within(Duration::from_secs(20), "dropping the handle", move || {
        drop(server)
    });
    assert_refused(addr);
}

// ---------------------------------------------------------------------------------------------
// 12. Connection limit
// ---------------------------------------------------------------------------------------------

const OVERLOADED: &str = "HTTP/1.1 503 Service Unavailable\r\ndate: <date>\r\nx-request-id: <id>\r\nconnection: close\r\n\
         content-length: 41\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n\
         Service Unavailable: too many connections";

#[test]
fn connections_past_the_shard_limit_get_503_and_close() {
    let server = start(
        Serve::new()
            .options(test_options().limits(Limits {
                connections_per_shard_max: 2,
                ..Limits::default()
            }))
            .app(Application::new(|| Hello)),
    );
    let addr = server.local_addr();
    let mut first = connect(addr);
    assert_eq!(get_on(&mut first, "/").body_text(), "hello");
    let mut second = connect(addr);
    assert_eq!(get_on(&mut second, "/").body_text(), "hello");

    let mut third = connect(addr);
    assert_eq!(redact(&read_to_close(&mut third)), OVERLOADED);

    // The two admitted connections are unaffected.
    assert_eq!(get_on(&mut first, "/").body_text(), "hello");
    assert_eq!(get_on(&mut second, "/").body_text(), "hello");

    // Once one closes, a new connection is served again.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    let served = loop {
        let answer = exchange_until_close(
            addr,
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        if answer.starts_with("HTTP/1.1 200 OK\r\n") {
            break answer;
        }
        assert!(
            answer.is_empty() || redact(&answer) == OVERLOADED,
            "unexpected answer: {answer:?}"
        );
        assert!(Instant::now() < deadline, "no connection admitted again");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        redact(&served),
        text_response("HTTP/1.1 200 OK", true, "", "hello")
    );
    assert_eq!(get_on(&mut second, "/").body_text(), "hello");
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 13. Failing replica factories
// ---------------------------------------------------------------------------------------------

#[test]
fn a_panicking_factory_fails_start_naming_the_application() {
    let port = free_port();
    let error = start_error(
        Serve::new()
            .options(test_options().port(port))
            .app(
                Application::new(|| Hello)
                    .name("fine")
                    .route_prefix("/fine"),
            )
            .app(
                Application::new(|| -> Hello { panic!("factory fails on purpose") })
                    .name("exploding")
                    .route_prefix("/boom"),
            ),
    );
    assert!(error.contains("\"exploding\""), "{error}");
    assert_refused(([127, 0, 0, 1], port).into());
}

#[test]
fn a_factory_that_panics_on_the_second_shard_stops_the_first() {
    let port = free_port();
    let calls = Arc::new(AtomicUsize::new(0));
    let factory_calls = calls.clone();
    let error = start_error(
        Serve::new()
            .options(test_options().port(port).cores(Cores::Count(2)))
            .app(
                Application::new(move || {
                    if factory_calls.fetch_add(1, Ordering::SeqCst) == 1 {
                        panic!("second replica fails on purpose");
                    }
                    Hello
                })
                .name("second-fails"),
            ),
    );
    assert!(error.contains("\"second-fails\""), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_refused(([127, 0, 0, 1], port).into());
}
