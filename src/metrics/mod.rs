//! Metrics: what each shard records as it serves (`record`), and what a scrape makes of every
//! shard's snapshot — the Prometheus or OpenMetrics text (`exposition`) and the figures of
//! `ServerHandle::stats` and `ringserve status` (`stats`).
//!
//! Invariant: recording is per shard and single-writer (no atomics or locks on the request
//! path); snapshots cross cores as owned copies, through the shards' control channels, and
//! are merged on the scraping thread. Plain data and text here: asking the shards is the
//! server's job (`serve`), which hands this module their answers.

mod buckets;
pub(crate) mod exposition;
pub mod record;
mod stats;

pub use stats::{ApplicationStats, Percentiles, ShardStats, Stats};

pub(crate) use record::ShardSnapshot;
pub use record::{MethodLabel, ShardMetrics};

/// What a metric slot's series are labelled with: its application's name and route prefix
/// (both empty for requests no application took: unknown paths and the system endpoints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) application: String,
    pub(crate) route: String,
}

/// One shard's answer to a scrape.
#[derive(Debug)]
pub(crate) struct ShardReport {
    pub(crate) index: usize,
    /// `None`: it did not answer in time (stalled, or stopped).
    pub(crate) snapshot: Option<ShardSnapshot>,
    /// The stall watchdog's verdict on it.
    pub(crate) stalled: bool,
    /// How many times the watchdog has found it stalled.
    pub(crate) stalls: u64,
}

/// Everything one scrape gathered.
#[derive(Debug)]
pub(crate) struct Scrape<'a> {
    /// Put before every metric name (`ringserve_`; `ray_` gives Ray Serve's own names).
    pub(crate) prefix: &'a str,
    /// By metric slot.
    pub(crate) targets: &'a [Target],
    /// Every shard's answer, in shard order.
    pub(crate) shards: &'a [ShardReport],
}

impl Scrape<'_> {
    /// The figures for people and scripts, of the server listening on `server`.
    pub(crate) fn stats(&self, server: &str) -> Stats {
        stats::stats(self, server)
    }

    /// The text a scraper asked for.
    pub(crate) fn render(&self, format: exposition::Format) -> String {
        exposition::render(self, format)
    }
}
