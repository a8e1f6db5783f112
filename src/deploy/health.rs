//! Replica health: each shard checks its replicas every `health_check_period`, and every shard
//! answers `/-/healthz` with `503` while any application has no healthy replica left.
//!
//! Invariant: a check that fails, panics or runs past `health_check_timeout` marks the replica
//! unhealthy until a later check passes. The one thing shared across cores is each
//! application's count of healthy replicas — an atomic written only when a replica changes
//! state (at most once per period per shard) and read only by `/-/healthz`, never on the
//! request path.

use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::FutureExt;
use glommio::timer::sleep;

use crate::deployment::Replica;

/// Ray Serve's default `health_check_period_s`.
pub const DEFAULT_HEALTH_CHECK_PERIOD: Duration = Duration::from_secs(10);
/// Ray Serve's default `health_check_timeout_s`.
pub const DEFAULT_HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// How often, and how patiently, an application's replicas are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HealthConfig {
    pub(crate) period: Duration,
    pub(crate) timeout: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            period: DEFAULT_HEALTH_CHECK_PERIOD,
            timeout: DEFAULT_HEALTH_CHECK_TIMEOUT,
        }
    }
}

/// Every application's number of healthy replicas, shared by all shards.
pub(crate) struct HealthBoard {
    /// One counter per application, starting at its number of replicas (one per shard).
    /// Atomic because every shard's checker writes its own replica's transitions and every
    /// shard's `/-/healthz` reads them all; `Relaxed` suffices: each counter stands alone and
    /// a probe that reads a transition a moment late is still right the next time.
    healthy: Vec<AtomicUsize>,
}

impl HealthBoard {
    /// A board for applications with these numbers of replicas, all healthy.
    pub(crate) fn new(replicas: Vec<usize>) -> Self {
        HealthBoard {
            healthy: replicas.into_iter().map(AtomicUsize::new).collect(),
        }
    }

    /// The index of the first application with no healthy replica, if any.
    pub(crate) fn first_unhealthy(&self) -> Option<usize> {
        self.healthy
            .iter()
            .position(|count| count.load(Ordering::Relaxed) == 0)
    }

    fn record(&self, app: usize, healthy: bool) {
        let Some(count) = self.healthy.get(app) else {
            return;
        };
        if healthy {
            count.fetch_add(1, Ordering::Relaxed);
        } else {
            // Each replica's checker records its own transitions only, alternating, so the
            // count cannot go below zero; saturate all the same rather than wrap to "healthy".
            let _ = count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |healthy| {
                healthy.checked_sub(1)
            });
        }
    }
}

/// Checks one replica forever (until the shard drops the task), recording its transitions.
pub(crate) async fn watch(
    replica: Rc<dyn Replica>,
    app: usize,
    config: HealthConfig,
    board: std::sync::Arc<HealthBoard>,
) {
    let mut healthy = true;
    loop {
        // The first check runs at once, so a replica broken from the start is reported
        // without waiting a whole period.
        let passed = check_once(&*replica, config.timeout).await;
        if passed != healthy {
            healthy = passed;
            board.record(app, healthy);
        }
        sleep(config.period).await;
    }
}

/// One check: passed, or failed (an `Err`, a panic, or no answer within `timeout`).
async fn check_once(replica: &dyn Replica, timeout: Duration) -> bool {
    let check = async {
        match std::panic::catch_unwind(AssertUnwindSafe(|| replica.check_health_boxed())) {
            Ok(check) => matches!(AssertUnwindSafe(check).catch_unwind().await, Ok(Ok(()))),
            Err(_) => false,
        }
    };
    check
        .or(async {
            sleep(timeout).await;
            false
        })
        .await
}
