//! A handler that computes without awaiting stalls its shard (issue 14, finding 2): on two
//! shards, while one spins, the stall watchdog notices it past `shard_stall_threshold`, logs
//! which application it runs, makes `/-/healthz` on the other shard answer 503 naming it, and
//! steers new connections to the other shard — so they are answered at once instead of
//! waiting for the spin. When the spin ends, all of it is undone. Run on either data path
//! (`RINGSERVE_IO`). The log is captured by a `tracing` subscriber installed as the
//! process-wide default, since the watchdog runs on its own thread.

mod common;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use ringserve::{Application, Cores, Deployment, Request, Response, Serve, ServerHandle};

/// The threshold the tests set: short, so that the stall is noticed early in the spin, and
/// still four sweeper beats (the shortest accepted).
const THRESHOLD: Duration = Duration::from_millis(250);
/// How long after the spin began the watchdog has surely acted: the threshold, a beat that
/// came just before the spin, a check interval, and room for a loaded machine.
const NOTICED_AFTER: Duration = Duration::from_millis(700);
/// Each new connection's answer, while one shard spins, comes within this: the spin itself
/// would keep it at least a second longer.
const ANSWERED_WITHIN: Duration = Duration::from_millis(500);

/// `/spin` busy-loops for the time its query names in milliseconds, without awaiting, after
/// saying on which shard; `/` answers with its shard.
#[derive(Clone)]
struct Spin {
    spinning_on: Arc<Mutex<Option<(String, Instant)>>>,
}

impl Deployment for Spin {
    async fn call(&self, request: Request) -> Response {
        let millis: u64 = request.query().and_then(|q| q.parse().ok()).unwrap_or(0);
        *self.spinning_on.lock().unwrap() = Some((current_shard(), Instant::now()));
        let end = Instant::now() + Duration::from_millis(millis);
        while Instant::now() < end {
            std::hint::spin_loop();
        }
        Response::text("spun")
    }
}

struct WhichShard;

impl Deployment for WhichShard {
    async fn call(&self, _request: Request) -> Response {
        Response::text(current_shard())
    }
}

/// The log of this test binary, installed once, and where this test's part of it begins; and
/// a lock each test holds so that one server spins at a time (two spinning shards would take
/// both cores of a small machine).
fn log_and_turn() -> (Written, usize, std::sync::MutexGuard<'static, ()>) {
    static LOG: OnceLock<Written> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::new(());
    let written = LOG.get_or_init(Written::install_global).clone();
    let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let from = written.len();
    (written, from, turn)
}

/// Two shards: `spin` at `/spin`, `which` at `/`.
fn start_two_shards(spinning_on: &Arc<Mutex<Option<(String, Instant)>>>) -> ServerHandle {
    let spin = Spin {
        spinning_on: spinning_on.clone(),
    };
    start(
        Serve::new()
            .options(
                short_grace_options()
                    .cores(Cores::Count(2))
                    .shard_stall_threshold(THRESHOLD),
            )
            .app(
                Application::new(move || spin.clone())
                    .name("spin")
                    .route_prefix("/spin"),
            )
            .app(Application::new(|| WhichShard).name("which")),
    )
}

/// Sends `/spin?<millis>` on its own thread; returns the thread and the spinning shard's index
/// once the spin has begun.
fn spin(
    server: &ServerHandle,
    spinning_on: &Arc<Mutex<Option<(String, Instant)>>>,
    millis: u64,
) -> (std::thread::JoinHandle<String>, String, Instant) {
    let addr = server.local_addr();
    let spinner = std::thread::spawn(move || get(addr, &format!("/spin?{millis}")).body_text());
    wait_until("the spin to begin", Duration::from_secs(10), || {
        spinning_on.lock().unwrap().is_some()
    });
    let (shard, began) = spinning_on.lock().unwrap().clone().unwrap();
    let index = shard
        .strip_prefix("ringserve-shard-")
        .unwrap_or_else(|| panic!("spun on {shard}"))
        .to_owned();
    (spinner, index, began)
}

/// `GET path` on a new connection: the response and how long it took.
fn timed_get(addr: std::net::SocketAddr, path: &str) -> (RawResponse, Duration) {
    let start = Instant::now();
    let response = get(addr, path);
    (response, start.elapsed())
}

#[test]
fn new_connections_are_answered_by_the_other_shard_while_one_stalls() {
    let (log, log_from, _turn) = log_and_turn();
    let spinning_on = Arc::new(Mutex::new(None));
    let server = start_two_shards(&spinning_on);
    let addr = server.local_addr();
    let spin_for = Duration::from_secs(4);
    let (spinner, stalled, began) = spin(&server, &spinning_on, spin_for.as_millis() as u64);
    let other = if stalled == "0" { "1" } else { "0" };
    std::thread::sleep(NOTICED_AFTER.saturating_sub(began.elapsed()));

    let stalled_body = format!(
        "Shard {stalled} is stalled: it has not turned for {THRESHOLD:?} or more, running \
         application \"spin\" (route prefix \"/spin\")."
    );
    for probe in 0..20 {
        let (response, took) = timed_get(addr, "/-/healthz");
        assert!(took < ANSWERED_WITHIN, "health probe {probe} took {took:?}");
        assert_eq!(response.status(), 503, "health probe {probe}");
        assert_eq!(response.body_text(), stalled_body, "health probe {probe}");
    }
    for request in 0..20 {
        let (response, took) = timed_get(addr, "/");
        assert!(took < ANSWERED_WITHIN, "request {request} took {took:?}");
        assert_eq!(
            response.body_text(),
            format!("ringserve-shard-{other}"),
            "request {request}: steered to the shard that turns"
        );
    }
    assert!(
        began.elapsed() < spin_for,
        "the probes ran past the spin ({:?}): the machine is too slow for this test",
        began.elapsed()
    );
    assert_eq!(spinner.join().unwrap(), "spun");
    let turned_again = format!("shard {stalled} turns again after a stall of");
    wait_until(
        "the log to say the shard turns again",
        Duration::from_secs(2),
        || log.text_from(log_from).contains(&turned_again),
    );
    server.shutdown();

    let log = log.text_from(log_from);
    let stalled_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(&format!("shard {stalled} is stalled")))
        .collect();
    assert_eq!(stalled_lines.len(), 1, "logged once:\n{log}");
    assert!(
        stalled_lines[0].contains("running application \"spin\" (route prefix \"/spin\")"),
        "{log}"
    );
    assert!(stalled_lines[0].contains("rt::spawn_blocking"), "{log}");
}

/// A keep-alive connection to each of the two shards, by the shard's index.
fn connection_to_each_shard(addr: std::net::SocketAddr) -> [std::net::TcpStream; 2] {
    let mut found: [Option<std::net::TcpStream>; 2] = [None, None];
    for _ in 0..200 {
        let mut stream = connect(addr);
        let shard = get_on(&mut stream, "/").body_text();
        let index: usize = shard["ringserve-shard-".len()..].parse().unwrap();
        found[index].get_or_insert(stream);
        if found.iter().all(Option::is_some) {
            return found.map(Option::unwrap);
        }
    }
    panic!("200 new connections all reached one shard");
}

#[test]
fn health_and_steering_come_back_when_the_shard_turns_again() {
    let (log, log_from, _turn) = log_and_turn();
    let spinning_on = Arc::new(Mutex::new(None));
    let server = start_two_shards(&spinning_on);
    let addr = server.local_addr();
    let mut shards = connection_to_each_shard(addr);
    let (spinner, stalled, began) = spin(&server, &spinning_on, 2000);
    let stalled: usize = stalled.parse().unwrap();
    let other = 1 - stalled;
    std::thread::sleep(NOTICED_AFTER.saturating_sub(began.elapsed()));
    let response = get_on(&mut shards[other], "/-/healthz");
    assert_eq!(
        response.status(),
        503,
        "stalled past the threshold: {:?} after the spin began, {:?}",
        began.elapsed(),
        response.body_text()
    );
    assert_eq!(spinner.join().unwrap(), "spun");

    // Within a check interval or two of the spin's end, both shards answer healthy again...
    let recovered = wait_until(
        "/-/healthz to answer 200 on the shard that did not stall",
        Duration::from_secs(2),
        || get_on(&mut shards[other].try_clone().unwrap(), "/-/healthz").status() == 200,
    );
    for shard in &mut shards {
        let response = get_on(shard, "/-/healthz");
        assert_eq!(
            (response.status(), response.body_text().as_str()),
            (200, "success")
        );
    }
    // ...and new connections reach the shard that stalled again: the program is off.
    let mut served_by = std::collections::HashSet::new();
    for _ in 0..100 {
        served_by.insert(get(addr, "/").body_text());
        if served_by.len() == 2 {
            break;
        }
    }
    assert!(
        served_by.contains(&format!("ringserve-shard-{stalled}")),
        "no new connection reached shard {stalled} after it turned again (recovered in \
         {recovered:?}): {served_by:?}"
    );
    drop(shards);
    server.shutdown();
    let log = log.text_from(log_from);
    assert!(
        log.contains(&format!("shard {stalled} turns again after a stall of")),
        "{log}"
    );
}
