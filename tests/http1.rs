//! HTTP/1.1 behaviour over real loopback sockets: persistence, pipelining, HEAD, expectations,
//! request bodies, every refusal the codec makes, read timeouts, request ids and request-target
//! forms. Requests are raw bytes written to a `std::net::TcpStream`; responses are compared byte
//! for byte, with only the `date` and generated `x-request-id` values redacted.

mod common;

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use ringserve::{
    Application, Deployment, HeaderName, HeaderValue, Limits, Request, Response, Serve,
    ServerHandle, StatusCode, header,
};

// ---------------------------------------------------------------------------------------------
// Servers and deployments
// ---------------------------------------------------------------------------------------------

fn hello_server() -> ServerHandle {
    serve(short_grace_options(), Application::new(|| Hello))
}

fn inspect_server() -> ServerHandle {
    serve(short_grace_options(), Application::new(|| Inspect))
}

fn inspect_server_with(limits: Limits) -> ServerHandle {
    serve(
        short_grace_options().limits(limits),
        Application::new(|| Inspect),
    )
}

/// Small limits so that each one is easy to reach: a 1 KiB head, a 256-byte target, eight
/// header fields and a 16-byte body.
fn small_limits() -> Limits {
    Limits {
        head_bytes_max: 1024,
        uri_bytes_max: 256,
        headers_count_max: 8,
        body_bytes_max: 16,
        ..Limits::default()
    }
}

/// Answers with response shapes that exercise the encoder: body-less statuses, a handler that
/// asks to close, and a handler that tries to set the engine's framing headers.
struct Shapes;

impl Deployment for Shapes {
    async fn call(&self, request: Request) -> Response {
        match request.path() {
            "/no-content" => Response::new(StatusCode::NO_CONTENT).with_body("ignored"),
            "/not-modified" => Response::new(StatusCode::NOT_MODIFIED).with_body("ignored"),
            "/reset-content" => Response::new(StatusCode::RESET_CONTENT).with_body("ignored"),
            "/interim" => Response::new(StatusCode::CONTINUE),
            "/switching" => Response::new(StatusCode::SWITCHING_PROTOCOLS),
            "/stated-length" => Response::new(StatusCode::OK)
                .with_header(header::CONTENT_LENGTH, HeaderValue::from_static("1234")),
            "/slow" => {
                ringserve::rt::sleep(Duration::from_millis(400)).await;
                Response::text("slow")
            }
            "/close" => Response::text("bye")
                .with_header(header::CONNECTION, HeaderValue::from_static("close")),
            "/framing" => Response::text("abc")
                .with_header(header::CONTENT_LENGTH, HeaderValue::from_static("99"))
                .with_header(
                    header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                )
                .with_header(header::DATE, HeaderValue::from_static("yesterday"))
                .with_header(header::CONNECTION, HeaderValue::from_static("keep-alive"))
                .with_header(
                    HeaderName::from_static("x-request-id"),
                    HeaderValue::from_static("mine"),
                )
                .with_header(
                    HeaderName::from_static("x-custom"),
                    HeaderValue::from_static("kept"),
                ),
            _ => Response::text("shapes"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Expected responses
// ---------------------------------------------------------------------------------------------

/// A plain-text response as the engine encodes it, with `date` and `x-request-id` redacted.
fn expected_text(status_line: &str, connection: Option<&str>, body: &str) -> String {
    expected_response(status_line, connection, TEXT_PLAIN, body)
}

/// The same response without its body, as a `HEAD` request gets it.
fn expected_head(status_line: &str, connection: Option<&str>, body: &str) -> String {
    let full = expected_text(status_line, connection, body);
    full[..full.len() - body.len()].to_owned()
}

/// A codec refusal: its status, `connection: close` and the reason as the body.
fn rejection(status_line: &str, reason: &str) -> String {
    expected_text(status_line, Some("close"), reason)
}

const HELLO_200: &str = "HTTP/1.1 200 OK";

/// What `Inspect` answers for a request routed to the default application at `/`.
fn inspect_text(
    method: &str,
    path: &str,
    query: Option<&str>,
    id: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut text = format!(
        "app=default\nmethod={method}\npath={path}\nroute_path={path}\nroute_prefix=\nquery={}\n\
         request_id={id}\n",
        query.unwrap_or("<none>")
    );
    for (name, value) in headers {
        text.push_str(&format!("header.{}={value}\n", name.to_ascii_lowercase()));
    }
    text.push_str(&format!("body={body}"));
    text
}

/// Asserts a whole `200` response from `Inspect`; the request id the handler saw must be the
/// one on the response.
#[track_caller]
fn assert_inspected(
    response: &RawResponse,
    connection: Option<&str>,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) {
    let id = response.header("x-request-id").expect("x-request-id");
    let text = inspect_text(method, path, query, id, headers, body);
    assert_eq!(
        response.redacted(),
        expected_text(HELLO_200, connection, &text)
    );
}

/// A generated request id: 32 lowercase hex digits.
#[track_caller]
fn assert_generated_id(response: &RawResponse) {
    let id = response.header("x-request-id").expect("x-request-id");
    assert!(is_generated_id(id), "not a generated id: {id:?}");
}

// ---------------------------------------------------------------------------------------------
// Client helpers
// ---------------------------------------------------------------------------------------------

/// The server still answers `GET /` with 200 on a new connection.
#[track_caller]
fn assert_still_serves(addr: SocketAddr) {
    let response = get(addr, "/");
    assert_eq!(response.status_line, HELLO_200, "{}", response.raw);
}

/// One row of a table of refusals: the case's name (for the failure message), the request's
/// exact bytes and the exact (redacted) response it must get.
struct Case {
    name: String,
    request: Vec<u8>,
    expected: String,
}

fn case(name: impl Into<String>, request: impl AsRef<[u8]>, expected: impl Into<String>) -> Case {
    Case {
        name: name.into(),
        request: request.as_ref().to_vec(),
        expected: expected.into(),
    }
}

/// A row whose request the codec refuses with `status_line` and `reason` (see [`rejection`]).
fn refusal(
    name: impl Into<String>,
    request: impl AsRef<[u8]>,
    status_line: &str,
    reason: &str,
) -> Case {
    case(name, request, rejection(status_line, reason))
}

/// Sends each case's request on a new connection and expects exactly its refusal, a generated
/// request id, and the connection closed after it; then checks that the server still serves.
/// A failure names the case.
#[track_caller]
fn assert_refusals(addr: SocketAddr, cases: &[Case]) {
    for case in cases {
        let mut stream = connect(addr);
        stream.write_all(&case.request).unwrap();
        let response = read_response(&mut stream, false);
        assert_eq!(
            response.redacted(),
            case.expected,
            "case {:?}: request {:?}",
            case.name,
            String::from_utf8_lossy(&case.request)
        );
        let id = response.header("x-request-id").expect("x-request-id");
        assert!(
            is_generated_id(id),
            "case {:?}: not a generated id: {id:?}",
            case.name
        );
        assert_closed(&mut stream);
        drop(stream);
        let still = get(addr, "/");
        assert_eq!(
            still.status_line, HELLO_200,
            "case {:?}: the server no longer serves: {}",
            case.name, still.raw
        );
    }
}

/// Writes each piece separately, pausing between them.
fn send_in_pieces(stream: &mut TcpStream, pieces: &[&[u8]], pause: Duration) {
    for (index, piece) in pieces.iter().enumerate() {
        if index > 0 {
            sleep(pause);
        }
        stream.write_all(piece).unwrap();
    }
}

/// Reads exactly `len` bytes and returns them as text.
fn read_exact_text(stream: &mut TcpStream, len: usize) -> String {
    let mut bytes = vec![0u8; len];
    stream.read_exact(&mut bytes).expect("read exact");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Asserts that the server closes the connection without sending anything, and returns how
/// long it took.
#[track_caller]
fn assert_closed_silently(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        Ok(n) => panic!(
            "expected a silent close, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(error) => panic!("expected a silent close, got {error}"),
    }
    started.elapsed()
}

fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n")
}

// ---------------------------------------------------------------------------------------------
// 1. Persistence on HTTP/1.1
// ---------------------------------------------------------------------------------------------

#[test]
fn http11_keeps_the_connection_open_without_a_connection_header() {
    let server = hello_server();
    let mut stream = connect(server.local_addr());
    for _ in 0..3 {
        stream.write_all(get_request("/").as_bytes()).unwrap();
        let response = read_response(&mut stream, false);
        assert_eq!(response.redacted(), expected_text(HELLO_200, None, "hello"));
    }
    // An explicit keep-alive on HTTP/1.1 changes nothing: no `connection` header either.
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(response.redacted(), expected_text(HELLO_200, None, "hello"));
}

#[test]
fn connection_close_is_answered_with_connection_close_and_the_socket_closes() {
    let server = hello_server();
    let mut stream = connect(server.local_addr());
    stream.write_all(get_request("/").as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, false).status(), 200);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        expected_text(HELLO_200, Some("close"), "hello")
    );
    assert_closed(&mut stream);
}

#[test]
fn close_token_anywhere_in_a_connection_list_closes() {
    let server = hello_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, Close\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        expected_text(HELLO_200, Some("close"), "hello")
    );
    assert_closed(&mut stream);
}

#[test]
fn a_request_followed_by_a_half_close_is_still_answered() {
    let server = hello_server();
    let mut stream = connect(server.local_addr());
    stream.write_all(get_request("/").as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(response.redacted(), expected_text(HELLO_200, None, "hello"));
    assert_closed(&mut stream);
}

#[test]
fn a_handler_asking_to_close_closes_the_connection() {
    let server = serve(short_grace_options(), Application::new(|| Shapes));
    let mut stream = connect(server.local_addr());
    stream.write_all(get_request("/close").as_bytes()).unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        expected_text(HELLO_200, Some("close"), "bye")
    );
    assert_closed(&mut stream);
}

// ---------------------------------------------------------------------------------------------
// 2. HTTP/1.0
// ---------------------------------------------------------------------------------------------

#[test]
fn http10_closes_by_default() {
    let server = hello_server();
    let mut stream = connect(server.local_addr());
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        expected_text(HELLO_200, Some("close"), "hello")
    );
    assert_closed(&mut stream);
}

#[test]
fn http10_keep_alive_is_confirmed_and_the_connection_is_reused() {
    let server = hello_server();
    let mut stream = connect(server.local_addr());
    for _ in 0..2 {
        stream
            .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let response = read_response(&mut stream, false);
        assert_eq!(
            response.redacted(),
            expected_text(HELLO_200, Some("keep-alive"), "hello")
        );
    }
    // Without the header again, HTTP/1.0 closes after this response.
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        expected_text(HELLO_200, Some("close"), "hello")
    );
    assert_closed(&mut stream);
}

#[test]
fn http10_request_with_a_content_length_body() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /ten HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        Some("close"),
        "POST",
        "/ten",
        None,
        &[("Content-Length", "4")],
        "abcd",
    );
    assert_closed(&mut stream);
}

// ---------------------------------------------------------------------------------------------
// 3. Pipelining
// ---------------------------------------------------------------------------------------------

#[test]
fn pipelined_requests_in_one_write_are_answered_in_order() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    let paths = ["/one", "/two", "/three"];
    let pipeline: String = paths.iter().map(|path| get_request(path)).collect();
    stream.write_all(pipeline.as_bytes()).unwrap();
    for path in paths {
        let response = read_response(&mut stream, false);
        assert_inspected(&response, None, "GET", path, None, &[("Host", "a")], "");
    }
    // The connection is still usable afterwards.
    stream.write_all(get_request("/four").as_bytes()).unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/four", None, &[("Host", "a")], "");
}

#[test]
fn a_pipeline_deeper_than_pipeline_depth_max_is_answered_in_full_and_in_order() {
    let server = inspect_server_with(Limits {
        pipeline_depth_max: 2,
        ..Limits::default()
    });
    let mut stream = connect(server.local_addr());
    let paths: Vec<String> = (0..5).map(|index| format!("/p{index}")).collect();
    let pipeline: String = paths.iter().map(|path| get_request(path)).collect();
    stream.write_all(pipeline.as_bytes()).unwrap();
    for path in &paths {
        let response = read_response(&mut stream, false);
        assert_inspected(&response, None, "GET", path, None, &[("Host", "a")], "");
    }
}

#[test]
fn a_long_pipeline_past_the_write_flush_size_is_answered_in_order() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    let paths: Vec<String> = (0..300).map(|index| format!("/r{index}")).collect();
    let pipeline: String = paths.iter().map(|path| get_request(path)).collect();
    stream.write_all(pipeline.as_bytes()).unwrap();
    for path in &paths {
        let response = read_response(&mut stream, false);
        assert_inspected(&response, None, "GET", path, None, &[("Host", "a")], "");
    }
}

#[test]
fn pipelined_requests_with_length_and_chunked_bodies_keep_their_framing() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    let pipeline = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
        POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
        GET /c HTTP/1.1\r\nHost: a\r\n\r\n";
    stream.write_all(pipeline).unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/a",
        None,
        &[("Host", "a"), ("Content-Length", "5")],
        "hello",
    );
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/b",
        None,
        &[("Host", "a"), ("Transfer-Encoding", "chunked")],
        "abc",
    );
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/c", None, &[("Host", "a")], "");
}

#[test]
fn answers_are_flushed_before_waiting_for_the_rest_of_a_pipeline() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    // A whole request and the start of the next: the first answer must not wait for the
    // second request to complete.
    stream
        .write_all(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHo")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/1", None, &[("Host", "a")], "");
    stream.write_all(b"st: a\r\n\r\n").unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/2", None, &[("Host", "a")], "");
}

#[test]
fn a_pipeline_stops_at_a_connection_close_request() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    let pipeline = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n\
        GET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    stream.write_all(pipeline).unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/1", None, &[("Host", "a")], "");
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        Some("close"),
        "GET",
        "/2",
        None,
        &[("Host", "a"), ("Connection", "close")],
        "",
    );
    assert_closed(&mut stream);
}

#[test]
fn a_bad_request_after_good_ones_in_a_pipeline_is_refused_after_their_answers() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    let pipeline = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    stream.write_all(pipeline).unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/1", None, &[("Host", "a")], "");
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        rejection(
            "HTTP/1.1 400 Bad Request",
            "Bad Request: missing Host header"
        )
    );
    assert_closed(&mut stream);
}

// ---------------------------------------------------------------------------------------------
// 4. HEAD and body-less statuses
// ---------------------------------------------------------------------------------------------

#[test]
fn head_has_the_get_headers_and_no_body() {
    let server = hello_server();
    let mut stream = connect(server.local_addr());
    // HEAD and GET in one write: if any body byte followed the HEAD response, the GET response
    // would not start where it should.
    stream
        .write_all(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let head = read_response(&mut stream, true);
    assert_eq!(head.redacted(), expected_head(HELLO_200, None, "hello"));
    assert_eq!(head.header("content-length"), Some("5"));
    let get = read_response(&mut stream, false);
    assert_eq!(get.redacted(), expected_text(HELLO_200, None, "hello"));
    // A HEAD sent on its own, then a GET after it was answered.
    stream
        .write_all(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let head = read_response(&mut stream, true);
    assert_eq!(head.redacted(), expected_head(HELLO_200, None, "hello"));
    stream.write_all(get_request("/").as_bytes()).unwrap();
    let get = read_response(&mut stream, false);
    assert_eq!(get.redacted(), expected_text(HELLO_200, None, "hello"));
}

#[test]
fn no_content_and_not_modified_have_no_length_and_no_body() {
    let server = serve(short_grace_options(), Application::new(|| Shapes));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            format!(
                "{}{}{}",
                get_request("/no-content"),
                get_request("/not-modified"),
                get_request("/")
            )
            .as_bytes(),
        )
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        "HTTP/1.1 204 No Content\r\ndate: <date>\r\nx-request-id: <id>\r\n\r\n"
    );
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        "HTTP/1.1 304 Not Modified\r\ndate: <date>\r\nx-request-id: <id>\r\n\r\n"
    );
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        expected_text(HELLO_200, None, "shapes")
    );
}

#[test]
fn handler_framing_headers_are_replaced_by_the_engines() {
    let server = serve(short_grace_options(), Application::new(|| Shapes));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(format!("{}{}", get_request("/framing"), get_request("/")).as_bytes())
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 3\r\n\
         content-type: text/plain; charset=utf-8\r\nx-custom: kept\r\n\r\nabc"
    );
    assert_generated_id(&response);
    assert_ne!(response.header("date"), Some("yesterday"));
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        expected_text(HELLO_200, None, "shapes")
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Expect: 100-continue
// ---------------------------------------------------------------------------------------------

const CONTINUE: &str = "HTTP/1.1 100 Continue\r\n\r\n";

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
        )
        .unwrap();
    assert_eq!(read_exact_text(&mut stream, CONTINUE.len()), CONTINUE);
    stream.write_all(b"hello world").unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "PUT",
        "/up",
        None,
        &[
            ("Host", "a"),
            ("Expect", "100-continue"),
            ("Content-Length", "11"),
        ],
        "hello world",
    );
    // The connection goes on.
    stream.write_all(get_request("/next").as_bytes()).unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/next", None, &[("Host", "a")], "");
}

#[test]
fn expect_100_continue_with_a_chunked_body() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"POST /c HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
    assert_eq!(read_exact_text(&mut stream, CONTINUE.len()), CONTINUE);
    stream.write_all(b"4\r\nabcd\r\n0\r\n\r\n").unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/c",
        None,
        &[
            ("Host", "a"),
            ("Expect", "100-Continue"),
            ("Transfer-Encoding", "chunked"),
        ],
        "abcd",
    );
}

#[test]
fn continue_follows_the_responses_of_earlier_pipelined_requests() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n\
              PUT /second HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/first", None, &[("Host", "a")], "");
    assert_eq!(read_exact_text(&mut stream, CONTINUE.len()), CONTINUE);
    stream.write_all(b"xyz").unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "PUT",
        "/second",
        None,
        &[
            ("Host", "a"),
            ("Expect", "100-continue"),
            ("Content-Length", "3"),
        ],
        "xyz",
    );
}

#[test]
fn expect_with_a_body_over_the_limit_gets_413_and_no_continue() {
    let server = inspect_server_with(small_limits());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 17\r\n\r\n",
        )
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        rejection("HTTP/1.1 413 Payload Too Large", "Payload Too Large")
    );
    assert_closed(&mut stream);
}

#[test]
fn an_expectation_other_than_100_continue_gets_417() {
    let server = hello_server();
    assert_refusals(
        server.local_addr(),
        &[refusal(
            "Expect: magic",
            b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\nContent-Length: 5\r\n\r\n",
            "HTTP/1.1 417 Expectation Failed",
            "Expectation Failed: only 100-continue is supported",
        )],
    );
}

#[test]
fn expect_on_http10_is_ignored() {
    let server = inspect_server();
    // 100-continue: no interim response; the body is sent after a pause and the first thing the
    // client reads is the final response.
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"PUT /ten HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    sleep(Duration::from_millis(100));
    stream.write_all(b"hello").unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        Some("close"),
        "PUT",
        "/ten",
        None,
        &[("Expect", "100-continue"), ("Content-Length", "5")],
        "hello",
    );
    assert_closed(&mut stream);
    // Any other expectation is not refused with 417 either.
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /ten HTTP/1.0\r\nExpect: magic\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        Some("close"),
        "GET",
        "/ten",
        None,
        &[("Expect", "magic")],
        "",
    );
    assert_closed(&mut stream);
}

// ---------------------------------------------------------------------------------------------
// 6. Request bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn content_length_body_split_across_writes() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    send_in_pieces(
        &mut stream,
        &[
            b"POST /split HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
            b"hel",
            b"lo wor",
            b"ld",
        ],
        Duration::from_millis(30),
    );
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/split",
        None,
        &[("Host", "a"), ("Content-Length", "11")],
        "hello world",
    );
}

#[test]
fn a_head_sent_byte_by_byte_is_parsed() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    let request = b"POST /bytes?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok";
    let pieces: Vec<&[u8]> = request.chunks(1).collect();
    send_in_pieces(&mut stream, &pieces, Duration::from_millis(1));
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/bytes",
        Some("q=1"),
        &[("Host", "a"), ("Content-Length", "2")],
        "ok",
    );
}

#[test]
fn chunked_body_with_extensions_and_a_trailer_is_decoded() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n\
              5;name=value\r\nhello\r\n6 ; x=\"y z\"\r\n world\r\n0;last\r\nX-Trailer: yes\r\n\r\n",
        )
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/chunked",
        None,
        &[("Host", "a"), ("Transfer-Encoding", "Chunked")],
        "hello world",
    );
    // The decoder stopped exactly at the end of the trailer section.
    stream.write_all(get_request("/after").as_bytes()).unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/after", None, &[("Host", "a")], "");
}

/// RFC 9112 §7.1: `chunk-size = 1*HEXDIG`. Leading zeros are digits: only a size past what
/// the decoder can hold is refused.
#[test]
fn chunk_sizes_with_many_leading_zeros_are_read() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    let response = roundtrip(
        &mut stream,
        b"POST /zeros HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          00000000000000000005\r\nhello\r\n000000000000000000000\r\n\r\n",
    );
    assert_inspected(
        &response,
        None,
        "POST",
        "/zeros",
        None,
        &[("Host", "a"), ("Transfer-Encoding", "chunked")],
        "hello",
    );
    assert_refusals(
        server.local_addr(),
        &[refusal(
            "a chunk size past 64 bits after leading zeros",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
              0000010000000000000000\r\n",
            BAD_400,
            "Bad Request: invalid chunked body",
        )],
    );
}

#[test]
fn chunked_body_split_across_writes_at_awkward_places() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    send_in_pieces(
        &mut stream,
        &[
            b"POST /pieces HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"5\r",
            b"\nhel",
            b"lo\r",
            b"\n1",
            b"0;e",
            b"xt\r\n0123456789abcd",
            b"ef\r\n0\r\nX: ",
            b"y\r\n\r",
            b"\n",
        ],
        Duration::from_millis(20),
    );
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/pieces",
        None,
        &[("Host", "a"), ("Transfer-Encoding", "chunked")],
        "hello0123456789abcdef",
    );
}

#[test]
fn large_bodies_spanning_many_reads_are_read_in_full() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    let body: String = (0..200 * 1024)
        .map(|index| char::from(b'a' + (index % 26) as u8))
        .collect();
    let request = format!(
        "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/big",
        None,
        &[("Host", "a"), ("Content-Length", &body.len().to_string())],
        &body,
    );
    // The same body chunked, in chunks of 5000 bytes (0x1388).
    let mut request =
        String::from("POST /big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    for chunk in body.as_bytes().chunks(5000) {
        request.push_str(&format!("{:x}\r\n", chunk.len()));
        request.push_str(std::str::from_utf8(chunk).unwrap());
        request.push_str("\r\n");
    }
    request.push_str("0\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/big",
        None,
        &[("Host", "a"), ("Transfer-Encoding", "chunked")],
        &body,
    );
}

#[test]
fn an_empty_content_length_body_then_a_pipelined_request() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"POST /empty HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/empty",
        None,
        &[("Host", "a"), ("Content-Length", "0")],
        "",
    );
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/next", None, &[("Host", "a")], "");
}

#[test]
fn identical_content_lengths_count_as_one() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"POST /same HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc",
        )
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/same",
        None,
        &[
            ("Host", "a"),
            ("Content-Length", "3"),
            ("Content-Length", "3, 3"),
        ],
        "abc",
    );
}

#[test]
fn bodies_exactly_at_body_bytes_max_are_accepted() {
    let server = inspect_server_with(small_limits());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /max HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\n0123456789abcdef")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/max",
        None,
        &[("Host", "a"), ("Content-Length", "16")],
        "0123456789abcdef",
    );
    stream
        .write_all(
            b"POST /max HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
              a\r\n0123456789\r\n6\r\nabcdef\r\n0\r\n\r\n",
        )
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/max",
        None,
        &[("Host", "a"), ("Transfer-Encoding", "chunked")],
        "0123456789abcdef",
    );
}

#[test]
fn content_length_over_body_bytes_max_gets_413_before_the_body_is_sent() {
    let server = inspect_server_with(small_limits());
    let addr = server.local_addr();
    // Only the head is sent: the answer must not wait for the body.
    assert_refusals(
        addr,
        &[
            refusal(
                "one byte over",
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n",
                "HTTP/1.1 413 Payload Too Large",
                "Payload Too Large",
            ),
            refusal(
                "far over",
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n",
                "HTTP/1.1 413 Payload Too Large",
                "Payload Too Large",
            ),
        ],
    );
}

#[test]
fn a_refused_body_sent_anyway_does_not_hide_the_413() {
    // The client sends a 32 KiB body right behind a head that is refused: the server keeps
    // reading (and discarding) after its answer, so the client reads the 413, not a reset.
    let server = inspect_server_with(small_limits());
    let addr = server.local_addr();
    let mut stream = connect(addr);
    let mut request = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 32768\r\n\r\n".to_vec();
    request.extend_from_slice(&[b'b'; 32768]);
    stream.write_all(&request).unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        rejection("HTTP/1.1 413 Payload Too Large", "Payload Too Large")
    );
    assert_closed(&mut stream);
    drop(stream);
    assert_still_serves(addr);
}

#[test]
fn chunked_body_over_body_bytes_max_gets_413() {
    let server = inspect_server_with(small_limits());
    assert_refusals(
        server.local_addr(),
        &[refusal(
            "chunks adding up to 17 bytes",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
              a\r\n0123456789\r\n7\r\nabcdefg\r\n0\r\n\r\n",
            "HTTP/1.1 413 Payload Too Large",
            "Payload Too Large",
        )],
    );
}

#[test]
fn chunked_body_over_body_bytes_max_gets_413_without_waiting_for_the_data() {
    let server = inspect_server_with(small_limits());
    // Only the chunk-size line of the chunk that would cross the limit is sent.
    assert_refusals(
        server.local_addr(),
        &[refusal(
            "a chunk-size line crossing the limit",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n",
            "HTTP/1.1 413 Payload Too Large",
            "Payload Too Large",
        )],
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Bad input: each refusal, its status, its reason, and the close
// ---------------------------------------------------------------------------------------------

const MALFORMED: &str = "Bad Request: malformed request line or header";
const BAD_400: &str = "HTTP/1.1 400 Bad Request";

/// Every refusal of a request a plain server sees, by its input: the status, the reason, a
/// generated id and the close (RFC 9112 §3: an invalid request-line gets 400).
#[test]
fn bad_input_gets_its_status_and_reason() {
    let server = hello_server();
    let garbage: Vec<u8> = (0u8..=255).rev().chain(*b"\r\n\r\n").collect();
    let content_length_and_chunked = "Bad Request: both Content-Length and Transfer-Encoding";
    let invalid_length = "Bad Request: invalid Content-Length";
    let two_hosts = "Bad Request: more than one Host header";
    let not_chunked = "Not Implemented: only chunked transfer coding is supported";
    let mut cases = vec![
        refusal("unknown version token", b"GET / FOO\r\nHost: a\r\n\r\n", BAD_400, MALFORMED),
        refusal("two spaces after the method", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", BAD_400, MALFORMED),
        refusal("no version", b"GET /\r\nHost: a\r\n\r\n", BAD_400, MALFORMED),
        refusal("a control byte in the method", b"G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", BAD_400, MALFORMED),
        // The version is a valid HTTP/1.1; the extra space makes the line malformed: 400, not 505.
        refusal("a space inside the target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", BAD_400, MALFORMED),
        refusal("a word between target and version", b"GET / extra HTTP/1.1\r\nHost: a\r\n\r\n", BAD_400, MALFORMED),
        refusal("a header line without a colon", b"GET / HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n\r\n", BAD_400, MALFORMED),
        // RFC 9112 §5.2.
        refusal("obs-fold continuation line", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", BAD_400, MALFORMED),
        refusal("whitespace before the first header field", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", BAD_400, MALFORMED),
        refusal("a space inside a field name", b"GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", BAD_400, MALFORMED),
        refusal("a NUL in a field value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", BAD_400, MALFORMED),
        // RFC 9112 §2.2: bare CRs MUST be considered invalid.
        refusal("a bare CR after the request line", b"GET / HTTP/1.1\rHost: a\r\n\r\n", BAD_400, MALFORMED),
        refusal("a bare CR after a field", b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", BAD_400, MALFORMED),
        refusal("whitespace before a header colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", BAD_400, MALFORMED),
        refusal("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", BAD_400, "Bad Request: missing Host header"),
        refusal("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", BAD_400, two_hosts),
        // Also on HTTP/1.0, where Host is optional.
        refusal("two Host headers on HTTP/1.0", b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", BAD_400, two_hosts),
        refusal(
            "Content-Length then Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            BAD_400,
            content_length_and_chunked,
        ),
        refusal(
            "Transfer-Encoding then Content-Length",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            BAD_400,
            content_length_and_chunked,
        ),
        refusal(
            "two differing Content-Length fields",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            BAD_400,
            invalid_length,
        ),
        refusal(
            "a Content-Length list that differs",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd",
            BAD_400,
            invalid_length,
        ),
    ];
    for value in ["abc", "-1", "+3", "0x10", "3 4", "", "99999999999999999999"] {
        cases.push(refusal(
            format!("Content-Length: {value:?}"),
            format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\n"),
            BAD_400,
            invalid_length,
        ));
    }
    for value in ["gzip", "gzip, chunked", "chunked, gzip", "identity"] {
        cases.push(refusal(
            format!("Transfer-Encoding: {value}"),
            format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {value}\r\n\r\n"),
            "HTTP/1.1 501 Not Implemented",
            not_chunked,
        ));
    }
    cases.extend([
        // `chunked` twice would chunk the body twice.
        refusal(
            "Transfer-Encoding: chunked twice",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 501 Not Implemented",
            not_chunked,
        ),
        refusal(
            "Transfer-Encoding on HTTP/1.0",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            BAD_400,
            "Bad Request: Transfer-Encoding on HTTP/1.0",
        ),
    ]);
    for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/2.1"] {
        cases.push(refusal(
            format!("version {version}"),
            format!("GET / {version}\r\nHost: a\r\n\r\n"),
            "HTTP/1.1 505 HTTP Version Not Supported",
            "HTTP Version Not Supported: use HTTP/1.0 or HTTP/1.1",
        ));
    }
    cases.extend([
        refusal("every byte value, descending", &garbage, BAD_400, MALFORMED),
        refusal(
            "a TLS ClientHello",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            BAD_400,
            MALFORMED,
        ),
    ]);
    for target in ["x", "*", "/a#fragment", "ftp://host/", "http:///path"] {
        cases.push(refusal(
            format!("target {target:?}"),
            format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n"),
            BAD_400,
            "Bad Request: invalid request target",
        ));
    }
    // RFC 9112 §3.2 and RFC 9110 §7.2: `Host = uri-host [ ":" port ]`.
    for host in [
        "a b/c",
        "a/b",
        "caf\u{e9}",
        "x:99999",
        "[::1",
        "a@b",
        "x:8o",
    ] {
        cases.push(refusal(
            format!("Host: {host:?}"),
            format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            BAD_400,
            "Bad Request: invalid Host header",
        ));
    }
    cases.push(refusal(
        "an invalid Host on HTTP/1.0",
        b"GET / HTTP/1.0\r\nHost: a/b\r\n\r\n",
        BAD_400,
        "Bad Request: invalid Host header",
    ));
    cases.push(refusal(
        "an invalid x-request-timeout-seconds",
        b"GET / HTTP/1.1\r\nHost: a\r\nx-request-timeout-seconds: soon\r\n\r\n",
        BAD_400,
        "Bad Request: invalid x-request-timeout-seconds",
    ));
    assert_refusals(server.local_addr(), &cases);
}

/// Hosts of the grammar are served: IP literals, a port, the empty value a client sends for a
/// target without an authority (RFC 9112 §3.2).
#[test]
fn valid_host_values_are_served() {
    let server = hello_server();
    for host in [
        "",
        "[::1]:8000",
        "127.0.0.1:65535",
        "xn--caf-dma.example",
        "a_b~c",
    ] {
        let response = request(
            server.local_addr(),
            format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        );
        assert_eq!(
            response.redacted(),
            expected_text(HELLO_200, None, "hello"),
            "Host: {host:?}"
        );
    }
}

/// RFC 9110 §2.5: a request of a higher 1.x minor version is processed as HTTP/1.1, the highest
/// the server implements, and answered in HTTP/1.1 — on a persistent connection, as 1.1's.
#[test]
fn a_higher_minor_version_of_http1_is_served_as_http11() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    for (version, path) in [("HTTP/1.2", "/one-two"), ("HTTP/1.9", "/one-nine")] {
        let response = roundtrip(
            &mut stream,
            format!("GET {path} {version}\r\nHost: a\r\n\r\n").as_bytes(),
        );
        assert_inspected(&response, None, "GET", path, None, &[("Host", "a")], "");
    }
    // Its rules are 1.1's: Host is required.
    assert_refusals(
        server.local_addr(),
        &[refusal(
            "HTTP/1.2 without Host",
            b"GET / HTTP/1.2\r\nAccept: */*\r\n\r\n",
            BAD_400,
            "Bad Request: missing Host header",
        )],
    );
}

/// RFC 9110 §9.3.2: a response to HEAD has no content, refusals included. Each refusal keeps
/// the head a GET would get (its content-length too), and the connection closes after it.
#[test]
fn refusals_of_head_requests_carry_no_content() {
    let server = inspect_server_with(small_limits());
    let head_refusals = [
        (
            "400",
            "HEAD / HTTP/1.1\r\nHost: a/b\r\n\r\n".to_owned(),
            BAD_400,
            "Bad Request: invalid Host header",
        ),
        (
            "413",
            "HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n".to_owned(),
            "HTTP/1.1 413 Payload Too Large",
            "Payload Too Large",
        ),
        // Refused while its body is read, after the head was parsed.
        (
            "413 chunked",
            format!(
                "HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n{}\r\n0\r\n\r\n",
                "b".repeat(20)
            ),
            "HTTP/1.1 413 Payload Too Large",
            "Payload Too Large",
        ),
        (
            "414",
            format!("HEAD /{} HTTP/1.1\r\nHost: a\r\n\r\n", "u".repeat(300)),
            "HTTP/1.1 414 URI Too Long",
            "URI Too Long",
        ),
        (
            "417",
            "HEAD / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n".to_owned(),
            "HTTP/1.1 417 Expectation Failed",
            "Expectation Failed: only 100-continue is supported",
        ),
        (
            "431",
            format!(
                "HEAD / HTTP/1.1\r\nHost: a\r\nX-Fill: {}\r\n\r\n",
                "f".repeat(1100)
            ),
            "HTTP/1.1 431 Request Header Fields Too Large",
            "Request Header Fields Too Large",
        ),
        (
            "501",
            "HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n".to_owned(),
            "HTTP/1.1 501 Not Implemented",
            "Not Implemented: only chunked transfer coding is supported",
        ),
        (
            "505",
            "HEAD / HTTP/2.0\r\nHost: a\r\n\r\n".to_owned(),
            "HTTP/1.1 505 HTTP Version Not Supported",
            "HTTP Version Not Supported: use HTTP/1.0 or HTTP/1.1",
        ),
    ];
    for (name, request_bytes, status_line, reason) in head_refusals {
        let mut stream = connect(server.local_addr());
        stream.write_all(request_bytes.as_bytes()).unwrap();
        let response = read_response(&mut stream, true);
        assert_eq!(
            response.redacted(),
            expected_head(status_line, Some("close"), reason),
            "HEAD refused with {name}"
        );
        // No content follows the head: the next thing on the socket is its end.
        assert_closed(&mut stream);
    }
    assert_still_serves(server.local_addr());
}

/// The limits on the head, over [`small_limits`]: a 1 KiB head, eight fields, a 256-byte target.
#[test]
fn a_head_over_its_limits_gets_431_or_414() {
    let server = inspect_server_with(small_limits());
    let mut eight_fields = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for index in 0..8 {
        eight_fields.push_str(&format!("X-{index}: {index}\r\n"));
    }
    eight_fields.push_str("\r\n");
    let too_large = "HTTP/1.1 431 Request Header Fields Too Large";
    let uri_too_long = "HTTP/1.1 414 URI Too Long";
    assert_refusals(
        server.local_addr(),
        &[
            refusal(
                "a head over head_bytes_max",
                format!(
                    "GET / HTTP/1.1\r\nHost: a\r\nX-Fill: {}\r\n\r\n",
                    "f".repeat(1100)
                ),
                too_large,
                "Request Header Fields Too Large",
            ),
            refusal(
                "too many header fields",
                eight_fields,
                too_large,
                "Request Header Fields Too Large: too many header fields",
            ),
            refusal(
                "a target over uri_bytes_max",
                format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "u".repeat(300)),
                uri_too_long,
                "URI Too Long",
            ),
            // No space, no line end: the request line has not finished yet.
            refusal(
                "an unfinished target over uri_bytes_max",
                format!("GET /{}", "u".repeat(400)),
                uri_too_long,
                "URI Too Long",
            ),
        ],
    );
}

#[test]
fn invalid_chunked_framing_gets_400() {
    let server = inspect_server();
    let invalid = "Bad Request: invalid chunked body";
    let mut cases = vec![refusal(
        "an invalid chunk size",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        BAD_400,
        invalid,
    )];
    for (name, body) in [
        ("bare LFs throughout", &b"5\nhello\n0\n\n"[..]),
        ("a bare LF after chunk data", b"5\r\nhello\n0\r\n\r\n"),
        ("a bare LF ending the last chunk", b"5\r\nhello\r\n0\r\n\n"),
    ] {
        let mut request =
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        request.extend_from_slice(body);
        cases.push(refusal(name, request, BAD_400, invalid));
    }
    assert_refusals(server.local_addr(), &cases);
}

#[test]
fn http10_without_host_is_served() {
    let server = hello_server();
    let response = request(server.local_addr(), b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(
        response.redacted(),
        expected_text(HELLO_200, Some("close"), "hello")
    );
}

#[test]
fn a_head_at_head_bytes_max_is_accepted() {
    let server = inspect_server_with(small_limits());
    let start = "GET /fit HTTP/1.1\r\nHost: a\r\nX-Fill: ";
    let fill = "f".repeat(1024 - start.len() - 4);
    let request = format!("{start}{fill}\r\n\r\n");
    assert_eq!(request.len(), 1024);
    let response = common::request(server.local_addr(), request.as_bytes());
    assert_inspected(
        &response,
        None,
        "GET",
        "/fit",
        None,
        &[("Host", "a"), ("X-Fill", &fill)],
        "",
    );
}

#[test]
fn a_head_sent_slowly_that_crosses_head_bytes_max_gets_431_before_it_ends() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(8),
        ..small_limits()
    };
    let server = inspect_server_with(limits);
    let addr = server.local_addr();
    let mut stream = connect(addr);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Fill: ")
        .unwrap();
    let piece = [b'f'; 100];
    let started = Instant::now();
    for _ in 0..11 {
        sleep(Duration::from_millis(10));
        // The server may already have answered; it keeps reading for a while when it closes.
        if stream.write_all(&piece).is_err() {
            break;
        }
    }
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        rejection(
            "HTTP/1.1 431 Request Header Fields Too Large",
            "Request Header Fields Too Large"
        )
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "431 came only after {:?}",
        started.elapsed()
    );
    assert_closed(&mut stream);
    drop(stream);
    assert_still_serves(addr);
}

#[test]
fn exactly_headers_count_max_fields_are_accepted() {
    let server = inspect_server_with(small_limits());
    let mut request = String::from("GET /eight HTTP/1.1\r\nHost: a\r\n");
    let mut headers = vec![("Host".to_owned(), "a".to_owned())];
    for index in 0..7 {
        request.push_str(&format!("X-{index}: {index}\r\n"));
        headers.push((format!("X-{index}"), index.to_string()));
    }
    request.push_str("\r\n");
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let response = common::request(server.local_addr(), request.as_bytes());
    assert_inspected(&response, None, "GET", "/eight", None, &headers, "");
}

#[test]
fn a_target_at_uri_bytes_max_is_accepted() {
    let server = inspect_server_with(small_limits());
    let path = format!("/{}", "u".repeat(255));
    let response = request(server.local_addr(), get_request(&path).as_bytes());
    assert_inspected(&response, None, "GET", &path, None, &[("Host", "a")], "");
}

#[test]
fn leading_empty_lines_before_a_request_are_skipped() {
    let server = inspect_server();
    let response = request(
        server.local_addr(),
        b"\r\n\r\nGET /after-blank HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_inspected(
        &response,
        None,
        "GET",
        "/after-blank",
        None,
        &[("Host", "a")],
        "",
    );
}

#[test]
fn path_and_query_reach_the_handler_as_sent() {
    let server = inspect_server();
    let addr = server.local_addr();
    let response = request(addr, get_request("/a%20b/c?q=%41&r=1").as_bytes());
    assert_inspected(
        &response,
        None,
        "GET",
        "/a%20b/c",
        Some("q=%41&r=1"),
        &[("Host", "a")],
        "",
    );
    let response = request(addr, get_request("/empty?").as_bytes());
    assert_inspected(
        &response,
        None,
        "GET",
        "/empty",
        Some(""),
        &[("Host", "a")],
        "",
    );
}

#[test]
fn an_extension_method_reaches_the_handler() {
    let server = inspect_server();
    let response = request(
        server.local_addr(),
        b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_inspected(&response, None, "BREW", "/pot", None, &[("Host", "a")], "");
}

// ---------------------------------------------------------------------------------------------
// 8. Read timeouts
// ---------------------------------------------------------------------------------------------

const TIMEOUT_408: &str = "HTTP/1.1 408 Request Timeout";
const TIMEOUT_REASON: &str = "Request Timeout: the request was not received in time";

fn short_timeout_limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

#[test]
fn a_half_sent_head_gets_408_after_header_read_timeout() {
    let server = inspect_server_with(short_timeout_limits());
    let addr = server.local_addr();
    let mut stream = connect(addr);
    let started = Instant::now();
    stream.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let response = read_response(&mut stream, false);
    let elapsed = started.elapsed();
    assert_eq!(response.redacted(), rejection(TIMEOUT_408, TIMEOUT_REASON));
    assert_generated_id(&response);
    assert!(
        elapsed >= Duration::from_millis(250),
        "408 after only {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "408 only after {elapsed:?}"
    );
    assert_closed(&mut stream);
    drop(stream);
    assert_still_serves(addr);
}

#[test]
fn header_read_timeout_counts_from_the_start_of_the_head_not_from_the_last_byte() {
    let server = inspect_server_with(short_timeout_limits());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        .unwrap();
    let started = Instant::now();
    // A slowloris: one byte every 50 ms for up to four seconds, in a thread, while this one
    // waits for the answer.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = stream.try_clone().unwrap();
    let writer_stop = stop.clone();
    let trickle = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(4);
        while !writer_stop.load(Ordering::Relaxed) && Instant::now() < until {
            if writer.write_all(b"s").is_err() {
                break;
            }
            sleep(Duration::from_millis(50));
        }
    });
    let response = read_response(&mut stream, false);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    trickle.join().unwrap();
    assert_eq!(response.redacted(), rejection(TIMEOUT_408, TIMEOUT_REASON));
    assert!(
        elapsed < Duration::from_millis(2500),
        "the trickling client was answered only after {elapsed:?}"
    );
    assert_closed(&mut stream);
}

/// Guards the close after a read timeout: a client that keeps sending past the deadline still
/// reads the whole 408 and then a clean end of stream — never a reset, which a socket closed
/// with unread input sends and which can discard the answer. (The sweeper shuts the read side
/// to end the timed-out read; Linux then drops further input instead of queueing it.)
#[test]
fn a_client_that_keeps_sending_after_the_read_timeout_still_reads_the_408() {
    let server = inspect_server_with(short_timeout_limits());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        .unwrap();
    // Past the 300 ms timeout (and the sweeper's 50 ms), the 408 is on its way; the client,
    // unaware, sends more of its head before reading.
    sleep(Duration::from_millis(600));
    let _ = stream.write_all(&[b's'; 16 * 1024]);
    sleep(Duration::from_millis(100));
    let response = read_response(&mut stream, false);
    assert_eq!(response.redacted(), rejection(TIMEOUT_408, TIMEOUT_REASON));
    // The server drained what came after the deadline and ended with FIN, not a reset: a
    // socket closed with unread input resets, and a reset can discard the answer.
    let mut rest = [0u8; 64];
    assert_eq!(
        stream.read(&mut rest).map_err(|error| error.kind()),
        Ok(0),
        "the connection ended with a reset"
    );
}

#[test]
fn a_half_sent_content_length_body_gets_408_after_body_read_timeout() {
    let server = inspect_server_with(short_timeout_limits());
    let addr = server.local_addr();
    let mut stream = connect(addr);
    let started = Instant::now();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let response = read_response(&mut stream, false);
    let elapsed = started.elapsed();
    assert_eq!(response.redacted(), rejection(TIMEOUT_408, TIMEOUT_REASON));
    assert!(
        elapsed >= Duration::from_millis(250),
        "408 after only {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "408 only after {elapsed:?}"
    );
    assert_closed(&mut stream);
    drop(stream);
    assert_still_serves(addr);
}

#[test]
fn body_read_timeout_applies_to_each_piece_not_to_the_whole_body() {
    let server = inspect_server_with(Limits {
        body_read_timeout: Duration::from_secs(1),
        ..Limits::default()
    });
    let mut stream = connect(server.local_addr());
    let started = Instant::now();
    let pieces: [&[u8]; 9] = [
        b"POST /drip HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n",
        b"d",
        b"r",
        b"i",
        b"p",
        b"d",
        b"r",
        b"i",
        b"p",
    ];
    // Eight pieces 150 ms apart: the body takes longer than the timeout, no piece does.
    send_in_pieces(&mut stream, &pieces, Duration::from_millis(150));
    let response = read_response(&mut stream, false);
    assert!(started.elapsed() > Duration::from_secs(1));
    assert_inspected(
        &response,
        None,
        "POST",
        "/drip",
        None,
        &[("Host", "a"), ("Content-Length", "8")],
        "dripdrip",
    );
}

#[test]
fn a_half_sent_chunked_body_gets_408_after_body_read_timeout() {
    let server = inspect_server_with(short_timeout_limits());
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe")
        .unwrap();
    let started = Instant::now();
    let response = read_response(&mut stream, false);
    assert_eq!(response.redacted(), rejection(TIMEOUT_408, TIMEOUT_REASON));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_closed(&mut stream);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_silently_after_keep_alive_timeout() {
    let server = serve(
        short_grace_options().keep_alive_timeout(Duration::from_millis(300)),
        Application::new(|| Hello),
    );
    let addr = server.local_addr();
    // After a response.
    let mut stream = connect(addr);
    stream.write_all(get_request("/").as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, false).status(), 200);
    let waited = assert_closed_silently(&mut stream);
    assert!(
        waited >= Duration::from_millis(150),
        "closed after only {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "closed only after {waited:?}"
    );
    // And a connection that never sent anything: it gets the head timeout, not the
    // keep-alive one, so a silent client cannot hold a slot for 90 s.
    let server = serve(
        short_grace_options()
            .keep_alive_timeout(Duration::from_secs(60))
            .limits(Limits {
                header_read_timeout: Duration::from_millis(300),
                ..Limits::default()
            }),
        Application::new(|| Hello),
    );
    let addr = server.local_addr();
    let mut stream = connect(addr);
    let waited = assert_closed_silently(&mut stream);
    assert!(
        waited >= Duration::from_millis(150),
        "closed after only {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "closed only after {waited:?}"
    );
    assert_still_serves(addr);
}

#[test]
fn an_empty_line_after_a_request_leaves_the_connection_idle() {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request-line, and
    // some clients send a CRLF after a POST body. Such a connection has not started a request:
    // it is an idle keep-alive connection, closed silently after keep_alive_timeout, not a
    // half-sent head answered with 408.
    let server = serve(
        short_grace_options()
            .keep_alive_timeout(Duration::from_millis(300))
            .limits(short_timeout_limits()),
        Application::new(|| Inspect),
    );
    let addr = server.local_addr();
    let mut stream = connect(addr);
    stream
        .write_all(b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok\r\n")
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(
        &response,
        None,
        "POST",
        "/p",
        None,
        &[("Host", "a"), ("Content-Length", "2")],
        "ok",
    );
    let waited = assert_closed_silently(&mut stream);
    assert!(
        waited < Duration::from_secs(5),
        "closed only after {waited:?}"
    );
}

#[test]
fn an_empty_line_after_a_body_is_skipped_before_the_next_request() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok\r\n")
        .unwrap();
    assert_eq!(read_response(&mut stream, false).status(), 200);
    stream.write_all(get_request("/next").as_bytes()).unwrap();
    let response = read_response(&mut stream, false);
    assert_inspected(&response, None, "GET", "/next", None, &[("Host", "a")], "");
}

#[test]
fn keep_alive_timeout_is_an_idle_timeout_not_a_connection_lifetime() {
    let server = serve(
        short_grace_options().keep_alive_timeout(Duration::from_secs(1)),
        Application::new(|| Hello),
    );
    let mut stream = connect(server.local_addr());
    let started = Instant::now();
    // Fifteen requests 100 ms apart: the connection lives well past the one-second timeout.
    for _ in 0..15 {
        stream.write_all(get_request("/").as_bytes()).unwrap();
        assert_eq!(read_response(&mut stream, false).status(), 200);
        sleep(Duration::from_millis(100));
    }
    assert!(started.elapsed() > Duration::from_secs(1));
}

/// Answers `GET /big` with 16 MiB, more than the socket buffers hold, and anything else with
/// `small`.
struct Big;

const BIG_BODY_BYTES: usize = 16 * 1024 * 1024;

impl Deployment for Big {
    async fn call(&self, request: Request) -> Response {
        match request.path() {
            "/big" => Response::text(vec![b'x'; BIG_BODY_BYTES]),
            _ => Response::text("small"),
        }
    }
}

#[test]
fn a_slow_but_steady_reader_gets_a_large_response_in_full() {
    // send_timeout bounds how long the client may leave the server waiting (Limits: "longest
    // wait for the client to accept response bytes"), not how long a whole response may take:
    // a client that keeps reading, only slowly, must get all of it.
    let server = serve(
        short_grace_options().limits(Limits {
            send_timeout: Duration::from_millis(500),
            ..Limits::default()
        }),
        Application::new(|| Big),
    );
    let mut stream = connect(server.local_addr());
    stream.write_all(get_request("/big").as_bytes()).unwrap();
    let started = Instant::now();
    let mut received = 0usize;
    let mut chunk = vec![0u8; 1024 * 1024];
    // A pause of 100 ms after each MiB: never near the timeout, but 1.6 s in all.
    let mut next_pause = 1024 * 1024;
    while received <= BIG_BODY_BYTES {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!("read failed after {received} bytes: {error}"),
        }
        if received >= next_pause {
            next_pause += 1024 * 1024;
            sleep(Duration::from_millis(100));
        }
    }
    assert!(
        received > BIG_BODY_BYTES,
        "only {received} bytes arrived in {:?}",
        started.elapsed()
    );
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_send_timeout() {
    let server = serve(
        short_grace_options().limits(Limits {
            send_timeout: Duration::from_millis(300),
            ..Limits::default()
        }),
        Application::new(|| Big),
    );
    let addr = server.local_addr();
    let mut stream = connect(addr);
    stream.write_all(get_request("/big").as_bytes()).unwrap();
    // Not reading: the server's write stalls once the socket buffers are full.
    sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let received = read_to_close(&mut stream);
    assert!(
        received.starts_with("HTTP/1.1 200 OK\r\n"),
        "{:?}",
        &received[..received.len().min(200)]
    );
    assert!(
        received.len() < BIG_BODY_BYTES,
        "the whole response ({} bytes) arrived: the write was not abandoned",
        received.len()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(stream);
    let response = request(addr, get_request("/").as_bytes());
    assert_eq!(response.redacted(), expected_text(HELLO_200, None, "small"));
}

// ---------------------------------------------------------------------------------------------
// 9. Request ids
// ---------------------------------------------------------------------------------------------

#[test]
fn a_client_request_id_is_echoed_exactly() {
    let server = inspect_server();
    let response = request(
        server.local_addr(),
        b"GET /id HTTP/1.1\r\nHost: a\r\nX-Request-Id:  client-id_123.ABC \r\n\r\n",
    );
    assert_eq!(response.header("x-request-id"), Some("client-id_123.ABC"));
    assert!(
        response
            .raw
            .contains("\r\nx-request-id: client-id_123.ABC\r\n")
    );
    assert_inspected(
        &response,
        None,
        "GET",
        "/id",
        None,
        &[("Host", "a"), ("X-Request-Id", "client-id_123.ABC")],
        "",
    );
}

#[test]
fn a_request_id_of_128_bytes_is_echoed_and_one_of_129_is_replaced() {
    let server = inspect_server();
    let addr = server.local_addr();
    let longest = "i".repeat(128);
    let response = request(
        addr,
        format!("GET / HTTP/1.1\r\nHost: a\r\nx-request-id: {longest}\r\n\r\n").as_bytes(),
    );
    assert_eq!(response.header("x-request-id"), Some(longest.as_str()));

    let too_long = "i".repeat(129);
    let response = request(
        addr,
        format!("GET / HTTP/1.1\r\nHost: a\r\nx-request-id: {too_long}\r\n\r\n").as_bytes(),
    );
    assert_generated_id(&response);
    // The handler saw the generated id too.
    assert_inspected(
        &response,
        None,
        "GET",
        "/",
        None,
        &[("Host", "a"), ("x-request-id", &too_long)],
        "",
    );
}

/// Sent twice, the first `x-request-id` names the request, as Ray Serve reads it; the handler
/// sees both fields.
#[test]
fn of_two_request_ids_the_first_is_echoed() {
    let server = inspect_server();
    let response = request(
        server.local_addr(),
        b"GET /twice HTTP/1.1\r\nHost: a\r\nX-Request-ID: first\r\nX-Request-ID: second\r\n\r\n",
    );
    assert_eq!(response.header("x-request-id"), Some("first"));
    assert_inspected(
        &response,
        None,
        "GET",
        "/twice",
        None,
        &[
            ("Host", "a"),
            ("X-Request-ID", "first"),
            ("X-Request-ID", "second"),
        ],
        "",
    );
}

#[test]
fn a_request_id_with_inner_whitespace_is_replaced() {
    let server = inspect_server();
    let response = request(
        server.local_addr(),
        b"GET / HTTP/1.1\r\nHost: a\r\nx-request-id: two words\r\n\r\n",
    );
    assert_generated_id(&response);
}

#[test]
fn generated_request_ids_are_distinct() {
    let server = hello_server();
    let addr = server.local_addr();
    let mut ids = HashSet::new();
    let mut stream = connect(addr);
    for _ in 0..20 {
        stream.write_all(get_request("/").as_bytes()).unwrap();
        let response = read_response(&mut stream, false);
        assert_generated_id(&response);
        assert!(ids.insert(response.header("x-request-id").unwrap().to_owned()));
    }
    for _ in 0..5 {
        let response = get(addr, "/");
        assert_generated_id(&response);
        assert!(ids.insert(response.header("x-request-id").unwrap().to_owned()));
    }
    // Refusals get generated ids too, distinct from the others.
    let response = request(addr, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(response.status(), 400);
    assert_generated_id(&response);
    assert!(ids.insert(response.header("x-request-id").unwrap().to_owned()));
}

// ---------------------------------------------------------------------------------------------
// 10. Request-target forms
// ---------------------------------------------------------------------------------------------

/// `Inspect` at `/inspect`, `Hello` at `/`.
fn two_app_server() -> ServerHandle {
    start(
        Serve::new()
            .options(short_grace_options())
            .app(
                Application::new(|| Inspect)
                    .name("inspect")
                    .route_prefix("/inspect"),
            )
            .app(Application::new(|| Hello)),
    )
}

#[test]
fn an_absolute_form_target_is_routed_by_its_path() {
    let server = two_app_server();
    let addr = server.local_addr();
    let response = request(
        addr,
        b"GET http://example.com/inspect/item?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    let id = response.header("x-request-id").unwrap();
    let text = format!(
        "app=inspect\nmethod=GET\npath=/inspect/item\nroute_path=/item\nroute_prefix=/inspect\n\
         query=x=1\nrequest_id={id}\nheader.host=example.com\nbody="
    );
    assert_eq!(response.redacted(), expected_text(HELLO_200, None, &text));

    let response = request(
        addr,
        b"GET https://example.com:8443/inspect?y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    let id = response.header("x-request-id").unwrap();
    let text = format!(
        "app=inspect\nmethod=GET\npath=/inspect\nroute_path=/\nroute_prefix=/inspect\n\
         query=y=2\nrequest_id={id}\nheader.host=example.com\nbody="
    );
    assert_eq!(response.redacted(), expected_text(HELLO_200, None, &text));

    // Without a path it means `/`.
    let response = request(
        addr,
        b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(response.redacted(), expected_text(HELLO_200, None, "hello"));
}

#[test]
fn options_asterisk_does_not_break_the_server() {
    let server = hello_server();
    let addr = server.local_addr();
    let mut stream = connect(addr);
    stream
        .write_all(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, false);
    let status = response.status();
    assert!(
        (200..300).contains(&status) || (400..500).contains(&status),
        "{}",
        response.raw
    );
    drop(stream);
    assert_still_serves(addr);
}

#[test]
fn an_unknown_path_gets_404_naming_it() {
    let server = serve(
        short_grace_options(),
        Application::new(|| Inspect).route_prefix("/api"),
    );
    let addr = server.local_addr();
    let response = get(addr, "/missing");
    let body = format!(
        "Path '/missing' not found. Ping http://127.0.0.1:{}/-/routes for available routes.",
        addr.port()
    );
    assert_eq!(
        response.redacted(),
        expected_text("HTTP/1.1 404 Not Found", None, &body)
    );
}

// ---------------------------------------------------------------------------------------------
// Connection limit
// ---------------------------------------------------------------------------------------------

#[test]
fn a_connection_past_connections_per_shard_max_gets_503_and_is_closed() {
    let server = serve(
        short_grace_options().limits(Limits {
            connections_per_shard_max: 1,
            ..Limits::default()
        }),
        Application::new(|| Hello),
    );
    let addr = server.local_addr();
    let mut first = connect(addr);
    first.write_all(get_request("/").as_bytes()).unwrap();
    assert_eq!(read_response(&mut first, false).status(), 200);

    let mut second = connect(addr);
    let answer = read_to_close(&mut second);
    assert_eq!(
        redact(&answer),
        "HTTP/1.1 503 Service Unavailable\r\ndate: <date>\r\nx-request-id: <id>\r\nconnection: close\r\n\
         content-length: 41\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n\
         Service Unavailable: too many connections"
    );

    // Once the first connection is gone, a new one is served again.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = connect(addr);
        stream.write_all(get_request("/").as_bytes()).unwrap();
        let answer = read_to_close_or_first_response(&mut stream);
        if answer.starts_with("HTTP/1.1 200 OK\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {answer:?}");
        sleep(Duration::from_millis(20));
    }
}

/// Reads one 200 response, or everything up to the close for a refusal.
fn read_to_close_or_first_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if out.starts_with(b"HTTP/1.1 200 OK\r\n") && out.ends_with(b"hello") {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!("read failed after {} bytes: {error}", out.len()),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// 12. A real client's opinion
// ---------------------------------------------------------------------------------------------

#[test]
fn ureq_posts_a_body_and_reads_the_echo() {
    let server = inspect_server();
    let url = format!("http://{}/submit?kind=ureq", server.local_addr());
    let agent = ureq::Agent::new_with_defaults();
    let mut response = agent
        .post(&url)
        .header("x-request-id", "ureq-1")
        .send("payload from ureq")
        .expect("ureq request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "ureq-1");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let body = response.body_mut().read_to_string().unwrap();
    assert_eq!(
        response.headers()["content-length"],
        body.len().to_string().as_str()
    );
    assert!(
        body.starts_with(
            "app=default\nmethod=POST\npath=/submit\nroute_path=/submit\nroute_prefix=\n\
             query=kind=ureq\nrequest_id=ureq-1\n"
        ),
        "{body}"
    );
    assert!(body.contains("\nheader.content-length=17\n"), "{body}");
    assert!(body.ends_with("\nbody=payload from ureq"), "{body}");
}

#[test]
fn ureq_reads_a_404() {
    let server = serve(
        short_grace_options(),
        Application::new(|| Inspect).route_prefix("/api"),
    );
    let addr = server.local_addr();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&format!("http://{addr}/nowhere"))
        .call()
        .expect("ureq request");
    assert_eq!(response.status(), 404);
    let body = response.body_mut().read_to_string().unwrap();
    assert_eq!(
        body,
        format!(
            "Path '/nowhere' not found. Ping http://127.0.0.1:{}/-/routes for available routes.",
            addr.port()
        )
    );
    // The connection stays usable for the agent's next request.
    let mut response = agent
        .get(&format!("http://{addr}/api/x"))
        .call()
        .expect("ureq request");
    assert_eq!(response.status(), 200);
    assert!(
        response.body_mut().read_to_string().unwrap().starts_with(
            "app=default\nmethod=GET\npath=/api/x\nroute_path=/x\nroute_prefix=/api\n"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Responses held back, odd statuses (regressions from review)
// ---------------------------------------------------------------------------------------------

#[test]
fn an_earlier_answer_is_sent_while_a_later_body_is_still_arriving() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\nPOST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    // The GET's answer must not wait for the rest of the POST's body.
    let first = read_response(&mut stream, false);
    assert_inspected(&first, None, "GET", "/first", None, &[("Host", "a")], "");
    stream.write_all(b"defghij").unwrap();
    let second = read_response(&mut stream, false);
    assert_eq!(second.status(), 200);
    assert!(second.body_text().ends_with("body=abcdefghij"));
}

#[test]
fn an_earlier_answer_is_sent_even_if_the_client_leaves_inside_a_later_body() {
    let server = inspect_server();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\nPOST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(answer.contains("path=/first"), "{answer:?}");
    assert!(!answer.contains("path=/second"), "{answer:?}");
}

#[test]
fn a_slow_handler_does_not_hold_back_the_answers_before_it() {
    let server = serve(short_grace_options(), Application::new(|| Shapes));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\nGET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let fast = read_response(&mut stream, false);
    assert_eq!(fast.body_text(), "shapes");
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "the fast answer waited {:?} for the slow handler",
        started.elapsed()
    );
    assert_eq!(read_response(&mut stream, false).body_text(), "slow");
}

#[test]
fn a_handler_returning_an_interim_status_gets_500() {
    let server = serve(short_grace_options(), Application::new(|| Shapes));
    let mut stream = connect(server.local_addr());
    for path in ["/interim", "/switching"] {
        stream.write_all(get_request(path).as_bytes()).unwrap();
        let response = read_response(&mut stream, false);
        assert_eq!(
            response.redacted(),
            expected_text(
                "HTTP/1.1 500 Internal Server Error",
                None,
                "Internal Server Error"
            )
        );
    }
    // Still HTTP/1 on the same connection.
    stream.write_all(get_request("/").as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, false).body_text(), "shapes");
}

#[test]
fn reset_content_has_a_zero_length_and_no_body() {
    let server = serve(short_grace_options(), Application::new(|| Shapes));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(get_request("/reset-content").as_bytes())
        .unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.redacted(),
        "HTTP/1.1 205 Reset Content\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 0\r\n\r\n"
    );
    stream.write_all(get_request("/").as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, false).body_text(), "shapes");
}

#[test]
fn head_keeps_a_length_the_handler_states_without_a_body() {
    let server = serve(short_grace_options(), Application::new(|| Shapes));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"HEAD /stated-length HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, true);
    assert_eq!(response.header("content-length"), Some("1234"));
    // No body was sent: the next answer parses cleanly.
    stream.write_all(get_request("/").as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream, false).body_text(), "shapes");
}

#[test]
fn a_head_sent_one_byte_at_a_time_with_garbage_is_refused_at_the_garbage() {
    let server = hello_server();
    let mut stream = connect(server.local_addr());
    for &byte in b"GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01" {
        stream.write_all(&[byte]).unwrap();
    }
    let response = read_response(&mut stream, false);
    assert_eq!(response.status(), 400);
    assert_closed(&mut stream);
}
