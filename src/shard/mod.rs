//! One shard per core: its listener, its connections, its generations of replicas, its caches.
//!
//! Invariant: everything a shard touches per request is its own — `Rc`, `Cell` and `RefCell`,
//! never `Arc` clones or locks. The only atomics on the request path are the reference counts
//! inside `bytes` buffers, which this shard alone touches (uncontended), the relaxed store
//! with which each handler poll names its application for the stall watchdog (`running`: a
//! plain `mov`, to a cache line no other core reads while the shard turns), and the release
//! store that hands a provided buffer back to the kernel (`uring::provided`: also a plain
//! `mov` on x86, to memory only this thread writes). What it shares with other shards is the
//! [`ServerConfig`], built before any shard starts, and each generation's [`Routes`] (the
//! applications of a start or a reload), read through references — read-only but for a few
//! kinds of cells, each written by one thread and read by others: replica loads (for
//! forwarding), healthy-replica counts (for `/-/healthz`), the shards' pulses (the sweeper's
//! beats and the running application, for the `watchdog` thread; its stall verdicts, for
//! `/-/healthz`), the drain flag, and a retiring generation's count of shards done with it.
//! A request takes the shard's current [`Generation`] once, as it starts (an `Rc` clone), and
//! runs wholly on it. Its metrics (`ShardMetrics`) are plain cells only it writes; a scrape
//! gets an owned copy. Cross-thread signals are the shutdown channel, the control channel of
//! reloads and scrapes (`Control`) and, when an application has fewer replicas than shards, each
//! generation's forwarding links (`forward`).

#[cfg(test)]
mod allocation_tests;
mod body_pump;
pub(crate) mod buffers;
pub(crate) mod compose;
mod connection;
mod connection_io;
mod date;
pub(crate) mod descriptors;
mod dispatch;
pub(crate) mod forward;
mod generation;
mod memory;
pub(crate) mod panics;
mod read_ahead;
mod replica_call;
mod response_stream;
pub(crate) mod running;
#[cfg(test)]
mod spill_tests;
pub(crate) mod transport;
pub(crate) mod uring;
pub(crate) mod watchdog;

use std::cell::{Cell, OnceCell, RefCell};
use std::os::fd::{OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use futures_lite::FutureExt;
use glommio::net::TcpListener;
use glommio::task::JoinHandle;
use glommio::timer::Timer;
use slab::Slab;

use crate::config::{Routes, ServerConfig};
use crate::deploy::admission::Admission;
use crate::deploy::handle::DeploymentId;
use crate::deployment::Replica;
use crate::limits::{DRAIN_POLL_INTERVAL, LINK_WAIT_MAX, SETTLE_TIMEOUT, SWEEP_INTERVAL};
use crate::metrics::record::{ReplicaGauge, ShardMetrics, ShardSnapshot};
use crate::request::AppScope;
use crate::request_id::RequestIdGenerator;
use date::DateCache;
use descriptors::AcceptFailures;
use forward::Forwarder;
use generation::Retiring;
use transport::{GlommioTransport, Transport};
use uring::accept::Acceptor;
use uring::ring::Ring;
use uring::stream::UringStream;

use crate::options::IoBackend;

/// A connection as the shard sees it, for draining and read deadlines.
struct ConnectionEntry {
    fd: RawFd,
    /// Waiting for the next request with nothing buffered: safe to close at shutdown.
    idle: bool,
    /// When the read the connection is waiting on must end.
    deadline: Option<Instant>,
    /// The sweeper found the deadline passed and shut the read side.
    expired: bool,
}

/// One generation of applications on one shard.
pub(crate) struct Generation {
    pub(crate) routes: Arc<Routes>,
    /// This shard's replica of each application; `None` where the application has fewer
    /// replicas than there are shards and this shard hosts none (its requests are forwarded).
    pub(crate) replicas: Vec<Option<Rc<dyn Replica>>>,
    /// The links to other shards for this generation, when some application is forwarded.
    pub(crate) forwarder: OnceCell<Rc<Forwarder>>,
    /// Each application's name and the server's root path, shared by its requests.
    pub(crate) app_scopes: Vec<Rc<AppScope>>,
    /// Each application's turns and queue on this shard's replica.
    pub(crate) admissions: Vec<Admission>,
    /// This shard's own copy of `/-/routes`, so serving it touches no reference count that
    /// other cores share.
    pub(crate) routes_json: bytes::Bytes,
    /// The health checks of this shard's replicas, while this generation is the current one.
    health_checks: RefCell<Vec<JoinHandle<()>>>,
    /// The shard's recordings (the `ShardContext`'s own), for the replica calls it serves.
    pub(crate) metrics: Rc<ShardMetrics>,
}

/// Everything one shard owns.
pub(crate) struct ShardContext {
    /// This shard's position among the server's.
    pub(crate) index: usize,
    pub(crate) config: Arc<ServerConfig>,
    /// The applications new requests go to.
    generation: RefCell<Rc<Generation>>,
    /// A reload's generation, built and linked, waiting for the word to switch to it.
    prepared: RefCell<Option<Rc<Generation>>>,
    /// Generations switched away from, kept until no shard can need them.
    retiring: RefCell<Vec<Retiring>>,
    pub(crate) date: DateCache,
    pub(crate) request_ids: RequestIdGenerator,
    /// Set once shutdown begins: finish in-flight requests, then close.
    pub(crate) draining: Cell<bool>,
    /// What request bodies read whole ahead of admission may hold in all.
    pub(crate) read_ahead: read_ahead::ReadAhead,
    /// Read and write buffers that idle connections gave back.
    pub(crate) buffers: buffers::BufferPool,
    /// When to give freed memory back, after a crowd of connections leaves.
    memory: memory::MemoryReturn,
    connections: RefCell<Slab<ConnectionEntry>>,
    /// What this shard records for metrics; snapshots go to scrapes (`Control::Snapshot`).
    /// Every generation of the shard shares it.
    pub(crate) metrics: Rc<ShardMetrics>,
}

impl ShardContext {
    /// The shard's state around its first generation.
    pub(crate) fn new(index: usize, config: Arc<ServerConfig>, first: Rc<Generation>) -> Self {
        ShardContext {
            index,
            read_ahead: read_ahead::ReadAhead::new(
                config.options.limits.body_read_ahead_bytes_per_shard_max,
            ),
            buffers: buffers::BufferPool::default(),
            memory: memory::MemoryReturn::default(),
            config,
            prepared: RefCell::new(None),
            retiring: RefCell::new(Vec::new()),
            date: DateCache::new(),
            request_ids: RequestIdGenerator::new(index),
            draining: Cell::new(false),
            connections: RefCell::new(Slab::new()),
            metrics: first.metrics.clone(),
            generation: RefCell::new(first),
        }
    }

    /// A copy of this shard's recordings, with its gauges read now: for a scrape.
    fn snapshot(&self) -> ShardSnapshot {
        let mut snapshot = self.metrics.snapshot(self.index);
        snapshot.connections_open = self.open_connections() as u64;
        let generation = self.current();
        let routes = &generation.routes;
        snapshot.current = routes.metric_slots[..routes.routed].to_vec();
        snapshot.gauges = generation
            .replicas
            .iter()
            .enumerate()
            .filter(|(_, replica)| replica.is_some())
            .map(|(app, _)| ReplicaGauge {
                slot: routes.metric_slots[app],
                queued: generation.admissions[app].queued() as u64,
                processing: generation.admissions[app].processing() as u64,
            })
            .collect();
        snapshot
    }

    /// The generation a new request runs on: one reference count, on this core only.
    pub(crate) fn current(&self) -> Rc<Generation> {
        self.generation.borrow().clone()
    }

    /// The generation whose applications bind deployment `id`, and its index there: the
    /// generation of the caller's application (`caller`, its label) when that one binds it —
    /// a request runs wholly on the generation it started on, its handle calls too — else the
    /// current generation, else a retiring one.
    pub(crate) fn binding(
        &self,
        id: DeploymentId,
        caller: Option<usize>,
    ) -> Option<(Rc<Generation>, usize)> {
        let current = self.current();
        let retiring = self.retiring.borrow();
        let generations =
            std::iter::once(&current).chain(retiring.iter().map(Retiring::generation));
        let binds = |generation: &Rc<Generation>| {
            let index = *generation.routes.deployments.get(&id)?;
            Some((generation.clone(), index))
        };
        let callers = caller.and_then(|label| {
            generations
                .clone()
                .find(|generation| generation.labels(label))
                .and_then(binds)
        });
        callers.or_else(|| generations.clone().find_map(binds))
    }

    /// Keeps a reload's generation until it is switched to or abandoned.
    fn prepare(&self, generation: Rc<Generation>) {
        *self.prepared.borrow_mut() = Some(generation);
    }

    /// Switches new requests to the prepared generation; the old one retires. Whether there
    /// was one to switch to.
    fn switch(&self) -> bool {
        let Some(next) = self.prepared.borrow_mut().take() else {
            return false;
        };
        next.start_health_checks();
        let previous = self.generation.replace(next);
        previous.stop_health_checks();
        self.retiring.borrow_mut().push(Retiring::new(previous));
        true
    }

    /// Drops the prepared generation: a reload that failed on some shard.
    fn abandon(&self) {
        self.prepared.borrow_mut().take();
    }

    /// Drops the retiring generations no shard can need any more.
    fn drop_retired(&self) {
        let shards = self.shards();
        self.retiring
            .borrow_mut()
            .retain_mut(|retiring| !retiring.may_drop(shards));
    }

    /// Whether some generation still serves calls for other shards (the drain waits for
    /// them: their clients are waiting on those shards).
    fn serves_others(&self) -> bool {
        self.current().serves_others()
            || self
                .retiring
                .borrow()
                .iter()
                .any(|retiring| retiring.generation().serves_others())
    }

    /// How many shards the server runs.
    pub(crate) fn shards(&self) -> usize {
        self.config.options.cores.len()
    }

    fn register(&self, fd: RawFd) -> Option<usize> {
        let mut connections = self.connections.borrow_mut();
        if connections.len() >= self.config.options.limits.connections_per_shard_max {
            return None;
        }
        Some(connections.insert(ConnectionEntry {
            fd,
            idle: false,
            deadline: None,
            expired: false,
        }))
    }

    fn unregister(&self, key: usize) {
        self.connections.borrow_mut().try_remove(key);
    }

    fn set_idle(&self, key: usize, idle: bool) {
        if let Some(entry) = self.connections.borrow_mut().get_mut(key) {
            entry.idle = idle;
        }
    }

    /// The connection's next read must end by `deadline`.
    fn arm_deadline(&self, key: usize, deadline: Instant) {
        if let Some(entry) = self.connections.borrow_mut().get_mut(key) {
            entry.deadline = Some(deadline);
        }
    }

    /// Ends the connection's timed read; whether the sweeper had to cut it.
    fn disarm_deadline(&self, key: usize) -> bool {
        let mut connections = self.connections.borrow_mut();
        let Some(entry) = connections.get_mut(key) else {
            return false;
        };
        entry.deadline = None;
        entry.expired
    }

    /// Shuts the read side of every connection whose read deadline has passed, so its pending
    /// read ends with end of stream and the connection sees `expired`. One timer for the whole
    /// shard instead of one armed and disarmed per read (measured with callgrind: re-arming
    /// per-read timers was ~20% of a request's instructions when reads wait).
    fn sweep_deadlines(&self, now: Instant) {
        for (_, entry) in self.connections.borrow_mut().iter_mut() {
            if entry.deadline.is_some_and(|deadline| deadline <= now) && !entry.expired {
                entry.expired = true;
                // SAFETY: `fd` belongs to a live connection: entries are removed before the
                // connection's socket is closed.
                unsafe { libc::shutdown(entry.fd, libc::SHUT_RD) };
            }
        }
    }

    /// Shuts every connection still open (past the drain's grace period): their pending
    /// reads and writes end, and their tasks finish.
    fn cut_open_connections(&self) {
        for (_, entry) in self.connections.borrow().iter() {
            // SAFETY: `fd` belongs to a live connection: entries are removed before the
            // connection's socket is closed.
            unsafe { libc::shutdown(entry.fd, libc::SHUT_RDWR) };
        }
    }

    fn open_connections(&self) -> usize {
        self.connections.borrow().len()
    }

    /// Starts draining: connections close after their current request, and idle ones now
    /// (their pending read sees end of stream once the read side is shut).
    fn drain(&self) {
        self.draining.set(true);
        for (_, entry) in self.connections.borrow().iter() {
            if entry.idle {
                // SAFETY: `fd` belongs to a live connection: entries are removed before the
                // connection's socket is closed.
                unsafe { libc::shutdown(entry.fd, libc::SHUT_RD) };
            }
        }
    }
}

/// `accepted`, or `None` once `stop` fires first.
async fn unless_stopped<T>(
    accepted: impl Future<Output = T>,
    stop: &mut (impl Future<Output = Result<(), flume::RecvError>> + Unpin),
) -> Option<T> {
    async { Some(accepted.await) }
        .or(async {
            let _ = (&mut *stop).await;
            None
        })
        .await
}

/// Takes the listener out of LISTEN at once. Dropping it alone is not enough: the accept still
/// in flight in glommio's ring holds the socket open until the ring is torn down, after
/// `shutdown()` has returned, so a client could still connect to a stopped server.
fn stop_listening(listener_fd: RawFd) {
    // SAFETY: shutting down a socket this shard owns; it stays open until the listener drops.
    unsafe { libc::shutdown(listener_fd, libc::SHUT_RDWR) };
}

/// Runs one shard until shutdown: accept, serve, obey reloads, then drain within the grace
/// period.
pub(crate) async fn run(
    listener: OwnedFd,
    context: Rc<ShardContext>,
    shutdown: flume::Receiver<()>,
    control: flume::Receiver<Control>,
) {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let listener_fd = listener.into_raw_fd();
    // SAFETY: the descriptor is a bound, listening TCP socket handed over whole to this shard.
    let listener = unsafe { TcpListener::from_raw_fd(listener_fd) };
    compose::enter(&context);
    // Until `run` ends: the watchdog then stops watching this shard.
    let _publishing = running::Publishing::start(&context.config.pulses, context.index);
    let sweeper = glommio::spawn_local(sweep_deadlines(Rc::downgrade(&context))).detach();
    let controller = glommio::spawn_local(obey(control, Rc::downgrade(&context))).detach();
    context.current().start_health_checks();
    let stop = shutdown.recv_async();
    futures_lite::pin!(stop);
    let ring = match context.config.options.io {
        IoBackend::IoUring => match Ring::polling_for(context.config.options.busy_poll) {
            Ok(ring) => Some(ring),
            Err(error) => {
                crate::error::warn_operator(&format!(
                    "shard {} without io_uring ({error}): using glommio's streams",
                    context.index
                ));
                None
            }
        },
        IoBackend::Glommio => None,
    };
    let attached = ring.as_ref().map(Ring::attach);
    match &ring {
        Some(ring) => accept_through_ring(listener_fd, ring, &context, &mut stop).await,
        None => accept_through_glommio(&listener, &context, &mut stop).await,
    }
    stop_listening(listener_fd);
    if let Some(ring) = &ring {
        // The accept's cancellation names the listener by number: submitted before the
        // number is freed.
        ring.submit_before_close();
    }
    drop(listener);
    drain(&context).await;
    // Connections still open past the grace period are cut, so that their reads end and
    // their tasks (which may hold the ring) finish.
    context.cut_open_connections();
    if let Some(ring) = &ring {
        // Every operation the kernel still holds (cancelled reads, the accept) completes
        // before the ring and the buffers it owns are dropped.
        ring.settle(SETTLE_TIMEOUT).await;
    }
    drop(attached);
    sweeper.cancel();
    controller.cancel();
    context.current().stop_health_checks();
}

/// What the server handle tells a running shard: a reload, in two steps; a scrape.
pub(crate) enum Control {
    /// Connect `links` (when the new applications forward), build this shard's replicas of
    /// `routes`, say on `ready` whether that worked, and keep them until `Switch` or
    /// `Abandon`.
    Prepare {
        routes: Arc<Routes>,
        links: Option<forward::Links>,
        ready: std::sync::mpsc::Sender<(usize, Result<(), String>)>,
    },
    /// Every shard is prepared: send new requests to the new applications; say so on `done`.
    Switch {
        done: std::sync::mpsc::Sender<(usize, Result<(), String>)>,
    },
    /// Some shard failed to prepare: drop what was prepared here.
    Abandon,
    /// A scrape: send a snapshot of this shard's metrics on `reply`.
    Snapshot {
        reply: std::sync::mpsc::Sender<ShardSnapshot>,
    },
}

/// Obeys the server handle's messages, one at a time, for as long as the shard runs.
async fn obey(control: flume::Receiver<Control>, context: std::rc::Weak<ShardContext>) {
    while let Ok(message) = control.recv_async().await {
        let Some(context) = context.upgrade() else {
            return;
        };
        match message {
            Control::Prepare {
                routes,
                links,
                ready,
            } => {
                let prepared = prepare(&context, routes, links).await;
                let _ = ready.send((context.index, prepared));
            }
            Control::Switch { done } => {
                let switched = if context.switch() {
                    Ok(())
                } else {
                    Err(format!("shard {} had nothing prepared", context.index))
                };
                let _ = done.send((context.index, switched));
            }
            Control::Abandon => context.abandon(),
            Control::Snapshot { reply } => {
                let _ = reply.send(context.snapshot());
            }
        }
    }
}

/// Builds this shard's generation of `routes`, linked to the other shards' when it forwards.
async fn prepare(
    context: &Rc<ShardContext>,
    routes: Arc<Routes>,
    links: Option<forward::Links>,
) -> Result<(), String> {
    // Links first, as at start: connecting waits for every peer, which must not wait
    // through a slow replica build.
    let links = match links {
        None => None,
        // A peer that never connects (stalled) must not hold this shard's reloads forever.
        Some(links) => Some(
            async { Ok(Forwarder::connect(links).await) }
                .or(async {
                    Timer::new(context.config.options.start_timeout.min(LINK_WAIT_MAX)).await;
                    Err(format!(
                        "shard {} could not link to the other shards",
                        context.index
                    ))
                })
                .await?,
        ),
    };
    let generation = Rc::new(Generation::build(
        context.index,
        &context.config,
        routes,
        context.metrics.clone(),
    )?);
    if let Some(links) = links {
        let forwarder = Forwarder::start(context.index, links, &generation);
        let _ = generation.forwarder.set(forwarder);
    }
    context.prepare(generation);
    Ok(())
}

/// Accepts with glommio's listener until the stop signal. A failed accept is retried after
/// the back-off of [`AcceptFailures`], which also logs it at a bounded rate.
async fn accept_through_glommio(
    listener: &TcpListener,
    context: &Rc<ShardContext>,
    stop: &mut (impl Future<Output = Result<(), flume::RecvError>> + Unpin),
) {
    let mut failures = AcceptFailures::new(context.index);
    loop {
        match unless_stopped(listener.accept(), stop).await {
            Some(Ok(stream)) => spawn_connection(GlommioTransport::new(stream), context),
            Some(Err(glommio::GlommioError::IoError(error))) => failures.after(&error).await,
            Some(Err(_)) => {}
            None => break,
        }
    }
}

/// Accepts through the shard's ring until the stop signal; failures as on glommio's path.
async fn accept_through_ring(
    listener_fd: RawFd,
    ring: &Rc<Ring>,
    context: &Rc<ShardContext>,
    stop: &mut (impl Future<Output = Result<(), flume::RecvError>> + Unpin),
) {
    let mut acceptor = Acceptor::new(listener_fd, ring);
    let mut failures = AcceptFailures::new(context.index);
    loop {
        match unless_stopped(acceptor.accept(), stop).await {
            Some(Ok(fd)) => spawn_connection(UringStream::new(fd, ring.clone()), context),
            Some(Err(error)) => failures.after(&error).await,
            None => break,
        }
    }
}

/// Serves a new connection on its own task.
fn spawn_connection<T: Transport + 'static>(transport: T, context: &Rc<ShardContext>) {
    // Registered before the task is spawned, so a drain that starts before the task first
    // runs still counts (and waits for) this connection.
    let key = context.register(transport.raw_fd());
    crate::metrics::record::bump(&context.metrics.engine.connections_accepted);
    glommio::spawn_local(connection::serve(transport, context.clone(), key)).detach();
}

/// Drains within the grace period: in-flight requests finish, idle connections close.
async fn drain(context: &Rc<ShardContext>) {
    context.drain();
    // A grace too long to add to the clock is as good as forever.
    let grace_end = Instant::now().checked_add(context.config.options.shutdown_grace);
    // Calls served for other shards count too: their clients are waiting on those shards.
    while (context.open_connections() > 0 || context.serves_others())
        && grace_end.is_none_or(|end| Instant::now() < end)
    {
        Timer::new(DRAIN_POLL_INTERVAL).await;
    }
}

/// The shard's deadline sweeper: every [`SWEEP_INTERVAL`], cut the reads whose deadline has
/// passed, and beat the shard's pulse for the stall watchdog. Ends with the shard.
async fn sweep_deadlines(context: std::rc::Weak<ShardContext>) {
    let mut tick = Timer::new(SWEEP_INTERVAL);
    loop {
        (&mut tick).await;
        let Some(context) = context.upgrade() else {
            return;
        };
        context.config.pulses.beat(context.index);
        context.sweep_deadlines(Instant::now());
        context.drop_retired();
        let open = context.connections.borrow().len();
        if context.memory.fell(open) {
            // The table's own memory first (its entries past the last open one), then every
            // free page back to the system.
            context.connections.borrow_mut().shrink_to_fit();
            memory::trim();
        }
        tick.reset(SWEEP_INTERVAL);
    }
}
