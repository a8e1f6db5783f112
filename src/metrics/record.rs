//! What one shard records as it serves, and the copy of it a scrape takes.
//!
//! Per application (by its metric slot, stable across reloads: `ServerConfig::metric_slots`):
//! its HTTP requests counted by method and status code, and their latency (from the complete
//! request head to the response handed to the socket) in log-linear buckets (`buckets`); per
//! replica (the application's replica on this shard): its calls, the errors among them and the
//! handler's own time; and the engine's counters (`EngineCounters`).
//!
//! Invariant: one writer — the shard's thread — and plain `Cell` and `RefCell` state: no
//! atomic, lock or allocation on the request path once an application has served its first
//! request here. Other threads see it only through the `ShardSnapshot` the shard copies when a
//! scrape asks. Memory is bounded: slots by the distinct applications served, methods by
//! `MethodLabel`'s ten, status codes by their three digits, histograms by their bounds.

use std::cell::{Cell, RefCell};

use http::Method;
use smallvec::SmallVec;

use super::buckets::LatencyBuckets;

/// The methods counted by name; any other is counted as `OTHER`, so a client cannot grow
/// the label set.
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::OPTIONS,
    Method::PATCH,
    Method::CONNECT,
    Method::TRACE,
];

/// A request's method as a metric label: one of nine names, or `OTHER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MethodLabel(u8);

impl MethodLabel {
    /// The label of `method`.
    pub fn of(method: &Method) -> Self {
        let position = METHODS.iter().position(|known| known == method);
        MethodLabel(position.map_or(METHODS.len(), |position| position) as u8)
    }

    pub(crate) fn as_str(self) -> &'static str {
        METHODS
            .get(usize::from(self.0))
            .map_or("OTHER", Method::as_str)
    }
}

/// Requests answered with one status code to one method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatusCount {
    pub(crate) method: MethodLabel,
    pub(crate) status: u16,
    pub(crate) count: u64,
}

/// One application's HTTP requests received on this shard.
#[derive(Clone, Debug)]
pub(crate) struct HttpRecord {
    /// Few entries in practice (an application answers a handful of statuses), searched from
    /// the front, where the first status seen — the common one — stays.
    pub(crate) counts: SmallVec<[StatusCount; 4]>,
    pub(crate) latency: LatencyBuckets,
}

impl HttpRecord {
    fn new() -> Self {
        HttpRecord {
            counts: SmallVec::new(),
            latency: LatencyBuckets::new(),
        }
    }

    fn count(&mut self, method: MethodLabel, status: u16) {
        match self
            .counts
            .iter_mut()
            .find(|entry| entry.status == status && entry.method == method)
        {
            Some(entry) => entry.count += 1,
            None => self.counts.push(StatusCount {
                method,
                status,
                count: 1,
            }),
        }
    }
}

/// One application's replica on this shard: the calls it served (for this shard's clients
/// or forwarded from others), the errors among them, its handler's time.
#[derive(Clone, Debug)]
pub(crate) struct ReplicaRecord {
    pub(crate) calls: u64,
    /// Calls answered with a 5xx (a panic's 500 included), as Ray counts a replica's errors.
    pub(crate) errors: u64,
    pub(crate) processing: LatencyBuckets,
}

impl ReplicaRecord {
    fn new() -> Self {
        ReplicaRecord {
            calls: 0,
            errors: 0,
            processing: LatencyBuckets::new(),
        }
    }
}

/// The engine's own counters on one shard.
#[derive(Debug, Default)]
pub(crate) struct EngineCounters {
    pub(crate) connections_accepted: Cell<u64>,
    pub(crate) bytes_received: Cell<u64>,
    pub(crate) bytes_sent: Cell<u64>,
    /// Requests refused before routing (malformed, too large, too slow), by status code.
    pub(crate) rejections: RefCell<SmallVec<[(u16, u64); 4]>>,
    /// Requests answered 408 because the request timeout passed.
    pub(crate) request_timeouts: Cell<u64>,
    /// Handlers dropped because their client left first.
    pub(crate) client_departures: Cell<u64>,
    /// Calls this shard sent to another shard's replica.
    pub(crate) forwarded_calls: Cell<u64>,
    /// Their latency, from sending to the answer's head back.
    forwarded_latency: RefCell<Option<LatencyBuckets>>,
    /// Handler panics caught (each answered 500, or cutting its stream short).
    pub(crate) handler_panics: Cell<u64>,
}

/// Adds one to a counter cell.
pub(crate) fn bump(counter: &Cell<u64>) {
    counter.set(counter.get().wrapping_add(1));
}

/// Adds `amount` to a counter cell.
pub(crate) fn add(counter: &Cell<u64>, amount: u64) {
    counter.set(counter.get().wrapping_add(amount));
}

impl EngineCounters {
    /// A call forwarded to another shard got its answer's head after `elapsed`.
    pub(crate) fn forwarded(&self, elapsed: Elapsed) {
        bump(&self.forwarded_calls);
        self.forwarded_latency
            .borrow_mut()
            .get_or_insert_with(LatencyBuckets::new)
            .record(elapsed.0);
    }

    pub(crate) fn rejected(&self, status: u16) {
        let mut rejections = self.rejections.borrow_mut();
        match rejections.iter_mut().find(|(code, _)| *code == status) {
            Some((_, count)) => *count += 1,
            None => rejections.push((status, 1)),
        }
    }
}

/// A reading of a shard's clock, for [`ShardMetrics::since`].
#[derive(Clone, Copy, Debug)]
pub struct Tick(u64);

/// A latency, in whole microseconds: what the histograms count (no `Duration` arithmetic on
/// the request path: its `as_micros` divides 128-bit numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(u64);

impl Elapsed {
    /// `micros` microseconds.
    pub fn from_micros(micros: u64) -> Self {
        Elapsed(micros)
    }
}

/// Everything one shard records.
#[derive(Debug)]
pub struct ShardMetrics {
    /// The time stamp counter where the CPU has an invariant one (quanta calibrates it against
    /// the monotonic clock once per process), else the monotonic clock: a reading costs 11 ns
    /// here against `Instant::now`'s 26 ns, and a request takes four (`benches/metrics.rs`).
    clock: quanta::Clock,
    /// By metric slot; grown (once per slot) by the first request of a new application.
    http: RefCell<Vec<Option<HttpRecord>>>,
    replicas: RefCell<Vec<Option<ReplicaRecord>>>,
    /// HTTP requests begun and not yet answered on this shard.
    ongoing: Cell<u64>,
    pub(crate) engine: EngineCounters,
}

/// Counts an HTTP request as ongoing until dropped.
pub struct Ongoing<'a>(&'a Cell<u64>);

impl Drop for Ongoing<'_> {
    fn drop(&mut self) {
        debug_assert!(self.0.get() > 0, "an ongoing request was counted");
        self.0.set(self.0.get().wrapping_sub(1));
    }
}

impl Default for ShardMetrics {
    fn default() -> Self {
        ShardMetrics {
            clock: quanta::Clock::new(),
            http: RefCell::default(),
            replicas: RefCell::default(),
            ongoing: Cell::default(),
            engine: EngineCounters::default(),
        }
    }
}

impl ShardMetrics {
    /// Now, on the shard's clock.
    pub fn now(&self) -> Tick {
        Tick(self.clock.raw())
    }

    /// The time since `start`, a reading of this same clock.
    pub fn since(&self, start: Tick) -> Elapsed {
        Elapsed(self.clock.delta_as_nanos(start.0, self.clock.raw()) / 1_000)
    }

    /// Marks an HTTP request as ongoing for as long as the guard lives.
    pub fn ongoing(&self) -> Ongoing<'_> {
        self.ongoing.set(self.ongoing.get() + 1);
        Ongoing(&self.ongoing)
    }

    /// An HTTP request of the application at `slot` answered with `status` after `elapsed`.
    pub fn http_request(&self, slot: usize, method: MethodLabel, status: u16, elapsed: Elapsed) {
        let mut http = self.http.borrow_mut();
        let record = slot_entry(&mut http, slot).get_or_insert_with(HttpRecord::new);
        record.count(method, status);
        record.latency.record(elapsed.0);
    }

    /// A call the replica of the application at `slot` answered with `status`, its handler
    /// having taken `processing`.
    pub fn replica_call(&self, slot: usize, status: u16, processing: Elapsed) {
        let mut replicas = self.replicas.borrow_mut();
        let record = slot_entry(&mut replicas, slot).get_or_insert_with(ReplicaRecord::new);
        record.calls += 1;
        if status >= 500 {
            record.errors += 1;
        }
        record.processing.record(processing.0);
    }

    /// A copy of everything recorded so far, to send to the scraping thread.
    pub(crate) fn snapshot(&self, shard: usize) -> ShardSnapshot {
        let engine = &self.engine;
        ShardSnapshot {
            shard,
            http: self.http.borrow().clone(),
            replicas: self.replicas.borrow().clone(),
            ongoing: self.ongoing.get(),
            connections_open: 0,
            gauges: Vec::new(),
            current: Vec::new(),
            connections_accepted: engine.connections_accepted.get(),
            bytes_received: engine.bytes_received.get(),
            bytes_sent: engine.bytes_sent.get(),
            rejections: engine.rejections.borrow().to_vec(),
            request_timeouts: engine.request_timeouts.get(),
            client_departures: engine.client_departures.get(),
            forwarded_calls: engine.forwarded_calls.get(),
            forwarded_latency: engine
                .forwarded_latency
                .borrow()
                .clone()
                .unwrap_or_else(LatencyBuckets::new),
            handler_panics: engine.handler_panics.get(),
        }
    }
}

/// The entry for `slot`, the table grown to hold it.
fn slot_entry<T>(table: &mut Vec<Option<T>>, slot: usize) -> &mut Option<T> {
    if slot >= table.len() {
        table.resize_with(slot + 1, || None);
    }
    &mut table[slot]
}

/// One replica's queue and turns on one shard, read when the snapshot is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplicaGauge {
    pub(crate) slot: usize,
    /// Requests waiting for a turn.
    pub(crate) queued: u64,
    /// Requests holding a turn: being processed.
    pub(crate) processing: u64,
}

/// A shard's recordings at one moment: owned, plain data, sent to the thread that scrapes.
#[derive(Clone, Debug)]
pub(crate) struct ShardSnapshot {
    pub(crate) shard: usize,
    pub(crate) http: Vec<Option<HttpRecord>>,
    pub(crate) replicas: Vec<Option<ReplicaRecord>>,
    pub(crate) ongoing: u64,
    pub(crate) connections_open: u64,
    /// The current generation's replicas on this shard.
    pub(crate) gauges: Vec<ReplicaGauge>,
    /// The slots of the current generation's routed applications.
    pub(crate) current: Vec<usize>,
    pub(crate) connections_accepted: u64,
    pub(crate) bytes_received: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) rejections: Vec<(u16, u64)>,
    pub(crate) request_timeouts: u64,
    pub(crate) client_departures: u64,
    pub(crate) forwarded_calls: u64,
    pub(crate) forwarded_latency: LatencyBuckets,
    pub(crate) handler_panics: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_nine_are_other() {
        assert_eq!(MethodLabel::of(&Method::GET).as_str(), "GET");
        assert_eq!(MethodLabel::of(&Method::TRACE).as_str(), "TRACE");
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(MethodLabel::of(&custom).as_str(), "OTHER");
    }

    #[test]
    fn requests_are_counted_by_method_and_status_per_slot() {
        let metrics = ShardMetrics::default();
        let get = MethodLabel::of(&Method::GET);
        let post = MethodLabel::of(&Method::POST);
        metrics.http_request(2, get, 200, Elapsed::from_micros(150));
        metrics.http_request(2, get, 200, Elapsed::from_micros(250));
        metrics.http_request(2, post, 422, Elapsed::from_micros(3_000));
        let snapshot = metrics.snapshot(0);
        assert!(snapshot.http[0].is_none() && snapshot.http[1].is_none());
        let record = snapshot.http[2].as_ref().unwrap();
        assert_eq!(
            record.counts.as_slice(),
            [
                StatusCount {
                    method: get,
                    status: 200,
                    count: 2
                },
                StatusCount {
                    method: post,
                    status: 422,
                    count: 1
                }
            ]
        );
        let mut latency = super::super::buckets::Summary::new();
        latency.add(&record.latency);
        assert_eq!(latency.count(), 3);
        assert_eq!(latency.sum_micros, 3_400);
    }

    #[test]
    fn the_ongoing_guard_counts_down_when_dropped() {
        let metrics = ShardMetrics::default();
        let first = metrics.ongoing();
        let second = metrics.ongoing();
        assert_eq!(metrics.snapshot(0).ongoing, 2);
        drop(first);
        drop(second);
        assert_eq!(metrics.snapshot(0).ongoing, 0);
    }

    #[test]
    fn replica_errors_are_its_5xx() {
        let metrics = ShardMetrics::default();
        metrics.replica_call(0, 200, Elapsed::from_micros(10));
        metrics.replica_call(0, 404, Elapsed::from_micros(10));
        metrics.replica_call(0, 503, Elapsed::from_micros(10));
        let snapshot = metrics.snapshot(0);
        let replica = snapshot.replicas[0].as_ref().unwrap();
        assert_eq!((replica.calls, replica.errors), (3, 1));
    }
}
