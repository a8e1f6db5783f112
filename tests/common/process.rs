//! What a process holds, read from `/proc`, and waiting for a condition to hold.

use std::path::Path;
use std::time::{Duration, Instant};

/// The io_uring instances the process at `proc` (`/proc/self`, or `/proc/<pid>` for another
/// process) holds open: its descriptors that link to an `anon_inode:[io_uring]`.
pub fn rings_open(proc: impl AsRef<Path>) -> usize {
    let fd = proc.as_ref().join("fd");
    std::fs::read_dir(&fd)
        .unwrap_or_else(|error| panic!("reading {}: {error}", fd.display()))
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("io_uring"))
        .count()
}

/// Polls `condition` every 5 ms until it holds, failing after `within`; `what` names the
/// condition in the failure. Returns how long it took.
pub fn wait_until(what: &str, within: Duration, condition: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < within, "waited {within:?} for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}
