//! The access log end to end over loopback sockets: one event per request with exact fields,
//! error statuses from an ingress router and its handlers, a timed-out handler, streamed bodies
//! counted to their end or cut short (the client leaving, the stream failing), pipelined
//! requests, a server-wide layer, and a level the subscriber filters out.
//!
//! Events are captured by a small `tracing::Subscriber`, installed once as the process-wide
//! default (the shards run on their own threads, so a thread-local default would not see
//! them). Tests run in parallel, so each sends its own `x-request-id` and looks only at the
//! events that carry it. A counting allocator checks that a disabled log allocates nothing.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use ringserve::ingress::{HttpError, Router};
use ringserve::middleware::access_log::{AccessLog, TARGET};
use ringserve::middleware::{Middleware, Next};
use ringserve::rt::stream::{self, StreamExt};
use ringserve::{Application, Deployment, Request, Response, Serve, StatusCode};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

// ---------------------------------------------------------------------------------------------
// Capturing events
// ---------------------------------------------------------------------------------------------

/// One access-log event as recorded: level, and every field but `latency_us` as
/// `name=value` (strings quoted, numbers and booleans bare), in the order recorded.
#[derive(Clone, Debug)]
struct Logged {
    level: Level,
    fields: String,
    latency_us: Option<u64>,
    request_id: Option<String>,
}

/// Every access-log event recorded, from every test's servers.
static EVENTS: Mutex<Vec<Logged>> = Mutex::new(Vec::new());

/// How often a DEBUG access-log callsite was asked about (and refused).
static DEBUG_ASKS: AtomicUsize = AtomicUsize::new(0);

/// Records the events of target `ringserve::access` at INFO and above in [`EVENTS`]; DEBUG
/// and TRACE for that target, and every other target, are disabled.
struct Capture;

impl Subscriber for Capture {
    /// `sometimes`: ask `enabled` at every callsite hit, so the test sees each check.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if metadata.target() != TARGET {
            return false;
        }
        if *metadata.level() == Level::DEBUG {
            DEBUG_ASKS.fetch_add(1, Ordering::SeqCst);
        }
        *metadata.level() <= Level::INFO
    }

    fn event(&self, event: &Event<'_>) {
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        EVENTS.lock().unwrap().push(Logged {
            level: *event.metadata().level(),
            fields: visitor.text.trim_start().to_owned(),
            latency_us: visitor.latency_us,
            request_id: visitor.request_id,
        });
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[derive(Default)]
struct Fields {
    text: String,
    latency_us: Option<u64>,
    request_id: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request_id" {
            self.request_id = Some(value.to_owned());
        }
        let _ = write!(self.text, " {field}={value:?}");
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "latency_us" {
            self.latency_us = Some(value);
        } else {
            let _ = write!(self.text, " {field}={value}");
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        let _ = write!(self.text, " {field}={value}");
    }
    /// Any other type is marked, so an assertion shows it.
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.text, " {field}=?{value:?}");
    }
}

/// Installs the capturing subscriber as the process-wide default, once.
fn capture() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        tracing::subscriber::set_global_default(Capture)
            .expect("no other global subscriber in this test binary");
    });
}

/// The events recorded so far for `request_id`.
fn events_for(request_id: &str) -> Vec<Logged> {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|event| event.request_id.as_deref() == Some(request_id))
        .cloned()
        .collect()
}

/// How long an event may take to appear after the client saw what caused it (the shard's
/// thread logs it; a dropped stream is noticed when the shard sees the socket close).
const EVENT_WAIT: Duration = Duration::from_secs(5);

/// How long to keep watching for a second event after the first.
const SETTLE: Duration = Duration::from_millis(100);

/// The one event for `request_id`: waits for it, then makes sure no second one follows.
fn the_event(request_id: &str) -> Logged {
    let start = Instant::now();
    while events_for(request_id).is_empty() {
        assert!(
            start.elapsed() < EVENT_WAIT,
            "no access-log event for {request_id:?} within {EVENT_WAIT:?}"
        );
        sleep(Duration::from_millis(5));
    }
    sleep(SETTLE);
    let events = events_for(request_id);
    assert_eq!(
        events.len(),
        1,
        "exactly one event for {request_id:?}: {events:#?}"
    );
    events.into_iter().next().expect("one event")
}

/// The fields `the_event` expects for a request answered in full: everything but the latency.
fn line(method: &str, path: &str, status: u16, bytes: usize, id: &str, app: &str) -> String {
    format!(
        r#"method="{method}" path="{path}" status={status} bytes={bytes} complete=true request_id="{id}" app="{app}" version="HTTP/1.1" client=?127.0.0.1"#
    )
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// One application named `name`, wrapped in `log`, answering with `handler`.
fn logged_app<F>(name: &str, log: AccessLog, handler: F) -> Application
where
    F: Fn(&Request) -> Response + Clone + Send + Sync + 'static,
{
    Application::new(move || Handler(handler.clone()))
        .name(name)
        .layer(log)
}

/// Starts `app` with a short shutdown grace (a test that fails with a stream open does not
/// wait for it), the access-log events captured.
fn serve_logged(app: Application) -> ringserve::ServerHandle {
    capture();
    serve(short_grace_options(), app)
}

/// `GET path` with `x-request-id: id` on a new connection.
fn get_id(addr: std::net::SocketAddr, path: &str, id: &str) -> RawResponse {
    request(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nx-request-id: {id}\r\n\r\n").as_bytes(),
    )
}

/// `GET path` with `x-request-id: id` and `connection: close`, and everything the server sends
/// until it closes, redacted: for streamed responses.
fn get_streamed_id(addr: std::net::SocketAddr, path: &str, id: &str) -> String {
    get_streamed(addr, path, &format!("x-request-id: {id}\r\n"))
}

// ---------------------------------------------------------------------------------------------
// Whole bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn each_request_is_logged_once_with_exact_fields() {
    let server = serve_logged(logged_app("items", AccessLog::new(), |_: &Request| {
        Response::text("hello")
    }));
    let addr = server.local_addr();
    let response = get_id(addr, "/items/5?token=secret", "alog-fields");
    assert_eq!(response.body_text(), "hello");
    let event = the_event("alog-fields");
    assert_eq!(event.level, Level::INFO);
    // No query: it is only logged when asked for.
    assert_eq!(
        event.fields,
        line("GET", "/items/5", 200, 5, "alog-fields", "items")
    );
    assert!(event.latency_us.is_some(), "latency_us recorded");

    // HTTP/1.0, another method, a body read by nobody.
    let response = request(
        addr,
        b"PUT /put HTTP/1.0\r\nx-request-id: alog-put\r\ncontent-length: 3\r\n\r\nabc",
    );
    assert_eq!(response.status(), 200);
    assert_eq!(
        the_event("alog-put").fields,
        r#"method="PUT" path="/put" status=200 bytes=5 complete=true request_id="alog-put" app="items" version="HTTP/1.0" client=?127.0.0.1"#
    );
}

#[test]
fn the_query_is_its_own_field_when_asked_for() {
    let server = serve_logged(logged_app(
        "q",
        AccessLog::new().log_query(true),
        |_: &Request| Response::text("ok"),
    ));
    get_id(server.local_addr(), "/search?q=a%20b&page=2", "alog-query");
    assert_eq!(
        the_event("alog-query").fields,
        r#"method="GET" path="/search" query="q=a%20b&page=2" status=200 bytes=2 complete=true request_id="alog-query" app="q" version="HTTP/1.1" client=?127.0.0.1"#
    );
}

#[test]
fn the_trace_id_of_a_valid_traceparent_is_logged() {
    let server = serve_logged(logged_app("t", AccessLog::new(), |_: &Request| {
        Response::text("ok")
    }));
    let addr = server.local_addr();
    request(
        addr,
        b"GET /t HTTP/1.1\r\nHost: test\r\nx-request-id: alog-trace\r\n\
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
    );
    assert_eq!(
        the_event("alog-trace").fields,
        r#"method="GET" path="/t" status=200 bytes=2 complete=true request_id="alog-trace" app="t" version="HTTP/1.1" client=?127.0.0.1 trace_id="4bf92f3577b34da6a3ce929d0e0e4736""#
    );
    // An invalid one (upper-case hex) is not a trace context: no field.
    request(
        addr,
        b"GET /t HTTP/1.1\r\nHost: test\r\nx-request-id: alog-no-trace\r\n\
traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\r\n\r\n",
    );
    assert!(
        !the_event("alog-no-trace").fields.contains("trace_id"),
        "{}",
        the_event("alog-no-trace").fields
    );
}

#[test]
fn a_generated_request_id_is_logged_as_the_response_echoes_it() {
    let server = serve_logged(logged_app("gen", AccessLog::new(), |_: &Request| {
        Response::text("ok")
    }));
    let response = get(server.local_addr(), "/");
    let id = response.header("x-request-id").expect("an id").to_owned();
    assert_eq!(the_event(&id).fields, line("GET", "/", 200, 2, &id, "gen"));
}

async fn boom() -> Result<String, HttpError> {
    Err(HttpError::from_status(StatusCode::INTERNAL_SERVER_ERROR))
}

#[test]
fn the_routers_404_and_a_handlers_500_are_logged_with_their_status() {
    let app = Application::try_new(|| {
        Router::new()
            .get("/items/{id}", item)
            .get("/boom", boom)
            .build()
    })
    .name("api")
    .layer(AccessLog::new());
    let server = serve_logged(app);
    let addr = server.local_addr();

    let found = get_id(addr, "/items/7", "alog-item");
    assert_eq!(found.body_text(), "item 7");
    assert_eq!(
        the_event("alog-item").fields,
        line("GET", "/items/7", 200, 6, "alog-item", "api")
    );

    let missing = get_id(addr, "/nowhere", "alog-404");
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.body_text(), r#"{"detail":"Not Found"}"#);
    assert_eq!(
        the_event("alog-404").fields,
        line("GET", "/nowhere", 404, 22, "alog-404", "api")
    );

    let failed = get_id(addr, "/boom", "alog-500");
    assert_eq!(failed.status(), 500);
    assert_eq!(
        the_event("alog-500").fields,
        line("GET", "/boom", 500, failed.body.len(), "alog-500", "api")
    );
}

/// Sleeps on the shard's timer for far longer than its application's timeout.
struct Slow;

impl Deployment for Slow {
    async fn call(&self, _request: Request) -> Response {
        ringserve::rt::sleep(Duration::from_secs(10)).await;
        Response::text("too late")
    }
}

/// Panics: the engine answers 500.
struct Panics;

impl Deployment for Panics {
    async fn call(&self, _request: Request) -> Response {
        panic!("a handler bug (expected by the test)")
    }
}

#[test]
fn a_timed_out_handler_is_logged_without_status_and_a_panic_as_500() {
    capture();
    let server = start(
        Serve::new()
            .options(short_grace_options())
            .layer(AccessLog::new())
            .app(
                Application::new(|| Slow)
                    .name("slow")
                    .route_prefix("/slow")
                    .request_timeout(Duration::from_millis(100)),
            )
            .app(
                Application::new(|| Panics)
                    .name("panics")
                    .route_prefix("/panics"),
            ),
    );
    let addr = server.local_addr();
    assert_eq!(get_id(addr, "/slow", "alog-timeout").status(), 408);
    let event = the_event("alog-timeout");
    // The chain never answered: no status; the engine's 408 is not this layer's.
    assert_eq!(
        event.fields,
        r#"method="GET" path="/slow" bytes=0 complete=false request_id="alog-timeout" app="slow" version="HTTP/1.1" client=?127.0.0.1"#
    );
    // The timeout's clock starts when the request is routed, a little before the chain (and
    // this layer's clock) is called, so the layer sees just under 100 ms; what matters is that
    // it counts to the timeout, not to the call's start.
    assert!(event.latency_us.expect("latency") >= 50_000, "{event:?}");

    assert_eq!(get_id(addr, "/panics/x", "alog-panic").status(), 500);
    assert_eq!(
        the_event("alog-panic").fields,
        r#"method="GET" path="/panics/x" status=500 bytes=0 complete=false request_id="alog-panic" app="panics" version="HTTP/1.1" client=?127.0.0.1"#
    );
}

#[test]
fn a_server_layer_logs_every_application_under_its_name() {
    capture();
    let hello = |_: &Request| Response::text("hello");
    let server = start(
        Serve::new()
            .options(short_grace_options())
            .layer(AccessLog::new())
            .app(
                Application::new(move || Handler(hello))
                    .name("a")
                    .route_prefix("/a"),
            )
            .app(
                Application::new(move || Handler(hello))
                    .name("b")
                    .route_prefix("/b"),
            ),
    );
    let addr = server.local_addr();
    get_id(addr, "/a/x", "alog-server-a");
    get_id(addr, "/b/y", "alog-server-b");
    assert_eq!(
        the_event("alog-server-a").fields,
        line("GET", "/a/x", 200, 5, "alog-server-a", "a")
    );
    assert_eq!(
        the_event("alog-server-b").fields,
        line("GET", "/b/y", 200, 5, "alog-server-b", "b")
    );
    // The engine's own answers pass no layer and are not logged.
    assert_eq!(get_id(addr, "/nowhere", "alog-server-404").status(), 404);
    assert_eq!(
        get_id(addr, "/-/healthz", "alog-server-health").status(),
        200
    );
    sleep(SETTLE);
    assert!(events_for("alog-server-404").is_empty());
    assert!(events_for("alog-server-health").is_empty());
}

#[test]
fn head_and_no_content_responses_log_no_body_bytes() {
    let server = serve_logged(logged_app(
        "n",
        AccessLog::new(),
        |request: &Request| match request.path() {
            "/empty" => Response::new(StatusCode::NO_CONTENT),
            "/stream" => Response::stream(ready(&["abc"])),
            _ => Response::text("hello"),
        },
    ));
    let addr = server.local_addr();
    let head = |path: &str, id: &str| {
        request(
            addr,
            format!("HEAD {path} HTTP/1.1\r\nHost: test\r\nx-request-id: {id}\r\n\r\n").as_bytes(),
        )
    };
    assert_eq!(head("/", "alog-head").header("content-length"), Some("5"));
    head("/stream", "alog-head-stream");
    assert_eq!(get_id(addr, "/empty", "alog-204").status(), 204);
    assert_eq!(
        the_event("alog-head").fields,
        line("HEAD", "/", 200, 0, "alog-head", "n")
    );
    assert_eq!(
        the_event("alog-head-stream").fields,
        line("HEAD", "/stream", 200, 0, "alog-head-stream", "n")
    );
    assert_eq!(
        the_event("alog-204").fields,
        line("GET", "/empty", 204, 0, "alog-204", "n")
    );
}

// ---------------------------------------------------------------------------------------------
// Streamed bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn a_stream_is_logged_after_its_end_with_the_sum_of_its_chunks() {
    let server = serve_logged(logged_app(
        "s",
        AccessLog::new(),
        |request: &Request| match request.path() {
            "/paced" => Response::stream(paced(vec![
                (Duration::from_millis(50), "one"),
                (Duration::from_millis(50), "two"),
            ])),
            _ => Response::stream(ready(&["a", "bb", "ccc"])),
        },
    ));
    let addr = server.local_addr();
    assert_eq!(
        get_streamed_id(addr, "/", "alog-stream"),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\nconnection: close\r\n\
         transfer-encoding: chunked\r\n\r\n1\r\na\r\n2\r\nbb\r\n3\r\nccc\r\n0\r\n\r\n"
    );
    assert_eq!(
        the_event("alog-stream").fields,
        line("GET", "/", 200, 6, "alog-stream", "s")
    );

    // The latency runs to the stream's end, past both pauses.
    get_streamed_id(addr, "/paced", "alog-paced");
    let event = the_event("alog-paced");
    assert_eq!(
        event.fields,
        line("GET", "/paced", 200, 6, "alog-paced", "s")
    );
    // The timeout's clock starts when the request is routed, a little before the chain (and
    // this layer's clock) is called, so the layer sees just under 100 ms; what matters is that
    // it counts to the timeout, not to the call's start.
    assert!(event.latency_us.expect("latency") >= 50_000, "{event:?}");
}

#[test]
fn a_stream_the_client_leaves_is_logged_cut_short_with_what_was_sent() {
    let server = serve_logged(logged_app("s", AccessLog::new(), |_: &Request| {
        Response::stream(ready(&["first"]).chain(paced(vec![(Duration::from_secs(3600), "never")])))
    }));
    let mut client = connect(server.local_addr());
    client
        .write_all(b"GET /forever HTTP/1.1\r\nHost: test\r\nx-request-id: alog-left\r\n\r\n")
        .unwrap();
    // Read up to the first chunk, then leave.
    let mut received = Vec::new();
    let mut piece = [0u8; 1024];
    while !received.ends_with(b"5\r\nfirst\r\n") {
        let read = client.read(&mut piece).expect("read");
        assert!(
            read > 0,
            "closed early: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&piece[..read]);
    }
    assert!(events_for("alog-left").is_empty(), "logged before the end");
    drop(client);
    assert_eq!(
        the_event("alog-left").fields,
        r#"method="GET" path="/forever" status=200 bytes=5 complete=false request_id="alog-left" app="s" version="HTTP/1.1" client=?127.0.0.1"#
    );
}

#[test]
fn a_stream_that_fails_is_logged_cut_short() {
    let server = serve_logged(logged_app("s", AccessLog::new(), |_: &Request| {
        Response::stream(stream::iter([
            Ok("ok"),
            Err(std::io::Error::other("the source failed")),
        ]))
    }));
    // The client sees no last chunk, and the close.
    assert_eq!(
        get_streamed_id(server.local_addr(), "/fails", "alog-fails"),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\nconnection: close\r\n\
         transfer-encoding: chunked\r\n\r\n2\r\nok\r\n"
    );
    assert_eq!(
        the_event("alog-fails").fields,
        r#"method="GET" path="/fails" status=200 bytes=2 complete=false request_id="alog-fails" app="s" version="HTTP/1.1" client=?127.0.0.1"#
    );
}

// ---------------------------------------------------------------------------------------------
// Pipelining and filtering
// ---------------------------------------------------------------------------------------------

#[test]
fn pipelined_requests_are_each_logged_once() {
    let server = serve_logged(logged_app(
        "p",
        AccessLog::new(),
        |request: &Request| match request.path() {
            "/stream" => Response::stream(ready(&["x", "yy"])),
            path => Response::text(path.to_owned()),
        },
    ));
    let mut client = connect(server.local_addr());
    client
        .write_all(
            b"GET /one HTTP/1.1\r\nHost: test\r\nx-request-id: alog-pipe-1\r\n\r\n\
              GET /stream HTTP/1.1\r\nHost: test\r\nx-request-id: alog-pipe-2\r\n\r\n\
              GET /three HTTP/1.1\r\nHost: test\r\nx-request-id: alog-pipe-3\r\n\
              connection: close\r\n\r\n",
        )
        .unwrap();
    let all = read_to_close(&mut client);
    assert!(all.ends_with("\r\n\r\n/three"), "{all:?}");
    assert_eq!(
        the_event("alog-pipe-1").fields,
        line("GET", "/one", 200, 4, "alog-pipe-1", "p")
    );
    assert_eq!(
        the_event("alog-pipe-2").fields,
        line("GET", "/stream", 200, 3, "alog-pipe-2", "p")
    );
    assert_eq!(
        the_event("alog-pipe-3").fields,
        line("GET", "/three", 200, 6, "alog-pipe-3", "p")
    );
}

#[test]
fn a_level_the_subscriber_filters_out_logs_nothing_and_the_request_is_still_served() {
    // The capturing subscriber refuses DEBUG for the access-log target.
    let server = serve_logged(logged_app(
        "quiet",
        AccessLog::new().level(Level::DEBUG),
        |request: &Request| match request.path() {
            "/stream" => Response::stream(ready(&["a", "b"])),
            _ => Response::text("hello"),
        },
    ));
    let addr = server.local_addr();
    let asked_before = DEBUG_ASKS.load(Ordering::SeqCst);
    let response = get_id(addr, "/", "alog-quiet");
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_text(), "hello");
    assert!(
        get_streamed_id(addr, "/stream", "alog-quiet-stream")
            .ends_with("1\r\na\r\n1\r\nb\r\n0\r\n\r\n")
    );
    // The layer asked the subscriber (once per request), was refused, and logged nothing.
    assert!(DEBUG_ASKS.load(Ordering::SeqCst) >= asked_before + 2);
    sleep(SETTLE);
    assert!(events_for("alog-quiet").is_empty());
    assert!(events_for("alog-quiet-stream").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Cost when disabled
// ---------------------------------------------------------------------------------------------

struct CountingAllocator;

thread_local! {
    /// Whether allocations on this thread are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations counted on this thread (per thread: the other tests' shards run alongside).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator may be called while thread-locals are being torn down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
    }
}

// SAFETY: forwards every call to the system allocator unchanged; counting has no effect on it.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Only calls the rest of the chain: the cost of any layer.
#[derive(Clone)]
struct PassThrough;

impl Middleware for PassThrough {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        next.run(request).await
    }
}

/// Allocations made by `calls` calls of an application wrapped in `layer` (the requests are
/// parsed before counting starts), on this thread, without sockets.
fn allocations_through<M: Middleware + Clone + Send + Sync>(layer: M, calls: usize) -> u64 {
    let replica = Application::new(|| Handler(|_: &Request| Response::text("hello")))
        .layer(layer)
        .build_local()
        .expect("builds");
    let raw = "GET /a?b HTTP/1.1\r\nHost: t\r\nx-request-id: alog-allocations\r\n\r\n";
    let call = |request| futures_lite::future::block_on(replica.call(request));
    // Warm up: the executor's thread-local parker, callsite registration.
    call(Request::from_http1(raw.as_bytes()).expect("valid"));
    let requests: Vec<Request> = (0..calls)
        .map(|_| Request::from_http1(raw.as_bytes()).expect("valid"))
        .collect();
    ALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    for request in requests {
        drop(call(request));
    }
    COUNTING.with(|counting| counting.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn a_disabled_log_allocates_no_more_than_a_pass_through_layer() {
    capture();
    let calls = 100;
    let pass_through = allocations_through(PassThrough, calls);
    // Filtered out by the subscriber (DEBUG), so the layer only asks and calls on.
    let asked_before = DEBUG_ASKS.load(Ordering::SeqCst);
    let disabled = allocations_through(AccessLog::new().level(Level::DEBUG), calls);
    assert!(DEBUG_ASKS.load(Ordering::SeqCst) >= asked_before + calls);
    assert_eq!(
        disabled, pass_through,
        "a disabled access log allocated beyond the layer's own boxed future"
    );
    // Enabled, it copies the request's strings: one allocation more per request, at least.
    let enabled = allocations_through(AccessLog::new(), calls);
    assert!(
        enabled >= pass_through + calls as u64,
        "{enabled} vs {pass_through}"
    );
}

// ---------------------------------------------------------------------------------------------
// Static files: a large file, streamed with its length, logged with its bytes
// ---------------------------------------------------------------------------------------------

#[test]
fn a_file_body_is_logged_with_its_bytes_once_sent() {
    let root = common::scratch("alog-files");
    std::fs::write(root.join("big.bin"), vec![7u8; 1 << 20]).unwrap();
    let files = ringserve::builtin::Files::new(&ringserve::builtin::FilesArgs {
        root: root.clone(),
        index: None,
        precompressed: false,
        cache_control: None,
    })
    .unwrap();
    let server = serve_logged(
        Application::new(move || files.clone())
            .name("files")
            .layer(AccessLog::new()),
    );
    let addr = server.local_addr();
    let response = get_id(addr, "/big.bin", "alog-file");
    assert_eq!(response.body.len(), 1 << 20);
    assert_eq!(
        the_event("alog-file").fields,
        line("GET", "/big.bin", 200, 1 << 20, "alog-file", "files")
    );
    // A client that leaves after the head: what was sent, not complete. The file is larger
    // than the socket buffers on both sides can hold (`tcp_wmem`'s largest send buffer is
    // 4 MiB), so the server cannot have handed it all to the kernel when the client leaves.
    std::fs::write(root.join("huge.bin"), vec![7u8; 32 << 20]).unwrap();
    let mut stream = common::connect(addr);
    socket2::SockRef::from(&stream)
        .set_recv_buffer_size(16 * 1024)
        .unwrap();
    stream
        .write_all(b"GET /huge.bin HTTP/1.1\r\nHost: test\r\nx-request-id: alog-file-left\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 64];
    let _ = stream.read(&mut head).unwrap();
    drop(stream);
    let left = the_event("alog-file-left").fields;
    assert!(left.contains("complete=false"), "{left}");
}
