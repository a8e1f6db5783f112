//! `RINGSERVE_HOST` / `RINGSERVE_PORT` / `RINGSERVE_CORES`: read when the options leave a value
//! unset, overridden by explicit settings, and refused with an error naming the variable when
//! malformed. Its own test binary with a single test, because it changes the process
//! environment.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use ringserve::{Application, Cores, Deployment, HttpOptions, Request, Response, Serve};

const VARIABLES: [&str; 3] = ["RINGSERVE_HOST", "RINGSERVE_PORT", "RINGSERVE_CORES"];

fn set(name: &str, value: &str) {
    // SAFETY: this binary's only test is the only code touching the environment, and no
    // server from it is running while a variable changes.
    unsafe { std::env::set_var(name, value) };
}

fn remove_all() {
    for name in VARIABLES {
        // SAFETY: as in `set`.
        unsafe { std::env::remove_var(name) };
    }
}

/// Removes the variables even when an assertion fails.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_all();
    }
}

/// Waits (briefly) until nothing accepts connections on `addr`. Whether the port refuses
/// immediately after shutdown is `tests/serve.rs`'s concern; here it only has to be free again
/// before it is reused.
fn wait_refused(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts connections"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Answers with the name of the thread that served the request.
struct WhereAmI;

impl Deployment for WhereAmI {
    async fn call(&self, _request: Request) -> Response {
        Response::text(
            std::thread::current()
                .name()
                .unwrap_or("<unnamed>")
                .to_owned(),
        )
    }
}

#[test]
fn environment_variables_fill_unset_options_and_explicit_settings_win() {
    let _cleanup = Cleanup;
    remove_all();

    // The environment supplies host, port and cores when the code sets none.
    let port = free_port();
    set("RINGSERVE_PORT", &port.to_string());
    set("RINGSERVE_HOST", "127.0.0.1");
    set("RINGSERVE_CORES", "1");
    let server = start(
        Serve::new()
            .options(HttpOptions::new())
            .app(Application::new(|| Hello).route_prefix("/hello"))
            .app(
                Application::new(|| WhereAmI)
                    .name("where")
                    .route_prefix("/where"),
            ),
    );
    let addr = server.local_addr();
    assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], port)));
    let response = get(addr, "/hello");
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_text(), "hello");
    // The 404 hint names the host and port the environment gave.
    let response = get(addr, "/missing");
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.body_text(),
        format!(
            "Path '/missing' not found. Ping http://127.0.0.1:{port}/-/routes for available routes."
        )
    );
    // RINGSERVE_CORES=1: a single shard serves every connection (with two, the kernel would
    // spread twenty connections over both).
    let mut streams: Vec<_> = (0..20).map(|_| connect(addr)).collect();
    for stream in &mut streams {
        stream
            .write_all(b"GET /where HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
    }
    for stream in &mut streams {
        let response = read_response(stream, false);
        assert_eq!(response.status(), 200);
        let thread = response.body_text();
        assert!(
            thread == "ringserve-shard-0" || thread.starts_with("ringserve-shard-0-"),
            "{thread}"
        );
    }
    drop(streams);
    server.shutdown();
    wait_refused(addr);

    // An explicit port wins: the environment's port is held by another listener (without
    // SO_REUSEPORT), so a server that used it could not start.
    let holder = TcpListener::bind(("127.0.0.1", port)).expect("rebind the environment's port");
    let server = start(
        Serve::new()
            .options(HttpOptions::new().port(0))
            .app(Application::new(|| Hello)),
    );
    assert_ne!(server.local_addr().port(), port);
    assert_eq!(server.local_addr().ip().to_string(), "127.0.0.1");
    assert_eq!(get(server.local_addr(), "/").body_text(), "hello");
    server.shutdown();
    // Without the explicit port, the environment's (taken) port is used and binding fails.
    let error = common::start_error(
        Serve::new()
            .options(HttpOptions::new())
            .app(Application::new(|| Hello)),
    );
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    drop(holder);

    // An explicit host wins over a bad RINGSERVE_HOST; without it the bad host is an error.
    set("RINGSERVE_HOST", "not a host name!");
    let server = start(
        Serve::new()
            .options(HttpOptions::new().host("127.0.0.1").port(0))
            .app(Application::new(|| Hello)),
    );
    assert_eq!(get(server.local_addr(), "/").body_text(), "hello");
    server.shutdown();
    let error = common::start_error(
        Serve::new()
            .options(HttpOptions::new().port(0))
            .app(Application::new(|| Hello)),
    );
    assert!(error.contains("not a host name!"), "{error}");
    set("RINGSERVE_HOST", "127.0.0.1");

    // Malformed values are errors naming the variable.
    set("RINGSERVE_PORT", "http");
    let error = common::start_error(
        Serve::new()
            .options(HttpOptions::new())
            .app(Application::new(|| Hello)),
    );
    assert!(error.contains("RINGSERVE_PORT"), "{error}");
    assert!(error.contains("\"http\""), "{error}");
    // ... but not when the code sets the port itself.
    let server = start(
        Serve::new()
            .options(HttpOptions::new().port(0))
            .app(Application::new(|| Hello)),
    );
    assert_eq!(get(server.local_addr(), "/").body_text(), "hello");
    server.shutdown();

    set("RINGSERVE_PORT", &port.to_string());
    set("RINGSERVE_CORES", "x");
    let error = common::start_error(
        Serve::new()
            .options(HttpOptions::new())
            .app(Application::new(|| Hello)),
    );
    assert!(error.contains("RINGSERVE_CORES"), "{error}");
    assert!(error.contains("\"x\""), "{error}");
    assert_refused(SocketAddr::from(([127, 0, 0, 1], port)));
    // An explicit core setting wins over it.
    let server = start(
        Serve::new()
            .options(HttpOptions::new().port(0).cores(Cores::Count(1)))
            .app(Application::new(|| Hello)),
    );
    assert_eq!(get(server.local_addr(), "/").body_text(), "hello");
    server.shutdown();

    remove_all();
    for name in VARIABLES {
        assert!(std::env::var_os(name).is_none(), "{name} is still set");
    }
}
