//! `ringserve status`: what a running server says of itself on `/-/routes` and `/-/healthz`,
//! as a table or as JSON.
//!
//! Invariant: it only reads (two `GET`s, each on its own connection, each bounded by a
//! timeout); the exit status is 0 only for a server that answered and is healthy.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long each request to the server may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer it reads.
const ANSWER_BYTES_MAX: u64 = 1 << 20;

/// Prints the server's applications and health; the exit status.
pub(crate) fn status(address: &str, json: bool) -> i32 {
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
    if json {
        let applications: Vec<serde_json::Value> = applications
            .iter()
            .map(|(prefix, name)| serde_json::json!({"name": name, "route_prefix": prefix}))
            .collect();
        let report = serde_json::json!({
            "address": address,
            "healthy": healthy,
            "health": health_text.trim(),
            "applications": applications,
        });
        println!("{report}");
    } else {
        let verdict = if healthy { "healthy" } else { "UNHEALTHY" };
        println!("{address}: {verdict}: {}", health_text.trim());
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
    }
    if healthy { 0 } else { 1 }
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
