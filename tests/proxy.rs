//! `ringserve.proxy:Upstream` over loopback: requests and answers passed through with the
//! forwarding fields set and hop-by-hop ones removed, keep-alive connections reused (and one
//! the upstream closed not reused), bodies streamed both ways, retries on another upstream only
//! where the request may go again, failing upstreams skipped, 502 and 504.
//!
//! The upstreams are a ringserve server answering with what it saw ([`Inspect`]) and scripted
//! ones on plain sockets ([`Scripted`]), which count their connections and can misbehave.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use ringserve::builtin::{UpstreamArgs, Upstreams};
use ringserve::{Application, Deployment, Request, Response, Serve, ServerHandle, StatusCode};

use common::{
    Inspect, connect, get_on, read_response, read_to_close, request, roundtrip, send,
    short_grace_options, start_app,
};

fn args(upstreams: &[SocketAddr]) -> UpstreamArgs {
    UpstreamArgs {
        upstreams: upstreams.iter().map(ToString::to_string).collect(),
        connect_timeout_s: 2.0,
        header_timeout_s: 5.0,
        read_timeout_s: 5.0,
        idle_timeout_s: 60.0,
        idle_connections: 32,
        max_fails: 3,
        fail_timeout_s: 60.0,
        strip_prefix: false,
    }
}

fn proxy(args: UpstreamArgs) -> ServerHandle {
    let upstreams = Upstreams::new(&args).expect("the arguments are good");
    common::start(
        Serve::new()
            .options(short_grace_options())
            .app(upstreams.application().route_prefix("/api")),
    )
}

/// An address nothing listens on.
fn dead_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    address
}

/// What a scripted upstream does with one request.
enum Reply {
    /// Writes these bytes and keeps the connection for the next request.
    Send(Vec<u8>),
    /// Writes these bytes and closes.
    SendAndClose(Vec<u8>),
    /// Closes without a word.
    Close,
    /// Reads the request and says nothing for this long, then closes.
    Silence(Duration),
}

/// A plain-socket upstream: each request (head and `content-length` body) gets the reply the
/// script gives for it; every request seen and every connection accepted is counted.
struct Scripted {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    fn start(script: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let (counted, seen) = (accepted.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                let (script, seen) = (script.clone(), seen.clone());
                std::thread::spawn(move || serve_scripted(stream, &*script, &seen));
            }
        });
        Scripted {
            address,
            accepted,
            requests,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve_scripted(stream: TcpStream, script: &dyn Fn(&str) -> Reply, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        seen.lock().unwrap().push(request.clone());
        match script(&request) {
            Reply::Send(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::SendAndClose(bytes) => {
                let _ = stream.write_all(&bytes);
                return;
            }
            Reply::Close => return,
            Reply::Silence(duration) => {
                std::thread::sleep(duration);
                return;
            }
        }
    }
}

/// One request's head and `content-length` body, as text; `None` at the end of the stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        text.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    text.push_str(&String::from_utf8_lossy(&body));
    Some(text)
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("header.{name}=")))
}

#[test]
fn a_request_reaches_the_upstream_with_forwarding_fields_and_without_hop_by_hop_ones() {
    let upstream = start_app(Application::new(|| Inspect));
    let server = proxy(args(&[upstream.local_addr()]));
    let answer = request(
        server.local_addr(),
        b"GET /api/items?q=1 HTTP/1.1\r\nHost: shop.example:8000\r\n\
          Connection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\n\
          TE: trailers\r\nUpgrade: websocket\r\nProxy-Authorization: Basic eA==\r\n\
          X-Forwarded-For: 203.0.113.7\r\nForwarded: for=203.0.113.7\r\n\
          x-request-id: trace-1\r\nAccept: text/plain\r\n\r\n",
    );
    assert_eq!(answer.status(), 200);
    let seen = answer.body_text();
    assert!(seen.contains("\nmethod=GET\npath=/api/items\n"), "{seen}");
    assert!(seen.contains("\nquery=q=1\n"), "{seen}");
    assert_eq!(header(&seen, "host"), Some("shop.example:8000"));
    assert_eq!(header(&seen, "accept"), Some("text/plain"));
    assert_eq!(
        header(&seen, "x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1")
    );
    assert_eq!(header(&seen, "x-forwarded-proto"), Some("http"));
    assert_eq!(header(&seen, "x-forwarded-host"), Some("shop.example:8000"));
    assert_eq!(
        header(&seen, "forwarded"),
        Some("for=203.0.113.7, for=127.0.0.1;host=\"shop.example:8000\";proto=http")
    );
    assert_eq!(header(&seen, "x-request-id"), Some("trace-1"));
    assert_eq!(answer.header("x-request-id"), Some("trace-1"));
    for hop_by_hop in [
        "connection",
        "x-secret",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
    ] {
        assert_eq!(
            header(&seen, hop_by_hop),
            None,
            "{hop_by_hop} was forwarded: {seen}"
        );
    }
}

#[test]
fn the_answer_keeps_its_fields_without_hop_by_hop_ones_and_the_path_may_lose_its_prefix() {
    let upstream = Scripted::start(|_| {
        Reply::Send(
            b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\
              Keep-Alive: timeout=5\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\n\
              Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nServer: upstream\r\n\r\nok"
                .to_vec(),
        )
    });
    let mut arguments = args(&[upstream.address]);
    arguments.strip_prefix = true;
    let server = proxy(arguments);
    let answer = common::get(server.local_addr(), "/api/x/y?z=1");
    assert_eq!(answer.status_line, "HTTP/1.1 201 Created");
    assert_eq!(answer.body, b"ok");
    let cookies: Vec<&str> = answer
        .headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(answer.header("server"), Some("upstream"));
    assert_eq!(answer.header("x-hop"), None);
    assert_eq!(answer.header("keep-alive"), None);
    assert_ne!(answer.header("date"), Some("Mon, 01 Jan 2001 00:00:00 GMT"));
    assert!(upstream.requests()[0].starts_with("GET /x/y?z=1 HTTP/1.1\r\n"));
}

#[test]
fn keep_alive_connections_to_the_upstream_are_reused() {
    let upstream = Scripted::start(|_| Reply::Send(ok("pong")));
    let server = proxy(args(&[upstream.address]));
    let mut client = connect(server.local_addr());
    for _ in 0..5 {
        let answer = get_on(&mut client, "/api/ping");
        assert_eq!(answer.body, b"pong");
    }
    assert_eq!(upstream.accepted(), 1);
}

#[test]
fn a_connection_idle_past_the_idle_timeout_is_closed_not_reused() {
    let upstream = Scripted::start(|_| Reply::Send(ok("pong")));
    let mut arguments = args(&[upstream.address]);
    arguments.idle_timeout_s = 0.2;
    let server = proxy(arguments);
    let mut client = connect(server.local_addr());
    assert_eq!(get_on(&mut client, "/api/ping").body, b"pong");
    assert_eq!(get_on(&mut client, "/api/ping").body, b"pong");
    assert_eq!(upstream.accepted(), 1, "reused within the idle timeout");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(get_on(&mut client, "/api/ping").body, b"pong");
    assert_eq!(upstream.accepted(), 2, "a new connection after it");
}

#[test]
fn a_connection_the_upstream_closed_while_idle_is_not_used_even_for_a_post() {
    // Each answer ends its connection a moment after it was sent, as an upstream whose
    // keep-alive timeout is short does.
    let upstream = Scripted::start(|_| Reply::SendAndClose(ok("done")));
    let server = proxy(args(&[upstream.address]));
    let mut client = connect(server.local_addr());
    for round in 1..=3 {
        let answer = roundtrip(
            &mut client,
            b"POST /api/orders HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n\r\n{}",
        );
        assert_eq!(answer.status(), 200, "round {round}: {answer:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(upstream.accepted(), 3);
    assert_eq!(upstream.requests().len(), 3, "no POST was sent twice");
}

#[test]
fn request_bodies_are_passed_on_with_their_length_or_chunked_again() {
    let upstream = start_app(Application::new(|| Inspect));
    let server = proxy(args(&[upstream.local_addr()]));
    let sized = send(server.local_addr(), "PUT", "/api/doc", "", "hello there");
    assert!(
        sized.body_text().ends_with("\nbody=hello there"),
        "{}",
        sized.body_text()
    );
    assert_eq!(header(&sized.body_text(), "content-length"), Some("11"));

    let chunked = request(
        server.local_addr(),
        b"POST /api/doc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6\r\n there\r\n0\r\n\r\n",
    );
    let seen = chunked.body_text();
    assert!(seen.ends_with("\nbody=hello there"), "{seen}");
    assert_eq!(header(&seen, "transfer-encoding"), Some("chunked"));
}

#[test]
fn a_request_body_is_streamed_to_the_upstream_before_it_has_all_arrived() {
    let (first_part_seen, wait_for_first_part) = mpsc::channel();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut received = Vec::new();
        let mut buffer = [0; 4096];
        while !String::from_utf8_lossy(&received).contains("first-part") {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0);
            received.extend_from_slice(&buffer[..read]);
        }
        first_part_seen.send(()).unwrap();
        while !received.ends_with(b"0\r\n\r\n") {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0);
            received.extend_from_slice(&buffer[..read]);
        }
        stream.write_all(&ok("all here")).unwrap();
    });
    let server = proxy(args(&[address]));
    let mut client = connect(server.local_addr());
    client
        .write_all(
            b"POST /api/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              a\r\nfirst-part\r\n",
        )
        .unwrap();
    wait_for_first_part
        .recv_timeout(Duration::from_secs(10))
        .expect("the first part reached the upstream while the rest was still to come");
    client.write_all(b"b\r\nsecond-part\r\n0\r\n\r\n").unwrap();
    let answer = read_response(&mut client, false);
    assert_eq!(answer.body, b"all here");
}

#[test]
fn an_answer_is_streamed_to_the_client_as_it_arrives_with_its_framing() {
    let upstream = Scripted::start(|request| {
        if request.starts_with("GET /api/chunked") {
            return Reply::Send(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"
                    .to_vec(),
            );
        }
        if request.starts_with("GET /api/until-close") {
            return Reply::SendAndClose(b"HTTP/1.1 200 OK\r\n\r\nall until the close".to_vec());
        }
        // Sized: the first half only; the rest never comes.
        Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst".to_vec())
    });
    let server = proxy(args(&[upstream.address]));

    let chunked = common::get_streamed(server.local_addr(), "/api/chunked", "");
    assert!(
        chunked.contains("transfer-encoding: chunked\r\n"),
        "{chunked}"
    );
    // Decoded, and chunked again as it was read.
    let body = chunked.split_once("\r\n\r\n").unwrap().1;
    assert!(
        [
            "6\r\nonetwo\r\n0\r\n\r\n",
            "3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"
        ]
        .contains(&body),
        "{chunked}"
    );

    let until_close = common::get_streamed(server.local_addr(), "/api/until-close", "");
    assert!(
        until_close.contains("transfer-encoding: chunked\r\n"),
        "{until_close}"
    );
    assert!(
        until_close.ends_with("13\r\nall until the close\r\n0\r\n\r\n"),
        "{until_close}"
    );

    // The sized answer's second half never comes: the client sees the first, so the proxy
    // passed it on without waiting for the whole.
    let mut client = connect(server.local_addr());
    client
        .write_all(b"GET /api/sized HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0; 1024];
    while !seen.ends_with(b"first") {
        let read = client.read(&mut buffer).unwrap();
        assert!(read > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.contains("content-length: 10\r\n"), "{text}");
    assert!(!text.contains("transfer-encoding"), "{text}");
}

#[test]
fn a_head_request_keeps_the_length_and_a_304_passes_through() {
    let upstream = Scripted::start(|request| {
        if request.starts_with("HEAD /api/chunked") {
            Reply::Send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec())
        } else if request.starts_with("HEAD ") {
            Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n".to_vec())
        } else {
            Reply::Send(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n".to_vec())
        }
    });
    let server = proxy(args(&[upstream.address]));
    let mut client = connect(server.local_addr());
    let head = roundtrip(&mut client, b"HEAD /api/file HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status(), 200);
    assert_eq!(head.header("content-length"), Some("1234"));
    let head = roundtrip(
        &mut client,
        b"HEAD /api/chunked HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(head.status(), 200);
    assert_eq!(head.header("content-length"), None);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let not_modified = roundtrip(
        &mut client,
        b"GET /api/file HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"v1\"\r\n\r\n",
    );
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.header("etag"), Some("\"v1\""));
    assert_eq!(upstream.accepted(), 1, "both on one kept connection");
}

#[test]
fn a_get_goes_to_another_upstream_when_one_breaks_and_a_failing_one_is_skipped() {
    let broken = Scripted::start(|_| Reply::Close);
    let working = Scripted::start(|_| Reply::Send(ok("fine")));
    let server = proxy(args(&[broken.address, working.address]));
    let mut client = connect(server.local_addr());
    for _ in 0..30 {
        let answer = get_on(&mut client, "/api/item");
        assert_eq!(answer.body, b"fine");
    }
    // Three failures in a row (max_fails) and it is left alone for the fail timeout.
    assert_eq!(broken.accepted(), 3);
}

#[test]
fn a_post_goes_to_another_upstream_only_when_nothing_was_sent() {
    let working = Scripted::start(|_| Reply::Send(ok("created")));
    let server = proxy(args(&[dead_address(), working.address]));
    for _ in 0..10 {
        let answer = send(server.local_addr(), "POST", "/api/orders", "", "{}");
        assert_eq!(answer.body, b"created");
    }
    assert_eq!(working.requests().len(), 10);

    let broken = Scripted::start(|_| Reply::Close);
    let server = proxy(args(&[broken.address]));
    let answer = send(server.local_addr(), "POST", "/api/orders", "", "{}");
    assert_eq!(answer.status(), 502);
    assert_eq!(
        broken.requests().len(),
        1,
        "the POST reached it once, and once only"
    );
}

#[test]
fn no_upstream_answering_is_502_and_one_too_slow_is_504() {
    let server = proxy(args(&[dead_address(), dead_address()]));
    let answer = common::get(server.local_addr(), "/api/x");
    assert_eq!(answer.status_line, "HTTP/1.1 502 Bad Gateway");
    assert_eq!(answer.body_text(), "Bad Gateway: no upstream answered.");

    let slow = Scripted::start(|_| Reply::Silence(Duration::from_secs(5)));
    let mut arguments = args(&[slow.address]);
    arguments.header_timeout_s = 0.3;
    let server = proxy(arguments);
    let started = Instant::now();
    let answer = common::get(server.local_addr(), "/api/x");
    assert_eq!(answer.status_line, "HTTP/1.1 504 Gateway Timeout");
    assert_eq!(
        answer.body_text(),
        "Gateway Timeout: the upstream did not answer in time."
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        slow.requests().len(),
        1,
        "a timed-out request is not sent again"
    );
}

#[test]
fn a_bad_answer_is_502_never_passed_on() {
    let upstream = Scripted::start(|request| {
        if request.starts_with("GET /api/two-lengths") {
            Reply::SendAndClose(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
            )
        } else if request.starts_with("GET /api/huge-head") {
            let mut head = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
            head.extend(std::iter::repeat_n(b'a', 70_000));
            head.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n");
            Reply::SendAndClose(head)
        } else if request.starts_with("GET /api/switching") {
            Reply::SendAndClose(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n".to_vec())
        } else {
            Reply::SendAndClose(b"SPDY/3 OK\r\n\r\n".to_vec())
        }
    });
    let mut arguments = args(&[upstream.address]);
    arguments.max_fails = 100;
    let server = proxy(arguments);
    for path in [
        "/api/two-lengths",
        "/api/huge-head",
        "/api/switching",
        "/api/not-http",
    ] {
        let answer = common::get(server.local_addr(), path);
        assert_eq!(answer.status(), 502, "{path}");
    }
}

#[test]
fn interim_answers_are_skipped_and_a_connection_the_upstream_closes_is_not_reused() {
    let upstream = Scripted::start(|_| {
        Reply::Send(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n\
              HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 2\r\n\r\nok"
                .to_vec(),
        )
    });
    let server = proxy(args(&[upstream.address]));
    let mut client = connect(server.local_addr());
    for _ in 0..2 {
        let answer = get_on(&mut client, "/api/x");
        assert_eq!(answer.status_line, "HTTP/1.1 200 OK");
        assert_eq!(answer.body, b"ok");
        assert_eq!(answer.header("link"), None);
    }
    // Its socket stayed open, but it said `Connection: close`: a new one for each request.
    assert_eq!(upstream.accepted(), 2);
}

#[test]
fn a_malformed_chunked_answer_cuts_the_client_connection() {
    let upstream = Scripted::start(|_| {
        Reply::Send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\nzz\r\n".to_vec(),
        )
    });
    let server = proxy(args(&[upstream.address]));
    let mut client = connect(server.local_addr());
    client
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let text = read_to_close(&mut client);
    assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "no last chunk for a cut body: {text}"
    );
}

#[test]
fn an_answer_cut_short_by_the_upstream_is_cut_for_the_client_too() {
    let upstream = Scripted::start(|_| {
        Reply::SendAndClose(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this".to_vec())
    });
    let server = proxy(args(&[upstream.address]));
    let mut client = connect(server.local_addr());
    client
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let text = read_to_close(&mut client);
    assert!(text.contains("content-length: 100\r\n"), "{text}");
    assert!(text.ends_with("only this"), "{text}");
}

/// Answers with the request's body.
struct Echo;

impl Deployment for Echo {
    async fn call(&self, mut request: Request) -> Response {
        match request.body().await {
            Ok(body) => Response::new(StatusCode::OK).with_body(body),
            Err(error) => Response::text(error.to_string()).with_status(error.status()),
        }
    }
}

/// curl as the client: bodies far larger than one read go up (with `Expect: 100-continue`,
/// sized and chunked) and come back through the proxy byte for byte.
#[test]
fn curl_sends_a_large_body_through_and_gets_it_back_whole() {
    if common::curl_missing("") {
        return;
    }
    let upstream = start_app(Application::new(|| Echo));
    let server = proxy(args(&[upstream.local_addr()]));
    let dir = common::scratch("proxy-curl");
    let sent = dir.join("sent.bin");
    let body: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&sent, &body).unwrap();
    for extra in [&[][..], &["-H", "Transfer-Encoding: chunked"][..]] {
        let received = dir.join("received.bin");
        let output = std::process::Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "20", "--data-binary"])
            .arg(format!("@{}", sent.display()))
            .args(extra)
            .arg("-o")
            .arg(&received)
            .arg(format!("http://{}/api/echo", server.local_addr()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            std::fs::read(&received).unwrap() == body,
            "{extra:?}: the body came back whole"
        );
    }
}

#[test]
fn bad_arguments_are_refused_naming_the_argument() {
    let refused = |change: fn(&mut UpstreamArgs)| {
        let mut arguments = args(&[dead_address()]);
        change(&mut arguments);
        Upstreams::new(&arguments).unwrap_err()
    };
    assert_eq!(
        refused(|a| a.upstreams.clear()),
        "upstreams: name at least one host:port"
    );
    assert!(
        refused(|a| a.upstreams = vec!["no-port".into()])
            .starts_with("upstreams[0]: \"no-port\" is not a host:port that resolves ("),
    );
    assert_eq!(
        refused(|a| a.header_timeout_s = 0.0),
        "header_timeout_s: 0 is not a number of seconds longer than zero and at most ten years"
    );
    assert_eq!(
        refused(|a| a.max_fails = 0),
        "max_fails: 0 is not a number of failures (1 or more)"
    );
}
