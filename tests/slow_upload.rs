//! Slow uploads over loopback (issue 14, finding 1): a client that trickles its body holds its
//! connection, not a replica's turn; a body slower than the minimum data rate gets 408 once its
//! grace period has passed; and a request waits for a turn no longer than `max_queue_wait`.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use ringserve::{Application, Deployment, Limits, Request, Response};

/// Set once a `/slow` request holds its turn.
static SLOW_HAS_ITS_TURN: AtomicBool = AtomicBool::new(false);

/// Reads the whole body (`Request::body`, as a `Json` or `Bytes` extractor does) and answers
/// with its length; `/slow` first sleeps for two seconds, holding its turn.
struct Upload;

impl Deployment for Upload {
    async fn call(&self, mut request: Request) -> Response {
        match request.path() {
            "/slow" => {
                SLOW_HAS_ITS_TURN.store(true, Ordering::SeqCst);
                ringserve::rt::sleep(Duration::from_secs(2)).await;
            }
            "/hold" => ringserve::rt::sleep(Duration::from_millis(300)).await,
            _ => {}
        }
        match request.body().await {
            Ok(body) => Response::text(format!("received {} bytes", body.len())),
            Err(error) => Response::text(error.to_string()).with_status(error.status()),
        }
    }
}

/// Set once [`Called`] runs: only the read-ahead test serves it.
static CALLED: AtomicBool = AtomicBool::new(false);

/// Records that it was called, then reads the whole body.
struct Called;

impl Deployment for Called {
    async fn call(&self, mut request: Request) -> Response {
        CALLED.store(true, Ordering::SeqCst);
        match request.body().await {
            Ok(body) => Response::text(format!("received {} bytes", body.len())),
            Err(error) => Response::text(error.to_string()).with_status(error.status()),
        }
    }
}

/// Sleeps `pause` before it reads its body as a stream, so the body waits on the socket.
struct ReadsLate {
    pause: Duration,
}

impl Deployment for ReadsLate {
    async fn call(&self, mut request: Request) -> Response {
        ringserve::rt::sleep(self.pause).await;
        match request.body().await {
            Ok(body) => Response::text(format!("received {} bytes", body.len())),
            Err(error) => Response::text(error.to_string()).with_status(error.status()),
        }
    }
}

/// A POST whose head promises `length` body bytes, of which `sent` are sent with it.
fn start_upload(addr: SocketAddr, length: usize, sent: &[u8]) -> TcpStream {
    let mut stream = connect(addr);
    let head = format!("POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: {length}\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(sent).unwrap();
    stream
}

/// Whether the server has sent something (or closed), without waiting.
fn response_arrived(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let arrived = !matches!(
        stream.peek(&mut [0u8; 1]),
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock
    );
    stream.set_nonblocking(false).unwrap();
    arrived
}

/// The minimum data rate off, so that only buffering is tested.
fn without_min_rate() -> Limits {
    Limits {
        body_min_bytes_per_second: 0,
        ..Limits::default()
    }
}

/// The engine's 408 for a body that came too slowly, on a connection it closes.
fn assert_body_timed_out(stream: &mut TcpStream) {
    let response = read_response(stream, false);
    assert_eq!(
        response.redacted(),
        text_response(
            "HTTP/1.1 408 Request Timeout",
            true,
            "",
            "Request Timeout: the request was not received in time"
        )
    );
    assert_closed(stream);
}

#[test]
fn trickling_uploads_do_not_take_the_turns_of_other_requests() {
    // Two turns, and four clients that send a byte of their body and then nothing: before
    // bodies were read ahead of admission, the first two held both turns while they trickled
    // and every other request to the application waited behind them.
    let server = serve(
        test_options().limits(without_min_rate()),
        Application::new(|| Upload).max_ongoing_requests(2),
    );
    let addr = server.local_addr();
    let mut tricklers: Vec<TcpStream> = (0..4).map(|_| start_upload(addr, 10, b"a")).collect();
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    let mut whole = start_upload(addr, 5, b"hello");
    whole
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let response = read_response(&mut whole, false);
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_text(), "received 5 bytes");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered while the trickles went on, after {:?}",
        started.elapsed()
    );

    // The trickling clients are served once their bodies are in.
    for trickler in &mut tricklers {
        trickler.write_all(b"bcdefghij").unwrap();
        let response = read_response(trickler, false);
        assert_eq!(response.body_text(), "received 10 bytes");
    }
}

#[test]
fn a_body_slower_than_the_minimum_rate_gets_408_after_the_grace_period() {
    // One byte every 100 ms is 10 bytes/s, under the 240 allowed; each byte comes well within
    // the body read timeout, which alone never cut such a body.
    let server = serve(
        test_options().limits(Limits {
            body_min_rate_grace: Duration::from_millis(500),
            ..Limits::default()
        }),
        Application::new(|| Upload),
    );
    let mut stream = start_upload(server.local_addr(), 1000, b"a");
    let started = Instant::now();
    let mut cut_after = None;
    while started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        if stream.write_all(b"a").is_err() {
            cut_after = Some(started.elapsed());
            break;
        }
        if response_arrived(&stream) {
            cut_after = Some(started.elapsed());
            break;
        }
    }
    let cut_after = cut_after.expect("the trickle was cut within 5 s");
    assert!(
        cut_after >= Duration::from_millis(400),
        "not cut before the grace period: {cut_after:?}"
    );
    assert_body_timed_out(&mut stream);
}

#[test]
fn a_body_at_a_steady_rate_is_not_cut_however_long_it_takes() {
    // 50 bytes every 100 ms (500 bytes/s) for 1.5 s: three times the grace period, over the
    // minimum rate throughout.
    let server = serve(
        test_options().limits(Limits {
            body_min_rate_grace: Duration::from_millis(500),
            ..Limits::default()
        }),
        Application::new(|| Upload),
    );
    let mut stream = start_upload(server.local_addr(), 750, &[b'a'; 50]);
    for _ in 1..15 {
        std::thread::sleep(Duration::from_millis(100));
        stream.write_all(&[b'a'; 50]).unwrap();
    }
    let response = read_response(&mut stream, false);
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_text(), "received 750 bytes");
}

#[test]
fn time_a_streaming_handler_spends_before_it_reads_does_not_count_against_the_rate() {
    // The whole body is on the socket at once, but the handler reads it only after 1.5 s:
    // three grace periods of wall time, none of it spent waiting for the client.
    let server = serve(
        test_options().limits(Limits {
            body_min_rate_grace: Duration::from_millis(500),
            ..Limits::default()
        }),
        Application::new(|| ReadsLate {
            pause: Duration::from_millis(1500),
        })
        .buffer_request_body(false),
    );
    let mut stream = start_upload(server.local_addr(), 20, b"0123456789");
    std::thread::sleep(Duration::from_millis(50));
    stream.write_all(b"0123456789").unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_text(), "received 20 bytes");
}

#[test]
fn a_request_waits_for_a_turn_no_longer_than_max_queue_wait() {
    // No request timeout: before max_queue_wait, the second request waited for as long as the
    // first held the only turn.
    let server = serve(
        test_options(),
        Application::new(|| Upload)
            .name("model")
            .max_ongoing_requests(1)
            .max_queue_wait(Duration::from_millis(300)),
    );
    let addr = server.local_addr();
    let mut holder = connect(addr);
    holder
        .write_all(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    wait_until(
        "the slow request holds the turn",
        Duration::from_secs(10),
        || SLOW_HAS_ITS_TURN.load(Ordering::SeqCst),
    );
    let started = Instant::now();
    let refused = get(addr, "/");
    let waited = started.elapsed();
    assert_eq!(
        refused.redacted(),
        text_response(
            "HTTP/1.1 503 Service Unavailable",
            false,
            "",
            "Application \"model\" is overloaded: no turn came within 0.3s (max_queue_wait) \
             with 1 requests in progress (max_ongoing_requests). Try again later."
        )
    );
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500),
        "refused after {waited:?}"
    );
    assert_eq!(read_response(&mut holder, false).status(), 200);
}

#[test]
fn max_queue_wait_of_zero_is_refused_before_start() {
    let error = start_error(
        ringserve::Serve::new()
            .options(test_options())
            .app(Application::new(|| Upload).max_queue_wait(Duration::ZERO)),
    );
    assert!(
        error.contains("application \"default\": max_queue_wait must be longer than zero"),
        "{error}"
    );
}

#[test]
fn a_body_past_the_shards_read_ahead_budget_streams_to_the_handler_instead() {
    // A budget of 50 bytes: a 10-byte body is read whole before the handler is called, a
    // 100-byte one is handed to the handler while it still arrives (and still read whole).
    let server = serve(
        test_options().limits(Limits {
            body_read_ahead_bytes_per_shard_max: 50,
            ..without_min_rate()
        }),
        Application::new(|| Called),
    );
    let addr = server.local_addr();
    let mut small = start_upload(addr, 10, b"a");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !CALLED.load(Ordering::SeqCst),
        "a body within the budget is read before the call"
    );
    small.write_all(b"bcdefghij").unwrap();
    assert_eq!(
        read_response(&mut small, false).body_text(),
        "received 10 bytes"
    );

    CALLED.store(false, Ordering::SeqCst);
    let mut large = start_upload(addr, 100, b"a");
    wait_until("the handler is called", Duration::from_secs(5), || {
        CALLED.load(Ordering::SeqCst)
    });
    large.write_all(&[b'b'; 99]).unwrap();
    assert_eq!(
        read_response(&mut large, false).body_text(),
        "received 100 bytes"
    );
}

#[test]
fn limits_too_long_for_the_clock_never_expire() {
    // `Duration::MAX` as "no limit": nothing may overflow the clock and stop the shard.
    let server = serve(
        test_options().limits(Limits {
            body_read_timeout: Duration::MAX,
            body_min_rate_grace: Duration::MAX,
            ..Limits::default()
        }),
        Application::new(|| Upload)
            .max_ongoing_requests(1)
            .max_queue_wait(Duration::MAX),
    );
    let addr = server.local_addr();
    let mut holder = connect(addr);
    holder
        .write_all(b"GET /hold HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut upload = start_upload(addr, 10, b"01234");
    std::thread::sleep(Duration::from_millis(100));
    upload.write_all(b"56789").unwrap();
    assert_eq!(
        read_response(&mut holder, false).body_text(),
        "received 0 bytes"
    );
    assert_eq!(
        read_response(&mut upload, false).body_text(),
        "received 10 bytes"
    );
}
