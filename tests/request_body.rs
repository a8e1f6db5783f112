//! Request bodies over loopback: whole when they arrive with the head, streamed to the handler
//! on demand otherwise (for applications that set `buffer_request_body(false)`; the default
//! buffers them whole before admission, tests/slow_upload.rs), within the body limit and the
//! body read timeout.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use ringserve::rt::stream::StreamExt;
use ringserve::{Application, Deployment, HttpOptions, Limits, Request, Response, Serve};

/// Reads the body as a stream and reports what it saw. Records, for the test thread, when
/// the first chunk arrived and the largest chunk it was handed.
struct Counter {
    first_chunk_seen: Arc<AtomicBool>,
    largest_chunk: Arc<AtomicUsize>,
}

impl Deployment for Counter {
    async fn call(&self, mut request: Request) -> Response {
        let mut body = request.body_stream();
        let (mut total, mut chunks, mut checksum) = (0usize, 0usize, 0u64);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => return Response::text(format!("error: {error}")),
            };
            self.first_chunk_seen.store(true, Ordering::SeqCst);
            self.largest_chunk.fetch_max(chunk.len(), Ordering::SeqCst);
            total += chunk.len();
            chunks += 1;
            checksum = chunk.iter().fold(checksum, |sum, &byte| {
                sum.wrapping_mul(31).wrapping_add(u64::from(byte))
            });
        }
        Response::text(format!("bytes={total} chunks={chunks} checksum={checksum}"))
    }
}

/// Answers without reading the body.
struct Ignorer;

impl Deployment for Ignorer {
    async fn call(&self, _request: Request) -> Response {
        Response::text("ignored")
    }
}

/// Streams the request body back as the response body, chunk by chunk.
struct Echo;

impl Deployment for Echo {
    async fn call(&self, mut request: Request) -> Response {
        Response::stream(request.body_stream())
    }
}

struct Observed {
    first_chunk_seen: Arc<AtomicBool>,
    largest_chunk: Arc<AtomicUsize>,
}

fn counter_server(options: HttpOptions) -> (ringserve::ServerHandle, Observed) {
    let first_chunk_seen = Arc::new(AtomicBool::new(false));
    let largest_chunk = Arc::new(AtomicUsize::new(0));
    let observed = Observed {
        first_chunk_seen: first_chunk_seen.clone(),
        largest_chunk: largest_chunk.clone(),
    };
    let server = start(
        Serve::new()
            .options(options)
            .app(streaming(Application::new(move || Counter {
                first_chunk_seen: first_chunk_seen.clone(),
                largest_chunk: largest_chunk.clone(),
            }))),
    );
    (server, observed)
}

/// `app` with its request bodies streamed to the handler as they arrive.
fn streaming(app: Application) -> Application {
    app.buffer_request_body(false)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|index| (index % 251) as u8).collect()
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |sum, &byte| {
        sum.wrapping_mul(31).wrapping_add(u64::from(byte))
    })
}

fn flag_set_within(flag: &AtomicBool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !flag.load(Ordering::SeqCst) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
fn the_handler_gets_the_first_chunk_before_the_rest_is_sent() {
    let (server, observed) = counter_server(test_options());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n")
        .unwrap();
    stream.write_all(&[b'x'; 1000]).unwrap();
    assert!(
        flag_set_within(&observed.first_chunk_seen, Duration::from_secs(5)),
        "the handler saw nothing of a half-sent body"
    );
    stream.write_all(&[b'x'; 1000]).unwrap();
    let text = read_response(&mut stream, false).body_text();
    assert!(text.starts_with("bytes=2000 "), "{text}");
    assert!(
        text.ends_with(&format!(" checksum={}", checksum(&[b'x'; 2000]))),
        "{text}"
    );
}

#[test]
fn a_large_content_length_upload_is_streamed_not_buffered() {
    let size = 8 * 1024 * 1024;
    let (server, observed) = counter_server(test_options().limits(Limits {
        body_bytes_max: 16 * 1024 * 1024,
        ..Limits::default()
    }));
    let mut stream = connect(server.local_addr());
    let body = pattern(size);
    stream
        .write_all(
            format!("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n").as_bytes(),
        )
        .unwrap();
    for piece in body.chunks(64 * 1024) {
        stream.write_all(piece).unwrap();
    }
    let response = read_response(&mut stream, false);
    let text = response.body_text();
    assert!(text.starts_with(&format!("bytes={size} ")), "{text}");
    assert!(
        text.ends_with(&format!("checksum={}", checksum(&body))),
        "{text}"
    );
    let largest = observed.largest_chunk.load(Ordering::SeqCst);
    assert!(
        largest <= 1024 * 1024,
        "a chunk of {largest} bytes: the body was buffered, not streamed"
    );
    // The connection is reusable: the pump stopped exactly at the body's end.
    stream
        .write_all(b"POST /again HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    assert!(
        read_response(&mut stream, false)
            .body_text()
            .starts_with("bytes=3 ")
    );
}

#[test]
fn a_chunked_upload_is_streamed_and_the_next_request_still_parses() {
    let (server, observed) = counter_server(test_options());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        )
        .unwrap();
    assert!(flag_set_within(
        &observed.first_chunk_seen,
        Duration::from_secs(5)
    ));
    stream
        .write_all(b"6\r\n world\r\n0\r\nTrailer: x\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.body_text(),
        format!("bytes=11 chunks=2 checksum={}", checksum(b"hello world"))
    );
    let next = read_response(&mut stream, false);
    assert_eq!(next.body_text(), "bytes=0 chunks=0 checksum=0");
}

#[test]
fn body_collects_a_streamed_body_whole() {
    let server = start_app(Application::new(|| Inspect));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /collect HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    stream.write_all(b" world").unwrap();
    let response = read_response(&mut stream, false);
    assert!(
        response.body_text().ends_with("body=hello world"),
        "{}",
        response.body_text()
    );
}

#[test]
fn a_streamed_chunked_body_over_the_limit_gets_413_and_the_handler_is_dropped() {
    let (server, observed) = counter_server(test_options().limits(Limits {
        body_bytes_max: 10,
        ..Limits::default()
    }));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n",
        )
        .unwrap();
    assert!(flag_set_within(
        &observed.first_chunk_seen,
        Duration::from_secs(5)
    ));
    stream
        .write_all(b"10\r\n0123456789abcdef\r\n0\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(response.status(), 413);
    assert_eq!(response.header("connection"), Some("close"));
    assert_closed(&mut stream);
}

#[test]
fn a_body_that_stalls_while_the_handler_reads_it_gets_408() {
    let (server, observed) = counter_server(test_options().limits(Limits {
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    }));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    assert!(flag_set_within(
        &observed.first_chunk_seen,
        Duration::from_secs(5)
    ));
    let started = Instant::now();
    let response = read_response(&mut stream, false);
    assert_eq!(response.status(), 408);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_closed(&mut stream);
}

#[test]
fn a_handler_that_ignores_a_streamed_body_answers_and_closes() {
    let server = start_app(streaming(Application::new(|| Ignorer)));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nonly the start")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(response.body_text(), "ignored");
    assert_eq!(response.header("connection"), Some("close"));
    assert_closed(&mut stream);
}

#[test]
fn expect_continue_is_sent_only_when_the_handler_reads_the_body() {
    let (server, _observed) = counter_server(test_options());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let interim = read_exact(&mut stream, b"HTTP/1.1 100 Continue\r\n\r\n".len());
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"hello").unwrap();
    let response = read_response(&mut stream, false);
    assert!(response.body_text().starts_with("bytes=5 "));

    let ignoring = start_app(streaming(Application::new(|| Ignorer)));
    let mut stream = connect(ignoring.local_addr());
    stream
        .write_all(
            b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.status(),
        200,
        "no 100 Continue before a final answer"
    );
    assert_eq!(response.body_text(), "ignored");
    assert_closed(&mut stream);
}

#[test]
fn a_streamed_response_can_echo_a_streamed_request_body() {
    let server = start_app(streaming(Application::new(|| Echo)));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    stream.write_all(b"2\r\nde\r\n0\r\n\r\n").unwrap();
    let raw = read_until_terminator(&mut stream);
    let redacted = redact(&raw);
    assert!(
        redacted.starts_with("HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ntransfer-encoding: chunked\r\n\r\n"),
        "{redacted}"
    );
    let body = &redacted[redacted.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(decode_chunked(body), "abcde");
}

#[test]
fn no_100_continue_after_a_streamed_answer_has_begun() {
    // The echo answers at once with a stream that then reads the body: its `200` head goes out
    // first, and an interim `100 Continue` after it would land inside the response body.
    let server = start_app(streaming(Application::new(|| Echo)));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let head = read_response_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    stream.write_all(b"hello").unwrap();
    let rest = read_until_terminator(&mut stream);
    assert!(!rest.contains("100 Continue"), "{rest}");
    assert_eq!(decode_chunked(&rest), "hello");
}

fn read_exact(stream: &mut std::net::TcpStream, len: usize) -> String {
    use std::io::Read;
    let mut bytes = vec![0u8; len];
    stream.read_exact(&mut bytes).unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reads until the end of a chunked body (`0\r\n\r\n`).
fn read_until_terminator(stream: &mut std::net::TcpStream) -> String {
    read_through(stream, b"\r\n0\r\n\r\n")
}

/// Reads a response head, through its empty line.
fn read_response_head(stream: &mut std::net::TcpStream) -> String {
    read_through(stream, b"\r\n\r\n")
}

/// Reads byte by byte until what was read ends with `end`.
fn read_through(stream: &mut std::net::TcpStream, end: &[u8]) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(end) {
        stream.read_exact(&mut byte).unwrap();
        out.push(byte[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a well-formed chunked body (test input only).
fn decode_chunked(mut text: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = text.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        text = &rest[size + 2..];
    }
}
