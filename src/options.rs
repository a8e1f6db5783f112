//! `HttpOptions`: the server-wide settings (Ray Serve's `http_options`) and their defaults.
//!
//! Invariant: options are resolved once, before anything binds, into [`ResolvedOptions`]:
//! explicit settings win over `RINGSERVE_HOST` / `RINGSERVE_PORT` / `RINGSERVE_CORES`, which win
//! over the built-in defaults; every bad value is an [`Error`] that names it.

use std::time::Duration;

use crate::error::Error;
use crate::limits::{BUSY_POLL_MAX, CORE_RANGE_MAX, Limits, SHARD_STALL_THRESHOLD_MIN};

/// Ray Serve's default host.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Ray Serve's default port.
pub const DEFAULT_PORT: u16 = 8000;
/// Ray Serve's default keep-alive timeout (uvicorn's `timeout_keep_alive` as Serve sets it).
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long `ServerHandle::shutdown` lets in-flight requests finish.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long `Serve::start` waits for every shard to be ready (linked to the others, its
/// replicas built by their factories) before it gives up with an error.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Ray Serve's name for an application that was not given one.
pub const DEFAULT_APP_NAME: &str = "default";
/// Threads per shard for `rt::spawn_blocking`: with one shard per core, one blocking closure
/// per core runs at a time, which is what CPU-heavy work (an inference) can use anyway.
pub const DEFAULT_BLOCKING_THREADS: usize = 1;
/// How long a shard may go without turning before the watchdog calls it stalled: far longer
/// than any turn of a shard whose handlers await (a turn takes microseconds), short enough
/// that a load balancer polling `/-/healthz` drains the node within seconds.
pub const DEFAULT_SHARD_STALL_THRESHOLD: Duration = Duration::from_secs(1);

/// Which CPU cores run shards: one shard, pinned, per core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cores {
    /// Every core this process may run on (its affinity mask), but no more shards than the
    /// CPUs its cgroup's quota (`cpu.max`) grants — as Rust's `available_parallelism` counts
    /// them — so that a container limited to 2 CPUs on a 64-core node starts 2. Cut to a
    /// quota, the shards are not pinned (every container on the node would pin its shards to
    /// the same first cores); give a container whole cores of its own (Kubernetes' static CPU
    /// manager policy, `docker --cpuset-cpus`) and they are. The default.
    All,
    /// The first `n` cores this process may run on.
    Count(usize),
    /// Exactly these core ids.
    List(Vec<usize>),
}

/// Server-wide HTTP settings. Build with [`HttpOptions::new`] and the setters; unset values
/// take their defaults (or the environment's) when the server starts.
///
/// ```
/// use std::time::Duration;
/// use ringserve::{Cores, HttpOptions};
///
/// let options = HttpOptions::new()
///     .host("0.0.0.0")
///     .port(9000)
///     .cores(Cores::Count(2))
///     .request_timeout(Duration::from_secs(5));
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    host: Option<String>,
    port: Option<u16>,
    cores: Option<Cores>,
    request_timeout: Option<Duration>,
    keep_alive_timeout: Option<Duration>,
    root_path: Option<String>,
    strip_root_path: bool,
    trust_forwarded_proto: bool,
    shutdown_grace: Option<Duration>,
    drain_period: Option<Duration>,
    limits: Limits,
    io: Option<IoBackend>,
    blocking_threads: Option<usize>,
    start_timeout: Option<Duration>,
    shard_stall_threshold: Option<Duration>,
    busy_poll: Option<Duration>,
    metrics_address: Option<MetricsAddress>,
    metrics_prefix: Option<String>,
}

/// Where the metrics listener binds, and whether failing to bind stops the start.
#[derive(Clone, Debug)]
struct MetricsAddress {
    address: String,
    /// `false` for the edge binary's default: a taken port (another ringserve, a node
    /// exporter) is a warning and no listener, not a refusal to start.
    required: bool,
}

/// The metrics listener's address, resolved: whether a failure to bind it stops the start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResolvedMetricsAddress {
    pub address: std::net::SocketAddr,
    pub required: bool,
}

/// How the shards read and write their sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoBackend {
    /// ringserve's own io_uring on each shard: receives, sends and accepts are submitted to it
    /// and completed in batches, one `io_uring_enter` per turn, and the shard sleeps in it
    /// (glommio's timers and cross-core wake-ups still wake it). The default where the kernel
    /// has what it needs; otherwise the server starts with [`IoBackend::Glommio`] and says so
    /// in one log line.
    IoUring,
    /// glommio's streams: a non-blocking system call first, then a wait for readiness through
    /// glommio's reactor.
    Glommio,
}

impl HttpOptions {
    /// All defaults: host `127.0.0.1` (or `RINGSERVE_HOST`), port 8000 (or `RINGSERVE_PORT`),
    /// every core (or `RINGSERVE_CORES`), no request timeout, keep-alive 90 s, no root path.
    pub fn new() -> Self {
        HttpOptions::default()
    }

    /// The address to listen on: an IP address or `localhost`.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The port to listen on; 0 asks the kernel for a free one (see `ServerHandle::local_addr`).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Which cores run shards.
    pub fn cores(mut self, cores: Cores) -> Self {
        self.cores = Some(cores);
        self
    }

    /// Time a handler has to produce its response; past it the client gets 408 and the handler's
    /// future is dropped. None by default, as in Ray Serve. A request may shorten or disable it
    /// with an `x-request-timeout-seconds` header.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How long an idle keep-alive connection is kept open. Default 90 s.
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.keep_alive_timeout = Some(timeout);
        self
    }

    /// Where a proxy in front mounts this server (`/serve`), as Ray Serve's `root_path` and
    /// ASGI's: the proxy removes it, requests arrive without it and are routed as received,
    /// and handlers read it from [`Request::root_path`](crate::Request::root_path) to build
    /// URLs (the ingress puts it in the OpenAPI document's `servers` and in its redirects).
    /// Empty by default. With [`HttpOptions::strip_root_path`], requests carry it instead.
    pub fn root_path(mut self, root_path: impl Into<String>) -> Self {
        self.root_path = Some(root_path.into());
        self
    }

    /// Requests carry the root path (no proxy removes it): a request must start with it, on a
    /// segment boundary, and it is removed before route prefixes are matched; any other path
    /// gets `404`. Off by default, as in Ray Serve.
    pub fn strip_root_path(mut self, strip: bool) -> Self {
        self.strip_root_path = strip;
        self
    }

    /// Believe a request's `X-Forwarded-Proto` (`http` or `https`) as the scheme of
    /// [`Request::url`](crate::Request::url) — for a server that only a proxy in front can
    /// reach, which sets it. Off by default: anyone could send it.
    pub fn trust_forwarded_proto(mut self, trust: bool) -> Self {
        self.trust_forwarded_proto = trust;
        self
    }

    /// How long `ServerHandle::shutdown` waits for in-flight requests. Default 10 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = Some(grace);
        self
    }

    /// How long shutdown tells load balancers first, before it stops accepting: for this
    /// long `/-/healthz` and `/-/routes` answer `503` `This node is being drained.` (Ray
    /// Serve's words) while every request is still served, so a balancer polling them stops
    /// sending here; then the listeners close and in-flight requests have the
    /// [shutdown grace](HttpOptions::shutdown_grace). Default zero in the library (the edge
    /// binary's is 2 s); set it longer than the balancer's health-check interval times its
    /// failure threshold.
    pub fn drain_period(mut self, period: Duration) -> Self {
        self.drain_period = Some(period);
        self
    }

    /// Serves the metrics (Prometheus' text format, or OpenMetrics when the scraper asks) on
    /// `GET /metrics` at this `host:port`, a listener of its own so that the public port does
    /// not expose them. Default: none in the library (the edge binary's is `127.0.0.1:9100`).
    /// Recording goes on either way: [`crate::ServerHandle::stats`] reads it.
    pub fn metrics_address(mut self, address: impl Into<String>) -> Self {
        self.metrics_address = Some(MetricsAddress {
            address: address.into(),
            required: true,
        });
        self
    }

    /// The edge binary's default metrics listener: bound when the port is free, else a
    /// warning.
    #[cfg(feature = "cli")]
    pub(crate) fn metrics_address_if_free(mut self, address: impl Into<String>) -> Self {
        self.metrics_address = Some(MetricsAddress {
            address: address.into(),
            required: false,
        });
        self
    }

    /// What every metric name starts with. Default `ringserve_`; `ray_` gives Ray Serve's own
    /// names (`ray_serve_num_http_requests_total`), so its Grafana dashboards work unchanged.
    pub fn metrics_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.metrics_prefix = Some(prefix.into());
        self
    }

    /// The limits enforced on each client.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How the shards do socket I/O (default [`IoBackend::IoUring`], or `RINGSERVE_IO` =
    /// `io_uring` / `glommio`), so that both can be measured side by side.
    pub fn io_backend(mut self, io: IoBackend) -> Self {
        self.io = Some(io);
        self
    }

    /// Threads each shard keeps for [`rt::spawn_blocking`](crate::rt::spawn_blocking)
    /// (default 1). They are not pinned: the kernel runs them on any core, so a closure that
    /// computes for milliseconds does not take its shard's core from the shard's connections.
    pub fn blocking_threads(mut self, threads: usize) -> Self {
        self.blocking_threads = Some(threads);
        self
    }

    /// How long [`Serve::start`](crate::Serve::start) waits for every shard to be ready — its
    /// links to the other shards connected and its replicas built by their factories — before
    /// it fails with an error that names the shards not ready. Those are told to stop; one
    /// that does not (a factory that never returns) is left running, detached. Default 60 s.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = Some(timeout);
        self
    }

    /// How long a shard may go without turning — a handler computing without awaiting holds
    /// its whole shard — before the watchdog calls it stalled (default 1 s, at least 200 ms).
    /// While a shard is stalled, the log names the application it was running (once),
    /// `/-/healthz` on every other shard answers `503` `Shard <n> is stalled: …`, and new
    /// connections go to the other shards; all of it is undone when the shard turns again.
    pub fn shard_stall_threshold(mut self, threshold: Duration) -> Self {
        self.shard_stall_threshold = Some(threshold);
        self
    }

    /// How long a shard on the io_uring data path keeps polling for completions before it
    /// sleeps (default zero: it sleeps at once; at most [`BUSY_POLL_MAX`]). A request that
    /// arrives within the window is served without the sleep and wake-up — lower latency at
    /// one or a few connections — but a shard that would have slept spins instead, costing
    /// CPU time while it waits: up to a whole core for a shard whose clients pause for less
    /// than the window. `perf/RESULTS.md` has the measured trade.
    pub fn busy_poll(mut self, window: Duration) -> Self {
        self.busy_poll = Some(window);
        self
    }

    /// Resolves every setting, reading the environment through `env` for unset values.
    #[cfg(test)]
    pub(crate) fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
        allowed_cores: &[usize],
    ) -> Result<ResolvedOptions, Error> {
        self.resolve_within(env, allowed_cores, None)
    }

    /// [`HttpOptions::resolve`] where [`Cores::All`] starts at most `cpu_budget` shards: the
    /// CPUs the process's cgroup quota (`cpu.max`) grants, as `available_parallelism` reports
    /// them.
    pub(crate) fn resolve_within(
        &self,
        env: impl Fn(&str) -> Option<String>,
        allowed_cores: &[usize],
        cpu_budget: Option<usize>,
    ) -> Result<ResolvedOptions, Error> {
        let host = match (&self.host, env("RINGSERVE_HOST")) {
            (Some(host), _) => host.clone(),
            (None, Some(host)) => host,
            (None, None) => DEFAULT_HOST.to_owned(),
        };
        let port = match (self.port, env("RINGSERVE_PORT")) {
            (Some(port), _) => port,
            (None, Some(text)) => text.trim().parse().map_err(|_| {
                Error::config(format!(
                    "RINGSERVE_PORT = {text:?} is not a port number (0..=65535)"
                ))
            })?,
            (None, None) => DEFAULT_PORT,
        };
        let cores = match (&self.cores, env("RINGSERVE_CORES")) {
            (Some(cores), _) => cores.clone(),
            (None, Some(text)) => parse_cores(&text)?,
            (None, None) => Cores::All,
        };
        // A quota below the affinity mask (a container's `cpu.max` on a shared node): the
        // cores the shards would be pinned to are every other pod's first cores too.
        let pinned =
            !(cores == Cores::All && cpu_budget.is_some_and(|budget| budget < allowed_cores.len()));
        let cores = choose_cores(&cores, allowed_cores, cpu_budget)?;
        if self
            .request_timeout
            .is_some_and(|timeout| timeout.is_zero())
        {
            return Err(Error::config(
                "request_timeout = 0s must be longer than zero",
            ));
        }
        let keep_alive_timeout = self
            .keep_alive_timeout
            .unwrap_or(DEFAULT_KEEP_ALIVE_TIMEOUT);
        if keep_alive_timeout.is_zero() {
            return Err(Error::config(
                "keep_alive_timeout = 0s must be longer than zero",
            ));
        }
        let io = match (self.io, env("RINGSERVE_IO")) {
            (Some(io), _) => io,
            (None, Some(text)) => match text.trim() {
                "io_uring" => IoBackend::IoUring,
                "glommio" => IoBackend::Glommio,
                _ => {
                    return Err(Error::config(format!(
                        "RINGSERVE_IO = {text:?} is neither io_uring nor glommio"
                    )));
                }
            },
            (None, None) => IoBackend::IoUring,
        };
        let blocking_threads = self.blocking_threads.unwrap_or(DEFAULT_BLOCKING_THREADS);
        if blocking_threads == 0 {
            return Err(Error::config(
                "blocking_threads = 0: each shard needs at least one for rt::spawn_blocking",
            ));
        }
        let start_timeout = self.start_timeout.unwrap_or(DEFAULT_START_TIMEOUT);
        if start_timeout.is_zero() {
            return Err(Error::config("start_timeout = 0s must be longer than zero"));
        }
        let shard_stall_threshold = self
            .shard_stall_threshold
            .unwrap_or(DEFAULT_SHARD_STALL_THRESHOLD);
        if shard_stall_threshold < SHARD_STALL_THRESHOLD_MIN {
            return Err(Error::config(format!(
                "shard_stall_threshold = {shard_stall_threshold:?} is shorter than {SHARD_STALL_THRESHOLD_MIN:?}: a busy shard would be called stalled"
            )));
        }
        let busy_poll = self.busy_poll.unwrap_or(Duration::ZERO);
        if busy_poll > BUSY_POLL_MAX {
            return Err(Error::config(format!(
                "busy_poll = {busy_poll:?} is longer than {BUSY_POLL_MAX:?}: a shard would spin where it should sleep"
            )));
        }
        let root_path = self.root_path.clone().unwrap_or_default();
        validate_root_path(&root_path)?;
        let metrics_address = match &self.metrics_address {
            None => None,
            Some(asked) => Some(ResolvedMetricsAddress {
                address: metrics_address(&asked.address)?,
                required: asked.required,
            }),
        };
        let metrics_prefix = self
            .metrics_prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_METRICS_PREFIX.to_owned());
        validate_metrics_prefix(&metrics_prefix)?;
        self.limits.validate().map_err(Error::config)?;
        Ok(ResolvedOptions {
            host,
            port,
            cores,
            pinned,
            request_timeout: self.request_timeout,
            keep_alive_timeout,
            root_path,
            strip_root_path: self.strip_root_path,
            trust_forwarded_proto: self.trust_forwarded_proto,
            shutdown_grace: self.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
            drain_period: self.drain_period.unwrap_or(Duration::ZERO),
            limits: self.limits.clone(),
            io,
            blocking_threads,
            start_timeout,
            shard_stall_threshold,
            busy_poll,
            metrics_address,
            metrics_prefix,
        })
    }
}

/// What metric names start with unless [`HttpOptions::metrics_prefix`] says otherwise.
const DEFAULT_METRICS_PREFIX: &str = "ringserve_";

/// `host:port` of the metrics listener, resolved now: a bad one is refused before anything
/// starts.
fn metrics_address(address: &str) -> Result<std::net::SocketAddr, Error> {
    resolve_metrics_address(address).ok_or_else(|| {
        Error::config(format!(
            "metrics_address = {address:?} is not a host:port (such as 127.0.0.1:9100)"
        ))
    })
}

/// The first address `host:port` resolves to, if any.
pub(crate) fn resolve_metrics_address(address: &str) -> Option<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    address.to_socket_addrs().ok()?.next()
}

/// Whether every metric name stays valid after `prefix`: letters, digits, `_` and `:`, not
/// starting with a digit (Prometheus' rule for names).
pub(crate) fn is_metrics_prefix(prefix: &str) -> bool {
    prefix
        .chars()
        .all(|character| character.is_ascii_alphanumeric() || matches!(character, '_' | ':'))
        && !prefix.starts_with(|character: char| character.is_ascii_digit())
}

fn validate_metrics_prefix(prefix: &str) -> Result<(), Error> {
    if is_metrics_prefix(prefix) {
        Ok(())
    } else {
        Err(Error::config(format!(
            "metrics_prefix = {prefix:?} may hold only letters, digits, '_' and ':', and not start with a digit"
        )))
    }
}

/// Options with every default applied and every value checked.
#[derive(Clone, Debug)]
pub(crate) struct ResolvedOptions {
    pub host: String,
    pub port: u16,
    pub cores: Vec<usize>,
    /// Whether each shard is pinned to its core. Not when `Cores::All` was cut to a CPU quota
    /// smaller than the affinity mask: every container on the node would pin its shards to
    /// the same first cores; the kernel places them instead.
    pub pinned: bool,
    pub request_timeout: Option<Duration>,
    pub keep_alive_timeout: Duration,
    pub root_path: String,
    /// Requests carry the root path, removed before routing.
    pub strip_root_path: bool,
    /// `X-Forwarded-Proto` names the scheme of `Request::url`.
    pub trust_forwarded_proto: bool,
    pub shutdown_grace: Duration,
    /// How long `/-/healthz` answers 503 before the listeners close; zero: they close at once.
    pub drain_period: Duration,
    pub limits: Limits,
    /// Asked for; `Serve::start` falls back to glommio when the kernel lacks io_uring support.
    pub io: IoBackend,
    /// Threads per shard for `rt::spawn_blocking`, at least one.
    pub blocking_threads: usize,
    /// How long `Serve::start` waits for its shards to be ready.
    pub start_timeout: Duration,
    /// At least `SHARD_STALL_THRESHOLD_MIN`.
    pub shard_stall_threshold: Duration,
    /// At most `BUSY_POLL_MAX`; zero: shards sleep at once.
    pub busy_poll: Duration,
    /// Where the metrics listener binds, if anywhere.
    pub metrics_address: Option<ResolvedMetricsAddress>,
    /// Valid as the start of a Prometheus metric name.
    pub metrics_prefix: String,
}

/// `RINGSERVE_CORES`: a count (`4`), or a list of core ids and ranges (`0,2,4-6`; one core by
/// id is `3-3`).
fn parse_cores(text: &str) -> Result<Cores, Error> {
    text.parse()
        .map_err(|why| Error::config(format!("RINGSERVE_CORES = {text:?} {why}")))
}

impl std::str::FromStr for Cores {
    type Err = String;

    /// A count (`4`), or a list of core ids and ranges (`0,2,4-6`; one core by id is `3-3`),
    /// as `RINGSERVE_CORES` and the edge binary's `--cores` take them.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let bad = || "is neither a count (4) nor a core list (0,2,4-6)".to_owned();
        if !text.contains([',', '-']) {
            return text.parse().map(Cores::Count).map_err(|_| bad());
        }
        let mut list = Vec::new();
        for part in text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let (first, last) = match part.split_once('-') {
                Some((first, last)) => (first.trim(), last.trim()),
                None => (part, part),
            };
            let first: usize = first.parse().map_err(|_| bad())?;
            let last: usize = last.parse().map_err(|_| bad())?;
            if first > last || last - first >= CORE_RANGE_MAX {
                return Err(bad());
            }
            list.extend(first..=last);
        }
        Ok(Cores::List(list))
    }
}

/// The cores of `cores` among `allowed` (the affinity mask). [`Cores::All`] takes the first
/// `cpu_budget` of them when a CPU quota grants fewer, so that a container limited to 2 CPUs
/// on a 64-core node starts 2 shards; an explicit count or list may go past the quota.
fn choose_cores(
    cores: &Cores,
    allowed: &[usize],
    cpu_budget: Option<usize>,
) -> Result<Vec<usize>, Error> {
    match cores {
        Cores::All => {
            let shards = cpu_budget.map_or(allowed.len(), |budget| budget.clamp(1, allowed.len()));
            Ok(allowed[..shards].to_vec())
        }
        Cores::Count(0) => Err(Error::config(
            "cores = Count(0): at least one shard is needed",
        )),
        Cores::Count(n) if *n > allowed.len() => Err(Error::config(format!(
            "cores = Count({n}): only {} cores are available to this process",
            allowed.len()
        ))),
        Cores::Count(n) => Ok(allowed[..*n].to_vec()),
        Cores::List(list) if list.is_empty() => Err(Error::config(
            "cores = List([]): at least one shard is needed",
        )),
        Cores::List(list) => {
            for (index, core) in list.iter().enumerate() {
                if !allowed.contains(core) {
                    return Err(Error::config(format!(
                        "cores: core {core} is not available to this process (available: {allowed:?})"
                    )));
                }
                if list[..index].contains(core) {
                    return Err(Error::config(format!("cores: core {core} is listed twice")));
                }
            }
            Ok(list.clone())
        }
    }
}

fn validate_root_path(root_path: &str) -> Result<(), Error> {
    if root_path.is_empty() {
        return Ok(());
    }
    let bad = |why: &str| Error::config(format!("root_path = {root_path:?} {why}"));
    if !root_path.starts_with('/') {
        return Err(bad("must start with '/'"));
    }
    if root_path.ends_with('/') {
        return Err(bad("must not end with '/' (use \"\" for none)"));
    }
    if root_path.contains(['?', '#', '{', '}']) || root_path.contains("//") {
        return Err(bad(
            "must be a plain path without '?', '#', braces or empty segments",
        ));
    }
    if !root_path.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(bad("must be visible ASCII"));
    }
    Ok(())
}

/// How many CPUs the process may use at once: its affinity mask and its cgroup's CPU quota,
/// whichever is smaller (`available_parallelism` reads both).
pub(crate) fn cpu_budget() -> Option<usize> {
    std::thread::available_parallelism().ok().map(|n| n.get())
}

/// The cores this process may run on, from its affinity mask.
pub(crate) fn allowed_cores() -> Vec<usize> {
    // SAFETY: `set` is a plain bitmask that `sched_getaffinity` fills; its size is passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            let count = std::thread::available_parallelism().map_or(1, |n| n.get());
            return (0..count).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn every_core_means_as_many_as_the_cpu_quota_grants() {
        let resolve = |cores: Option<Cores>, budget| {
            let mut options = HttpOptions::new();
            if let Some(cores) = cores {
                options = options.cores(cores);
            }
            options
                .resolve_within(no_env, &[0, 1, 2, 3], budget)
                .map(|resolved| resolved.cores)
        };
        assert_eq!(resolve(None, Some(2)).unwrap(), [0, 1]);
        let pinned = |cores: Option<Cores>, budget| {
            let options =
                cores.map_or_else(HttpOptions::new, |cores| HttpOptions::new().cores(cores));
            options
                .resolve_within(no_env, &[0, 1, 2, 3], budget)
                .unwrap()
                .pinned
        };
        assert!(!pinned(None, Some(2)), "cut to a quota: not pinned");
        assert!(pinned(None, Some(4)) && pinned(None, None));
        assert!(pinned(Some(Cores::Count(2)), Some(2)), "asked for: pinned");
        assert_eq!(resolve(None, Some(64)).unwrap(), [0, 1, 2, 3]);
        assert_eq!(resolve(None, None).unwrap(), [0, 1, 2, 3]);
        // An explicit count may go past the quota (shards then share it), not past the mask.
        assert_eq!(resolve(Some(Cores::Count(3)), Some(2)).unwrap(), [0, 1, 2]);
        assert!(resolve(Some(Cores::Count(5)), Some(2)).is_err());
    }

    #[test]
    fn defaults_follow_ray_serve() {
        let resolved = HttpOptions::new().resolve(no_env, &[0, 1]).unwrap();
        assert_eq!(resolved.host, "127.0.0.1");
        assert_eq!(resolved.port, 8000);
        assert_eq!(resolved.cores, vec![0, 1]);
        assert_eq!(resolved.request_timeout, None);
        assert_eq!(resolved.keep_alive_timeout, Duration::from_secs(90));
        assert_eq!(resolved.root_path, "");
        assert_eq!(resolved.shard_stall_threshold, Duration::from_secs(1));
        assert_eq!(resolved.busy_poll, Duration::ZERO);
    }

    #[test]
    fn a_busy_poll_window_past_the_ceiling_is_refused_by_name() {
        let window = HttpOptions::new()
            .busy_poll(BUSY_POLL_MAX)
            .resolve(no_env, &[0]);
        assert_eq!(window.unwrap().busy_poll, BUSY_POLL_MAX);
        let error = HttpOptions::new()
            .busy_poll(Duration::from_millis(11))
            .resolve(no_env, &[0])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("busy_poll = 11ms is longer than 10ms"),
            "{error}"
        );
    }

    #[test]
    fn environment_overrides_defaults_and_code_overrides_environment() {
        let env = |name: &str| match name {
            "RINGSERVE_HOST" => Some("0.0.0.0".to_owned()),
            "RINGSERVE_PORT" => Some("9123".to_owned()),
            "RINGSERVE_CORES" => Some("1".to_owned()),
            _ => None,
        };
        let resolved = HttpOptions::new().resolve(env, &[0, 1]).unwrap();
        assert_eq!((resolved.host.as_str(), resolved.port), ("0.0.0.0", 9123));
        assert_eq!(resolved.cores, vec![0]);

        let explicit = HttpOptions::new()
            .host("127.0.0.2")
            .port(7000)
            .cores(Cores::List(vec![1]));
        let resolved = explicit.resolve(env, &[0, 1]).unwrap();
        assert_eq!((resolved.host.as_str(), resolved.port), ("127.0.0.2", 7000));
        assert_eq!(resolved.cores, vec![1]);
    }

    #[test]
    fn core_lists_parse_with_ranges() {
        assert_eq!(parse_cores("3").unwrap(), Cores::Count(3));
        assert_eq!(
            parse_cores("0,2,4-6").unwrap(),
            Cores::List(vec![0, 2, 4, 5, 6])
        );
        assert_eq!(parse_cores("3-3").unwrap(), Cores::List(vec![3]));
        assert!(parse_cores("x").is_err());
        assert!(parse_cores("5-2").is_err());
    }

    #[test]
    fn bad_values_are_errors_naming_the_value() {
        let env = |name: &str| (name == "RINGSERVE_PORT").then(|| "http".to_owned());
        let error = HttpOptions::new()
            .resolve(env, &[0])
            .unwrap_err()
            .to_string();
        assert!(error.contains("RINGSERVE_PORT = \"http\""), "{error}");

        let error = HttpOptions::new()
            .cores(Cores::Count(3))
            .resolve(no_env, &[0, 1])
            .unwrap_err()
            .to_string();
        assert!(error.contains("Count(3)"), "{error}");

        let error = HttpOptions::new()
            .cores(Cores::List(vec![0, 7]))
            .resolve(no_env, &[0, 1])
            .unwrap_err()
            .to_string();
        assert!(error.contains("core 7"), "{error}");

        let env = |name: &str| (name == "RINGSERVE_IO").then(|| "epoll".to_owned());
        let error = HttpOptions::new()
            .resolve(env, &[0])
            .unwrap_err()
            .to_string();
        assert!(error.contains("RINGSERVE_IO = \"epoll\""), "{error}");

        let error = HttpOptions::new()
            .root_path("/serve/")
            .resolve(no_env, &[0])
            .unwrap_err()
            .to_string();
        assert!(error.contains("root_path = \"/serve/\""), "{error}");

        let error = HttpOptions::new()
            .request_timeout(Duration::ZERO)
            .resolve(no_env, &[0])
            .unwrap_err()
            .to_string();
        assert!(error.contains("request_timeout"), "{error}");

        let error = HttpOptions::new()
            .shard_stall_threshold(Duration::from_millis(50))
            .resolve(no_env, &[0])
            .unwrap_err()
            .to_string();
        assert!(error.contains("shard_stall_threshold = 50ms"), "{error}");
    }

    #[test]
    fn allowed_cores_is_not_empty() {
        assert!(!allowed_cores().is_empty());
    }
}
