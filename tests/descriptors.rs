//! The descriptor limit, over loopback (issue 14, finding 6): a server started under a low
//! `RLIMIT_NOFILE` raises its soft limit to the hard one and answers clients past what the
//! limit allows with 503 instead of leaving them unanswered; and when something else in the
//! process takes the last descriptors, each shard logs it once per interval, keeps serving
//! the connections it has, and answers the clients that waited once descriptors free up.
//!
//! The server runs in a child process — this test binary again, running the ignored
//! `child_server` test — whose limit is set before it execs, so the limit and the descriptors
//! it takes are its own. It prints its address on stdout, logs on stderr (no `tracing`
//! subscriber, so ringserve writes its warnings there), and serves until its stdin closes.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ringserve::limits::{ACCEPT_FAILURE_LOG_INTERVAL, DESCRIPTORS_PER_SHARD_RESERVED};
use ringserve::{Application, Cores, Deployment, Request, Response, Serve};

/// Set in the child's environment to the number of shards it runs; absent, `child_server`
/// does nothing (as under `cargo test -- --ignored`).
const CHILD_SHARDS: &str = "RINGSERVE_DESCRIPTORS_CHILD_SHARDS";

/// The child's hard descriptor limit: small, so the tests reach it with a few hundred
/// connections.
const HARD_LIMIT: u64 = 256;

/// What the child's log says when a shard cannot accept.
const ACCEPT_FAILED: &str = "cannot accept connections";

/// Descriptors the child's `/hog` route took, until `/release`.
static HOARD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());

/// The child's application: `/hog` opens descriptors until the process has none left,
/// `/release` closes them, `/descriptors` counts the open ones; anything else is `hello`.
struct Hoarder;

impl Deployment for Hoarder {
    async fn call(&self, request: Request) -> Response {
        match request.path() {
            "/hog" => {
                let mut hoard = HOARD.lock().unwrap();
                // Bounded by the descriptor limit; the cap only guards against a limit that
                // failed to apply.
                while hoard.len() < 100_000 {
                    match std::fs::File::open("/dev/null") {
                        Ok(file) => hoard.push(file),
                        Err(error) => {
                            assert_eq!(error.raw_os_error(), Some(libc::EMFILE), "{error}");
                            break;
                        }
                    }
                }
                Response::text(format!("took {}", hoard.len()))
            }
            "/release" => {
                HOARD.lock().unwrap().clear();
                Response::text("released")
            }
            "/descriptors" => Response::text(open_descriptors().to_string()),
            _ => Response::text("hello"),
        }
    }
}

/// Descriptors this process has open.
fn open_descriptors() -> usize {
    // Less the directory's own.
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

#[test]
#[ignore = "the server process of the other tests in this file, which start it"]
fn child_server() {
    let Some(shards) = std::env::var(CHILD_SHARDS).ok() else {
        return;
    };
    let shards: usize = shards.parse().unwrap();
    let before = open_descriptors();
    let server = Serve::new()
        .options(short_grace_options().cores(Cores::Count(shards)))
        .app(Application::new(|| Hoarder))
        .start()
        .expect("the child server starts");
    println!(
        "child: listening on {} with {before} descriptors open before",
        server.local_addr()
    );
    std::io::stdout().flush().unwrap();
    // Serve until the parent closes our stdin (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    server.shutdown();
}

/// A running child server.
struct Child {
    process: std::process::Child,
    addr: SocketAddr,
    /// Descriptors the child had open before its server started.
    before: usize,
    /// The child's stderr, line by line as it arrives.
    log: Arc<Mutex<Vec<String>>>,
}

impl Child {
    /// Starts the child with `shards` shards under a descriptor limit of `soft` (hard
    /// [`HARD_LIMIT`]). The data path is the parent's (`RINGSERVE_IO` is inherited).
    fn start(shards: usize, soft: u64) -> Child {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["child_server", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_SHARDS, shards.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: HARD_LIMIT,
        };
        // SAFETY: `setrlimit` is async-signal-safe and touches only the child's own limit.
        unsafe {
            command.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut process = command.spawn().expect("the test binary runs again");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = BufReader::new(process.stderr.take().unwrap());
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let (listening_tx, listening) = mpsc::channel();
        let stdout = BufReader::new(process.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("child: listening on ") {
                    let _ = listening_tx.send(rest.to_owned());
                }
            }
        });
        let mut child = Child {
            process,
            addr: "127.0.0.1:1".parse().unwrap(),
            before: 0,
            log,
        };
        let Ok(line) = listening.recv_timeout(Duration::from_secs(60)) else {
            panic!(
                "the child server did not start; its log: {:#?}",
                child.log()
            );
        };
        let (addr, rest) = line.split_once(" with ").unwrap();
        child.addr = addr.parse().unwrap();
        child.before = rest.split(' ').next().unwrap().parse().unwrap();
        child
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The child's log lines that say a shard cannot accept.
    fn accept_failures(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|line| line.contains(ACCEPT_FAILED))
            .collect()
    }

    /// The child's soft descriptor limit, from `/proc`.
    fn soft_limit(&self) -> u64 {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.process.id()))
            .expect("the child's limits");
        let line = limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .expect("a descriptor limit");
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    }

    /// CPU time the child has used, from `/proc` (user and system, in clock ticks).
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.process.id()))
            .expect("the child's stat");
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: `sysconf` reads a constant of the system.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }

    /// Closes the child's stdin and waits for it to shut down; fails on a child that did not
    /// exit cleanly (a panic in the server shows in its log).
    fn stop(mut self) {
        drop(self.process.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.process.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "the child ended with {status}: {:#?}",
                    self.log()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the child did not stop: {:#?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Two shards where the machine has two cores, else one.
fn shards() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

const HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";

/// Sends `GET path` on `stream` and reads the answer.
fn get_on_stream(stream: &mut TcpStream, path: &str) -> RawResponse {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .unwrap();
    read_response(stream, false)
}

/// Whether the server has sent anything on `stream` yet, waiting at most `wait`.
fn answered_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    let answered = match stream.peek(&mut byte) {
        Ok(_) => true,
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(error) => panic!("peeking: {error}"),
    };
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    answered
}

#[test]
fn clients_past_the_descriptor_budget_get_503_instead_of_silence() {
    let shards = shards();
    let child = Child::start(shards, HARD_LIMIT / 2);
    assert_eq!(
        child.soft_limit(),
        HARD_LIMIT,
        "the soft limit is raised to the hard one"
    );
    // More clients than the limit has descriptors: each must get an answer.
    let attempts = HARD_LIMIT as usize + 32;
    let mut served = Vec::new();
    let mut refused = 0;
    for attempt in 0..attempts {
        let mut stream = connect(child.addr);
        stream.write_all(HELLO).unwrap();
        assert!(
            answered_within(&mut stream, Duration::from_secs(5)),
            "client {attempt} got no answer ({} served, {refused} refused so far); the child's \
             log: {:#?}",
            served.len(),
            child.log()
        );
        let response = read_response(&mut stream, false);
        match response.status() {
            200 => served.push(stream),
            503 => {
                assert_eq!(response.header("connection"), Some("close"));
                refused += 1;
            }
            status => panic!("client {attempt}: unexpected {status}: {}", response.raw),
        }
    }
    assert!(
        refused > 0,
        "all {attempts} clients served within {HARD_LIMIT} descriptors"
    );
    // Every shard fills up to its budget, and the budget leaves room for each shard's own
    // descriptors: count what the child has open, less its connections.
    std::thread::sleep(Duration::from_millis(200));
    let open: usize = get_on_stream(&mut served[0], "/descriptors")
        .body_text()
        .parse()
        .unwrap();
    let per_shard = (open - child.before - served.len()) as f64 / shards as f64;
    eprintln!(
        "{} served, {refused} refused; {open} descriptors open, {} before start: {per_shard:.1} \
         per shard besides its connections",
        served.len(),
        child.before
    );
    assert!(
        per_shard <= DESCRIPTORS_PER_SHARD_RESERVED as f64,
        "a shard uses {per_shard} descriptors of its own, more than the {DESCRIPTORS_PER_SHARD_RESERVED} reserved"
    );
    assert!(open < HARD_LIMIT as usize, "{open} descriptors open");
    for stream in &mut served {
        assert_eq!(get_on_stream(stream, "/hello").status(), 200);
    }
    drop(served);
    child.stop();
}

#[test]
fn a_shard_out_of_descriptors_logs_once_keeps_serving_and_accepts_once_they_free_up() {
    let shards = shards();
    let child = Child::start(shards, HARD_LIMIT);
    let mut open: Vec<TcpStream> = (0..4).map(|_| connect(child.addr)).collect();
    for stream in &mut open {
        assert_eq!(get_on_stream(stream, "/hello").status(), 200);
    }
    let took = get_on_stream(&mut open[0], "/hog").body_text();
    assert!(took.starts_with("took "), "{took}");

    // Clients that arrive now connect (the kernel completes their handshake) and wait.
    let mut waiting: Vec<TcpStream> = (0..8).map(|_| connect(child.addr)).collect();
    for stream in &mut waiting {
        stream.write_all(HELLO).unwrap();
    }
    wait_until(
        "a shard logs that it cannot accept",
        Duration::from_secs(10),
        || !child.accept_failures().is_empty(),
    );
    let first_logged = Instant::now();
    // Long enough for a hundred failed accepts per shard, each backed off: retrying costs
    // the child little CPU, where a loop retrying at once would burn a core per shard.
    let cpu_before = child.cpu_time();
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let cpu = child.cpu_time() - cpu_before;
    let wall = window.elapsed();
    eprintln!("out of descriptors: {cpu:?} of CPU in {wall:?}");
    assert!(
        cpu < wall / 4,
        "the child used {cpu:?} of CPU in {wall:?} while out of descriptors"
    );
    for stream in &mut open {
        assert_eq!(
            get_on_stream(stream, "/hello").status(),
            200,
            "an open connection is served while the process has no descriptors"
        );
    }
    for stream in &mut waiting {
        assert!(
            !answered_within(stream, Duration::from_millis(10)),
            "a client was answered while the process had no descriptors"
        );
    }
    assert_once_per_shard(&child, shards, first_logged);

    assert_eq!(
        get_on_stream(&mut open[0], "/release").body_text(),
        "released"
    );
    for stream in &mut waiting {
        assert_eq!(
            read_response(stream, false).status(),
            200,
            "a waiting client is answered once descriptors are free"
        );
    }
    assert_once_per_shard(&child, shards, first_logged);
    drop((open, waiting));
    child.stop();
}

/// At most one log line per shard per interval since the first line: a shard whose accepts
/// fail a hundred times a second does not log a hundred lines.
fn assert_once_per_shard(child: &Child, shards: usize, first_logged: Instant) {
    let lines = child.accept_failures();
    // Under a loaded machine the test may outlast an interval: a second line is then due.
    let allowed = 1
        + (first_logged.elapsed().as_secs_f64() / ACCEPT_FAILURE_LOG_INTERVAL.as_secs_f64())
            as usize;
    for shard in 0..shards {
        let prefix = format!("shard {shard}: ");
        let count = lines.iter().filter(|line| line.contains(&prefix)).count();
        assert!(
            count <= allowed,
            "shard {shard} logged {count} lines, at most {allowed} allowed: {lines:#?}"
        );
    }
    assert!(
        lines.iter().all(|line| line.contains("shard ")),
        "a line that names no shard: {lines:#?}"
    );
}
