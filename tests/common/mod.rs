//! Shared helpers for the loopback integration tests: start a real server on an ephemeral
//! port, talk to it with raw bytes over `std::net::TcpStream`, and read responses exactly.
// Each test binary uses a different subset of these helpers (and of their re-exports).
#![allow(dead_code, unused_imports)]

mod binary;
mod handlers;
mod log;
mod ports;
mod process;
mod request_loop;
mod responses;
mod tools;

pub use binary::{Running, ringserve, scratch, write};
pub use handlers::{Handler, create_item, item, paced, read_item, ready};
pub use log::Written;
pub use ports::{assert_refused, free_port, fresh_port, wait_listening};
pub use process::{rings_open, wait_until};
pub use request_loop::RequestLoop;
pub use responses::{
    TEXT_PLAIN, assert_timed_out, body_of, chunked_head, expected, expected_response,
    internal_server_error, is_generated_id, text_response,
};
pub use tools::{curl_missing, root, skip, target_dir};

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ringserve::{
    Application, Cores, Deployment, HttpOptions, Request, Response, Serve, ServerHandle,
};

/// How long a test waits for any single read before failing instead of hanging.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts `serve`, expecting it refused before start; returns the error's text.
pub fn start_error(serve: Serve) -> String {
    serve
        .start()
        .map(|_| ())
        .map_err(|error| error.to_string())
        .expect_err("Serve::start should fail")
}

/// Options for a test server: an ephemeral port on loopback and one shard.
pub fn test_options() -> HttpOptions {
    HttpOptions::new()
        .host("127.0.0.1")
        .port(0)
        .cores(Cores::Count(1))
}

/// [`test_options`] with a one-second shutdown grace, so that a test's shutdown does not wait
/// long for connections it left open.
pub fn short_grace_options() -> HttpOptions {
    test_options().shutdown_grace(Duration::from_secs(1))
}

/// Starts `serve`; panics with the error if it cannot start.
pub fn start(serve: Serve) -> ServerHandle {
    serve.start().expect("server starts")
}

/// Starts one application with `options`.
pub fn serve(options: HttpOptions, app: Application) -> ServerHandle {
    start(Serve::new().options(options).app(app))
}

/// Starts one application with the test options.
pub fn start_app(app: Application) -> ServerHandle {
    start(Serve::new().options(test_options()).app(app))
}

/// Answers `hello`, like the seed example.
pub struct Hello;

impl Deployment for Hello {
    async fn call(&self, _request: Request) -> Response {
        Response::text("hello")
    }
}

/// Answers with what it saw of the request, one `key=value` per line.
pub struct Inspect;

impl Deployment for Inspect {
    async fn call(&self, mut request: Request) -> Response {
        let body = match request.body().await {
            Ok(body) => body,
            Err(error) => return Response::text(format!("body error: {error}")),
        };
        let mut text = format!(
            "app={}\nmethod={}\npath={}\nroute_path={}\nroute_prefix={}\n{}query={}\nrequest_id={}\n",
            request.app_name(),
            request.method(),
            request.path(),
            request.route_path(),
            request.route_prefix(),
            // Said only when there is one, so answers without one read as they always have.
            match request.root_path() {
                "" => String::new(),
                root_path => format!("root_path={root_path}\n"),
            },
            request.query().unwrap_or("<none>"),
            request.request_id(),
        );
        for (name, value) in request.headers() {
            text.push_str(&format!(
                "header.{}={}\n",
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(value)
            ));
        }
        text.push_str(&format!("body={}", String::from_utf8_lossy(&body)));
        Response::text(text)
    }
}

/// A connected client socket with a read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Sends `request` on a new connection and returns everything the server sends until it
/// closes the connection.
pub fn exchange_until_close(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = connect(addr);
    stream.write_all(request).unwrap();
    read_to_close(&mut stream)
}

/// Reads until the server closes; a reset after data counts as a close.
pub fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!("read failed after {} bytes: {error}", out.len()),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One parsed response, as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    /// Status line without CRLF.
    pub status_line: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The exact bytes of the head and body.
    pub raw: String,
}

impl RawResponse {
    pub fn status(&self) -> u16 {
        self.status_line[9..12].parse().unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The raw response with `date` and generated `x-request-id` values replaced, so it can be
    /// compared byte for byte.
    pub fn redacted(&self) -> String {
        redact(&self.raw)
    }
}

/// Replaces the values of `date:` and `x-request-id:` lines with placeholders.
pub fn redact(raw: &str) -> String {
    raw.split_inclusive("\r\n")
        .map(|line| {
            if line.starts_with("date: ") {
                "date: <date>\r\n".to_owned()
            } else if line.starts_with("x-request-id: ") {
                "x-request-id: <id>\r\n".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// Reads exactly one response (framed by content-length; no body for HEAD when `head` is set
/// or for 1xx/204/304).
pub fn read_response(stream: &mut TcpStream, head_request: bool) -> RawResponse {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    let deadline = Instant::now() + READ_TIMEOUT;
    while !raw.ends_with(b"\r\n\r\n") {
        assert!(Instant::now() < deadline, "timed out reading a head");
        match stream.read(&mut byte) {
            Ok(0) => panic!(
                "connection closed inside a head: {:?}",
                String::from_utf8_lossy(&raw)
            ),
            Ok(_) => raw.push(byte[0]),
            Err(error) => panic!(
                "reading a head: {error}; got {:?}",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
    let head = String::from_utf8(raw.clone()).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("header line");
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let status: u16 = status_line[9..12].parse().unwrap();
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.parse::<usize>().unwrap())
        .unwrap_or(0);
    let bodyless = head_request || status < 200 || status == 204 || status == 304;
    let mut body = vec![0u8; if bodyless { 0 } else { length }];
    stream.read_exact(&mut body).expect("body");
    raw.extend_from_slice(&body);
    RawResponse {
        status_line,
        headers,
        body,
        raw: String::from_utf8_lossy(&raw).into_owned(),
    }
}

/// Sends one request on a new connection and reads one response.
pub fn request(addr: SocketAddr, bytes: &[u8]) -> RawResponse {
    let mut stream = connect(addr);
    stream.write_all(bytes).unwrap();
    read_response(&mut stream, bytes.starts_with(b"HEAD "))
}

/// `GET path` over HTTP/1.1 on a new connection.
pub fn get(addr: SocketAddr, path: &str) -> RawResponse {
    request(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// `GET path` with extra header lines (each ending in CRLF) on a new connection.
pub fn get_with(addr: SocketAddr, path: &str, headers: &str) -> RawResponse {
    request(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n").as_bytes(),
    )
}

/// `method path` with `body` (sent with `content-length`) and extra header lines, on a new
/// connection.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: impl AsRef<[u8]>,
) -> RawResponse {
    let body = body.as_ref();
    let mut bytes = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    request(addr, &bytes)
}

/// Writes `bytes` on `stream` and reads one response.
pub fn roundtrip(stream: &mut TcpStream, bytes: &[u8]) -> RawResponse {
    stream.write_all(bytes).unwrap();
    read_response(stream, bytes.starts_with(b"HEAD "))
}

/// `GET path` on an open connection.
pub fn get_on(stream: &mut TcpStream, path: &str) -> RawResponse {
    roundtrip(
        stream,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// `GET path` with extra header lines and `connection: close`, and everything the server sends
/// until it closes, redacted: for streamed responses, compared whole.
pub fn get_streamed(addr: SocketAddr, path: &str, headers: &str) -> String {
    redact(&exchange_until_close(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n{headers}connection: close\r\n\r\n")
            .as_bytes(),
    ))
}

/// `request` sent `count` times, each on a new connection (so that every shard accepts some);
/// everything each connection got until it closed.
pub fn spread(addr: SocketAddr, count: usize, request: &str) -> Vec<String> {
    (0..count)
        .map(|_| exchange_until_close(addr, request.as_bytes()))
        .collect()
}

/// Asserts that the server closed the connection (end of stream or reset), within the read
/// timeout.
pub fn assert_closed(stream: &mut TcpStream) {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected the server to close the connection, got {other:?}"),
    }
}

/// The shard a thread belongs to, `ringserve-shard-<index>`: the engine names its shard
/// threads so, and glommio appends its own executor id (`-<n>`), removed here. Other names are
/// returned as they are.
pub fn shard_name(thread: &str) -> &str {
    let Some(rest) = thread.strip_prefix("ringserve-shard-") else {
        return thread;
    };
    match rest.split_once('-') {
        Some((index, executor))
            if !index.is_empty()
                && index.bytes().all(|byte| byte.is_ascii_digit())
                && !executor.is_empty()
                && executor.bytes().all(|byte| byte.is_ascii_digit()) =>
        {
            &thread[..thread.len() - executor.len() - 1]
        }
        _ => thread,
    }
}

/// The shard the calling thread belongs to (see [`shard_name`]).
pub fn current_shard() -> String {
    shard_name(std::thread::current().name().unwrap_or("?")).to_owned()
}
