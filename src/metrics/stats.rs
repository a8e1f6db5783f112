//! `Stats`: a scrape read for people and scripts — per application its requests, errors,
//! latency percentiles (from the merged histograms) and queue, per shard its state and load —
//! what `ServerHandle::stats` returns and `ringserve status` prints.
//!
//! Invariant: built from the same snapshots as the Prometheus text, so the two never disagree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::buckets::Summary;
use super::{Scrape, ShardSnapshot};

/// A running server's figures at one moment: [`crate::ServerHandle::stats`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The server's public address (`host:port`), so a reader can tell whose figures these are.
    pub server: String,
    /// The applications served now (those of the current configuration), by route prefix.
    pub applications: Vec<ApplicationStats>,
    /// Every shard, in order.
    pub shards: Vec<ShardStats>,
}

/// One application, over all shards since the server started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplicationStats {
    /// Its name.
    pub name: String,
    /// Its route prefix.
    pub route_prefix: String,
    /// HTTP requests it answered.
    pub requests: u64,
    /// Those answered with a status of 400 to 499.
    pub client_errors: u64,
    /// Those answered with a status of 500 or more.
    pub server_errors: u64,
    /// Request latency percentiles, in milliseconds (`None` before the first request).
    pub latency_ms: Option<Percentiles>,
    /// Shards with a replica of it.
    pub replicas: usize,
    /// Requests waiting for a turn of one of its replicas now.
    pub queued: u64,
    /// Requests its replicas are processing now.
    pub processing: u64,
}

/// Latency percentiles in milliseconds, within the recording's 1.6% resolution.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// The median.
    pub p50: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The 99.9th percentile.
    pub p999: f64,
}

/// One shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardStats {
    /// Its position among the server's shards.
    pub shard: usize,
    /// Whether it answered in time (`false`: stalled in a handler, or stopped).
    pub up: bool,
    /// Whether the stall watchdog finds it stuck in one turn.
    pub stalled: bool,
    /// HTTP requests it answered.
    pub requests: u64,
    /// HTTP requests begun and not yet answered.
    pub ongoing: u64,
    /// Client connections open.
    pub connections_open: u64,
    /// Client connections accepted.
    pub connections_accepted: u64,
    /// The applications with a replica on it.
    pub replicas: Vec<String>,
}

fn percentiles(latency: &Summary) -> Option<Percentiles> {
    if latency.histogram.is_empty() {
        return None;
    }
    let at = |quantile: f64| latency.histogram.value_at_quantile(quantile) as f64 / 1_000.0;
    Some(Percentiles {
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
    })
}

fn answered<'a>(scrape: &'a Scrape<'_>) -> impl Iterator<Item = &'a ShardSnapshot> {
    scrape
        .shards
        .iter()
        .filter_map(|report| report.snapshot.as_ref())
}

/// The scrape's figures.
pub(crate) fn stats(scrape: &Scrape<'_>, server: &str) -> Stats {
    let mut current: Vec<usize> = answered(scrape)
        .flat_map(|snapshot| snapshot.current.iter().copied())
        .collect();
    current.sort_unstable();
    current.dedup();
    let mut applications: Vec<ApplicationStats> = current
        .into_iter()
        .filter_map(|slot| Some(application(scrape, slot, scrape.targets.get(slot)?)))
        .collect();
    applications.sort_by(|a, b| a.route_prefix.cmp(&b.route_prefix));
    let shards = scrape
        .shards
        .iter()
        .map(|report| shard(scrape, report))
        .collect();
    Stats {
        server: server.to_owned(),
        applications,
        shards,
    }
}

fn application(scrape: &Scrape<'_>, slot: usize, target: &super::Target) -> ApplicationStats {
    let mut latency = Summary::new();
    let (mut requests, mut client_errors, mut server_errors) = (0, 0, 0);
    let (mut replicas, mut queued, mut processing) = (0, 0, 0);
    for snapshot in answered(scrape) {
        if let Some(Some(record)) = snapshot.http.get(slot) {
            latency.add(&record.latency);
            for entry in &record.counts {
                requests += entry.count;
                match entry.status {
                    400..=499 => client_errors += entry.count,
                    500.. => server_errors += entry.count,
                    _ => {}
                }
            }
        }
        for gauge in snapshot.gauges.iter().filter(|gauge| gauge.slot == slot) {
            replicas += 1;
            queued += gauge.queued;
            processing += gauge.processing;
        }
    }
    ApplicationStats {
        name: target.application.clone(),
        route_prefix: target.route.clone(),
        requests,
        client_errors,
        server_errors,
        latency_ms: percentiles(&latency),
        replicas,
        queued,
        processing,
    }
}

fn shard(scrape: &Scrape<'_>, report: &super::ShardReport) -> ShardStats {
    let Some(snapshot) = &report.snapshot else {
        return ShardStats {
            shard: report.index,
            up: false,
            stalled: report.stalled,
            requests: 0,
            ongoing: 0,
            connections_open: 0,
            connections_accepted: 0,
            replicas: Vec::new(),
        };
    };
    let requests = snapshot
        .http
        .iter()
        .flatten()
        .flat_map(|record| record.counts.iter())
        .map(|entry| entry.count)
        .sum();
    let replicas: BTreeMap<&str, ()> = snapshot
        .gauges
        .iter()
        .filter_map(|gauge| scrape.targets.get(gauge.slot))
        .map(|target| (target.application.as_str(), ()))
        .collect();
    ShardStats {
        shard: report.index,
        up: true,
        stalled: report.stalled,
        requests,
        ongoing: snapshot.ongoing,
        connections_open: snapshot.connections_open,
        connections_accepted: snapshot.connections_accepted,
        replicas: replicas.into_keys().map(str::to_owned).collect(),
    }
}
