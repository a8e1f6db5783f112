//! The load each replica publishes for other shards choosing where to forward: one cell per
//! application per shard, the count of calls that shard's replica holds (admitted or waiting).
//! It lives in the shared `ServerConfig`, built before any shard starts.
//!
//! Invariant: each cell is written only by the shard that hosts the replica, and read by the
//! others when they choose; a count is a hint, never a lock or a reservation, so a stale read
//! only makes a choice worse, never wrong.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Each replica's load as its shard publishes it — calls admitted or waiting — for other
/// shards choosing where to forward. Padded to a cache line each, so a shard publishing its
/// own count does not slow the others' reads of theirs.
#[repr(align(64))]
#[derive(Default)]
pub(crate) struct Load(AtomicUsize);

impl Load {
    /// Written only by the shard that hosts the replica, read by the others when they choose:
    /// `Relaxed` suffices, the count is a hint and a stale one only makes a choice worse.
    pub(crate) fn publish(&self, load: usize) {
        self.0.store(load, Ordering::Relaxed);
    }

    /// The last count published.
    pub(crate) fn read(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Every shard's count of the calls its replica of each application holds, for choosing:
/// `loads[app][shard]`.
pub(crate) type Loads = Vec<Vec<Load>>;

/// Loads for `apps` applications on `shards` shards, all zero.
pub(crate) fn loads(apps: usize, shards: usize) -> Loads {
    (0..apps)
        .map(|_| (0..shards).map(|_| Load::default()).collect())
        .collect()
}
