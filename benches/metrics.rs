//! What recording metrics adds to a request (issue 18's goal: under 30 ns): counting it by
//! method and status, its latency into the application's histogram, the replica's call, the
//! ongoing gauge, and the clock reads those take — each alone, then all of a request's
//! recording together, as the connection and the replica call do it.
//!
//! `cargo bench --bench metrics`. Each group states what one iteration does; compare runs with
//! criterion's `--save-baseline` / `--baseline`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use ringserve::metrics::record::Elapsed;
use ringserve::metrics::{MethodLabel, ShardMetrics};

/// A shard's recorder after its applications have served: the slots exist, the common
/// statuses are counted (a request adds to them, as in steady state).
fn warm() -> ShardMetrics {
    let metrics = ShardMetrics::default();
    let get = MethodLabel::of(&Method::GET);
    for slot in 0..4 {
        for status in [200, 404, 422] {
            metrics.http_request(slot, get, status, Elapsed::from_micros(80));
        }
        metrics.replica_call(slot, 200, Elapsed::from_micros(20));
    }
    metrics
}

/// One iteration records one parts of a request's metrics.
fn parts(c: &mut Criterion) {
    let metrics = warm();
    let get = MethodLabel::of(&Method::GET);
    let mut group = c.benchmark_group("metrics_parts");
    group.bench_function("http_request", |b| {
        b.iter(|| {
            metrics.http_request(
                black_box(2),
                black_box(get),
                black_box(200),
                black_box(Elapsed::from_micros(95)),
            )
        })
    });
    group.bench_function("replica_call", |b| {
        b.iter(|| {
            metrics.replica_call(
                black_box(2),
                black_box(200),
                black_box(Elapsed::from_micros(30)),
            )
        })
    });
    group.bench_function("method_label", |b| {
        b.iter(|| MethodLabel::of(black_box(&Method::POST)))
    });
    group.bench_function("ongoing_guard", |b| b.iter(|| drop(metrics.ongoing())));
    group.bench_function("instant_now_and_elapsed", |b| {
        b.iter(|| black_box(Instant::now()).elapsed())
    });
    group.bench_function("shard_clock_now_and_since", |b| {
        b.iter(|| metrics.since(black_box(metrics.now())))
    });
    group.finish();
}

/// One iteration is everything recording adds to one request served on its own shard: the
/// start time and the ongoing gauge (connection), the method's label, the replica call timed
/// and recorded, the request recorded with its latency.
fn per_request(c: &mut Criterion) {
    let metrics = warm();
    c.bench_function("metrics_per_request", |b| {
        b.iter(|| {
            let started = metrics.now();
            let ongoing = metrics.ongoing();
            let method = MethodLabel::of(black_box(&Method::GET));
            let handler_started = metrics.now();
            metrics.replica_call(black_box(1), 200, metrics.since(handler_started));
            metrics.http_request(black_box(1), method, 200, metrics.since(started));
            drop(ongoing);
        })
    });
}

criterion_group!(benches, parts, per_request);
criterion_main!(benches);
