//! ringserve as a dependency: `tests/downstream` is a crate outside this workspace that
//! depends on ringserve by path, as a user's crate does, with no glommio or futures-lite of
//! its own. This test builds it into the suite's own target directory (so it reuses what
//! `cargo test` already compiled), runs it as a user would, and checks it answers byte for
//! byte on the io_uring data path.
//!
//! It guards two ways of breaking users: a `[patch]` of the runtime (which applies only when
//! ringserve itself is the top-level project, so a dependent builds against crates.io's
//! glommio and fails), and a public API that needs the runtime's crates named directly.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The target directory `cargo test` builds into: `CARGO_TARGET_TMPDIR` is its `tmp` folder.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR lies inside the target directory")
        .to_owned()
}

/// Builds the downstream crate and returns its binary.
fn build_downstream() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--quiet", "--manifest-path"])
        .arg(common::root().join("tests/downstream/Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("running cargo");
    assert!(
        output.status.success(),
        "the downstream crate does not build:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target_dir().join("debug/ringserve-downstream")
}

/// A running downstream server, stopped with SIGTERM (as an operator stops it) when dropped.
struct Downstream {
    child: Child,
    addr: SocketAddr,
}

impl Downstream {
    /// Starts `binary` on a free loopback port, one shard, on the data path `io`.
    fn start(binary: &Path, io: &str) -> Downstream {
        let port = common::fresh_port();
        let child = Command::new(binary)
            .env("RINGSERVE_HOST", "127.0.0.1")
            .env("RINGSERVE_PORT", port.to_string())
            .env("RINGSERVE_CORES", "1")
            .env("RINGSERVE_IO", io)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the downstream binary");
        let downstream = Downstream {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        common::wait_listening(downstream.addr, "downstream");
        downstream
    }

    /// The io_uring instances the process holds open.
    fn rings_open(&self) -> usize {
        common::rings_open(format!("/proc/{}", self.child.id()))
    }

    /// Stops the server with SIGTERM; returns what it wrote on stderr, after checking that it
    /// exited cleanly.
    fn stop(mut self) -> String {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: `kill` has no memory effects; `pid` is our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = self.child.wait().expect("waiting for the server");
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("reading stderr");
        }
        assert!(status.success(), "exited with {status}; stderr:\n{stderr}");
        stderr
    }
}

impl Drop for Downstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_answers_as_the_readme_says(addr: SocketAddr) {
    assert_eq!(
        common::get(addr, "/").redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 5\r\n\
         content-type: text/plain; charset=utf-8\r\n\r\nhello"
    );

    let streamed = common::exchange_until_close(
        addr,
        b"GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        common::redact(&streamed),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\nconnection: close\r\n\
         transfer-encoding: chunked\r\n\r\n7\r\ntick 0\n\r\n7\r\ntick 1\n\r\n7\r\ntick 2\n\r\n0\r\n\r\n"
    );

    let mut stream = common::connect(addr);
    let body = r#"{"qty": 3}"#;
    write!(
        stream,
        "POST /api/items/7 HTTP/1.1\r\nHost: a\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    assert_eq!(
        common::read_response(&mut stream, false).redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 39\r\n\
         content-type: application/json\r\n\r\n{\"item_id\":7,\"qty\":3,\"total_cents\":750}"
    );
}

#[test]
fn a_crate_that_depends_on_ringserve_builds_and_serves_on_the_io_uring_data_path() {
    let binary = build_downstream();

    let baseline = Downstream::start(&binary, "glommio");
    // Counted once it has answered: its listener accepts before its shard has made its rings.
    assert_answers_as_the_readme_says(baseline.addr);
    let glommio_rings = baseline.rings_open();
    baseline.stop();

    let server = Downstream::start(&binary, "io_uring");
    assert_answers_as_the_readme_says(server.addr);
    assert_eq!(
        server.rings_open(),
        glommio_rings + 1,
        "one shard on the io_uring data path holds its own ring besides glommio's"
    );
    let stderr = server.stop();
    assert!(
        stderr.is_empty(),
        "a server on the io_uring data path says nothing at start (no fallback): {stderr}"
    );
}
