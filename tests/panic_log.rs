//! A handler that panics on every request is logged once per application and source location (per shard; the test runs one)
//! (its backtrace the first time), over loopback: every request still gets its 500, a
//! streamed body that panics is cut, and the panic hook set before the server still sees
//! every panic outside a handler. The log lines are captured by a `tracing` subscriber
//! installed as the process-wide default, since the shards run on their own threads.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use ringserve::rt::{Bytes, stream};
use ringserve::{Application, Deployment, Request, Response, Serve};

/// Panics on every request, always at the same line.
struct AlwaysPanics;

impl Deployment for AlwaysPanics {
    async fn call(&self, _request: Request) -> Response {
        panic!("an expected handler bug")
    }
}

/// Streams one chunk, then panics while making the second.
struct PanicsMidStream;

impl Deployment for PanicsMidStream {
    async fn call(&self, _request: Request) -> Response {
        Response::stream(stream::unfold(0, |sent| async move {
            match sent {
                0 => Some((Ok::<_, std::io::Error>(Bytes::from_static(b"first")), 1)),
                _ => panic!("an expected stream bug"),
            }
        }))
    }
}

/// The log's lines that report a handler's panic.
fn panic_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.contains("panicked at"))
        .collect()
}

#[test]
fn a_handler_that_always_panics_is_logged_once_per_application_and_place() {
    // SAFETY: set before any other thread of this test binary starts; the one test in it.
    unsafe { std::env::set_var("RUST_BACKTRACE", "1") };
    let written = Written::install_global();
    let hook_calls = Arc::new(AtomicUsize::new(0));
    let counted = hook_calls.clone();
    std::panic::set_hook(Box::new(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    }));

    let server = start(
        Serve::new()
            .options(test_options())
            .app(
                Application::new(|| AlwaysPanics)
                    .name("first")
                    .route_prefix("/first"),
            )
            .app(
                Application::new(|| AlwaysPanics)
                    .name("second")
                    .route_prefix("/second"),
            )
            .app(
                Application::new(|| PanicsMidStream)
                    .name("streams")
                    .route_prefix("/streams"),
            ),
    );
    let addr = server.local_addr();
    let mut stream = connect(addr);
    for _ in 0..300 {
        let response = roundtrip(&mut stream, b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(response.redacted(), internal_server_error());
    }
    for _ in 0..50 {
        let response = roundtrip(&mut stream, b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(response.redacted(), internal_server_error());
    }
    for _ in 0..20 {
        let raw = exchange_until_close(addr, b"GET /streams HTTP/1.1\r\nHost: a\r\n\r\n");
        // The first chunk, then the cut: no last chunk.
        assert!(raw.contains("\r\n5\r\nfirst\r\n"), "{raw}");
        assert!(!raw.ends_with("0\r\n\r\n"), "{raw}");
    }
    drop(stream);
    server.shutdown();

    let log = written.text();
    let lines = panic_lines(&log);
    assert_eq!(lines.len(), 3, "one line per application and place:\n{log}");
    let first = lines
        .iter()
        .find(|line| line.contains("application \"first\""))
        .expect("the first application's panic");
    assert!(first.contains("tests/panic_log.rs"), "{first}");
    assert!(first.contains(": an expected handler bug"), "{first}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains("application \"second\"")),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("application \"streams\"") && line.contains("stream bug")),
        "{log}"
    );
    // The first panic at a place carries its backtrace; the same place in another
    // application does not capture one again.
    assert_eq!(log.matches("stack backtrace:").count(), 2, "{log}");
    assert_eq!(
        hook_calls.load(Ordering::SeqCst),
        0,
        "no handler panic reached the old hook"
    );

    // Outside a handler the hook set before the server is called as before.
    let outside = std::thread::spawn(|| panic!("a panic outside any handler")).join();
    assert!(outside.is_err());
    assert_eq!(hook_calls.load(Ordering::SeqCst), 1);
}
