//! The access log: one structured `tracing` event per request, with target
//! [`TARGET`] (`ringserve::access`), so a subscriber can keep, drop or route it like any other.
//!
//! Invariant: when the event is enabled, exactly one is emitted per request that reaches the
//! layer — when the response is produced (whole body), when a streamed body ends or is
//! dropped, or when the rest of the chain is dropped without answering. When it is disabled
//! (no subscriber, or one that filters out the target at the configured level) the layer asks
//! the subscriber once and calls the rest of the chain: no clock read, no copy, no allocation.
//!
//! Fields (absent ones are not recorded at all):
//!
//! | field        | type   | value |
//! |--------------|--------|-------|
//! | `method`     | str    | the request method |
//! | `path`       | str    | the full path as sent (still percent-encoded), without the query |
//! | `query`      | str    | the query without `?`; only with [`AccessLog::log_query`] and a query |
//! | `status`     | u16    | the status this layer passed on; absent when the chain never answered |
//! | `bytes`      | u64    | response body bytes: a whole body's length, or the sum of a stream's chunks (before chunk framing); 0 when no body is sent (`HEAD`, 1xx, 204, 205, 304) |
//! | `complete`   | bool   | `false` when the body was cut short or the chain never answered |
//! | `latency_us` | u64    | microseconds, see below |
//! | `request_id` | str    | the client's `x-request-id`, or the one the shard generated |
//! | `app`        | str    | the application's name |
//! | `version`    | str    | `HTTP/1.0` or `HTTP/1.1` |
//! | `client`     | IP     | the client's address, without its port (nginx's `$remote_addr`): the peer of the connection, so the last proxy's when there is one; absent for a request made without a socket |
//! | `trace_id`   | str    | the trace id of the request's `traceparent` (W3C Trace Context), when it has a valid one |
//!
//! `latency_us` runs from the request reaching this layer to the response leaving it for a
//! whole body, and to the end of the body for a stream: the call that tells the stream is
//! finished (just before the engine writes the last chunk), or the stream's drop when it is
//! cut short — the client left, the stream failed, or the request timed out.
//!
//! The log describes the response as this layer hands it on. Added with
//! [`Serve::layer`](crate::Serve::layer) before any other layer it is the outermost, and
//! logs what the client receives. Answers the engine gives without any layer — `/-/routes`,
//! `/-/healthz`, the 404 for a path no application owns, a malformed request's 4xx — are not
//! logged. When the chain is dropped without answering — past its timeout (the engine then
//! sends 408), on a failed request body, or when the client leaves — `status` is absent; when
//! a handler panics the engine answers 500, and the event says so. Both have `complete =
//! false` and `bytes = 0` (the engine's own answer is not counted). A 1xx from a handler, which
//! the engine replaces with 500, is logged as the handler gave it.
//!
//! Cost (release build, 2-core development machine, `GET` through `LocalReplica` without
//! sockets): disabled, ~380 ns per call against ~345 ns through a pass-through layer and
//! ~300 ns with no layer (with no subscriber installed the check is one atomic load); enabled
//! with `tracing_subscriber::fmt` writing to `io::sink`, ~1150 ns, the subscriber's formatting
//! of the line included. The layer itself allocates one string per logged request.
//!
//! ```no_run
//! use ringserve::middleware::access_log::AccessLog;
//! use ringserve::{Application, Deployment, Request, Response, Serve};
//! use tracing_subscriber::filter::Targets;
//! use tracing_subscriber::prelude::*;
//!
//! struct Api;
//!
//! impl Deployment for Api {
//!     async fn call(&self, _request: Request) -> Response {
//!         Response::text("hello")
//!     }
//! }
//!
//! fn main() -> Result<(), ringserve::Error> {
//!     // Access log at INFO, everything else from WARN; one line per request on stdout:
//!     // INFO ringserve::access: method="GET" path="/" status=200 bytes=5 complete=true
//!     //     latency_us=12 request_id="..." app="default" version="HTTP/1.1"
//!     let filter = Targets::new()
//!         .with_target(ringserve::middleware::access_log::TARGET, tracing::Level::INFO)
//!         .with_default(tracing::Level::WARN);
//!     tracing_subscriber::registry()
//!         .with(tracing_subscriber::fmt::layer())
//!         .with(filter)
//!         .init();
//!     Serve::new()
//!         .layer(AccessLog::new())
//!         .app(Application::new(|| Api))
//!         .run()
//! }
//! ```

use std::future::Future;
use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode, Version};
use tracing::Level;

use super::{Middleware, Next};
use crate::http1::encode::status_has_body;
use crate::{Request, Response, TraceParent};

/// Expands `$body` once per level, with `$level` a constant: a callsite's level is part of its
/// static metadata, so a level chosen at run time needs one callsite per level.
macro_rules! at_level {
    ($level:expr, $constant:ident => $body:expr) => {{
        let level = $level;
        if level == Level::ERROR {
            const $constant: Level = Level::ERROR;
            $body
        } else if level == Level::WARN {
            const $constant: Level = Level::WARN;
            $body
        } else if level == Level::INFO {
            const $constant: Level = Level::INFO;
            $body
        } else if level == Level::DEBUG {
            const $constant: Level = Level::DEBUG;
            $body
        } else {
            const $constant: Level = Level::TRACE;
            $body
        }
    }};
}

/// The target of every access-log event.
pub const TARGET: &str = "ringserve::access";

/// The access-log middleware: one `tracing` event per request, at INFO unless
/// [`AccessLog::level`] says otherwise. See the [module documentation](self) for its fields.
///
/// ```
/// use ringserve::Application;
/// use ringserve::middleware::access_log::AccessLog;
/// # use ringserve::{Deployment, Request, Response};
/// # struct Api;
/// # impl Deployment for Api {
/// #     async fn call(&self, _request: Request) -> Response { Response::text("hi") }
/// # }
///
/// let app = Application::new(|| Api).layer(AccessLog::new().level(tracing::Level::DEBUG));
/// # let _ = app;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AccessLog {
    level: Level,
    log_query: bool,
}

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog::new()
    }
}

impl AccessLog {
    /// Events at INFO, without the query.
    pub fn new() -> Self {
        AccessLog {
            level: Level::INFO,
            log_query: false,
        }
    }

    /// The level of the events.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Whether to record the query string as the `query` field (off by default: queries may
    /// carry tokens or personal data).
    pub fn log_query(mut self, log_query: bool) -> Self {
        self.log_query = log_query;
        self
    }

    /// Whether the current subscriber records access-log events at the configured level.
    fn enabled(&self) -> bool {
        at_level!(self.level, LEVEL => tracing::enabled!(target: TARGET, LEVEL))
    }
}

impl Middleware for AccessLog {
    // Not an `async fn`: the request goes to the rest of the chain at once (making its future
    // runs none of its code), so this layer's future holds a pointer and the entry, never the
    // request. As an `async fn` the future was 912 bytes (the request and its moved copy), now
    // 152; disabled, a call costs 3976 instructions instead of 4082, against 3810 through a
    // pass-through layer (callgrind, 100k calls of `GET` through `LocalReplica`, no subscriber).
    fn call(&self, request: Request, next: Next<'_>) -> impl Future<Output = Response> {
        // Asked before any work: disabled, nothing is read, copied or timed.
        let mut pending = Pending(self.enabled().then(|| Entry::capture(&request, self)));
        let answer = next.run(request);
        async move {
            let response = answer.await;
            match pending.0.take() {
                Some(entry) => entry.respond(response),
                None => response,
            }
        }
    }
}

/// What the event needs of a request, copied before the request is handed on.
struct Entry {
    level: Level,
    started: Instant,
    method: Method,
    version: Version,
    client: Option<IpAddr>,
    trace: Option<TraceParent>,
    /// Path, query (if logged), request id and application name, one after the other: one
    /// allocation per request.
    text: String,
    path_end: usize,
    query_end: Option<usize>,
    request_id_end: usize,
}

impl Entry {
    fn capture(request: &Request, log: &AccessLog) -> Entry {
        let started = Instant::now();
        let path = request.path();
        let query = request.query().filter(|_| log.log_query);
        let request_id = request.request_id();
        let app = request.app_name();
        let mut text = String::with_capacity(
            path.len() + query.map_or(0, str::len) + request_id.len() + app.len(),
        );
        text.push_str(path);
        let path_end = text.len();
        let query_end = query.map(|query| {
            text.push_str(query);
            text.len()
        });
        text.push_str(request_id);
        let request_id_end = text.len();
        text.push_str(app);
        Entry {
            level: log.level,
            started,
            method: request.method().clone(),
            version: request.version(),
            client: request
                .client_addr()
                .map(|address| address.ip().to_canonical()),
            trace: request.trace_parent(),
            text,
            path_end,
            query_end,
            request_id_end,
        }
    }

    fn path(&self) -> &str {
        self.text.get(..self.path_end).unwrap_or_default()
    }

    fn query(&self) -> Option<&str> {
        self.query_end
            .and_then(|query_end| self.text.get(self.path_end..query_end))
    }

    fn request_id(&self) -> &str {
        let start = self.query_end.unwrap_or(self.path_end);
        self.text
            .get(start..self.request_id_end)
            .unwrap_or_default()
    }

    fn app(&self) -> &str {
        self.text.get(self.request_id_end..).unwrap_or_default()
    }

    /// Whether the engine sends a body with this response (RFC 9110 §6.4.1, §15.3.6): not for
    /// `HEAD`, 1xx, 204, 205 or 304 — a streamed body is then dropped unpolled.
    fn body_sent(&self, status: StatusCode) -> bool {
        self.method != Method::HEAD
            && status_has_body(status)
            && status != StatusCode::RESET_CONTENT
    }

    /// Logs a response now, or — for a body still to be streamed — once its stream ends.
    fn respond(self, response: Response) -> Response {
        let status = response.status();
        if !self.body_sent(status) {
            self.emit(Some(status), 0, true);
            return response;
        }
        if let Some(body) = response.body_bytes() {
            self.emit(Some(status), body.len() as u64, true);
            return response;
        }
        let mut streamed = Streamed {
            entry: Some(self),
            status,
            bytes: 0,
        };
        response.map_body(move |chunk| {
            streamed.observe(chunk.as_ref());
            chunk
        })
    }

    fn emit(&self, status: Option<StatusCode>, bytes: u64, complete: bool) {
        let latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        at_level!(self.level, LEVEL => tracing::event!(
            target: TARGET,
            LEVEL,
            method = self.method.as_str(),
            path = self.path(),
            query = self.query(),
            status = status.map(|status| status.as_u16()),
            bytes,
            complete,
            latency_us,
            request_id = self.request_id(),
            app = self.app(),
            version = version_text(self.version),
            client = self.client.map(tracing::field::display),
            trace_id = self.trace.as_ref().map(TraceParent::trace_id),
        ));
    }
}

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        _ => "other",
    }
}

/// The entry (none when disabled) while the rest of the chain runs: dropped with it if it
/// never answers.
struct Pending(Option<Entry>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(entry) = self.0.take() {
            // Unwinding from the handler: the engine catches the panic and answers 500.
            let status = std::thread::panicking().then_some(StatusCode::INTERNAL_SERVER_ERROR);
            entry.emit(status, 0, false);
        }
    }
}

/// A streamed body being counted; logs when its end is seen, or when it is dropped first.
struct Streamed {
    entry: Option<Entry>,
    status: StatusCode,
    bytes: u64,
}

impl Streamed {
    fn observe(&mut self, chunk: Option<&Bytes>) {
        match chunk {
            Some(chunk) => self.bytes += chunk.len() as u64,
            None => {
                if let Some(entry) = self.entry.take() {
                    entry.emit(Some(self.status), self.bytes, true);
                }
            }
        }
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            entry.emit(Some(self.status), self.bytes, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::fmt::Write as _;
    use std::sync::{Arc, Mutex};

    use futures_lite::future::block_on;
    use futures_lite::{StreamExt, stream};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;
    use crate::body::ResponseBody;
    use crate::{Application, Deployment, LocalReplica};

    /// One recorded event: its level and its fields as `name=value`, strings quoted, with
    /// `latency_us` left out (it is checked apart).
    #[derive(Debug)]
    struct Logged {
        level: Level,
        fields: String,
    }

    /// Records the access-log events at or above `max`; everything else is disabled.
    struct Capture {
        max: Level,
        events: Arc<Mutex<Vec<Logged>>>,
    }

    impl Subscriber for Capture {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.target() == TARGET && *metadata.level() <= self.max
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            self.events.lock().unwrap().push(Logged {
                level: *event.metadata().level(),
                fields: fields.0.trim_start().to_owned(),
            });
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    struct Fields(String);

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            let _ = write!(self.0, " {field}={value:?}");
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            if field.name() != "latency_us" {
                let _ = write!(self.0, " {field}={value}");
            }
        }
        fn record_bool(&mut self, field: &Field, value: bool) {
            let _ = write!(self.0, " {field}={value}");
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, " {field}=?{value:?}");
        }
    }

    /// Runs `f` with a subscriber recording access-log events at `max` and above on this
    /// thread, and returns what it recorded.
    fn captured(max: Level, f: impl FnOnce()) -> Vec<Logged> {
        let events = Arc::new(Mutex::new(Vec::new()));
        let subscriber = Capture {
            max,
            events: events.clone(),
        };
        tracing::subscriber::with_default(subscriber, f);
        std::mem::take(&mut *events.lock().unwrap())
    }

    /// Answers with what `respond` makes, for any request.
    struct Answer<F>(F);

    impl<F: Fn() -> Response + 'static> Deployment for Answer<F> {
        async fn call(&self, _request: Request) -> Response {
            (self.0)()
        }
    }

    fn replica<F>(log: AccessLog, respond: F) -> LocalReplica
    where
        F: Fn() -> Response + Clone + Send + Sync + 'static,
    {
        Application::new(move || Answer(respond.clone()))
            .layer(log)
            .build_local()
            .expect("builds")
    }

    fn call(replica: &LocalReplica, raw: &'static str) -> Response {
        block_on(replica.call(Request::from_http1(raw.as_bytes()).expect("valid request")))
    }

    const GET: &str = "GET /items/5?token=x HTTP/1.1\r\nHost: t\r\nx-request-id: r-1\r\n\r\n";

    fn hello() -> Response {
        Response::text("hello")
    }

    #[test]
    fn a_whole_body_is_logged_once_with_every_field() {
        let replica = replica(AccessLog::new(), hello);
        let events = captured(Level::INFO, || {
            assert_eq!(call(&replica, GET).body_bytes().unwrap(), "hello");
        });
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].level, Level::INFO);
        assert_eq!(
            events[0].fields,
            r#"method="GET" path="/items/5" status=200 bytes=5 complete=true request_id="r-1" app="default" version="HTTP/1.1""#
        );
    }

    #[test]
    fn the_query_is_logged_only_when_asked_for() {
        let replica = replica(AccessLog::new().log_query(true), hello);
        let events = captured(Level::INFO, || {
            call(&replica, GET);
            call(
                &replica,
                "POST / HTTP/1.0\r\nx-request-id: r-2\r\ncontent-length: 0\r\n\r\n",
            );
        });
        let fields: Vec<&str> = events.iter().map(|event| event.fields.as_str()).collect();
        assert_eq!(
            fields,
            [
                r#"method="GET" path="/items/5" query="token=x" status=200 bytes=5 complete=true request_id="r-1" app="default" version="HTTP/1.1""#,
                r#"method="POST" path="/" status=200 bytes=5 complete=true request_id="r-2" app="default" version="HTTP/1.0""#,
            ]
        );
    }

    #[test]
    fn the_configured_level_is_the_events_level() {
        let replica = replica(AccessLog::new().level(Level::WARN), hello);
        let events = captured(Level::TRACE, || {
            call(&replica, GET);
        });
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].level, Level::WARN);
    }

    #[test]
    fn disabled_it_logs_nothing_and_passes_the_response_through() {
        // Filtered out by level, and with no subscriber at all.
        let replica = replica(AccessLog::new().level(Level::DEBUG), hello);
        let events = captured(Level::INFO, || {
            assert_eq!(call(&replica, GET).body_bytes().unwrap(), "hello");
        });
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(call(&replica, GET).body_bytes().unwrap(), "hello");
    }

    #[test]
    fn no_body_bytes_are_counted_for_head_or_a_status_without_content() {
        let streamed = || Response::stream(stream::iter([Ok::<_, Infallible>("abc")]));
        let head = "HEAD / HTTP/1.1\r\nHost: t\r\nx-request-id: h\r\n\r\n";
        let whole = replica(AccessLog::new(), hello);
        let stream = replica(AccessLog::new(), streamed);
        let no_content = replica(AccessLog::new(), move || {
            streamed().with_status(StatusCode::NO_CONTENT)
        });
        let events = captured(Level::INFO, || {
            call(&whole, head);
            // The engine drops these streams unpolled: logged at once, as complete.
            drop(call(&stream, head));
            drop(call(&no_content, GET));
        });
        let fields: Vec<&str> = events.iter().map(|event| event.fields.as_str()).collect();
        assert_eq!(
            fields,
            [
                r#"method="HEAD" path="/" status=200 bytes=0 complete=true request_id="h" app="default" version="HTTP/1.1""#,
                r#"method="HEAD" path="/" status=200 bytes=0 complete=true request_id="h" app="default" version="HTTP/1.1""#,
                r#"method="GET" path="/items/5" status=204 bytes=0 complete=true request_id="r-1" app="default" version="HTTP/1.1""#,
            ]
        );
    }

    /// The chunks of a streamed body, `limit` at most, as the engine would poll them.
    fn take_chunks(response: Response, limit: usize) -> Vec<Bytes> {
        let (_, _, body) = response.into_parts();
        let ResponseBody::Stream(chunks) = body else {
            panic!("a streamed body")
        };
        block_on(
            chunks
                .take(limit)
                .map(|chunk| chunk.expect("ok chunk"))
                .collect(),
        )
    }

    #[test]
    fn a_stream_is_logged_when_it_ends_with_the_sum_of_its_chunks() {
        let replica = replica(AccessLog::new(), || {
            Response::stream(stream::iter(["a", "bb", "ccc"].map(Ok::<_, Infallible>)))
        });
        let events = captured(Level::INFO, || {
            let response = call(&replica, GET);
            assert!(response.is_stream());
            let (_, _, body) = response.into_parts();
            let ResponseBody::Stream(mut chunks) = body else {
                panic!("a streamed body")
            };
            for expected in ["a", "bb", "ccc"] {
                let chunk = block_on(chunks.next()).expect("a chunk").expect("ok");
                assert_eq!(chunk, expected);
            }
            assert!(block_on(chunks.next()).is_none());
        });
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            events[0].fields,
            r#"method="GET" path="/items/5" status=200 bytes=6 complete=true request_id="r-1" app="default" version="HTTP/1.1""#
        );
    }

    #[test]
    fn a_stream_dropped_early_is_logged_cut_short_with_what_it_sent() {
        let replica = replica(AccessLog::new(), || {
            Response::stream(stream::iter(["a", "bb", "ccc"].map(Ok::<_, Infallible>)))
                .with_status(StatusCode::CREATED)
        });
        let events = captured(Level::INFO, || {
            assert_eq!(take_chunks(call(&replica, GET), 2), ["a", "bb"]);
        });
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            events[0].fields,
            r#"method="GET" path="/items/5" status=201 bytes=3 complete=false request_id="r-1" app="default" version="HTTP/1.1""#
        );
    }

    #[test]
    fn a_chain_dropped_before_it_answers_is_logged_without_a_status() {
        /// Never answers; its replica is dropped unanswered, as on a timeout.
        struct Never;
        impl Deployment for Never {
            async fn call(&self, _request: Request) -> Response {
                std::future::pending().await
            }
        }
        let replica = Application::new(|| Never)
            .layer(AccessLog::new())
            .build_local()
            .expect("builds");
        let events = captured(Level::INFO, || {
            let request = Request::from_http1(GET.as_bytes()).expect("valid");
            let answered = futures_lite::future::block_on(futures_lite::future::poll_once(
                replica.call(request),
            ));
            assert!(answered.is_none());
        });
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            events[0].fields,
            r#"method="GET" path="/items/5" bytes=0 complete=false request_id="r-1" app="default" version="HTTP/1.1""#
        );
    }

    #[test]
    fn a_panicking_handler_is_logged_as_the_engines_500() {
        let replica = replica(AccessLog::new(), || panic!("handler bug"));
        let events = captured(Level::INFO, || {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                call(&replica, GET);
            }));
            assert!(caught.is_err());
        });
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            events[0].fields,
            r#"method="GET" path="/items/5" status=500 bytes=0 complete=false request_id="r-1" app="default" version="HTTP/1.1""#
        );
    }

    #[test]
    fn latency_runs_to_the_response_for_a_whole_body_and_to_the_end_for_a_stream() {
        let pause = std::time::Duration::from_millis(50);
        let whole = replica(AccessLog::new(), hello);
        let latency = captured_latency(|| {
            let response = call(&whole, GET);
            std::thread::sleep(pause);
            drop(response);
        });
        // Logged when the response was produced, before the pause.
        assert!(latency < pause.as_micros() as u64, "{latency} µs");
        let streamed = replica(AccessLog::new(), || {
            Response::stream(stream::iter([Ok::<_, Infallible>("a")]))
        });
        let latency = captured_latency(|| {
            let response = call(&streamed, GET);
            std::thread::sleep(pause);
            take_chunks(response, usize::MAX);
        });
        assert!(latency >= pause.as_micros() as u64, "{latency} µs");
    }

    /// The `latency_us` of the one event `f` causes.
    fn captured_latency(f: impl FnOnce()) -> u64 {
        struct Latency(Option<u64>);
        impl Visit for Latency {
            fn record_u64(&mut self, field: &Field, value: u64) {
                if field.name() == "latency_us" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
        }
        struct One(Arc<Mutex<Vec<u64>>>);
        impl Subscriber for One {
            fn enabled(&self, metadata: &Metadata<'_>) -> bool {
                metadata.target() == TARGET
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(1)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, event: &Event<'_>) {
                let mut latency = Latency(None);
                event.record(&mut latency);
                self.0.lock().unwrap().push(latency.0.expect("latency_us"));
            }
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }
        let latencies = Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::with_default(One(latencies.clone()), f);
        let latencies = latencies.lock().unwrap();
        assert_eq!(latencies.len(), 1, "{latencies:?}");
        latencies[0]
    }
}
