//! The process's file descriptors as a budget: the soft `RLIMIT_NOFILE` raised to the hard
//! limit at start (as nginx's `worker_rlimit_nofile` and Go's runtime do), each shard's
//! `connections_per_shard_max` fitted to what the limit leaves it, and a shard's failed
//! accepts — for want of descriptors or memory — backed off and logged at a bounded rate.
//!
//! Invariant: connections a shard admits, plus what every shard and the process set aside
//! ([`DESCRIPTORS_PER_SHARD_RESERVED`], [`DESCRIPTORS_SPARE`]), stay within the descriptor
//! limit, so clients past `connections_per_shard_max` get a 503 instead of an accept that
//! fails; when something else takes the last descriptors anyway, a shard logs it at most once
//! per [`ACCEPT_FAILURE_LOG_INTERVAL`], keeps serving what it has open, and accepts again
//! once descriptors free up.

use std::io;
use std::time::Instant;

use glommio::timer::Timer;

use crate::limits::{
    ACCEPT_ERROR_BACKOFF, ACCEPT_FAILURE_LOG_INTERVAL, CONNECTIONS_PER_SHARD_DEFAULT,
    DESCRIPTORS_PER_SHARD_RESERVED, DESCRIPTORS_SPARE,
};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; the soft limit now in force. When the
/// hard limit is unlimited, the kernel's `fs.nr_open` is the most a process may ask for. A
/// raise the kernel refuses is logged, and the soft limit stays; only a limit that cannot be
/// read at all is an error.
pub(crate) fn raise_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a plain struct that `getrlimit` fills.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let wanted = if limit.rlim_max == libc::RLIM_INFINITY {
        nr_open().unwrap_or(limit.rlim_cur)
    } else {
        limit.rlim_max
    };
    if wanted <= limit.rlim_cur {
        return Ok(limit.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setting this process's own limit to a value within its hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        let error = io::Error::last_os_error();
        crate::error::warn_operator(&format!(
            "cannot raise the descriptor limit (RLIMIT_NOFILE) from {} to {wanted}: {error}",
            limit.rlim_cur
        ));
        return Ok(limit.rlim_cur);
    }
    Ok(wanted)
}

/// The kernel's ceiling on a process's descriptors (`/proc/sys/fs/nr_open`).
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Raises the descriptor limit and lowers `connections_per_shard_max` to what it leaves each
/// of `shards` shards; the value to serve with. Called before the listeners are bound: they
/// are in each shard's reserve.
pub(crate) fn fit_to_limit(connections_per_shard_max: usize, shards: usize) -> usize {
    let limit = match raise_limit() {
        Ok(limit) => limit,
        Err(error) => {
            crate::error::warn_operator(&format!(
                "cannot read the descriptor limit (RLIMIT_NOFILE): {error}; \
                 connections_per_shard_max is not fitted to it"
            ));
            return connections_per_shard_max;
        }
    };
    let budget = connections_budget(limit, open_now(), shards);
    let (fitted, warning) = fit_connections(connections_per_shard_max, budget);
    if let Some(warning) = warning {
        crate::error::warn_operator(&warning);
    }
    fitted
}

/// How many descriptors the process has open now (0 where `/proc` cannot say).
pub(crate) fn open_now() -> usize {
    // The directory's own descriptor is among those listed.
    std::fs::read_dir("/proc/self/fd").map_or(0, |entries| entries.count().saturating_sub(1))
}

/// Connections one of `shards` shards can hold within a descriptor `limit` of which `open`
/// are taken already: at least 1, so a server always answers (a 503 at worst).
pub(crate) fn connections_budget(limit: u64, open: usize, shards: usize) -> usize {
    debug_assert!(shards > 0, "a server has at least one shard");
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let for_shards = limit.saturating_sub(open.saturating_add(DESCRIPTORS_SPARE));
    (for_shards / shards.max(1))
        .saturating_sub(DESCRIPTORS_PER_SHARD_RESERVED)
        .max(1)
}

/// `connections_per_shard_max` fitted to `budget`, and a warning to log when a value set by
/// hand had to be lowered. The default is lowered silently: it was never a promise.
pub(crate) fn fit_connections(asked: usize, budget: usize) -> (usize, Option<String>) {
    debug_assert!(budget >= 1, "a shard may always hold one connection");
    if asked <= budget {
        return (asked, None);
    }
    let warning = (asked != CONNECTIONS_PER_SHARD_DEFAULT).then(|| {
        format!(
            "limits.connections_per_shard_max = {asked} does not fit the descriptor limit \
             (RLIMIT_NOFILE): lowered to {budget} per shard, so that clients past it get 503 \
             instead of a hang; raise the hard limit (ulimit -Hn, LimitNOFILE=) to allow more"
        )
    });
    (budget, warning)
}

/// Whether a failed accept is the process running out of descriptors or memory, when
/// accepting again at once would fail again — as opposed to a connection that died before it
/// was accepted (`ECONNABORTED` and the like), when the next accept goes ahead at once.
fn is_exhaustion(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// One shard's failed accepts: what to log, and when.
pub(crate) struct AcceptFailures {
    shard: usize,
    /// When the last line was logged; `None` before the first.
    logged_at: Option<Instant>,
    /// Failures since that line, not logged.
    unlogged: u64,
}

impl AcceptFailures {
    pub(crate) fn new(shard: usize) -> Self {
        AcceptFailures {
            shard,
            logged_at: None,
            unlogged: 0,
        }
    }

    /// After a failed accept: logs it if one is due, and waits [`ACCEPT_ERROR_BACKOFF`] when
    /// the process is out of descriptors or memory, so a full file table does not turn the
    /// accept loop into a busy loop. The listener stays armed: connections wait in its
    /// backlog and are accepted once descriptors free up.
    pub(crate) async fn after(&mut self, error: &io::Error) {
        if !is_exhaustion(error) {
            return;
        }
        if let Some(unlogged_before) = self.count(Instant::now()) {
            crate::error::warn_operator(&self.line(error, unlogged_before));
        }
        Timer::new(ACCEPT_ERROR_BACKOFF).await;
    }

    /// Counts one failure at `now`; `Some(failures not logged before it)` when it is to be
    /// logged.
    fn count(&mut self, now: Instant) -> Option<u64> {
        let due = self.logged_at.is_none_or(|logged_at| {
            now.saturating_duration_since(logged_at) >= ACCEPT_FAILURE_LOG_INTERVAL
        });
        if !due {
            self.unlogged += 1;
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }

    fn line(&self, error: &io::Error, unlogged_before: u64) -> String {
        let shard = self.shard;
        let mut line = format!(
            "shard {shard}: cannot accept connections ({error}); those open are still served, \
             and new ones wait in the listen queue until descriptors or memory free up"
        );
        if unlogged_before > 0 {
            line.push_str(&format!(
                "; {unlogged_before} more failed accepts since the last such line"
            ));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_budget_leaves_the_spare_and_each_shards_reserve() {
        // 1024 descriptors, 10 open: 950 for 2 shards, 475 each, 32 of them reserved.
        assert_eq!(connections_budget(1024, 10, 2), 443);
        assert_eq!(connections_budget(1 << 20, 10, 1), (1 << 20) - 10 - 64 - 32);
        assert_eq!(
            connections_budget(u64::MAX, 0, 4),
            (usize::MAX - 64) / 4 - 32
        );
        // Too few descriptors for any connection: one still, answered 503 past it.
        assert_eq!(connections_budget(64, 10, 2), 1);
        assert_eq!(connections_budget(0, 10, 1), 1);
    }

    #[test]
    fn only_a_value_set_by_hand_is_lowered_with_a_warning() {
        assert_eq!(fit_connections(100, 443), (100, None));
        assert_eq!(fit_connections(443, 443), (443, None));
        assert_eq!(
            fit_connections(CONNECTIONS_PER_SHARD_DEFAULT, 443),
            (443, None)
        );
        let (fitted, warning) = fit_connections(1000, 443);
        assert_eq!(fitted, 443);
        let warning = warning.expect("a warning for a value set by hand");
        assert!(
            warning.contains("connections_per_shard_max = 1000"),
            "{warning}"
        );
        assert!(warning.contains("lowered to 443"), "{warning}");
    }

    #[test]
    fn failures_are_logged_once_per_interval_with_the_count_between() {
        let mut failures = AcceptFailures::new(3);
        let start = Instant::now();
        assert_eq!(failures.count(start), Some(0));
        for step in 1..=99u32 {
            let now = start + ACCEPT_FAILURE_LOG_INTERVAL * step / 100;
            assert_eq!(failures.count(now), None, "step {step}");
        }
        let next = start + ACCEPT_FAILURE_LOG_INTERVAL;
        assert_eq!(failures.count(next), Some(99));
        assert_eq!(failures.count(next + Duration::from_millis(1)), None);
        assert_eq!(
            failures.count(next + ACCEPT_FAILURE_LOG_INTERVAL * 3),
            Some(1)
        );
    }

    #[test]
    fn a_line_names_the_shard_the_error_and_the_failures_not_logged() {
        let failures = AcceptFailures::new(3);
        let error = io::Error::from_raw_os_error(libc::EMFILE);
        let first = failures.line(&error, 0);
        assert!(
            first.starts_with("shard 3: cannot accept connections ("),
            "{first}"
        );
        assert!(first.contains(&error.to_string()), "{first}");
        assert!(!first.contains("more failed accepts"), "{first}");
        let later = failures.line(&error, 57);
        assert!(later.ends_with("; 57 more failed accepts since the last such line"));
    }

    #[test]
    fn only_exhaustion_is_backed_off_and_logged() {
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert!(is_exhaustion(&io::Error::from_raw_os_error(code)), "{code}");
        }
        for code in [libc::ECONNABORTED, libc::EPROTO, libc::EPERM] {
            assert!(
                !is_exhaustion(&io::Error::from_raw_os_error(code)),
                "{code}"
            );
        }
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let raised = raise_limit().expect("getrlimit and setrlimit work here");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a plain struct that `getrlimit` fills.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, raised);
        if limit.rlim_max != libc::RLIM_INFINITY {
            assert_eq!(limit.rlim_cur, limit.rlim_max);
        }
    }
}
