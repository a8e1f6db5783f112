//! The Prometheus text format (0.0.4) and OpenMetrics (1.0) of a scrape: every shard's
//! snapshot merged — counters summed, histograms added — under Ray Serve's metric names and
//! labels after a configurable prefix, and the engine's own metrics beside them.
//!
//! Invariant: label values come from the configuration (application names, route prefixes),
//! the fixed method names, status codes and shard numbers — never from a request's path or
//! headers — so a scan of random paths adds no series; and every value is escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::buckets::Summary;
use super::record::MethodLabel;
use super::{Scrape, ShardReport, Target};

/// Ray Serve's latency buckets (1 ms to 600,000 ms), after finer ones below 1 ms — this
/// engine answers in microseconds — as their upper bounds in microseconds.
const LATENCY_BUCKETS_MICROS: [u64; 24] = [
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    300_000,
    400_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
    600_000_000,
];

/// The unit a histogram's name says: Ray's names are in milliseconds, the engine's own in
/// seconds (Prometheus' base unit).
#[derive(Clone, Copy)]
enum Unit {
    Milliseconds,
    Seconds,
}

impl Unit {
    /// Microseconds per unit.
    fn micros(self) -> u64 {
        match self {
            Unit::Milliseconds => 1_000,
            Unit::Seconds => 1_000_000,
        }
    }
}

/// `micros` in `unit`, written exactly (`25` µs is `0.025` ms, `0.000025` s).
fn decimal(micros: u64, unit: Unit) -> String {
    let scale = unit.micros();
    let (whole, fraction) = (micros / scale, micros % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = scale.ilog10() as usize;
    let fraction = format!("{fraction:0digits$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// Which of the two text formats a scraper asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Prometheus,
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it, else Prometheus' text format.
    pub(crate) fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Writes metric families one after another.
struct Writer<'a> {
    out: String,
    prefix: &'a str,
    format: Format,
}

impl Writer<'_> {
    /// `# HELP` and `# TYPE` of a family; `base` without `_total` for a counter.
    fn family(&mut self, base: &str, kind: Kind, help: &str) {
        let (type_name, suffix) = match (kind, self.format) {
            (Kind::Counter, Format::Prometheus) => ("counter", "_total"),
            (Kind::Counter, Format::OpenMetrics) => ("counter", ""),
            (Kind::Gauge, _) => ("gauge", ""),
            (Kind::Histogram, _) => ("histogram", ""),
        };
        let prefix = self.prefix;
        let _ = writeln!(self.out, "# HELP {prefix}{base}{suffix} {help}");
        let _ = writeln!(self.out, "# TYPE {prefix}{base}{suffix} {type_name}");
    }

    /// One sample: `<prefix><name>{labels} value`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.out, "{}{name}", self.prefix);
        write_labels(&mut self.out, labels);
        let _ = writeln!(self.out, " {value}");
    }

    /// A histogram's buckets (cumulative, in `unit`), count and sum.
    fn histogram(&mut self, base: &str, labels: &[(&str, &str)], latency: &Summary, unit: Unit) {
        let bucket = format!("{base}_bucket");
        for upper_micros in LATENCY_BUCKETS_MICROS {
            let count = latency.histogram.count_between(0, upper_micros);
            let le = decimal(upper_micros, unit);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, count);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, latency.count());
        self.sample(&format!("{base}_count"), labels, latency.count());
        self.sample(
            &format!("{base}_sum"),
            labels,
            latency.sum_micros as f64 / unit.micros() as f64,
        );
    }
}

/// A family's sample name: a counter's with `_total`.
fn sample_name(base: &str, kind: Kind) -> String {
    match kind {
        Kind::Counter => format!("{base}_total"),
        Kind::Gauge | Kind::Histogram => base.to_owned(),
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (position, (name, value)) in labels.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for character in value.chars() {
            match character {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                other => out.push(other),
            }
        }
        out.push('"');
    }
    out.push('}');
}

/// The scrape as text in `format`.
pub(crate) fn render(scrape: &Scrape<'_>, format: Format) -> String {
    let mut writer = Writer {
        out: String::with_capacity(16 * 1024),
        prefix: scrape.prefix,
        format,
    };
    http_metrics(&mut writer, scrape);
    replica_metrics(&mut writer, scrape);
    engine_metrics(&mut writer, scrape);
    if format == Format::OpenMetrics {
        writer.out.push_str("# EOF\n");
    }
    writer.out
}

fn target<'a>(scrape: &Scrape<'a>, slot: usize) -> Option<&'a Target> {
    scrape.targets.get(slot)
}

fn answered(shards: &[ShardReport]) -> impl Iterator<Item = &super::ShardSnapshot> {
    shards.iter().filter_map(|report| report.snapshot.as_ref())
}

/// Ray's proxy metrics: requests by route, method, application and status code; the errors
/// among them; their latency; the requests in flight.
fn http_metrics(writer: &mut Writer<'_>, scrape: &Scrape<'_>) {
    let mut counts: BTreeMap<(usize, MethodLabel, u16), u64> = BTreeMap::new();
    let mut latencies: BTreeMap<usize, Summary> = BTreeMap::new();
    for snapshot in answered(scrape.shards) {
        for (slot, record) in snapshot.http.iter().enumerate() {
            let Some(record) = record else { continue };
            for entry in &record.counts {
                *counts
                    .entry((slot, entry.method, entry.status))
                    .or_default() += entry.count;
            }
            latencies
                .entry(slot)
                .or_insert_with(Summary::new)
                .add(&record.latency);
        }
    }
    writer.family(
        "serve_num_http_requests",
        Kind::Counter,
        "HTTP requests answered, by route prefix, method, application and status code.",
    );
    for (&(slot, method, status), count) in &counts {
        let Some(target) = target(scrape, slot) else {
            continue;
        };
        let status = status.to_string();
        writer.sample(
            "serve_num_http_requests_total",
            &[
                ("route", &target.route),
                ("method", method.as_str()),
                ("application", &target.application),
                ("status_code", &status),
            ],
            count,
        );
    }
    writer.family(
        "serve_num_http_error_requests",
        Kind::Counter,
        "HTTP requests answered with a status of 400 or more.",
    );
    for (&(slot, method, status), count) in counts.iter().filter(|(key, _)| key.2 >= 400) {
        let Some(target) = target(scrape, slot) else {
            continue;
        };
        let status = status.to_string();
        writer.sample(
            "serve_num_http_error_requests_total",
            &[
                ("route", &target.route),
                ("error_code", &status),
                ("method", method.as_str()),
                ("application", &target.application),
            ],
            count,
        );
    }
    writer.family(
        "serve_num_deployment_http_error_requests",
        Kind::Counter,
        "HTTP requests an application answered with a status of 400 or more, by deployment.",
    );
    for (&(slot, method, status), count) in counts.iter().filter(|(key, _)| key.2 >= 400) {
        let Some(target) = target(scrape, slot) else {
            continue;
        };
        if target.application.is_empty() {
            continue;
        }
        let status = status.to_string();
        writer.sample(
            "serve_num_deployment_http_error_requests_total",
            &[
                ("deployment", &target.application),
                ("error_code", &status),
                ("method", method.as_str()),
                ("route", &target.route),
                ("application", &target.application),
            ],
            count,
        );
    }
    writer.family(
        "serve_http_request_latency_ms",
        Kind::Histogram,
        "Time from a complete request head to its response handed to the socket, in milliseconds.",
    );
    for (&slot, latency) in &latencies {
        let Some(target) = target(scrape, slot) else {
            continue;
        };
        writer.histogram(
            "serve_http_request_latency_ms",
            &[
                ("route", &target.route),
                ("application", &target.application),
            ],
            latency,
            Unit::Milliseconds,
        );
    }
    writer.family(
        "serve_num_ongoing_http_requests",
        Kind::Gauge,
        "HTTP requests begun and not yet answered, per shard.",
    );
    for snapshot in answered(scrape.shards) {
        let shard = snapshot.shard.to_string();
        writer.sample(
            "serve_num_ongoing_http_requests",
            &[("shard", &shard)],
            snapshot.ongoing,
        );
    }
}

/// Ray's replica and deployment metrics: each shard's replica of an application is one
/// replica, named `<application>#<shard>`.
fn replica_metrics(writer: &mut Writer<'_>, scrape: &Scrape<'_>) {
    let mut queued: BTreeMap<usize, u64> = BTreeMap::new();
    for snapshot in answered(scrape.shards) {
        for gauge in &snapshot.gauges {
            *queued.entry(gauge.slot).or_default() += gauge.queued;
        }
    }
    writer.family(
        "serve_deployment_queued_queries",
        Kind::Gauge,
        "Requests waiting for a turn of a replica, summed over the deployment's replicas.",
    );
    for (&slot, count) in &queued {
        let Some(target) = target(scrape, slot) else {
            continue;
        };
        writer.sample(
            "serve_deployment_queued_queries",
            &[
                ("deployment", &target.application),
                ("application", &target.application),
            ],
            count,
        );
    }
    writer.family(
        "serve_replica_processing_queries",
        Kind::Gauge,
        "Requests a replica is processing now.",
    );
    for snapshot in answered(scrape.shards) {
        for gauge in &snapshot.gauges {
            let Some(target) = target(scrape, gauge.slot) else {
                continue;
            };
            let replica = format!("{}#{}", target.application, snapshot.shard);
            writer.sample(
                "serve_replica_processing_queries",
                &[
                    ("deployment", &target.application),
                    ("replica", &replica),
                    ("application", &target.application),
                ],
                gauge.processing,
            );
        }
    }
    let replicas = || {
        answered(scrape.shards).flat_map(|snapshot| {
            snapshot
                .replicas
                .iter()
                .enumerate()
                .filter_map(move |(slot, record)| Some((snapshot.shard, slot, record.as_ref()?)))
        })
    };
    type Read = fn(&super::record::ReplicaRecord) -> u64;
    let counters: [(&str, &str, Read); 2] = [
        (
            "serve_deployment_request_counter",
            "Calls a replica served, its own shard's and those forwarded to it.",
            |record| record.calls,
        ),
        (
            "serve_deployment_error_counter",
            "Calls a replica answered with a status of 500 or more (a panic included).",
            |record| record.errors,
        ),
    ];
    for (base, help, value) in counters {
        writer.family(base, Kind::Counter, help);
        let total = format!("{base}_total");
        for (shard, slot, record) in replicas() {
            let Some(target) = target(scrape, slot) else {
                continue;
            };
            let replica = format!("{}#{shard}", target.application);
            writer.sample(
                &total,
                &[
                    ("deployment", &target.application),
                    ("replica", &replica),
                    ("route", &target.route),
                    ("application", &target.application),
                ],
                value(record),
            );
        }
    }
    writer.family(
        "serve_deployment_processing_latency_ms",
        Kind::Histogram,
        "Time a replica's handler took to return its response, in milliseconds.",
    );
    for (shard, slot, record) in replicas() {
        let Some(target) = target(scrape, slot) else {
            continue;
        };
        let replica = format!("{}#{shard}", target.application);
        let mut processing = Summary::new();
        processing.add(&record.processing);
        writer.histogram(
            "serve_deployment_processing_latency_ms",
            &[
                ("deployment", &target.application),
                ("replica", &replica),
                ("route", &target.route),
                ("application", &target.application),
            ],
            &processing,
            Unit::Milliseconds,
        );
    }
}

/// The engine's own metrics, per shard.
fn engine_metrics(writer: &mut Writer<'_>, scrape: &Scrape<'_>) {
    type ReadReport = fn(&ShardReport) -> u64;
    let per_report: [(&str, Kind, &str, ReadReport); 3] = [
        (
            "engine_shard_up",
            Kind::Gauge,
            "1 when the shard answered this scrape in time, else 0 (stalled or stopped).",
            |report| u64::from(report.snapshot.is_some()),
        ),
        (
            "engine_shard_stalled",
            Kind::Gauge,
            "1 while the stall watchdog finds the shard stuck in one turn past its threshold.",
            |report| u64::from(report.stalled),
        ),
        (
            "engine_shard_stalls",
            Kind::Counter,
            "Times the stall watchdog found the shard stuck in one turn past its threshold.",
            |report| report.stalls,
        ),
    ];
    for (base, kind, help, read) in per_report {
        writer.family(base, kind, help);
        let name = sample_name(base, kind);
        for report in scrape.shards {
            let shard = report.index.to_string();
            writer.sample(&name, &[("shard", &shard)], read(report));
        }
    }
    writer.family(
        "engine_forwarded_call_latency_seconds",
        Kind::Histogram,
        "Calls sent to another shard's replica: from sending to the answer's head back.",
    );
    for snapshot in answered(scrape.shards) {
        let shard = snapshot.shard.to_string();
        let mut latency = Summary::new();
        latency.add(&snapshot.forwarded_latency);
        writer.histogram(
            "engine_forwarded_call_latency_seconds",
            &[("shard", &shard)],
            &latency,
            Unit::Seconds,
        );
    }
    type Read = fn(&super::ShardSnapshot) -> u64;
    let per_shard: [(&str, Kind, &str, Read); 8] = [
        (
            "engine_connections_open",
            Kind::Gauge,
            "Client connections open now.",
            |snapshot| snapshot.connections_open,
        ),
        (
            "engine_connections_accepted",
            Kind::Counter,
            "Client connections accepted.",
            |snapshot| snapshot.connections_accepted,
        ),
        (
            "engine_received_bytes",
            Kind::Counter,
            "Bytes read from clients.",
            |snapshot| snapshot.bytes_received,
        ),
        (
            "engine_sent_bytes",
            Kind::Counter,
            "Bytes written to clients.",
            |snapshot| snapshot.bytes_sent,
        ),
        (
            "engine_request_timeouts",
            Kind::Counter,
            "Requests answered 408 because the request timeout passed.",
            |snapshot| snapshot.request_timeouts,
        ),
        (
            "engine_client_departures",
            Kind::Counter,
            "Handlers dropped because their client left before the answer.",
            |snapshot| snapshot.client_departures,
        ),
        (
            "engine_forwarded_calls",
            Kind::Counter,
            "Calls sent to another shard's replica.",
            |snapshot| snapshot.forwarded_calls,
        ),
        (
            "engine_handler_panics",
            Kind::Counter,
            "Handler panics caught.",
            |snapshot| snapshot.handler_panics,
        ),
    ];
    for (base, kind, help, read) in per_shard {
        writer.family(base, kind, help);
        let name = sample_name(base, kind);
        for snapshot in answered(scrape.shards) {
            let shard = snapshot.shard.to_string();
            writer.sample(&name, &[("shard", &shard)], read(snapshot));
        }
    }
    writer.family(
        "engine_rejected_requests",
        Kind::Counter,
        "Requests refused before routing (malformed, too large, too slow), by status code.",
    );
    for snapshot in answered(scrape.shards) {
        let shard = snapshot.shard.to_string();
        for &(status, count) in &snapshot.rejections {
            let status = status.to_string();
            writer.sample(
                "engine_rejected_requests_total",
                &[("shard", &shard), ("status_code", &status)],
                count,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::super::record::{Elapsed, ShardMetrics};
    use super::*;

    fn scrape_of<'a>(targets: &'a [Target], shards: &'a [ShardReport]) -> Scrape<'a> {
        Scrape {
            prefix: "ringserve_",
            targets,
            shards,
        }
    }

    fn targets() -> Vec<Target> {
        vec![
            Target {
                application: String::new(),
                route: String::new(),
            },
            Target {
                application: "a\"b".to_owned(),
                route: "/a".to_owned(),
            },
        ]
    }

    #[test]
    fn counts_of_two_shards_are_summed_and_labelled() {
        let get = MethodLabel::of(&Method::GET);
        let (first, second) = (ShardMetrics::default(), ShardMetrics::default());
        first.http_request(1, get, 200, Elapsed::from_micros(40));
        second.http_request(1, get, 200, Elapsed::from_micros(2_000));
        second.http_request(1, get, 404, Elapsed::from_micros(10));
        let shards = [
            ShardReport {
                index: 0,
                snapshot: Some(first.snapshot(0)),
                stalled: false,
                stalls: 0,
            },
            ShardReport {
                index: 1,
                snapshot: Some(second.snapshot(1)),
                stalled: false,
                stalls: 0,
            },
        ];
        let targets = targets();
        let text = render(&scrape_of(&targets, &shards), Format::Prometheus);
        assert!(text.contains(
            "ringserve_serve_num_http_requests_total{route=\"/a\",method=\"GET\",application=\"a\\\"b\",status_code=\"200\"} 2\n"
        ), "{text}");
        assert!(text.contains(
            "ringserve_serve_num_http_error_requests_total{route=\"/a\",error_code=\"404\",method=\"GET\",application=\"a\\\"b\"} 1\n"
        ), "{text}");
        assert!(text.contains("# TYPE ringserve_serve_num_http_requests_total counter\n"));
        let latency = "ringserve_serve_http_request_latency_ms";
        assert!(text.contains(&format!(
            "{latency}_bucket{{route=\"/a\",application=\"a\\\"b\",le=\"0.025\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "{latency}_bucket{{route=\"/a\",application=\"a\\\"b\",le=\"0.05\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "{latency}_bucket{{route=\"/a\",application=\"a\\\"b\",le=\"+Inf\"}} 3\n"
        )));
        assert!(text.contains(&format!(
            "{latency}_sum{{route=\"/a\",application=\"a\\\"b\"}} 2.05\n"
        )));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn a_shard_that_did_not_answer_is_down_and_left_out() {
        let shards = [ShardReport {
            index: 3,
            snapshot: None,
            stalled: true,
            stalls: 2,
        }];
        let targets = targets();
        let text = render(&scrape_of(&targets, &shards), Format::OpenMetrics);
        assert!(text.contains("ringserve_engine_shard_up{shard=\"3\"} 0\n"));
        assert!(text.contains("ringserve_engine_shard_stalled{shard=\"3\"} 1\n"));
        assert!(text.contains("ringserve_engine_shard_stalls_total{shard=\"3\"} 2\n"));
        assert!(!text.contains("ringserve_engine_connections_open{"));
        // OpenMetrics names a counter family without `_total`, and ends with `# EOF`.
        assert!(text.contains("# TYPE ringserve_serve_num_http_requests counter\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn bucket_bounds_are_written_exactly_in_their_unit() {
        assert_eq!(decimal(25, Unit::Milliseconds), "0.025");
        assert_eq!(decimal(1_000, Unit::Milliseconds), "1");
        assert_eq!(decimal(600_000_000, Unit::Milliseconds), "600000");
        assert_eq!(decimal(25, Unit::Seconds), "0.000025");
        assert_eq!(decimal(250_000, Unit::Seconds), "0.25");
        assert_eq!(decimal(2_000_000, Unit::Seconds), "2");
    }

    #[test]
    fn openmetrics_is_chosen_by_accept() {
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Prometheus);
        assert_eq!(Format::from_accept(None), Format::Prometheus);
    }
}
