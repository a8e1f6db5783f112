//! The run's report: JSON for tools (stdout or `--json FILE`) and one human line for stderr.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::stats::{STATUS_CLASSES, Stats};

/// How the run was set up, for the report.
#[derive(Debug, Clone)]
pub struct Setup {
    pub url: String,
    pub address: String,
    pub method: &'static str,
    pub path: String,
    pub body_bytes: usize,
    pub connections: usize,
    pub pipeline: usize,
    pub rate: Option<f64>,
    pub cores: Vec<usize>,
    pub wait: &'static str,
    pub warmup_s: f64,
    pub duration_s: f64,
}

/// Latency percentiles of the measured responses, microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub min: u64,
    pub mean: f64,
}

/// Open loop: how late requests were written after their scheduled time, microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SendLag {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// Errors of the measured window by kind. `total` counts failures to get a response at all;
/// `non_2xx` (complete responses with another status) is reported beside it, not in it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorReport {
    pub connect: u64,
    pub write: u64,
    pub read: u64,
    pub eof: u64,
    pub parse: u64,
    pub timeout: u64,
    pub unanswered: u64,
    pub total: u64,
    pub non_2xx: u64,
}

/// The warm-up's counts: sent, answered, not recorded in the latency.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WarmupReport {
    pub requests: u64,
    pub errors: u64,
}

/// The full report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// `closed` or `open`.
    pub mode: &'static str,
    pub url: String,
    pub address: String,
    pub method: &'static str,
    pub path: String,
    pub body_bytes: usize,
    pub connections: usize,
    pub pipeline: usize,
    /// Open loop: the target rate in requests/s; `null` in the closed loop.
    pub rate: Option<f64>,
    pub cores: Vec<usize>,
    /// `spin` or `park` (`--wait`).
    pub wait: &'static str,
    pub warmup_s: f64,
    /// The measured window as asked for.
    pub duration_s: f64,
    /// The window `rps` divides by: `duration_s`, or less when `--max-requests` ended the run.
    pub measured_s: f64,
    /// Complete responses to requests of the measured window, any status.
    pub requests: u64,
    pub rps: f64,
    pub latency_us: Latency,
    /// Open loop: lateness of the actual writes against the schedule (included in
    /// `latency_us`); `null` in the closed loop.
    pub send_lag_us: Option<SendLag>,
    pub errors: ErrorReport,
    /// Complete responses by status class.
    pub status: BTreeMap<&'static str, u64>,
    /// Response body bytes received in the window, after de-chunking.
    pub response_body_bytes: u64,
    /// Connections opened, the first ones included.
    pub connects: u64,
    /// Responses after which the server closed the connection (each one reconnected).
    pub server_closes: u64,
    /// Open loop: requests scheduled in the window but never sent because their connection
    /// was still behind when it closed; `null` in the closed loop.
    pub unsent: Option<u64>,
    pub warmup: WarmupReport,
    pub stopped_by_max_requests: bool,
    pub first_error: Option<String>,
}

impl Report {
    /// `measured_s`: the length of the measured window that actually ran.
    pub fn new(setup: Setup, stats: &Stats, measured_s: f64) -> Report {
        let h = &stats.latency;
        let latency = Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            min: h.min(),
            mean: (h.mean() * 10.0).round() / 10.0,
        };
        let measured = &stats.measured;
        let e = measured.errors;
        let errors = ErrorReport {
            connect: e.connect,
            write: e.write,
            read: e.read,
            eof: e.eof,
            parse: e.parse,
            timeout: e.timeout,
            unanswered: e.unanswered,
            total: e.total(),
            non_2xx: measured.non_2xx(),
        };
        let status = STATUS_CLASSES
            .iter()
            .zip(measured.status)
            .map(|(&class, count)| (class, count))
            .collect();
        let rps = if measured_s > 0.0 {
            (measured.requests as f64 / measured_s * 10.0).round() / 10.0
        } else {
            0.0
        };
        Report {
            mode: if setup.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            url: setup.url,
            address: setup.address,
            method: setup.method,
            path: setup.path,
            body_bytes: setup.body_bytes,
            connections: setup.connections,
            pipeline: setup.pipeline,
            rate: setup.rate,
            cores: setup.cores,
            wait: setup.wait,
            warmup_s: setup.warmup_s,
            duration_s: setup.duration_s,
            measured_s: (measured_s * 1000.0).round() / 1000.0,
            requests: measured.requests,
            rps,
            latency_us: latency,
            send_lag_us: setup.rate.map(|_| SendLag {
                p50: stats.send_lag.value_at_quantile(0.50),
                p99: stats.send_lag.value_at_quantile(0.99),
                max: stats.send_lag.max(),
            }),
            errors,
            status,
            response_body_bytes: measured.body_bytes,
            connects: stats.connects,
            server_closes: stats.server_closes,
            unsent: setup.rate.map(|_| stats.unsent),
            warmup: WarmupReport {
                requests: stats.warmup.requests,
                errors: stats.warmup.errors.total(),
            },
            stopped_by_max_requests: stats.quota_exhausted,
            first_error: stats.first_error.clone(),
        }
    }

    /// One line for people, e.g.
    /// `ok 123456 req in 10.0s = 12345.6 req/s; p50 61us p90 80us p99 95us p99.9 210us max 1.20ms; errors 0`.
    pub fn summary(&self) -> String {
        let l = &self.latency_us;
        let mut line = format!(
            "{} {} req in {:.1}s = {:.1} req/s",
            if self.errors.total == 0 {
                "ok"
            } else {
                "errors"
            },
            self.requests,
            self.measured_s,
            self.rps,
        );
        if let Some(rate) = self.rate {
            line.push_str(&format!(" (open loop at {rate} req/s)"));
        }
        line.push_str(&format!(
            "; p50 {} p90 {} p99 {} p99.9 {} max {}; errors {}",
            micros(l.p50),
            micros(l.p90),
            micros(l.p99),
            micros(l.p999),
            micros(l.max),
            self.errors.total,
        ));
        if self.errors.total > 0 {
            let e = &self.errors;
            let kinds = [
                ("connect", e.connect),
                ("write", e.write),
                ("read", e.read),
                ("eof", e.eof),
                ("parse", e.parse),
                ("timeout", e.timeout),
                ("unanswered", e.unanswered),
            ];
            let listed: Vec<String> = kinds
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            line.push_str(&format!(" ({})", listed.join(", ")));
        }
        if self.errors.non_2xx > 0 {
            let classes: Vec<String> = self
                .status
                .iter()
                .filter(|(class, n)| **class != "2xx" && **n > 0)
                .map(|(class, n)| format!("{class} {n}"))
                .collect();
            line.push_str(&format!(
                "; non-2xx {} ({})",
                self.errors.non_2xx,
                classes.join(", ")
            ));
        }
        if self.server_closes > 0 {
            line.push_str(&format!("; server closes {}", self.server_closes));
        }
        if let Some(lag) = &self.send_lag_us {
            line.push_str(&format!(
                "; send lag p50 {} p99 {} max {}",
                micros(lag.p50),
                micros(lag.p99),
                micros(lag.max)
            ));
        }
        if let Some(unsent) = self.unsent.filter(|&n| n > 0) {
            line.push_str(&format!(
                "; {unsent} scheduled requests unsent (behind schedule)"
            ));
        }
        if self.stopped_by_max_requests {
            line.push_str("; stopped by --max-requests");
        }
        if let Some(first) = self.first_error.as_ref().filter(|_| self.errors.total > 0) {
            line.push_str(&format!("; first error: {first}"));
        }
        line
    }
}

/// `61us`, `12.35ms`, `2.50s`.
fn micros(us: u64) -> String {
    if us < 10_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::response::Response;
    use crate::stats::{ErrorKind, Phase};

    fn setup(rate: Option<f64>) -> Setup {
        Setup {
            url: "http://127.0.0.1:8050/".into(),
            address: "127.0.0.1:8050".into(),
            method: "GET",
            path: "/".into(),
            body_bytes: 0,
            connections: 2,
            pipeline: 1,
            rate,
            cores: vec![1],
            wait: "spin",
            warmup_s: 0.0,
            duration_s: 2.0,
        }
    }

    #[test]
    fn json_fields_and_summary() {
        let mut stats = Stats::new();
        let now = Instant::now();
        for (status, us) in [(200, 61), (200, 80), (422, 15_000)] {
            let response = Response {
                status,
                close: false,
                body_bytes: 1,
            };
            stats.response(Phase::Measured, Duration::from_micros(us), &response, now);
        }
        let report = Report::new(setup(None), &stats, 2.0);
        let json = serde_json::to_value(&report).unwrap();
        for field in [
            "mode",
            "url",
            "connections",
            "pipeline",
            "rate",
            "duration_s",
            "requests",
            "rps",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
        assert_eq!(json["mode"], "closed");
        assert_eq!(json["rate"], serde_json::Value::Null);
        assert_eq!(json["requests"], 3);
        assert_eq!(json["rps"], 1.5);
        assert_eq!(json["status"]["2xx"], 2);
        assert_eq!(json["status"]["4xx"], 1);
        assert_eq!(json["errors"]["non_2xx"], 1);
        assert_eq!(json["errors"]["total"], 0);
        assert_eq!(json["latency_us"]["p50"], 80);
        for field in ["p50", "p90", "p99", "p999", "max", "mean"] {
            assert!(json["latency_us"].get(field).is_some(), "{field}");
        }
        let line = report.summary();
        assert!(
            line.starts_with("ok 3 req in 2.0s = 1.5 req/s; p50 80us"),
            "{line}"
        );
        assert!(
            line.contains("max 15.01ms; errors 0; non-2xx 1 (4xx 1)"),
            "{line}"
        );

        stats.error(Phase::Measured, ErrorKind::Timeout, 0, &"no answer");
        stats.unsent = 7;
        let report = Report::new(setup(Some(100.0)), &stats, 2.0);
        let line = report.summary();
        assert!(line.starts_with("errors 3 req"), "{line}");
        assert!(line.contains("(open loop at 100 req/s)"), "{line}");
        assert!(line.contains("errors 1 (timeout 1)"), "{line}");
        assert!(line.contains("7 scheduled requests unsent"), "{line}");
        assert!(line.contains("first error: timeout: no answer"), "{line}");
        assert_eq!(report.unsent, Some(7));
    }
}
