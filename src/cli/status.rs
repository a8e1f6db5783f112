//! `ringserve status`: what a running server says of itself — on its public port, `/-/routes`
//! and `/-/healthz`; on its metrics listener, `/stats` twice, a moment apart, for request
//! rates — as tables or as JSON.
//!
//! Invariant: it only reads (`GET`s, each on its own connection, each bounded by a timeout);
//! the exit status is 0 only for a server that answered and is healthy. A metrics listener
//! that does not answer leaves the figures out, with a note, and changes no exit status.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::metrics::Stats;

/// How long each request to the server may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer it reads.
const ANSWER_BYTES_MAX: u64 = 1 << 20;

/// What `ringserve status` was asked.
pub(crate) struct Asked<'a> {
    pub address: &'a str,
    pub metrics_address: &'a str,
    /// Between the two samples of the figures; zero: one sample, no rates.
    pub interval: Duration,
    pub json: bool,
}

/// Prints the server's applications, health and figures; the exit status.
pub(crate) fn status(asked: &Asked<'_>) -> i32 {
    let address = asked.address;
    let json = asked.json;
    let routes = get(address, "/-/routes");
    let health = get(address, "/-/healthz");
    let (routes, (health_status, health_text)) = match (routes, health) {
        (Ok(routes), Ok(health)) => (routes, health),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("error: {address}: {error}");
            return 1;
        }
    };
    let healthy = health_status == 200;
    let applications: BTreeMap<String, String> = if routes.0 == 200 {
        serde_json::from_str(&routes.1).unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    let figures = figures(address, asked.metrics_address, asked.interval);
    if json {
        let applications: Vec<serde_json::Value> = applications
            .iter()
            .map(|(prefix, name)| serde_json::json!({"name": name, "route_prefix": prefix}))
            .collect();
        let mut report = serde_json::json!({
            "address": address,
            "healthy": healthy,
            "health": health_text.trim(),
            "applications": applications,
        });
        match &figures {
            Ok(figures) => report["stats"] = figures.json(),
            Err(error) => report["stats_error"] = serde_json::json!(error),
        }
        println!("{report}");
        return if healthy { 0 } else { 1 };
    }
    let verdict = if healthy { "healthy" } else { "UNHEALTHY" };
    println!("{address}: {verdict}: {}", health_text.trim());
    if let Ok(figures) = &figures {
        println!();
        print!("{}", figures.tables());
    } else {
        let width = applications
            .values()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max(11);
        println!("{:width$}  ROUTE PREFIX", "APPLICATION");
        for (prefix, name) in &applications {
            println!("{name:width$}  {prefix}");
        }
        if let Err(error) = &figures {
            println!();
            println!(
                "no figures: the metrics listener at {} {error} (ringserve.metrics_address names it)",
                asked.metrics_address
            );
        }
    }
    if healthy { 0 } else { 1 }
}

/// Two samples of the server's figures, `interval` apart.
struct Figures {
    stats: Stats,
    /// Requests per second over the interval, by application route prefix and by shard.
    rates: Option<(BTreeMap<String, f64>, BTreeMap<usize, f64>)>,
}

/// The port of a `host:port`.
fn port_of(address: &str) -> Option<&str> {
    address.rsplit_once(':').map(|(_, port)| port)
}

/// Samples `/stats` on the metrics listener (twice, when `interval` is not zero), which must
/// be the one of the server at `metrics_owner` (two servers on one machine: the default
/// metrics address may be the other's).
fn figures(
    metrics_owner: &str,
    metrics_address: &str,
    interval: Duration,
) -> Result<Figures, String> {
    let sample = || -> Result<(Instant, Stats), String> {
        let taken = Instant::now();
        let (code, body) = get(metrics_address, "/stats")?;
        if code != 200 {
            return Err(format!("answered {code} to GET /stats"));
        }
        let stats =
            serde_json::from_str(&body).map_err(|error| format!("sent bad JSON: {error}"))?;
        Ok((taken, stats))
    };
    let (first_at, first) = sample()?;
    if port_of(&first.server) != port_of(metrics_owner) {
        return Err(format!(
            "belongs to the server on {}, not this one: name this one's with --metrics-address",
            first.server
        ));
    }
    if interval.is_zero() {
        return Ok(Figures {
            stats: first,
            rates: None,
        });
    }
    std::thread::sleep(interval);
    let (second_at, second) = sample()?;
    let seconds = second_at.duration_since(first_at).as_secs_f64().max(1e-3);
    let rate = |before: u64, after: u64| after.saturating_sub(before) as f64 / seconds;
    let applications = second
        .applications
        .iter()
        .map(|app| {
            let before = first
                .applications
                .iter()
                .find(|earlier| earlier.route_prefix == app.route_prefix)
                .map_or(0, |earlier| earlier.requests);
            (app.route_prefix.clone(), rate(before, app.requests))
        })
        .collect();
    let shards = second
        .shards
        .iter()
        .map(|shard| {
            let before = first
                .shards
                .iter()
                .find(|earlier| earlier.shard == shard.shard)
                .map_or(0, |earlier| earlier.requests);
            (shard.shard, rate(before, shard.requests))
        })
        .collect();
    Ok(Figures {
        stats: second,
        rates: Some((applications, shards)),
    })
}

impl Figures {
    fn application_rate(&self, route_prefix: &str) -> Option<f64> {
        self.rates.as_ref()?.0.get(route_prefix).copied()
    }

    fn shard_rate(&self, shard: usize) -> Option<f64> {
        self.rates.as_ref()?.1.get(&shard).copied()
    }

    fn json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(&self.stats).unwrap_or_default();
        if let Some(applications) = value["applications"].as_array_mut() {
            for app in applications {
                let prefix = app["route_prefix"].as_str().unwrap_or_default().to_owned();
                app["requests_per_second"] = serde_json::json!(self.application_rate(&prefix));
            }
        }
        if let Some(shards) = value["shards"].as_array_mut() {
            for shard in shards {
                let index = shard["shard"].as_u64().unwrap_or_default() as usize;
                shard["requests_per_second"] = serde_json::json!(self.shard_rate(index));
            }
        }
        value
    }

    /// The applications' table, then the shards'.
    fn tables(&self) -> String {
        let rate = |rate: Option<f64>| rate.map_or("-".to_owned(), |rate| format!("{rate:.1}"));
        let ms = |value: Option<f64>| value.map_or("-".to_owned(), |value| format!("{value:.3}"));
        let mut applications = vec![
            [
                "APPLICATION",
                "ROUTE PREFIX",
                "REPLICAS",
                "REQ/S",
                "REQUESTS",
                "4XX",
                "5XX",
                "P50 MS",
                "P99 MS",
                "P99.9 MS",
                "QUEUED",
            ]
            .map(str::to_owned),
        ];
        for app in &self.stats.applications {
            let latency = app.latency_ms;
            applications.push([
                app.name.clone(),
                app.route_prefix.clone(),
                app.replicas.to_string(),
                rate(self.application_rate(&app.route_prefix)),
                app.requests.to_string(),
                app.client_errors.to_string(),
                app.server_errors.to_string(),
                ms(latency.map(|latency| latency.p50)),
                ms(latency.map(|latency| latency.p99)),
                ms(latency.map(|latency| latency.p999)),
                app.queued.to_string(),
            ]);
        }
        let mut shards = vec![
            [
                "SHARD",
                "STATE",
                "REQ/S",
                "REQUESTS",
                "ONGOING",
                "CONNECTIONS",
                "REPLICAS",
            ]
            .map(str::to_owned),
        ];
        for shard in &self.stats.shards {
            let state = match (shard.up, shard.stalled) {
                (_, true) => "STALLED",
                (true, false) => "up",
                (false, false) => "DOWN",
            };
            shards.push([
                shard.shard.to_string(),
                state.to_owned(),
                rate(self.shard_rate(shard.shard)),
                shard.requests.to_string(),
                shard.ongoing.to_string(),
                shard.connections_open.to_string(),
                shard.replicas.join(","),
            ]);
        }
        let mut out = table(&applications);
        out.push('\n');
        out.push_str(&table(&shards));
        out
    }
}

/// Rows as columns padded to their widest cell.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `GET path` on its own connection: the status code and the body as text.
fn get(address: &str, path: &str) -> Result<(u16, String), String> {
    let target = address
        .to_socket_addrs()
        .map_err(|error| format!("not an address: {error}"))?
        .next()
        .ok_or("not an address")?;
    let mut stream = TcpStream::connect_timeout(&target, STATUS_TIMEOUT)
        .map_err(|error| format!("connecting: {error}"))?;
    stream
        .set_read_timeout(Some(STATUS_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(STATUS_TIMEOUT)))
        .map_err(|error| error.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|error| format!("sending GET {path}: {error}"))?;
    let mut answer = Vec::new();
    stream
        .take(ANSWER_BYTES_MAX)
        .read_to_end(&mut answer)
        .map_err(|error| format!("reading the answer to GET {path}: {error}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET {path}: not an HTTP answer"))?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("GET {path}: not an HTTP status line"))?;
    Ok((code, body.to_owned()))
}
