//! `Serve`: validate applications and options, build the prefix trie, bind one listener per
//! shard, start the shards, and hand back a handle that shuts them down.
//!
//! Invariant: every check happens before the first shard starts, and every listener is bound
//! before any shard accepts; an `Err` from `start` means nothing is left running (but a shard
//! stuck past `start_timeout`, in a replica's factory, say: it is told to stop and left
//! detached, so that `start` returns). After
//! `start`, the [`ServerConfig`] is read-only and shared by all shards.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::FutureExt;
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement, PoolPlacement};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{Routes, ServerConfig};
use crate::deploy::Application;
use crate::deploy::handle::DeploymentId;
use crate::deploy::health::HealthBoard;
use crate::deploy::load;
use crate::deploy::pulse::PulseBoard;
use crate::error::Error;
use crate::limits::{APP_NAME_BYTES_MAX, LISTEN_BACKLOG, SHARD_STOP_WAIT, SHARD_WATCH_INTERVAL};
use crate::metrics::{ShardMetrics, Stats};
use crate::middleware::{Layers, Middleware};
use crate::options::{HttpOptions, IoBackend, ResolvedOptions, allowed_cores, cpu_budget};
use crate::prefix::PrefixTrie;
use crate::scrape::{Exporter, Scraper};
use crate::shard::forward;
use crate::shard::watchdog::Watchdog;
use crate::shard::{self, Control, Generation, ShardContext};

/// How long a reload waits for every shard to switch once all have built the new applications.
const SWITCH_WAIT: Duration = Duration::from_secs(2);

/// Exit status after a second SIGINT or SIGTERM cut the graceful drain short (128 + SIGINT).
pub(crate) const FORCED_EXIT_STATUS: i32 = 130;

/// Runs one application with default options, like `serve.run(app)`: blocks until SIGINT or
/// SIGTERM, then shuts down gracefully.
///
/// ```no_run
/// use ringserve::{Application, Deployment, Request, Response};
///
/// struct Hello;
/// impl Deployment for Hello {
///     async fn call(&self, _request: Request) -> Response {
///         Response::text("hello")
///     }
/// }
///
/// ringserve::run(Application::new(|| Hello)).unwrap();
/// ```
pub fn run(app: Application) -> Result<(), Error> {
    Serve::new().app(app).run()
}

/// A server of several applications side by side.
///
/// ```
/// use ringserve::{Application, Cores, Deployment, HttpOptions, Request, Response, Serve};
///
/// struct Echo;
/// impl Deployment for Echo {
///     async fn call(&self, request: Request) -> Response {
///         Response::text(request.route_path().to_owned())
///     }
/// }
///
/// let server = Serve::new()
///     .options(HttpOptions::new().port(0).cores(Cores::Count(1)))
///     .app(Application::new(|| Echo).name("a").route_prefix("/a"))
///     .app(Application::new(|| Echo).name("b").route_prefix("/b"))
///     .start()
///     .unwrap();
/// println!("listening on {}", server.local_addr());
/// server.shutdown();
/// ```
#[derive(Debug, Default)]
pub struct Serve {
    options: HttpOptions,
    apps: Vec<Application>,
    layers: Layers,
}

impl Serve {
    /// A server with default options and no applications.
    pub fn new() -> Self {
        Serve::default()
    }

    /// Replaces the HTTP options.
    pub fn options(mut self, options: HttpOptions) -> Self {
        self.options = options;
        self
    }

    /// Adds an application at its route prefix.
    pub fn app(mut self, app: Application) -> Self {
        self.apps.push(app);
        self
    }

    /// Wraps every application in `middleware`, outside the applications' own layers; the
    /// first layer added is the outermost. (`/-/routes` and `/-/healthz` are the engine's and
    /// are not wrapped.)
    pub fn layer<M>(self, middleware: M) -> Self
    where
        M: Middleware + Clone + Send + Sync,
    {
        self.layer_with(move || middleware.clone())
    }

    /// Wraps every application in a middleware that `factory` builds on each shard, for
    /// middleware with `Rc`/`RefCell` state.
    pub fn layer_with<M, F>(mut self, factory: F) -> Self
    where
        M: Middleware,
        F: Fn() -> M + Send + Sync + 'static,
    {
        self.layers.push(factory);
        self
    }

    /// Starts serving and blocks until the process gets SIGINT (Ctrl-C) or SIGTERM, then
    /// shuts down gracefully as [`ServerHandle::shutdown`] does; a second signal during that
    /// drain exits the process at once (status 130). If a shard stops unexpectedly, the others
    /// are shut down and the error says which. Use [`Serve::start`] to decide yourself when to
    /// stop.
    pub fn run(self) -> Result<(), Error> {
        let signals = Signals::new([SIGINT, SIGTERM])
            .map_err(|error| Error::io("installing SIGINT and SIGTERM handlers", error))?;
        let signals_handle = signals.handle();
        let server = self.start()?;
        let (signalled_tx, signalled) = mpsc::channel::<()>();
        let watcher = std::thread::Builder::new()
            .name("ringserve-signals".to_owned())
            .spawn(move || watch_signals(signals, signalled_tx))
            .map_err(|error| Error::io("starting the signal thread", error))?;
        let outcome = loop {
            match signalled.recv_timeout(SHARD_WATCH_INTERVAL) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break Ok(()),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(index) = server.exited_shard() {
                        break Err(Error::config(format!(
                            "shard {index} stopped unexpectedly; the server was shut down"
                        )));
                    }
                }
            }
        };
        server.shutdown();
        signals_handle.close();
        let _ = watcher.join();
        outcome
    }

    /// Checks everything, binds the listeners, starts one shard per core, and returns once all
    /// are serving.
    pub fn start(self) -> Result<ServerHandle, Error> {
        let options = self.resolve_options()?;
        self.start_resolved(options)
    }

    /// Checks the options and the applications as [`Serve::start`] does — every check but
    /// binding the listeners and building the replicas — without starting anything: to
    /// validate a configuration on the machine that will run it (`ringserve check`).
    pub fn check(&self) -> Result<(), Error> {
        let options = self.resolve_options()?;
        listen_address(&options)?;
        CheckedApps::new(self.apps.clone(), &options.cores).map(drop)
    }

    fn resolve_options(&self) -> Result<ResolvedOptions, Error> {
        self.options.resolve_within(
            |name| std::env::var(name).ok(),
            &allowed_cores(),
            cpu_budget(),
        )
    }

    /// [`Serve::start`] with the options already resolved: tests run more shards than the
    /// machine has cores by naming a core twice.
    pub(crate) fn start_resolved(
        self,
        mut options: ResolvedOptions,
    ) -> Result<ServerHandle, Error> {
        // Handlers' panics are logged at a bounded rate from the first request on.
        crate::shard::panics::install_hook();
        if options.io == IoBackend::IoUring
            && let Some(reason) = crate::shard::uring::ring::unsupported()
        {
            crate::error::warn_operator(&format!(
                "io_uring data path unavailable ({reason}): using glommio's streams"
            ));
            options.io = IoBackend::Glommio;
        }
        let checked = CheckedApps::new(self.apps, &options.cores)?;
        if !options.pinned {
            tracing::info!(
                "{} shard(s), as many as the CPU quota grants, not pinned: the kernel places them",
                options.cores.len()
            );
        }
        // Once the configuration is known good (a refused one changes no process limit):
        // clients past the descriptors' budget get 503s rather than accepts that fail.
        options.limits.connections_per_shard_max = crate::shard::descriptors::fit_to_limit(
            options.limits.connections_per_shard_max,
            options.cores.len(),
        );
        let listeners = bind_listeners(&options)?;
        let metrics_listener = match options.metrics_address {
            None => None,
            Some(asked) => match Exporter::bind(asked.address) {
                Ok(listener) => Some(listener),
                Err(error) if !asked.required => {
                    crate::error::warn_operator(&format!(
                        "{error}: serving without a metrics listener (set ringserve.metrics_address)"
                    ));
                    None
                }
                Err(error) => return Err(error),
            },
        };
        let local_addr = listeners.local_addr;
        let server_address = if options.host.contains(':') {
            format!("[{}]:{}", options.host, local_addr.port())
        } else {
            format!("{}:{}", options.host, local_addr.port())
        };
        let config = Arc::new(ServerConfig {
            not_found_hint: format!("Ping http://{server_address}/-/routes for available routes."),
            server_address,
            pulses: PulseBoard::new(options.cores.len()),
            draining: AtomicBool::new(false),
            labels: Mutex::new(Vec::new()),
            metric_targets: Mutex::new(Vec::new()),
            options,
        });
        let routes = Arc::new(checked.into_routes(self.layers, &config));
        // The watchdog's copies of the listeners, to steer new connections with.
        let watched = listeners
            .sockets
            .iter()
            .map(OwnedFd::try_clone)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| Error::io("copying the listeners for the watchdog", error))?;
        let mut handle = start_shards(config.clone(), routes, listeners.sockets, local_addr)?;
        handle.config = Some(config.clone());
        let scraper = Scraper::new(handle.controls.clone(), config.clone());
        if let Some(listener) = metrics_listener {
            handle.exporter = Some(Exporter::start(listener, scraper.clone())?);
        }
        handle.scraper = Some(scraper);
        if let Some(exporter) = &handle.exporter {
            tracing::info!("metrics on http://{}/metrics", exporter.local_addr());
        }
        handle.watchdog = Some(
            Watchdog::start(config, watched)
                .map_err(|error| Error::io("starting the watchdog thread", error))?,
        );
        Ok(handle)
    }
}

/// Reports the first signal on `signalled`; a second one ends the process at once.
fn watch_signals(mut signals: Signals, signalled: mpsc::Sender<()>) {
    let mut arrivals = signals.forever();
    if arrivals.next().is_none() {
        return;
    }
    let _ = signalled.send(());
    if arrivals.next().is_some() {
        std::process::exit(FORCED_EXIT_STATUS);
    }
}

/// Applications given to `Serve::app`, with the deployments they bind, checked for shards
/// on `cores`: one generation's, before it is made [`Routes`].
struct CheckedApps {
    apps: Vec<Application>,
    routed: usize,
    prefix_trie: PrefixTrie,
}

impl CheckedApps {
    fn new(apps: Vec<Application>, cores: &[usize]) -> Result<Self, Error> {
        let routed = apps.len();
        let apps = with_bound_deployments(apps)?;
        let prefix_trie = build_routes(&apps, routed)?;
        check_replicas(&apps, cores)?;
        Ok(CheckedApps {
            apps,
            routed,
            prefix_trie,
        })
    }

    /// The generation these applications make in `config`'s server, labelled there.
    fn into_routes(self, layers: Layers, config: &ServerConfig) -> Routes {
        let CheckedApps {
            apps,
            routed,
            prefix_trie,
        } = self;
        let shards = config.options.cores.len();
        Routes {
            routes_json: render_routes(&apps[..routed]),
            health: Arc::new(HealthBoard::new(
                apps.iter().map(|app| app.replica_count(shards)).collect(),
            )),
            loads: load::loads(apps.len(), shards),
            deployments: apps
                .iter()
                .enumerate()
                .map(|(index, app)| (app.id(), index))
                .collect(),
            hosts: apps
                .iter()
                .enumerate()
                .map(|(index, app)| app.hosts(index, &config.options.cores))
                .collect(),
            label_base: config.label(&apps, routed),
            metric_slots: config.metric_slots(&apps, routed),
            retired_shards: AtomicUsize::new(0),
            apps,
            routed,
            layers,
            prefix_trie,
        }
    }
}

/// Each shard's links for `routes`, when some application lives on fewer shards than it is
/// reached from: otherwise no shard ever forwards, and its reactor polls no channel.
fn links_for(routes: &Routes, cores: &[usize]) -> Vec<Option<forward::Links>> {
    let forwarding = routes
        .apps
        .iter()
        .any(|app| app.replica_count(cores.len()) < cores.len());
    if !forwarding {
        return Vec::new();
    }
    forward::build_links(cores.len(), &routes.hosts)
        .into_iter()
        .map(Some)
        .collect()
}

/// Every application asks for between one replica and one per shard, on cores the server runs
/// on, at most one per core.
fn check_replicas(apps: &[Application], cores: &[usize]) -> Result<(), Error> {
    let shards = cores.len();
    for app in apps {
        if let Some(wanted) = app.replica_cores_asked() {
            let name = app.configured_name();
            if wanted.is_empty() {
                return Err(Error::config(format!(
                    "application {name:?}: replica_cores is empty"
                )));
            }
            for (position, core) in wanted.iter().enumerate() {
                if !cores.contains(core) {
                    return Err(Error::config(format!(
                        "application {name:?}: replica core {core} is not one of the server's cores {cores:?}"
                    )));
                }
                if wanted[..position].contains(core) {
                    return Err(Error::config(format!(
                        "application {name:?}: replica core {core} is named twice"
                    )));
                }
            }
            if app
                .replicas_asked()
                .is_some_and(|asked| asked != wanted.len())
            {
                return Err(Error::config(format!(
                    "application {name:?}: num_replicas and replica_cores ({} cores) disagree",
                    wanted.len()
                )));
            }
        }
        if let Some(asked) = app.replicas_asked()
            && !(1..=shards).contains(&asked)
        {
            return Err(Error::config(format!(
                "application {:?}: num_replicas is {asked}, must be between 1 and the {shards} shard(s)",
                app.configured_name()
            )));
        }
    }
    Ok(())
}

/// `apps`, then every deployment they bind (and those bind), each once. Clones of one
/// `Application` are one deployment (handles name it by its id): a clone given another name
/// is refused, since it would silently be served as the first.
fn with_bound_deployments(mut apps: Vec<Application>) -> Result<Vec<Application>, Error> {
    let mut seen: HashMap<DeploymentId, String> = HashMap::new();
    // Whether `app` is new; an error when it is a clone of one seen under another name.
    let mut first_sight = |app: &Application| match seen.get(&app.id()) {
        Some(name) if name != app.configured_name() => Err(Error::config(format!(
            "{name:?} and {:?} are clones of one Application: make each with its own \
             Application::new",
            app.configured_name()
        ))),
        Some(_) => Ok(false),
        None => {
            seen.insert(app.id(), app.configured_name().to_owned());
            Ok(true)
        }
    };
    for app in &apps {
        first_sight(app)?;
    }
    let mut next = 0;
    while next < apps.len() {
        for deployment in apps[next].bound_deployments().to_vec() {
            if first_sight(&deployment)? {
                apps.push(deployment);
            }
        }
        next += 1;
    }
    Ok(apps)
}

/// Checks every application and bound deployment; the prefix trie of the first `routed`.
fn build_routes(apps: &[Application], routed: usize) -> Result<PrefixTrie, Error> {
    let mut names = HashSet::new();
    for app in apps {
        let name = app.configured_name();
        if name.is_empty() || name.len() > APP_NAME_BYTES_MAX || name.chars().any(char::is_control)
        {
            return Err(Error::config(format!(
                "application name {name:?} must be 1 to {APP_NAME_BYTES_MAX} bytes without control characters"
            )));
        }
        if app.admission().max_ongoing_requests == 0 {
            return Err(Error::config(format!(
                "application {name:?}: max_ongoing_requests must be at least 1"
            )));
        }
        if app.admission().max_queue_wait.is_zero() {
            return Err(Error::config(format!(
                "application {name:?}: max_queue_wait must be longer than zero"
            )));
        }
        let health = app.health();
        if health.period.is_zero() || health.timeout.is_zero() {
            return Err(Error::config(format!(
                "application {name:?}: health_check_period and health_check_timeout must be longer than zero"
            )));
        }
        if app
            .configured_request_timeout()
            .is_some_and(|timeout| timeout.is_zero())
        {
            return Err(Error::config(format!(
                "application {name:?}: request_timeout must be longer than zero"
            )));
        }
        if !names.insert(name) {
            return Err(Error::config(format!(
                "application name {name:?} is used twice (names are unique among a server's applications and the deployments they bind)"
            )));
        }
    }
    let prefixes: Vec<&str> = apps[..routed]
        .iter()
        .map(Application::configured_route_prefix)
        .collect();
    PrefixTrie::build(&prefixes).map_err(|error| Error::config(error.to_string()))
}

/// `{"<prefix>": "<app name>", ...}`, sorted by prefix.
fn render_routes(apps: &[Application]) -> Bytes {
    let routes: BTreeMap<&str, &str> = apps
        .iter()
        .map(|app| (app.configured_route_prefix(), app.configured_name()))
        .collect();
    Bytes::from(serde_json::to_vec(&routes).unwrap_or_else(|_| b"{}".to_vec()))
}

struct Listeners {
    sockets: Vec<OwnedFd>,
    local_addr: SocketAddr,
}

/// One `SO_REUSEPORT` listener per shard, all on one port: the first learns the port when the
/// options ask for port 0, the others bind to it. The kernel spreads connections among them.
fn bind_listeners(options: &ResolvedOptions) -> Result<Listeners, Error> {
    let address = listen_address(options)?;
    let mut sockets = Vec::with_capacity(options.cores.len());
    let mut local_addr = address;
    for _ in &options.cores {
        let socket = bind_one(local_addr)?;
        if let Some(bound) = socket.local_addr().ok().and_then(|bound| bound.as_socket()) {
            local_addr = bound;
        }
        sockets.push(OwnedFd::from(socket));
    }
    Ok(Listeners {
        sockets,
        local_addr,
    })
}

/// The address the options name: `host` must be an IP address or a resolvable name.
fn listen_address(options: &ResolvedOptions) -> Result<SocketAddr, Error> {
    (options.host.as_str(), options.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| {
            Error::config(format!(
                "host = {:?} is not an IP address or a resolvable name",
                options.host
            ))
        })
}

fn bind_one(address: SocketAddr) -> Result<Socket, Error> {
    let context = |what: &str| format!("{what} listener on {address}");
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(|error| Error::io(context("creating"), error))?;
    socket
        .set_reuse_port(true)
        .and_then(|()| socket.set_reuse_address(true))
        .and_then(|()| socket.set_nonblocking(true))
        .map_err(|error| Error::io(context("configuring"), error))?;
    socket
        .bind(&address.into())
        .map_err(|error| Error::io(context("binding"), error))?;
    socket
        .listen(LISTEN_BACKLOG)
        .map_err(|error| Error::io(context("listening with"), error))?;
    Ok(socket)
}

fn start_shards(
    config: Arc<ServerConfig>,
    routes: Arc<Routes>,
    sockets: Vec<OwnedFd>,
    local_addr: SocketAddr,
) -> Result<ServerHandle, Error> {
    let (stop, stopped) = flume::bounded::<()>(1);
    // Each shard says once whether it is ready (its links connected, its replicas built).
    let (ready_tx, ready_rx) = mpsc::channel::<(usize, Result<(), String>)>();
    let (exited_tx, exited_rx) = mpsc::channel::<usize>();
    let mut handle = ServerHandle {
        local_addr,
        stop: Some(stop),
        shards: Vec::with_capacity(sockets.len()),
        controls: Vec::with_capacity(sockets.len()),
        exited: exited_rx,
        exited_first: Cell::new(None),
        watchdog: None,
        config: None,
        scraper: None,
        exporter: None,
    };
    let cores = config.options.cores.clone();
    let mut links = links_for(&routes, &cores);
    for (index, (core, socket)) in cores.into_iter().zip(sockets).enumerate() {
        let shard_links = links.get_mut(index).and_then(Option::take);
        let config = config.clone();
        let routes = routes.clone();
        let stopped = stopped.clone();
        let ready = ready_tx.clone();
        let (control_tx, control) = flume::unbounded();
        handle.controls.push(control_tx);
        let exit_guard = ShardExitGuard {
            index,
            exited: exited_tx.clone(),
        };
        let placement = if config.options.pinned {
            Placement::Fixed(core)
        } else {
            Placement::Unbound
        };
        let spawned = LocalExecutorBuilder::new(placement)
            .name(&format!("ringserve-shard-{index}"))
            // rt::spawn_blocking's threads: unpinned, so that a closure computing for
            // milliseconds does not take the shard's own core (glommio pins them to it).
            .blocking_thread_pool_placement(PoolPlacement::Unbound(config.options.blocking_threads))
            .spawn(move || async move {
                let _exit_guard = exit_guard;
                // Links first: connecting waits for every peer, and must not wait through a
                // slow replica build (glommio polls a waiting connection on every turn). A
                // shard that fails drops its ends, which ends its peers' waits; the stop
                // signal ends them for a shard that never started.
                let links = match shard_links {
                    None => None,
                    Some(links) => {
                        let connected = async { Some(forward::Forwarder::connect(links).await) }
                            .or(async {
                                let _ = stopped.recv_async().await;
                                None
                            })
                            .await;
                        match connected {
                            Some(connected) => Some(connected),
                            None => return,
                        }
                    }
                };
                let metrics = Rc::new(ShardMetrics::default());
                let generation = match Generation::build(index, &config, routes, metrics) {
                    Ok(generation) => Rc::new(generation),
                    Err(message) => {
                        let _ = ready.send((index, Err(message)));
                        return;
                    }
                };
                if let Some(links) = links {
                    let forwarder = forward::Forwarder::start(index, links, &generation);
                    let _ = generation.forwarder.set(forwarder);
                }
                let context = Rc::new(ShardContext::new(index, config, generation));
                // Send, then drop the sender: `start` sees a disconnect only once every shard
                // has answered or died, never while a running shard still holds a clone.
                let _ = ready.send((index, Ok(())));
                drop(ready);
                shard::run(socket, context, stopped, control).await;
            })
            .map_err(|error| shard_start_error(index, core, error));
        match spawned {
            Ok(shard) => handle.shards.push(shard),
            Err(error) => {
                handle.stop_within(SHARD_STOP_WAIT);
                return Err(error);
            }
        }
    }
    drop(ready_tx);
    let start_timeout = config.options.start_timeout;
    let started = Instant::now();
    let mut ready = vec![false; handle.shards.len()];
    while ready.contains(&false) {
        // A subtraction, not a deadline: `Instant + Duration::MAX` would overflow.
        let left = start_timeout.saturating_sub(started.elapsed());
        let failure = match ready_rx.recv_timeout(left) {
            Ok((index, Ok(()))) => {
                ready[index] = true;
                continue;
            }
            Ok((_, Err(message))) => Error::config(message),
            // A shard whose executor could not start (io_uring setup, locked memory, file
            // descriptors) never ran its future: its join result says why.
            Err(mpsc::RecvTimeoutError::Disconnected) => handle
                .join_failures()
                .unwrap_or_else(|| Error::config("a shard stopped before it started serving")),
            Err(mpsc::RecvTimeoutError::Timeout) => not_ready_error(&ready, start_timeout),
        };
        handle.stop_within(SHARD_STOP_WAIT);
        return Err(failure);
    }
    Ok(handle)
}

/// Waits up to `wait` for each of `shards` to answer on `answers`; the first failure, or which
/// shards did not answer in time (`what`: what they were asked to do).
fn await_shards(
    answers: &mpsc::Receiver<(usize, Result<(), String>)>,
    shards: usize,
    wait: Duration,
    what: &str,
) -> Result<(), String> {
    let started = Instant::now();
    let mut answered = vec![false; shards];
    while answered.contains(&false) {
        let left = wait.saturating_sub(started.elapsed());
        match answers.recv_timeout(left) {
            Ok((index, Ok(()))) => answered[index] = true,
            Ok((_, Err(message))) => return Err(message),
            Err(_) => {
                let late: Vec<usize> = (0..shards).filter(|&index| !answered[index]).collect();
                return Err(format!(
                    "shard(s) {late:?} did not {what} the new applications within {wait:?}"
                ));
            }
        }
    }
    Ok(())
}

/// `Serve::start` gave up: which shards were not ready, and what they were doing.
fn not_ready_error(ready: &[bool], start_timeout: Duration) -> Error {
    let waiting: Vec<usize> = (0..ready.len()).filter(|&index| !ready[index]).collect();
    Error::io(
        format!(
            "starting shards: shard(s) {waiting:?} not ready within start_timeout = \
             {start_timeout:?} (connecting to the other shards, or building replicas)"
        ),
        std::io::Error::from(std::io::ErrorKind::TimedOut),
    )
}

fn shard_start_error(index: usize, core: usize, error: impl std::fmt::Display) -> Error {
    Error::io(
        format!("starting shard {index} on core {core}"),
        std::io::Error::other(error.to_string()),
    )
}

/// Tells the server handle that a shard's thread has ended, however it ended.
struct ShardExitGuard {
    index: usize,
    exited: mpsc::Sender<usize>,
}

impl Drop for ShardExitGuard {
    fn drop(&mut self) {
        let _ = self.exited.send(self.index);
    }
}

/// A running server. Dropping it shuts the server down, as [`ServerHandle::shutdown`] does.
pub struct ServerHandle {
    local_addr: SocketAddr,
    /// Dropping the sender is the shutdown signal every shard's accept loop awaits.
    stop: Option<flume::Sender<()>>,
    shards: Vec<ExecutorJoinHandle<()>>,
    /// Each shard's control channel, for reloads.
    controls: Vec<flume::Sender<Control>>,
    /// Shard indexes whose threads have ended.
    exited: mpsc::Receiver<usize>,
    /// The first of them seen while serving: kept, so that shutdown, asked later, still knows
    /// (and skips the drain period of a server already broken).
    exited_first: Cell<Option<usize>>,
    /// Watches the shards for stalls once all are serving.
    watchdog: Option<Watchdog>,
    /// What the shards share, once all are serving: shutdown raises its drain flag.
    config: Option<Arc<ServerConfig>>,
    /// Asks the shards for their metrics, once all are serving.
    scraper: Option<Scraper>,
    /// The metrics listener, when `metrics_address` names one.
    exporter: Option<Exporter>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .field("cores", &self.cores())
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Drains, then stops: for the drain period (`HttpOptions::drain_period`, default zero)
    /// `/-/healthz` and `/-/routes` answer `503` while requests are still served; then it
    /// stops accepting, lets in-flight requests finish within the shutdown grace period
    /// (`HttpOptions::shutdown_grace`), closes idle connections, and joins every shard.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    /// Every application's requests, errors, latency percentiles and queue, and every shard's
    /// state and load, merged from a snapshot each shard takes of its own recordings now. A
    /// shard that does not answer within a second (stalled in a handler, say) is reported
    /// `up: false` rather than waited on.
    ///
    /// ```
    /// use ringserve::{Application, Cores, Deployment, HttpOptions, Request, Response, Serve};
    ///
    /// struct Hello;
    /// impl Deployment for Hello {
    ///     async fn call(&self, _request: Request) -> Response {
    ///         Response::text("hello")
    ///     }
    /// }
    ///
    /// let server = Serve::new()
    ///     .options(HttpOptions::new().port(0).cores(Cores::Count(1)))
    ///     .app(Application::new(|| Hello).name("hello"))
    ///     .start()
    ///     .unwrap();
    /// let stats = server.stats();
    /// assert_eq!(stats.applications[0].name, "hello");
    /// assert_eq!(stats.applications[0].requests, 0);
    /// assert!(stats.shards[0].up);
    /// server.shutdown();
    /// ```
    pub fn stats(&self) -> Stats {
        match &self.scraper {
            Some(scraper) => scraper.stats(),
            None => Stats {
                server: String::new(),
                applications: Vec::new(),
                shards: Vec::new(),
            },
        }
    }

    /// The address of the metrics listener (`HttpOptions::metrics_address`), when there is one:
    /// with the real port when port 0 was asked for.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.exporter.as_ref().map(Exporter::local_addr)
    }

    /// The cores the shards run on, one shard each, in shard order.
    pub fn cores(&self) -> &[usize] {
        self.config
            .as_ref()
            .map_or(&[], |config| config.options.cores.as_slice())
    }

    /// Serves `applications`' applications (and the deployments they bind, inside its layers)
    /// in place of the running ones, without closing a connection: each shard builds its
    /// replicas of the new applications, and once every shard has, each switches to them
    /// between two requests; requests in flight finish on the applications they started on,
    /// whose replicas are dropped after the last of them. `applications`' options are not
    /// used: the server's (address, cores, timeouts, limits) stay as they were started. On an
    /// `Err` — a check that fails, a factory that fails or panics on some shard — nothing
    /// changes.
    pub fn reload(&self, applications: Serve) -> Result<(), Error> {
        let config = self
            .config
            .as_ref()
            .ok_or_else(|| Error::config("the server is not running"))?;
        let cores = &config.options.cores;
        let checked = CheckedApps::new(applications.apps, cores)?;
        let routes = Arc::new(checked.into_routes(applications.layers, config));
        let mut links = links_for(&routes, cores);
        let wait = config.options.start_timeout;
        // First every shard builds its replicas (and links them): any failure changes nothing.
        let (ready_tx, ready_rx) = mpsc::channel();
        for (index, control) in self.controls.iter().enumerate() {
            let prepare = Control::Prepare {
                routes: routes.clone(),
                links: links.get_mut(index).and_then(Option::take),
                ready: ready_tx.clone(),
            };
            if control.send(prepare).is_err() {
                let _ = ready_tx.send((index, Err(format!("shard {index} has stopped"))));
            }
        }
        drop(ready_tx);
        if let Err(failure) = await_shards(&ready_rx, self.controls.len(), wait, "build") {
            for control in &self.controls {
                let _ = control.send(Control::Abandon);
            }
            return Err(Error::config(format!("reload: {failure}")));
        }
        // Then every shard switches, between two requests.
        let (done_tx, done_rx) = mpsc::channel();
        for (index, control) in self.controls.iter().enumerate() {
            let switch = Control::Switch {
                done: done_tx.clone(),
            };
            if control.send(switch).is_err() {
                let _ = done_tx.send((index, Err(format!("shard {index} has stopped"))));
            }
        }
        drop(done_tx);
        // Switching is a few pointer moves: a shard that takes longer is stalled, and the
        // caller (a signal loop) must not wait on it for long.
        let switch_wait = wait.min(SWITCH_WAIT);
        if let Err(failure) = await_shards(&done_rx, self.controls.len(), switch_wait, "switch to")
        {
            crate::error::warn_operator(&format!(
                "reload: {failure}; a stalled shard switches when it turns again"
            ));
        }
        Ok(())
    }

    /// A shard whose thread has ended while the server runs, if any.
    pub(crate) fn exited_shard(&self) -> Option<usize> {
        if self.exited_first.get().is_none() {
            self.exited_first.set(self.exited.try_recv().ok());
        }
        self.exited_first.get()
    }

    /// Joins the shards whose executors failed to start and returns the first failure.
    fn join_failures(&mut self) -> Option<Error> {
        drop(self.stop.take());
        let mut first = None;
        for (index, shard) in self.shards.drain(..).enumerate() {
            if let Err(error) = shard.join() {
                first.get_or_insert_with(|| {
                    Error::io(
                        format!("starting shard {index}"),
                        std::io::Error::other(error.to_string()),
                    )
                });
            }
        }
        first
    }

    /// Tells every shard to stop, joins those that end within `wait`, and leaves the rest
    /// running, detached: a start that failed must return even when a shard is stuck.
    fn stop_within(&mut self, wait: Duration) {
        drop(self.stop.take());
        let started = Instant::now();
        let mut ended = vec![false; self.shards.len()];
        while ended.contains(&false) {
            let left = wait.saturating_sub(started.elapsed());
            match self.exited.recv_timeout(left) {
                // A shard whose thread could not be spawned reports an index past the ones
                // that were: nothing of it is left to join.
                Ok(index) => {
                    if let Some(shard_ended) = ended.get_mut(index) {
                        *shard_ended = true;
                    }
                }
                Err(_) => break,
            }
        }
        for (index, shard) in self.shards.drain(..).enumerate() {
            if ended[index] {
                let _ = shard.join();
            } else {
                crate::error::warn_operator(&format!(
                    "shard {index} did not stop within {wait:?} of a failed start; left running"
                ));
            }
        }
    }

    fn stop_and_join(&mut self) {
        if let Some(config) = self.config.take() {
            let period = config.options.drain_period;
            if !period.is_zero() && self.exited_shard().is_none() {
                config.draining.store(true, Ordering::Relaxed);
                tracing::info!(
                    "draining: /-/healthz answers 503 for {period:?}, then the listeners close"
                );
                std::thread::sleep(period);
            }
        }
        // Scrapes end before the shards they would ask.
        drop(self.exporter.take());
        // First, while every listener is still in its group: it takes its program off.
        drop(self.watchdog.take());
        drop(self.stop.take());
        for shard in self.shards.drain(..) {
            let _ = shard.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
