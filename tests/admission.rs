//! Backpressure over loopback on two shards: `max_ongoing_requests` turns per replica, a
//! bounded queue, and the overload answer past both (Ray Serve's 503, or 429 with
//! `Retry-After`), for requests accepted on the replica's shard and forwarded from the other.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use ringserve::rt::stream::{self, StreamExt};
use ringserve::{
    Application, Cores, Deployment, HttpOptions, Overload, Request, Response, Serve, ServerHandle,
};

/// Takes `?ms` milliseconds to answer (a whole body), or streams for that long with `/stream`.
struct Slow;

impl Deployment for Slow {
    async fn call(&self, request: Request) -> Response {
        let millis: u64 = request
            .query()
            .and_then(|query| query.parse().ok())
            .unwrap_or(0);
        if request.path() == "/stream" {
            let chunks = stream::iter(0..2).then(move |i| async move {
                ringserve::rt::sleep(Duration::from_millis(millis / 2)).await;
                Ok::<_, Infallible>(format!("part {i}\n"))
            });
            return Response::stream(chunks);
        }
        ringserve::rt::sleep(Duration::from_millis(millis)).await;
        Response::text("done")
    }
}

/// Two shards and one replica, so that every request meets the same turns and queue
/// wherever the kernel accepted it (half of them forwarded).
fn serve_model(app: Application) -> ServerHandle {
    common::serve(
        common::test_options().cores(Cores::Count(2)),
        app.name("model").num_replicas(1),
    )
}

/// Sends `GET path` on its own connection from another thread; returns status and body.
fn spawn_get(addr: SocketAddr, path: &'static str) -> thread::JoinHandle<(u16, String)> {
    thread::spawn(move || {
        let response = common::get(addr, path);
        (response.status(), response.body_text())
    })
}

#[test]
fn past_the_turns_and_the_queue_requests_are_refused_naming_the_application() {
    let server = serve_model(
        Application::new(|| Slow)
            .max_ongoing_requests(1)
            .max_queued_requests(1),
    );
    let addr = server.local_addr();
    let started = Instant::now();
    let first = spawn_get(addr, "/?400");
    thread::sleep(Duration::from_millis(100));
    let queued = spawn_get(addr, "/?0");
    thread::sleep(Duration::from_millis(100));
    // One in progress, one queued: the third is refused at once.
    let refused = common::get(addr, "/?0");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "refused at once"
    );
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused.body_text(),
        "Application \"model\" is overloaded: 1 requests in progress (max_ongoing_requests) \
         and 1 queued (max_queued_requests). Try again later."
    );
    assert_eq!(first.join().unwrap(), (200, "done".to_owned()));
    // The queued one got the turn the first gave back.
    assert_eq!(queued.join().unwrap(), (200, "done".to_owned()));
    assert!(started.elapsed() >= Duration::from_millis(400));
    server.shutdown();
}

#[test]
fn too_many_requests_carries_retry_after() {
    let server = serve_model(
        Application::new(|| Slow)
            .max_ongoing_requests(1)
            .max_queued_requests(0)
            .overload_response(Overload::TooManyRequests {
                retry_after: Duration::from_secs(3),
            }),
    );
    let addr = server.local_addr();
    let busy = spawn_get(addr, "/?300");
    thread::sleep(Duration::from_millis(100));
    let refused = common::get(addr, "/?0");
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.header("retry-after"), Some("3"));
    assert_eq!(busy.join().unwrap().0, 200);
    // The turn is free again.
    assert_eq!(common::get(addr, "/?0").status(), 200);
    server.shutdown();
}

#[test]
fn a_streamed_response_holds_its_turn_until_the_stream_ends() {
    let server = serve_model(
        Application::new(|| Slow)
            .max_ongoing_requests(1)
            .max_queued_requests(0),
    );
    let addr = server.local_addr();
    // Read to the end of the stream (the one-response helper stops at a chunked head).
    let streaming = thread::spawn(move || {
        common::exchange_until_close(
            addr,
            b"GET /stream?600 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
    });
    thread::sleep(Duration::from_millis(150));
    assert_eq!(
        common::get(addr, "/?0").status(),
        503,
        "the stream holds the turn"
    );
    let streamed = streaming.join().unwrap();
    assert!(
        streamed.ends_with("7\r\npart 0\n\r\n7\r\npart 1\n\r\n0\r\n\r\n"),
        "{streamed}"
    );
    assert_eq!(common::get(addr, "/?0").status(), 200);
    server.shutdown();
}

#[test]
fn time_in_the_queue_counts_against_the_request_timeout() {
    let server = common::start(
        Serve::new()
            .options(common::test_options().request_timeout(Duration::from_millis(300)))
            .app(
                Application::new(|| Slow)
                    .name("model")
                    .max_ongoing_requests(1),
            ),
    );
    let addr = server.local_addr();
    // The first holds the turn until its own timeout drops it, 300 ms in.
    let busy = spawn_get(addr, "/?1000");
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    // Queued for about 200 ms, then given the turn: its 300 ms ran from its arrival, not from
    // its turn, so the 408 comes about 300 ms after it was sent, not 500.
    let waited = common::get(addr, "/?1000");
    let elapsed = started.elapsed();
    assert_eq!(waited.status(), 408);
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_millis(450),
        "{elapsed:?}"
    );
    assert_eq!(busy.join().unwrap().0, 408);
    server.shutdown();
}

#[test]
fn zero_turns_is_refused_before_start() {
    let started = Serve::new()
        .options(HttpOptions::new().host("127.0.0.1").port(0))
        .app(
            Application::new(|| Slow)
                .name("model")
                .max_ongoing_requests(0),
        )
        .start();
    let Err(error) = started else {
        panic!("a replica with no turns must not start");
    };
    assert_eq!(
        error.to_string(),
        "invalid configuration: application \"model\": max_ongoing_requests must be at least 1"
    );
}
