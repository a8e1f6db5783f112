//! Command-line parsing: a small hand parser (no clap), so the crate builds quickly on small
//! machines. Accepts `--flag value` and `--flag=value`. Everything is validated here, before
//! any socket is opened: limits keep every run bounded in time and size.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::client::Wait;

/// Most connections in one run.
pub const MAX_CONNECTIONS: usize = 10_000;
/// Deepest pipeline.
pub const MAX_PIPELINE: usize = 1024;
/// Longest warm-up or measured duration.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Highest open-loop rate, requests per second.
pub const MAX_RATE: f64 = 10_000_000.0;
/// Largest request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub const USAGE: &str = "\
loadgen: HTTP/1.1 load generator (closed or open loop), glommio thread-per-core

USAGE:
    loadgen --url http://127.0.0.1:8000/ [OPTIONS]

OPTIONS:
    --url URL             target, http://HOST[:PORT][/PATH] (loopback only unless --allow-remote)
    -c, --connections N   keep-alive connections, spread over the load cores [default: 64]
    -d, --duration DUR    measured duration, e.g. 10s, 500ms, 1m [default: 10s]
    -w, --warmup DUR      warm-up before measuring: requests sent, not recorded [default: 2s]
    -p, --pipeline D      closed loop: write D requests at once, then read D responses [default: 1]
    -r, --rate R          open loop: R requests/s in total, on a fixed schedule; latency is
                          measured from each request's scheduled send time
    --cores LIST          pin one load executor per core, e.g. 1,2,3 or 1-3 [default: last core]
    -m, --method M        GET or POST [default: GET]
    --path PATH           request path [default: the URL's path]
    --body-bytes N        request body of N bytes (with content-length) [default: 0]
    -H, --header 'N: V'   extra request header, repeatable
    --wait MODE           spin: busy-poll sockets and clock, the load cores stay at 100% but no
                          wake-ups add to the latency or to the server's work; park: glommio's
                          io_uring waits, idle cores sleep (see README) [default: spin]
    --timeout DUR         connect timeout, and longest wait for any read or write [default: 5s]
    --max-requests N      stop after sending N requests in total (warm-up included)
    --json FILE           write the JSON report to FILE instead of stdout
    --allow-remote        allow a target that is not a loopback address
    -h, --help            this text
    -V, --version         version
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Box<Args>),
    Help,
    Version,
}

/// HTTP method of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host as written, IPv6 literals without brackets.
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written in the URL: the `Host` header.
    pub authority: String,
    /// Path and query, `/` when empty.
    pub path: String,
}

/// The validated command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub url_text: String,
    pub url: Url,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub pipeline: usize,
    pub rate: Option<f64>,
    /// `None`: the default, decided by the caller (the last online core).
    pub cores: Option<Vec<usize>>,
    pub method: Method,
    /// Request target: `--path`, else the URL's path.
    pub path: String,
    pub body_bytes: usize,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub wait: Wait,
    pub max_requests: Option<u64>,
    pub json: Option<PathBuf>,
    pub allow_remote: bool,
}

/// A command-line error, printed with a pointer to `--help`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

fn err<T>(message: impl Into<String>) -> Result<T, CliError> {
    Err(CliError(message.into()))
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, CliError> {
    let mut args = args.into_iter();
    let mut url = None;
    let mut connections = 64;
    let mut duration = Duration::from_secs(10);
    let mut warmup = Duration::from_secs(2);
    let mut pipeline = 1;
    let mut rate = None;
    let mut cores = None;
    let mut method = Method::Get;
    let mut path = None;
    let mut body_bytes = 0;
    let mut headers = Vec::new();
    let mut timeout = Duration::from_secs(5);
    let mut wait = Wait::Spin;
    let mut max_requests = None;
    let mut json = None;
    let mut allow_remote = false;

    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, CliError> {
            match inline.clone().or_else(|| args.next()) {
                Some(value) => Ok(value),
                None => err(format!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--url" => url = Some(value()?),
            "-c" | "--connections" => connections = parse_count(&flag, &value()?)?,
            "-d" | "--duration" => duration = parse_duration(&value()?)?,
            "-w" | "--warmup" => warmup = parse_duration(&value()?)?,
            "-p" | "--pipeline" => pipeline = parse_count(&flag, &value()?)?,
            "-r" | "--rate" => rate = Some(parse_rate(&value()?)?),
            "--cores" => cores = Some(parse_cores(&value()?)?),
            "-m" | "--method" => method = parse_method(&value()?)?,
            "--path" => path = Some(parse_path(&value()?)?),
            "--body-bytes" => body_bytes = parse_count(&flag, &value()?)?,
            "-H" | "--header" => headers.push(parse_header(&value()?)?),
            "--timeout" => timeout = parse_duration(&value()?)?,
            "--wait" => wait = parse_wait(&value()?)?,
            "--max-requests" => max_requests = Some(parse_count(&flag, &value()?)? as u64),
            "--json" => json = Some(PathBuf::from(value()?)),
            "--allow-remote" if inline.is_none() => allow_remote = true,
            _ => return err(format!("unknown argument {arg:?}")),
        }
    }

    let Some(url_text) = url else {
        return err("--url is required");
    };
    let url = parse_url(&url_text)?;
    if !(1..=MAX_CONNECTIONS).contains(&connections) {
        return err(format!("--connections must be 1..={MAX_CONNECTIONS}"));
    }
    if !(1..=MAX_PIPELINE).contains(&pipeline) {
        return err(format!("--pipeline must be 1..={MAX_PIPELINE}"));
    }
    if rate.is_some() && pipeline > 1 {
        return err("--pipeline applies to the closed loop only; leave it out with --rate");
    }
    if duration.is_zero() || duration > MAX_DURATION {
        return err("--duration must be more than 0 and at most 1h");
    }
    if warmup > MAX_DURATION {
        return err("--warmup must be at most 1h");
    }
    if timeout.is_zero() || timeout > Duration::from_secs(600) {
        return err("--timeout must be more than 0 and at most 10m");
    }
    if body_bytes > MAX_BODY_BYTES {
        return err(format!("--body-bytes must be at most {MAX_BODY_BYTES}"));
    }
    if max_requests == Some(0) {
        return err("--max-requests must be at least 1");
    }
    let path = path.unwrap_or_else(|| url.path.clone());
    Ok(Command::Run(Box::new(Args {
        url_text,
        url,
        connections,
        duration,
        warmup,
        pipeline,
        rate,
        cores,
        method,
        path,
        body_bytes,
        headers,
        timeout,
        wait,
        max_requests,
        json,
        allow_remote,
    })))
}

fn parse_count(flag: &str, text: &str) -> Result<usize, CliError> {
    match text.replace('_', "").parse::<usize>() {
        Ok(n) => Ok(n),
        Err(_) => err(format!("{flag}: not a count: {text:?}")),
    }
}

fn parse_rate(text: &str) -> Result<f64, CliError> {
    match text.replace('_', "").parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= MAX_RATE => Ok(rate),
        _ => err(format!(
            "--rate must be a number of requests/s in (0, {MAX_RATE}]: {text:?}"
        )),
    }
}

/// `10s`, `1.5s`, `250ms`, `100us`, `2m`, `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, CliError> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return err(format!("bad duration {text:?} (use e.g. 10s, 500ms, 2m)")),
    };
    match number.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 && value * scale <= 1e7 => {
            Ok(Duration::from_secs_f64(value * scale))
        }
        _ => err(format!("bad duration {text:?} (use e.g. 10s, 500ms, 2m)")),
    }
}

/// `1,2,3`, `1-3`, `0,2-3`: sorted, without duplicates.
pub fn parse_cores(text: &str) -> Result<Vec<usize>, CliError> {
    let bad = || err(format!("bad core list {text:?} (use e.g. 1,2,3 or 1-3)"));
    let mut cores = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let (first, last) = match part.split_once('-') {
            Some((first, last)) => (first.trim().parse::<usize>(), last.trim().parse()),
            None => (part.parse::<usize>(), part.parse()),
        };
        let (Ok(first), Ok(last)) = (first, last) else {
            return bad();
        };
        if first > last || last >= 4096 {
            return bad();
        }
        cores.extend(first..=last);
    }
    cores.sort_unstable();
    cores.dedup();
    if cores.is_empty() || cores.len() > 256 {
        return bad();
    }
    Ok(cores)
}

fn parse_method(text: &str) -> Result<Method, CliError> {
    match text.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::Get),
        "POST" => Ok(Method::Post),
        _ => err(format!("--method must be GET or POST, not {text:?}")),
    }
}

fn parse_wait(text: &str) -> Result<Wait, CliError> {
    match text {
        "spin" => Ok(Wait::Spin),
        "park" => Ok(Wait::Park),
        _ => err(format!("--wait must be spin or park, not {text:?}")),
    }
}

fn parse_path(text: &str) -> Result<String, CliError> {
    if !text.starts_with('/') || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return err(format!(
            "--path must start with / and hold no spaces or controls: {text:?}"
        ));
    }
    Ok(text.to_owned())
}

/// `Name: value`. Names are tokens; values hold no controls. `content-length` and
/// `transfer-encoding` are refused: `--body-bytes` frames the body.
pub fn parse_header(text: &str) -> Result<(String, String), CliError> {
    let Some((name, value)) = text.split_once(':') else {
        return err(format!("--header must look like 'Name: value': {text:?}"));
    };
    let value = value.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return err(format!("bad header name {name:?}"));
    }
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return err(format!("bad header value {value:?}"));
    }
    if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding")
    {
        return err(format!("{name} is set by --body-bytes"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// `http://HOST[:PORT][/PATH]`; HOST may be a bracketed IPv6 literal.
pub fn parse_url(text: &str) -> Result<Url, CliError> {
    let Some(rest) = text.strip_prefix("http://") else {
        return err(format!(
            "--url must start with http:// (https is not supported): {text:?}"
        ));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = match path.strip_prefix('?') {
        Some(query) => format!("/?{query}"),
        None => path.to_owned(),
    };
    let path = parse_path(&path)?;
    if authority.contains('@') {
        return err("--url must not hold credentials");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return err(format!("bad IPv6 host in {text:?}"));
        };
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => 80,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return err(format!("bad port in {text:?}")),
        },
    };
    if host.is_empty()
        || host
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || b"-._:".contains(&b)))
    {
        return err(format!("bad host in {text:?}"));
    }
    Ok(Url {
        host: host.to_owned(),
        port,
        authority: authority.to_owned(),
        path,
    })
}

/// Resolves the URL's host. Every address it resolves to must be loopback unless
/// `allow_remote`: this project's rule is load only against 127.0.0.0/8 or ::1.
pub fn resolve(url: &Url, allow_remote: bool) -> Result<SocketAddr, CliError> {
    let addrs: Vec<SocketAddr> = match (url.host.as_str(), url.port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(error) => return err(format!("cannot resolve {}: {error}", url.host)),
    };
    let Some(&first) = addrs.first() else {
        return err(format!("{} resolves to no address", url.host));
    };
    if !allow_remote && let Some(remote) = addrs.iter().find(|addr| !is_loopback(addr.ip())) {
        return err(format!(
            "{} resolves to {}, not a loopback address; pass --allow-remote to load it",
            url.host,
            remote.ip()
        ));
    }
    Ok(first)
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Args, CliError> {
        match parse(line.split_whitespace().map(str::to_owned))? {
            Command::Run(args) => Ok(*args),
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let a = args("--url http://127.0.0.1:8000/").unwrap();
        assert_eq!(a.connections, 64);
        assert_eq!(a.duration, Duration::from_secs(10));
        assert_eq!(a.warmup, Duration::from_secs(2));
        assert_eq!((a.pipeline, a.rate, a.cores.clone()), (1, None, None));
        assert_eq!((a.method, a.path.as_str()), (Method::Get, "/"));
        assert_eq!(a.wait, Wait::Spin);

        let a = args(
            "--url=http://localhost:8050/x -c 8 --duration=500ms -w 0 --pipeline 16 --cores 1-3 \
             -m post --path /echo --body-bytes 1024 -H x-a:1 --header=x-b:2 --timeout 1s \
             --max-requests 1_000 --json out.json --allow-remote --wait park",
        )
        .unwrap();
        assert_eq!(a.connections, 8);
        assert_eq!(a.duration, Duration::from_millis(500));
        assert_eq!(a.warmup, Duration::ZERO);
        assert_eq!(a.pipeline, 16);
        assert_eq!(a.cores, Some(vec![1, 2, 3]));
        assert_eq!(
            (a.method, a.path.as_str(), a.body_bytes),
            (Method::Post, "/echo", 1024)
        );
        assert_eq!(
            a.headers,
            vec![("x-a".into(), "1".into()), ("x-b".into(), "2".into())]
        );
        assert_eq!(a.max_requests, Some(1000));
        assert_eq!(a.json, Some(PathBuf::from("out.json")));
        assert!(a.allow_remote);
        assert_eq!(a.wait, Wait::Park);
        assert_eq!(a.url.authority, "localhost:8050");

        assert_eq!(
            args("--url http://127.0.0.1/ --rate 20000").unwrap().rate,
            Some(20000.0)
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        for line in [
            "",
            "--url https://127.0.0.1/",
            "--url http://127.0.0.1/ --rate 100 --pipeline 2",
            "--url http://127.0.0.1/ --connections 0",
            "--url http://127.0.0.1/ --duration 0s",
            "--url http://127.0.0.1/ --duration 2h",
            "--url http://127.0.0.1/ --rate -5",
            "--url http://127.0.0.1/ --method PUT",
            "--url http://127.0.0.1/ --header nocolon",
            "--url http://127.0.0.1/ --header content-length:5",
            "--url http://127.0.0.1/ --bogus",
            "--url http://127.0.0.1/ --connections",
            "--url http://127.0.0.1/ --path nope",
            "--url http://127.0.0.1/ --wait sometimes",
        ] {
            assert!(args(line).is_err(), "{line:?}");
        }
        assert_eq!(parse(["--help".to_owned()]), Ok(Command::Help));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn core_lists() {
        assert_eq!(parse_cores("1,2,3"), Ok(vec![1, 2, 3]));
        assert_eq!(parse_cores("1-3"), Ok(vec![1, 2, 3]));
        assert_eq!(parse_cores("3,0-1,1"), Ok(vec![0, 1, 3]));
        for bad in ["", "a", "3-1", "1,", "-1", "1-"] {
            assert!(parse_cores(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls() {
        let url = parse_url("http://127.0.0.1:8050/items/5?x=1").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 8050));
        assert_eq!(
            (url.authority.as_str(), url.path.as_str()),
            ("127.0.0.1:8050", "/items/5?x=1")
        );
        let url = parse_url("http://[::1]:9000").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("::1", 9000, "/")
        );
        assert_eq!(parse_url("http://localhost").unwrap().port, 80);
        assert_eq!(parse_url("http://h?q").unwrap().path, "/?q");
        for bad in [
            "127.0.0.1:80",
            "http://",
            "http://:80/",
            "http://h:0/",
            "http://h:x/",
            "http://u@h/",
            "http://[::1/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn loopback_only_by_default() {
        let local = parse_url("http://127.0.0.1:1/").unwrap();
        assert!(resolve(&local, false).is_ok());
        let v6 = parse_url("http://[::1]:1/").unwrap();
        assert!(resolve(&v6, false).is_ok());
        let remote = parse_url("http://192.0.2.1:1/").unwrap();
        assert!(resolve(&remote, false).is_err());
        assert!(resolve(&remote, true).is_ok());
    }
}
