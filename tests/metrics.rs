//! Metrics over loopback: a known mix of requests on two shards — 200s, 404s and 422s from a
//! typed ingress with a replica on each shard; a 200, a 503 from backpressure and a 408 from
//! the request timeout on an application with one replica, which the other shard forwards to;
//! a malformed request; an unknown path — then a scrape of the metrics listener, whose
//! counters and histogram counts must be exactly those. Also: OpenMetrics on request,
//! `promtool check metrics` parses the text, `ServerHandle::stats` agrees, the listener
//! refuses what is not a scrape, and a stalled shard is reported down, not waited for.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ringserve::ingress::{Json, Path, Router};
use ringserve::{Application, Cores, Deployment, Request, Response, Serve};

/// `/sleep?<ms>` sleeps that long, then answers.
struct Sleeper;

impl Deployment for Sleeper {
    async fn call(&self, request: Request) -> Response {
        let millis = request.query().and_then(|q| q.parse().ok()).unwrap_or(0);
        ringserve::rt::sleep(Duration::from_millis(millis)).await;
        Response::text("slept")
    }
}

async fn read_item(Path(item_id): Path<i64>) -> Json<i64> {
    Json(item_id)
}

fn server() -> ringserve::ServerHandle {
    let items = Application::try_new(|| Router::new().get("/{item_id}", read_item).build())
        .name("items")
        .route_prefix("/items");
    // One replica (on one shard; the other forwards to it), one request at a time, none
    // queued: a second request while one runs is refused with 503.
    let slow = Application::new(|| Sleeper)
        .name("slow")
        .route_prefix("/slow")
        .num_replicas(1)
        .max_ongoing_requests(1)
        .max_queued_requests(0)
        .request_timeout(Duration::from_millis(1500));
    common::start(
        Serve::new()
            .options(
                common::test_options()
                    .cores(Cores::Count(2))
                    .metrics_address("127.0.0.1:0"),
            )
            .app(items)
            .app(slow),
    )
}

/// One `GET` to the metrics listener: status code, content type, body.
fn scrape(metrics: SocketAddr, path: &str, headers: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(metrics).expect("metrics listener accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: metrics\r\n{headers}\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    let status = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|line| line.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    (status, content_type, body.to_owned())
}

/// Every sample of the text: `name{labels}` to its value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
            (series.to_owned(), value.parse().expect("a numeric value"))
        })
        .collect()
}

/// The sum of `name`'s samples whose labels include every one of `labels`.
fn sum(samples: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            series.strip_prefix(name).is_some_and(|rest| {
                (rest.is_empty() || rest.starts_with('{'))
                    && labels
                        .iter()
                        .all(|(label, value)| rest.contains(&format!("{label}=\"{value}\"")))
            })
        })
        .map(|(_, value)| value)
        .sum()
}

#[test]
fn a_known_mix_of_requests_is_counted_exactly_across_two_shards() {
    let server = server();
    let addr = server.local_addr();
    let metrics = server.metrics_addr().expect("a metrics listener");
    // Each on its own connection, so both shards accept some.
    for path in ["/items/1", "/items/2", "/items/3"] {
        assert_eq!(common::get(addr, path).status(), 200);
    }
    for path in ["/items/one", "/items/two"] {
        assert_eq!(common::get(addr, path).status(), 422);
    }
    assert_eq!(common::get(addr, "/items/1/extra").status(), 404);
    assert_eq!(common::get(addr, "/nowhere").status(), 404);
    // A malformed request is refused before routing.
    let refused =
        common::exchange_until_close(addr, b"GET / HTTP/1.1\r\nHost: a\r\nbad header\r\n\r\n");
    assert!(refused.starts_with("HTTP/1.1 400 "), "{refused}");
    // The slow application: twenty quick requests, each on its own connection, so that the
    // shard without its replica forwards some (all twenty on one shard: one chance in 2^19);
    // then one request holds its only turn for 600 ms, a second is refused meanwhile, a third
    // outlives the request timeout, and a fourth's client leaves before its answer.
    for _ in 0..20 {
        assert_eq!(common::get(addr, "/slow/sleep?0").status(), 200);
    }
    let holder = std::thread::spawn(move || common::get(addr, "/slow/sleep?600").status());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(common::get(addr, "/slow/sleep?0").status(), 503);
    assert_eq!(holder.join().unwrap(), 200);
    assert_eq!(common::get(addr, "/slow/sleep?5000").status(), 408);
    let mut leaving = TcpStream::connect(addr).unwrap();
    leaving
        .write_all(b"GET /slow/sleep?5000 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    drop(leaving);
    let departures = "ringserve_engine_client_departures_total";
    let left_at = std::time::Instant::now();
    while sum(
        &samples(&scrape(metrics, "/metrics", "").2),
        departures,
        &[],
    ) < 1.0
    {
        assert!(
            left_at.elapsed() < Duration::from_secs(5),
            "the departure was never counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let (status, content_type, text) = scrape(metrics, "/metrics", "");
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let samples = samples(&text);
    let count =
        |labels: &[(&str, &str)]| sum(&samples, "ringserve_serve_num_http_requests_total", labels);
    let items = |status: &'static str| count(&[("application", "items"), ("status_code", status)]);
    let slow = |status: &'static str| count(&[("application", "slow"), ("status_code", status)]);
    assert_eq!(items("200"), 3.0, "{text}");
    assert_eq!(items("422"), 2.0);
    assert_eq!(items("404"), 1.0);
    assert_eq!(count(&[("application", "items"), ("route", "/items")]), 6.0);
    assert_eq!(count(&[("application", ""), ("status_code", "404")]), 1.0);
    assert_eq!(slow("200"), 21.0);
    assert_eq!(slow("503"), 1.0);
    assert_eq!(slow("408"), 1.0);
    // Ray Serve's (and nginx's) status for a client that left: never sent, only counted.
    assert_eq!(slow("499"), 1.0);
    assert_eq!(
        count(&[("method", "GET")]),
        31.0,
        "no other request was counted"
    );
    let errors = |labels: &[(&str, &str)]| {
        sum(
            &samples,
            "ringserve_serve_num_http_error_requests_total",
            labels,
        )
    };
    assert_eq!(errors(&[("application", "items")]), 3.0);
    assert_eq!(
        errors(&[("application", "slow"), ("error_code", "503")]),
        1.0
    );
    assert_eq!(errors(&[("application", "slow")]), 3.0);

    // Latency: every request in its application's histogram; the slow application's quick
    // 200s and its 503 took next to nothing, its held 200 600 ms, its 499 400 ms, its 408
    // 1.5 s.
    let histogram = |suffix: &str, labels: &[(&str, &str)]| {
        let name = format!("ringserve_serve_http_request_latency_ms{suffix}");
        sum(&samples, &name, labels)
    };
    assert_eq!(histogram("_count", &[("application", "items")]), 6.0);
    assert_eq!(
        histogram("_bucket", &[("application", "items"), ("le", "+Inf")]),
        6.0
    );
    let slow_bucket = |le: &str| histogram("_bucket", &[("application", "slow"), ("le", le)]);
    assert_eq!(histogram("_count", &[("application", "slow")]), 24.0);
    // (Bounds far from each: a loaded machine slows the quick ones, never past 200 ms.)
    assert_eq!(slow_bucket("200"), 21.0);
    assert_eq!(slow_bucket("1000"), 23.0);
    assert_eq!(slow_bucket("+Inf"), 24.0);
    assert!(histogram("_sum", &[("application", "slow")]) >= 2_000.0);

    // The slow application's one replica served the calls that finished (the 503 never had a
    // turn; the 408's and the 499's handlers were dropped), whichever shard accepted them.
    let total = |name: &str, labels: &[(&str, &str)]| sum(&samples, name, labels);
    let calls = "ringserve_serve_deployment_request_counter_total";
    assert_eq!(total(calls, &[("deployment", "slow")]), 21.0);
    assert_eq!(total(calls, &[("deployment", "items")]), 6.0);
    assert_eq!(
        total(
            "ringserve_serve_deployment_processing_latency_ms_count",
            &[("deployment", "items")]
        ),
        6.0
    );
    // Engine counters, summed over the shards.
    assert_eq!(total("ringserve_engine_request_timeouts_total", &[]), 1.0);
    assert_eq!(
        total(
            "ringserve_engine_rejected_requests_total",
            &[("status_code", "400")]
        ),
        1.0
    );
    assert_eq!(
        total("ringserve_engine_connections_accepted_total", &[]),
        32.0
    );
    assert_eq!(total(departures, &[]), 1.0);
    assert_eq!(total("ringserve_engine_shard_up", &[]), 2.0);
    assert_eq!(total("ringserve_engine_shard_stalled", &[]), 0.0);
    assert_eq!(total("ringserve_engine_shard_stalls_total", &[]), 0.0);
    assert_eq!(total("ringserve_serve_num_ongoing_http_requests", &[]), 0.0);
    // The shard without the slow application's replica forwarded what it accepted of it,
    // each call timed.
    let forwarded = total("ringserve_engine_forwarded_calls_total", &[]);
    assert!(forwarded >= 1.0, "{text}");
    assert_eq!(
        total("ringserve_engine_forwarded_call_latency_seconds_count", &[]),
        forwarded
    );
    let slow_replica_shard = if text.contains("replica=\"slow#0\"") {
        0
    } else {
        1
    };
    assert!(!text.contains(&format!("replica=\"slow#{}\"", 1 - slow_replica_shard)));

    // The same figures, as the library reads them.
    let stats = server.stats();
    let app = |name: &str| {
        stats
            .applications
            .iter()
            .find(|app| app.name == name)
            .cloned()
            .expect("the application in the stats")
    };
    let items = app("items");
    assert_eq!(
        (
            items.requests,
            items.client_errors,
            items.server_errors,
            items.replicas
        ),
        (6, 3, 0, 2)
    );
    let slow = app("slow");
    assert_eq!(
        (
            slow.requests,
            slow.client_errors,
            slow.server_errors,
            slow.replicas
        ),
        (24, 2, 1, 1)
    );
    assert!(slow.latency_ms.expect("latencies").p99 >= 1_400.0);
    assert_eq!(stats.shards.len(), 2);
    assert!(stats.shards.iter().all(|shard| shard.up && !shard.stalled));
    assert_eq!(
        stats.shards.iter().map(|shard| shard.requests).sum::<u64>(),
        31
    );
    server.shutdown();
}

#[test]
fn openmetrics_is_served_to_a_scraper_that_asks_for_it() {
    let server = server();
    assert_eq!(common::get(server.local_addr(), "/items/7").status(), 200);
    let metrics = server.metrics_addr().unwrap();
    let (status, content_type, text) = scrape(
        metrics,
        "/metrics",
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n",
    );
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE ringserve_serve_num_http_requests counter\n"));
    assert!(text.contains(
        "ringserve_serve_num_http_requests_total{route=\"/items\",method=\"GET\",application=\"items\",status_code=\"200\"} 1\n"
    ));
    server.shutdown();
}

#[test]
fn the_metrics_listener_answers_only_scrapes() {
    let server = server();
    let metrics = server.metrics_addr().unwrap();
    let (status, _, body) = scrape(metrics, "/", "");
    assert_eq!(status, 404);
    assert!(body.contains("/metrics"), "{body}");
    let mut stream = TcpStream::connect(metrics).unwrap();
    stream
        .write_all(b"POST /metrics HTTP/1.1\r\nHost: m\r\ncontent-length: 0\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\r\nallow: GET\r\n"));
    let mut stream = TcpStream::connect(metrics).unwrap();
    stream.write_all(b"\x16\x03\x01 not http\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    // The stats are JSON for scripts.
    let (status, content_type, body) = scrape(metrics, "/stats", "");
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let stats: ringserve::Stats = serde_json::from_str(&body).unwrap();
    assert_eq!(stats.shards.len(), 2);
    server.shutdown();
}

#[test]
fn a_metrics_address_that_cannot_be_bound_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let error = common::start_error(
        Serve::new()
            .options(common::test_options().metrics_address(address.clone()))
            .app(Application::new(|| Sleeper)),
    );
    assert!(
        error.contains(&format!("binding the metrics listener on {address}")),
        "{error}"
    );
    let error = common::start_error(
        Serve::new()
            .options(common::test_options().metrics_address("nowhere"))
            .app(Application::new(|| Sleeper)),
    );
    assert!(
        error.contains("metrics_address = \"nowhere\" is not a host:port"),
        "{error}"
    );
    let error = common::start_error(
        Serve::new()
            .options(common::test_options().metrics_prefix("9lives"))
            .app(Application::new(|| Sleeper)),
    );
    assert!(error.contains("metrics_prefix = \"9lives\""), "{error}");
}

/// `promtool check metrics` (Debian's `prometheus` package) parses the text: it exits 1 on a
/// format error. Its lint (exit 3) flags only what Ray Serve's own names do — a unit
/// abbreviation (`_ms`) and `counter` in a counter's name — which the names keep so that Ray's
/// dashboards work.
#[test]
fn promtool_accepts_the_text() {
    if std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("RINGSERVE_REQUIRE_PROMTOOL").is_none(),
            "RINGSERVE_REQUIRE_PROMTOOL is set but there is no promtool"
        );
        common::skip("no promtool (apt-get install prometheus)");
        return;
    }
    let server = server();
    let addr = server.local_addr();
    assert_eq!(common::get(addr, "/items/1").status(), 200);
    assert_eq!(common::get(addr, "/items/x").status(), 422);
    assert_eq!(common::get(addr, "/slow/sleep?1").status(), 200);
    let _ = common::exchange_until_close(addr, b"BAD\r\n\r\n");
    let (_, _, text) = scrape(server.metrics_addr().unwrap(), "/metrics", "");
    server.shutdown();
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        matches!(output.status.code(), Some(0 | 3)),
        "promtool refused the text: {said}\n{text}"
    );
    for finding in said.lines().filter(|line| !line.trim().is_empty()) {
        let ray_name = finding.starts_with("ringserve_serve_")
            && (finding.ends_with("metric names should not contain abbreviated units")
                || finding.ends_with("metric name should not include type 'counter'"));
        assert!(ray_name, "a lint finding beyond Ray's names: {finding}");
    }
}

/// `/spin?<ms>` busy-loops that long without awaiting: its shard turns no more meanwhile.
struct Spin;

impl Deployment for Spin {
    async fn call(&self, request: Request) -> Response {
        let millis = request.query().and_then(|q| q.parse().ok()).unwrap_or(0);
        let end = std::time::Instant::now() + Duration::from_millis(millis);
        while std::time::Instant::now() < end {
            std::hint::spin_loop();
        }
        Response::text("spun")
    }
}

#[test]
fn a_stalled_shard_is_reported_down_and_not_waited_for() {
    let server = common::start(
        Serve::new()
            .options(
                common::test_options()
                    .cores(Cores::Count(2))
                    .metrics_address("127.0.0.1:0"),
            )
            .app(Application::new(|| Spin).name("spin")),
    );
    let (addr, metrics) = (server.local_addr(), server.metrics_addr().unwrap());
    let spinning = std::thread::spawn(move || common::get(addr, "/spin?3000").status());
    std::thread::sleep(Duration::from_millis(300));
    let asked = std::time::Instant::now();
    let (status, _, text) = scrape(metrics, "/metrics", "");
    // One shard answers at once; the spinning one is given a second, then reported down.
    assert!(
        asked.elapsed() < Duration::from_millis(2_500),
        "the scrape waited {:?} for a stalled shard",
        asked.elapsed()
    );
    assert_eq!(status, 200);
    let during = samples(&text);
    assert_eq!(
        sum(&during, "ringserve_engine_shard_up", &[]),
        1.0,
        "{text}"
    );
    let stats = server.stats();
    assert_eq!(
        stats.shards.iter().filter(|shard| !shard.up).count(),
        1,
        "{stats:?}"
    );
    assert_eq!(spinning.join().unwrap(), 200);
    // Turning again, it answers the next scrape.
    let after = samples(&scrape(metrics, "/metrics", "").2);
    assert_eq!(sum(&after, "ringserve_engine_shard_up", &[]), 2.0);
    server.shutdown();
}
