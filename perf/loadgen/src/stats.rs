//! What one load core measured: a latency histogram (microseconds) and counters, kept apart
//! for the warm-up and the measured window, and merged across cores at the end.
//!
//! A request belongs to the phase in which it was sent (closed loop) or scheduled to be sent
//! (open loop); its response and its errors are counted in that phase, even when they arrive
//! after the window closed.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::response::Response;

/// Largest latency the histogram tracks exactly: one hour, in microseconds. Larger values are
/// recorded as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Status classes, in the order of [`Counters::status`].
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Which part of the run a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Warmup,
    Measured,
}

/// What went wrong with a request or a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Connecting failed or timed out.
    Connect,
    /// Writing the request failed.
    Write,
    /// Reading failed (reset, or another socket error).
    Read,
    /// The server closed the connection before the response was complete.
    Eof,
    /// The response was not valid HTTP/1.1.
    Parse,
    /// No progress reading or writing for `--timeout`.
    Timeout,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Write => "write",
            ErrorKind::Read => "read",
            ErrorKind::Eof => "eof",
            ErrorKind::Parse => "parse",
            ErrorKind::Timeout => "timeout",
        }
    }
}

/// Error counts by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Errors {
    pub connect: u64,
    pub write: u64,
    pub read: u64,
    pub eof: u64,
    pub parse: u64,
    pub timeout: u64,
    /// Requests already written (pipelined) when their connection failed or the server
    /// closed it: they got no response.
    pub unanswered: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.connect
            + self.write
            + self.read
            + self.eof
            + self.parse
            + self.timeout
            + self.unanswered
    }

    fn count(&mut self, kind: ErrorKind) {
        let slot = match kind {
            ErrorKind::Connect => &mut self.connect,
            ErrorKind::Write => &mut self.write,
            ErrorKind::Read => &mut self.read,
            ErrorKind::Eof => &mut self.eof,
            ErrorKind::Parse => &mut self.parse,
            ErrorKind::Timeout => &mut self.timeout,
        };
        *slot += 1;
    }

    fn add(&mut self, other: &Errors) {
        self.connect += other.connect;
        self.write += other.write;
        self.read += other.read;
        self.eof += other.eof;
        self.parse += other.parse;
        self.timeout += other.timeout;
        self.unanswered += other.unanswered;
    }
}

/// Counts for one phase.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Complete responses, whatever their status.
    pub requests: u64,
    /// Responses by status class, indexed like [`STATUS_CLASSES`].
    pub status: [u64; 6],
    pub errors: Errors,
    /// Response body bytes (after de-chunking).
    pub body_bytes: u64,
}

impl Counters {
    /// Responses whose status is not 2xx.
    pub fn non_2xx(&self) -> u64 {
        self.requests - self.status[1]
    }

    fn add(&mut self, other: &Counters) {
        self.requests += other.requests;
        for (mine, theirs) in self.status.iter_mut().zip(other.status) {
            *mine += theirs;
        }
        self.errors.add(&other.errors);
        self.body_bytes += other.body_bytes;
    }
}

/// Everything one core (or, merged, the whole run) measured.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of measured responses, microseconds.
    pub latency: Histogram<u64>,
    /// Open loop: how late each measured request was actually written after its scheduled
    /// time, microseconds (a connection behind schedule, or a late timer wake-up). Part of the
    /// latency above; kept apart to tell the generator's lag from the server's.
    pub send_lag: Histogram<u64>,
    pub measured: Counters,
    pub warmup: Counters,
    /// Connections opened (the first ones included).
    pub connects: u64,
    /// Responses after which the server closed the connection (`connection: close`), each
    /// followed by a reconnect.
    pub server_closes: u64,
    /// Open loop: requests scheduled inside the measured window that were never sent, because
    /// the connection was still behind when the window closed.
    pub unsent: u64,
    /// When the last measured response arrived.
    pub last_done: Option<Instant>,
    /// Stopped by `--max-requests` before the window ended.
    pub quota_exhausted: bool,
    /// The first error seen, with its message, for the report.
    pub first_error: Option<String>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    pub fn new() -> Self {
        let histogram = || {
            Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("constant histogram bounds are valid")
        };
        Stats {
            latency: histogram(),
            send_lag: histogram(),
            measured: Counters::default(),
            warmup: Counters::default(),
            connects: 0,
            server_closes: 0,
            unsent: 0,
            last_done: None,
            quota_exhausted: false,
            first_error: None,
        }
    }

    fn counters(&mut self, phase: Phase) -> &mut Counters {
        match phase {
            Phase::Warmup => &mut self.warmup,
            Phase::Measured => &mut self.measured,
        }
    }

    /// A complete response to a request of `phase`, `latency` after it was sent (or scheduled).
    pub fn response(
        &mut self,
        phase: Phase,
        latency: Duration,
        response: &Response,
        done: Instant,
    ) {
        let counters = self.counters(phase);
        counters.requests += 1;
        let class = match response.status {
            100..=599 => usize::from(response.status / 100) - 1,
            _ => 5,
        };
        counters.status[class] += 1;
        counters.body_bytes += response.body_bytes;
        if phase == Phase::Measured {
            self.latency.saturating_record(micros(latency));
            self.last_done = Some(self.last_done.map_or(done, |last| last.max(done)));
        }
    }

    /// Open loop: a measured request was written `lag` after its scheduled time.
    pub fn send_lag(&mut self, lag: Duration) {
        self.send_lag.saturating_record(micros(lag));
    }

    /// One error of `kind`, and `unanswered` requests lost with the connection.
    pub fn error(
        &mut self,
        phase: Phase,
        kind: ErrorKind,
        unanswered: u64,
        message: &dyn std::fmt::Display,
    ) {
        let counters = self.counters(phase);
        counters.errors.count(kind);
        counters.errors.unanswered += unanswered;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{}: {message}", kind.name()));
        }
    }

    /// The server closed after a response; `unanswered` pipelined requests were lost.
    pub fn server_close(&mut self, phase: Phase, unanswered: u64) {
        self.server_closes += 1;
        self.counters(phase).errors.unanswered += unanswered;
    }

    /// Adds another core's measurements.
    pub fn merge(&mut self, other: &Stats) {
        add_histogram(&mut self.latency, &other.latency);
        add_histogram(&mut self.send_lag, &other.send_lag);
        self.measured.add(&other.measured);
        self.warmup.add(&other.warmup);
        self.connects += other.connects;
        self.server_closes += other.server_closes;
        self.unsent += other.unsent;
        self.last_done = match (self.last_done, other.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.quota_exhausted |= other.quota_exhausted;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

/// A duration in whole microseconds, capped at the histogram's range.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .min(MAX_LATENCY_US)
}

fn add_histogram(into: &mut Histogram<u64>, other: &Histogram<u64>) {
    // Same bounds on every core, so adding cannot fail; saturate rather than panic anyway.
    if into.add(other).is_err() {
        for value in other.iter_recorded() {
            into.saturating_record_n(value.value_iterated_to(), value.count_at_value());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16) -> Response {
        Response {
            status,
            close: false,
            body_bytes: 5,
        }
    }

    #[test]
    fn counts_by_phase_and_class_and_merges() {
        let now = Instant::now();
        let mut a = Stats::new();
        a.response(
            Phase::Measured,
            Duration::from_micros(50),
            &response(200),
            now,
        );
        a.response(
            Phase::Measured,
            Duration::from_micros(70),
            &response(422),
            now,
        );
        a.response(Phase::Warmup, Duration::from_secs(9), &response(200), now);
        a.error(Phase::Measured, ErrorKind::Timeout, 3, &"slow");
        let mut b = Stats::new();
        b.response(
            Phase::Measured,
            Duration::from_micros(90),
            &response(503),
            now,
        );
        b.response(
            Phase::Measured,
            Duration::from_micros(90),
            &response(42),
            now,
        );
        b.server_close(Phase::Measured, 2);
        a.merge(&b);
        assert_eq!(a.measured.requests, 4);
        assert_eq!(a.measured.status, [0, 1, 0, 1, 1, 1]);
        assert_eq!(a.measured.non_2xx(), 3);
        assert_eq!(a.measured.errors.timeout, 1);
        assert_eq!(a.measured.errors.unanswered, 5);
        assert_eq!(a.measured.errors.total(), 6);
        assert_eq!(a.measured.body_bytes, 20);
        assert_eq!(a.warmup.requests, 1);
        assert_eq!(a.latency.len(), 4);
        assert_eq!(a.latency.max(), 90);
        assert_eq!(a.server_closes, 1);
        assert_eq!(a.first_error.as_deref(), Some("timeout: slow"));
    }
}
