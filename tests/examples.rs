//! The examples the README points to, run as a user runs them: each compiled example binary is
//! started on a free port (through `RINGSERVE_PORT`) and answered over loopback.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A running example process, killed when dropped.
struct Example {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo test` builds every example next to the test binaries' `deps` folder.
fn example_path(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile folder");
    profile_dir.join("examples").join(name)
}

fn start_example(name: &str) -> Example {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(example_path(name))
        .env("RINGSERVE_HOST", "127.0.0.1")
        .env("RINGSERVE_PORT", port.to_string())
        .env("RINGSERVE_CORES", "1")
        .spawn()
        .unwrap_or_else(|error| {
            panic!("starting example {name} ({error}); plain `cargo test` builds the examples")
        });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let example = Example { child, addr };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "example {name} did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    example
}

#[test]
fn hello_answers_hello() {
    let example = start_example("hello");
    let response = common::get(example.addr, "/");
    assert_eq!(
        response.redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 5\r\n\
         content-type: text/plain; charset=utf-8\r\n\r\nhello"
    );
}

#[test]
fn prefixes_serves_two_apps_and_lists_both_routes() {
    let example = start_example("prefixes");
    let routes = common::get(example.addr, "/-/routes");
    assert_eq!(routes.status(), 200);
    assert_eq!(
        routes.body_text(),
        r#"{"/api/v1":"api-v1","/greet":"greeter"}"#
    );
    assert_eq!(
        common::get(example.addr, "/api/v1/hello").body_text(),
        "hello from api-v1 (route path /hello)\n"
    );
    assert_eq!(
        common::get(example.addr, "/greet").body_text(),
        "greetings! (#1 on this core)\n"
    );
    assert_eq!(common::get(example.addr, "/elsewhere").status(), 404);
}

#[test]
fn http_options_applies_root_path_and_request_timeout() {
    let example = start_example("http_options");
    assert_eq!(
        common::get(example.addr, "/serve/fast").body_text(),
        "done: /fast\n"
    );
    assert_eq!(common::get(example.addr, "/fast").status(), 404);
    let slow = common::get(example.addr, "/serve/slow");
    assert_eq!(slow.status(), 408);
    let id = slow.header("x-request-id").unwrap();
    assert_eq!(
        slow.body_text(),
        format!("Request {id} timed out after 1s.")
    );
}

#[test]
fn sigterm_shuts_an_example_down_gracefully() {
    let mut example = start_example("hello");
    assert_eq!(common::get(example.addr, "/").status(), 200);
    let pid = example.child.id() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = example.child.try_wait().expect("wait on example") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "example did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    assert!(TcpStream::connect(example.addr).is_err());
}

#[test]
fn streaming_sends_ten_chunks_one_by_one() {
    let example = start_example("streaming");
    let mut stream = common::connect(example.addr);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let raw = common::read_to_close(&mut stream);
    let elapsed = started.elapsed();
    assert!(raw.contains("\r\ntransfer-encoding: chunked\r\n"), "{raw}");
    let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    let expected: String = (0..10)
        .map(|i| format!("8\r\nchunk {i}\n\r\n"))
        .chain(std::iter::once("0\r\n\r\n".to_owned()))
        .collect();
    assert_eq!(body, expected);
    // Nine pauses of 100 ms between the chunks.
    assert!(
        elapsed >= Duration::from_millis(800),
        "all chunks in {elapsed:?}"
    );
}

#[test]
fn bench_serves_the_comparison_endpoints() {
    let example = start_example("bench");
    assert_eq!(common::get(example.addr, "/").body_text(), "hello");
    assert_eq!(
        common::get(example.addr, "/items/5").body_text(),
        r#"{"item_id":5}"#
    );
    let invalid = common::get(example.addr, "/items/abc");
    assert_eq!(invalid.status(), 422);
    assert_eq!(
        invalid.body_text(),
        r#"{"detail":[{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#
    );
    let echo = common::request(
        example.addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz",
    );
    assert_eq!(echo.body_text(), "xyz");
    let streamed = common::exchange_until_close(
        example.addr,
        b"GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let body = &streamed[streamed.find("\r\n\r\n").unwrap() + 4..];
    let expected: String = (0..10)
        .map(|i| format!("8\r\nchunk {i}\n\r\n"))
        .chain(std::iter::once("0\r\n\r\n".to_owned()))
        .collect();
    assert_eq!(body, expected);
}

#[test]
fn a_second_sigterm_during_the_drain_exits_at_once() {
    let mut example = start_example("http_options");
    // A request the drain would wait for: the handler sleeps 2 s, its timeout disabled.
    let mut slow = common::connect(example.addr);
    slow.write_all(b"GET /serve/slow HTTP/1.1\r\nHost: a\r\nx-request-timeout-seconds: 0\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let pid = example.child.id() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    std::thread::sleep(Duration::from_millis(200));
    let signalled = Instant::now();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(status) = example.child.try_wait().expect("wait on example") {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "example did not exit after a second SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_millis(1500),
        "exited only after the drain ({:?})",
        signalled.elapsed()
    );
}
