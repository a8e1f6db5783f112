//! Per-replica state that is not `Send`: each shard builds its own router, so its state may be
//! a plain `Rc<RefCell<…>>`, shared by every request that shard serves and by no other shard.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::rc::Rc;

use common::*;
use ringserve::ingress::{Json, Router, State, ToSchema};
use ringserve::{Application, Cores, Serve, StatusCode};
use serde::Serialize;

/// The replica's log: `Rc` and `RefCell`, so neither `Send` nor `Sync`.
type Log = Rc<RefCell<Vec<String>>>;

/// Fails to compile if `Log` is `Send`: with `Send`, both impls below apply and the call is
/// ambiguous (the `static_assertions::assert_not_impl_any!` trick). So the router below really
/// is built around a `!Send` state, not one that merely happens to look like it.
trait AmbiguousIfSend<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
const _: fn() = || <Log as AmbiguousIfSend<_>>::some_item();

#[derive(Serialize, ToSchema)]
struct Entries {
    /// The shard thread that answered.
    shard: String,
    entries: Vec<String>,
}

/// Appends the body to this replica's log. The `RefCell` borrow ends before the function
/// returns; nothing is held across an await.
async fn append(State(log): State<Log>, entry: String) -> (StatusCode, String) {
    let count = {
        let mut log = log.borrow_mut();
        log.push(entry);
        log.len()
    };
    (
        StatusCode::CREATED,
        format!("{} {count}", common::current_shard()),
    )
}

async fn list(State(log): State<Log>) -> Json<Entries> {
    Json(Entries {
        shard: common::current_shard(),
        entries: log.borrow().clone(),
    })
}

fn log_app() -> Application {
    Application::try_new(|| {
        Router::new()
            .post("/log", append)
            .get("/log", list)
            .build_with_state(Log::default())
    })
}

fn post_entry(stream: &mut TcpStream, entry: &str) -> RawResponse {
    stream
        .write_all(
            format!(
                "POST /log HTTP/1.1\r\nHost: test\r\ncontent-length: {}\r\n\r\n{entry}",
                entry.len()
            )
            .as_bytes(),
        )
        .unwrap();
    read_response(stream, false)
}

#[test]
fn rc_refcell_state_is_shared_by_every_request_on_one_shard() {
    let server = start_app(log_app());
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/log").body_text(),
        r#"{"shard":"ringserve-shard-0","entries":[]}"#
    );
    // On one connection, then on new connections: the same replica, the same log.
    let mut stream = connect(addr);
    for (index, entry) in ["a", "b"].into_iter().enumerate() {
        let response = post_entry(&mut stream, entry);
        assert_eq!(response.status_line, "HTTP/1.1 201 Created");
        assert_eq!(
            response.body_text(),
            format!("ringserve-shard-0 {}", index + 1)
        );
    }
    for (index, entry) in ["c", "d"].into_iter().enumerate() {
        let response = post_entry(&mut connect(addr), entry);
        assert_eq!(
            response.body_text(),
            format!("ringserve-shard-0 {}", index + 3)
        );
    }
    let body = r#"{"shard":"ringserve-shard-0","entries":["a","b","c","d"]}"#;
    assert_eq!(
        get(addr, "/log").redacted(),
        format!(
            "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: {}\r\n\
             content-type: application/json\r\n\r\n{body}",
            body.len()
        )
    );
    server.shutdown();
}

/// Which shard takes a connection is the kernel's choice (`SO_REUSEPORT`), so it cannot be
/// picked; instead many connections are opened until both shards answered, and each shard's
/// counts must run from 1 without gaps: one log per shard, never shared.
#[test]
fn two_shards_each_build_their_own_state() {
    let server = start(
        Serve::new()
            .options(test_options().cores(Cores::Count(2)))
            .app(log_app()),
    );
    let addr = server.local_addr();
    let mut counts: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for round in 0..5 {
        let mut streams: Vec<TcpStream> = (0..40).map(|_| connect(addr)).collect();
        for (index, stream) in streams.iter_mut().enumerate() {
            let entry = format!("r{round}-{index}");
            stream
                .write_all(
                    format!(
                        "POST /log HTTP/1.1\r\nHost: test\r\ncontent-length: {}\r\n\r\n{entry}",
                        entry.len()
                    )
                    .as_bytes(),
                )
                .unwrap();
        }
        for stream in &mut streams {
            let response = read_response(stream, false);
            assert_eq!(response.status(), 201, "{}", response.raw);
            let body = response.body_text();
            let (shard, count) = body.split_once(' ').expect("shard and count");
            counts
                .entry(shard.to_owned())
                .or_default()
                .push(count.parse().unwrap());
        }
        if counts.len() == 2 {
            break;
        }
    }
    let shards: Vec<&str> = counts.keys().map(String::as_str).collect();
    assert_eq!(shards, ["ringserve-shard-0", "ringserve-shard-1"]);
    for (shard, mut seen) in counts {
        seen.sort_unstable();
        let expected: Vec<usize> = (1..=seen.len()).collect();
        assert_eq!(seen, expected, "{shard}");
    }
    server.shutdown();
}
