//! Starting and stopping a server is bounded (issue 14, finding 9): `Serve::start` returns —
//! serving, or with an error that names the shards that were not ready — within
//! `HttpOptions::start_timeout`, and under CPU contention every start succeeds.
//!
//! Before vendored glommio's patch 7, a shard could park with the task that connects it to the
//! other shards still queued, and `start` waited for it forever: here, a start of a 2-shard,
//! 1-replica server hung within 4 to 25 starts while threads burned the shards' cores.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use ringserve::{Application, Cores, Serve};

/// How long the start/stop cycles run at most…
const CYCLING_FOR: Duration = Duration::from_secs(20);

/// …and how many starts they make at most: enough that, before the fix, a start hung in every
/// run (within 4 to 25 starts here); each start takes tens to hundreds of milliseconds.
const STARTS_MAX: usize = 200;

/// Each start's deadline. A start takes under a second here, even beside the spinning threads;
/// a hung one takes forever.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Past this the whole test counts as hung (a stop that never returns, say), so that it fails
/// instead of hanging.
const TEST_DEADLINE: Duration = Duration::from_secs(120);

/// The nice value the shards run at beside the spinning threads (which run at 0): they get
/// about a tenth of their cores, in slices, so that they are descheduled at arbitrary points
/// and the peer they link to is late. (`SCHED_IDLE` starved them: seconds per start on a busy
/// machine.)
const SHARD_NICE: i32 = 10;

/// Lowers the calling thread's priority to `nice`; the threads it starts afterwards (the
/// shards) inherit it. Lowering one's own priority needs no privilege.
fn lower_priority(nice: i32) -> bool {
    // SAFETY: on Linux, PRIO_PROCESS with id 0 names the calling thread.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) == 0 }
}

/// The cores this process may run on, in order (the shards take the first ones).
fn allowed_cores() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is an empty set; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let read = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(read, 0, "the affinity mask reads");
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `core` is below CPU_SETSIZE.
        .filter(|&core| unsafe { libc::CPU_ISSET(core, &set) })
        .collect()
}

/// One thread spinning on each of `cores`, until the returned flag is cleared.
fn burn(cores: &[usize]) -> (Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>) {
    let burning = Arc::new(AtomicBool::new(true));
    let spinners = cores
        .iter()
        .map(|&core| {
            let burning = burning.clone();
            std::thread::spawn(move || {
                // SAFETY: a zeroed cpu_set_t is an empty set; `core` is below CPU_SETSIZE.
                unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(core, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
                }
                while burning.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    (burning, spinners)
}

#[test]
fn a_two_shard_server_starts_and_stops_hundreds_of_times_under_cpu_contention() {
    let cores = allowed_cores();
    if cores.len() < 2 {
        common::skip("two shards need two cores");
        return;
    }
    // One replica reached from two shards: every start links the shards to each other.
    let serve = || {
        Serve::new()
            .options(
                common::short_grace_options()
                    .cores(Cores::Count(2))
                    .start_timeout(START_TIMEOUT),
            )
            .app(Application::new(|| common::Hello).num_replicas(1))
    };
    // The shards' two cores, each busy with a spinner.
    let (burning, spinners) = burn(&cores[..2]);
    let (report, reports) = mpsc::channel();
    let cycler = std::thread::spawn(move || {
        let lowered = lower_priority(SHARD_NICE);
        let started = Instant::now();
        let mut starts = 0usize;
        let mut slowest = Duration::ZERO;
        while starts < STARTS_MAX && started.elapsed() < CYCLING_FOR {
            let before = Instant::now();
            let server = match serve().start() {
                Ok(server) => server,
                Err(error) => {
                    let _ = report.send(Err(format!("start {}: {error}", starts + 1)));
                    return;
                }
            };
            slowest = slowest.max(before.elapsed());
            starts += 1;
            server.shutdown();
        }
        let _ = report.send(Ok((starts, slowest, lowered)));
    });
    let outcome = reports.recv_timeout(TEST_DEADLINE);
    burning.store(false, Ordering::Relaxed);
    for spinner in spinners {
        spinner.join().unwrap();
    }
    let (starts, slowest, lowered) = match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(failure)) => panic!("{failure}"),
        Err(_) => panic!("start/stop cycles still running after {TEST_DEADLINE:?}"),
    };
    cycler.join().unwrap();
    eprintln!("{starts} starts (shards at nice {SHARD_NICE}: {lowered}), slowest {slowest:?}");
    assert!(starts >= 10, "only {starts} starts in {CYCLING_FOR:?}");
}

#[test]
fn a_start_gives_up_after_start_timeout_naming_the_shard_that_was_not_ready() {
    // A factory that blocks until the test lets it go: its shard is never ready.
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let factory = move || {
        let _ = released.lock().unwrap().recv();
        common::Hello
    };
    let start_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let outcome = Serve::new()
        .options(common::test_options().start_timeout(start_timeout))
        .app(Application::new(factory))
        .start();
    let took = started.elapsed();
    drop(release);
    let error = outcome.map(|_| ()).expect_err("start gives up").to_string();
    assert!(
        error.contains("shard(s) [0] not ready within start_timeout = 300ms"),
        "{error}"
    );
    assert!(took >= start_timeout, "gave up early, after {took:?}");
    // The start timeout, then a bounded wait for the stuck shard to stop before it is left
    // behind (`SHARD_STOP_WAIT`, 2 s), with a margin for a loaded machine.
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
}

#[test]
fn a_zero_start_timeout_is_refused() {
    let error = common::start_error(
        Serve::new()
            .options(common::test_options().start_timeout(Duration::ZERO))
            .app(Application::new(|| common::Hello)),
    );
    assert_eq!(
        error,
        "invalid configuration: start_timeout = 0s must be longer than zero"
    );
}

#[test]
fn the_longest_start_timeout_is_no_limit() {
    let server = common::start(
        Serve::new()
            .options(common::test_options().start_timeout(Duration::MAX))
            .app(Application::new(|| common::Hello)),
    );
    let answer = common::exchange_until_close(
        server.local_addr(),
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(answer.ends_with("\r\n\r\nhello"), "{answer}");
    server.shutdown();
}
