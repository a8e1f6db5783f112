//! The load itself: on each pinned executor, one task per connection.
//!
//! - Closed loop: write `pipeline` requests at once, read as many responses, repeat at once.
//!   Latency runs from the write to each response.
//! - Open loop: connection `i` of `C` sends request `k` at `start + (i + k·C) / rate`, so the
//!   whole run sends one request every `1/rate` seconds. Latency runs from that scheduled time,
//!   not from the actual write: a connection that falls behind sends at once, and the time it
//!   spent behind shows in the latency (no coordinated omission, as in wrk2).
//!
//! Nothing is sent after the window's end; responses still in flight then are awaited (each
//! read is bounded by `--timeout`) and counted. A failed connection is counted and reopened.
//!
//! Waiting ([`Wait`]): by default a connection waiting for its response, for room to write,
//! or for its next scheduled send, spins — it retries a non-blocking `recv` or `send` (or
//! looks at the clock) and yields to the core's other connections in between — so the core
//! never sleeps, and its sockets are plain non-blocking ones that never touch io_uring (a
//! spinning core must not depend on glommio reaping completions: it does so only every
//! preempt period, 100 ms, while tasks keep yielding). `--wait park` uses glommio's readiness wait instead (an io_uring
//! poll per wait, the thread sleeps when idle): cheaper in CPU, but on loopback the kernel runs
//! the wake-up of that poll inside the *server's* `send` (io_uring poll wake, task work, an
//! IPI to the load core), which cost the server about a third of its time and this generator
//! about 40% of its closed-loop throughput in our measurements, and every sleep adds a wake-up
//! delay to the measured latency.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future::yield_now;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::timer::sleep;

use crate::response::{MAX_HEAD_BYTES, Response, ResponseParser};
use crate::stats::{ErrorKind, Phase, Stats};

/// Initial read buffer of a connection; it grows only for a response head that does not fit.
const READ_BUFFER_BYTES: usize = 32 * 1024;
/// Open loop: a connection idle this long is checked for a close by the server before it is
/// used again.
const IDLE_CHECK_AFTER: Duration = Duration::from_millis(1);
/// Spin mode: the longest a core can stay parked by mistake (see `run_core`).
const HEARTBEAT: Duration = Duration::from_millis(10);
/// Pause after a failed connect, so a refusing server is not hammered in a tight loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(20);

/// How a connection waits for bytes or for a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Retry and yield to the core's other tasks: a busy core, no armed polls, no wake-ups.
    Spin,
    /// glommio's io_uring readiness wait and timers: the core sleeps when idle.
    Park,
}

impl Wait {
    /// Returns at `at` (at once if it has passed).
    async fn until(self, at: Instant) {
        match self {
            Wait::Spin => {
                while Instant::now() < at {
                    yield_now().await;
                }
            }
            Wait::Park => {
                let left = at.saturating_duration_since(Instant::now());
                if !left.is_zero() {
                    sleep(left).await;
                }
            }
        }
    }
}

/// What every connection of one core works from. Plain data: built on the main thread and
/// sent to the core.
#[derive(Debug, Clone)]
pub struct Plan {
    pub addr: SocketAddr,
    /// `pipeline` requests back to back.
    pub batch: Vec<u8>,
    pub pipeline: usize,
    /// The request asks the server to close, so every response ends its connection.
    pub request_closes: bool,
    /// Open loop: total requests per second over all connections.
    pub rate: Option<f64>,
    /// Connections over all cores (the open-loop schedule interleaves them all).
    pub total_connections: usize,
    /// Global indices of this core's connections.
    pub connections: Vec<usize>,
    pub timeout: Duration,
    pub wait: Wait,
    /// Requests this core may send in all (`--max-requests`, split over cores).
    pub quota: Option<u64>,
    /// The warm-up begins.
    pub start: Instant,
    /// The measured window begins.
    pub window_start: Instant,
    /// The measured window ends: nothing is sent from then on.
    pub end: Instant,
}

impl Plan {
    fn phase(&self, at: Instant) -> Phase {
        if at < self.window_start {
            Phase::Warmup
        } else {
            Phase::Measured
        }
    }
}

/// State shared by the connections of one core (single-threaded: `Cell`s suffice).
struct Core {
    plan: Plan,
    stats: RefCell<Stats>,
    quota: Cell<Option<u64>>,
    /// Every connection task has ended.
    done: Cell<bool>,
}

impl Core {
    /// Takes `n` requests from the quota; false once it cannot give them all.
    fn take_quota(&self, n: usize) -> bool {
        match self.quota.get() {
            None => true,
            Some(left) if left >= n as u64 => {
                self.quota.set(Some(left - n as u64));
                true
            }
            Some(_) => {
                self.stats.borrow_mut().quota_exhausted = true;
                false
            }
        }
    }

    fn error(
        &self,
        phase: Phase,
        kind: ErrorKind,
        unanswered: usize,
        message: &dyn std::fmt::Display,
    ) {
        self.stats
            .borrow_mut()
            .error(phase, kind, unanswered as u64, message);
    }

    /// Opens the first connection before the start (its failure counts as a warm-up error),
    /// then waits for the start time shared by every core.
    async fn connect_and_wait_for_start(&self) -> Option<Connection> {
        let connection = self.connect(Phase::Warmup).await;
        self.plan.wait.until(self.plan.start).await;
        connection
    }

    /// Opens a connection, or counts the failure and waits a little (never past the end).
    async fn connect(&self, phase: Phase) -> Option<Connection> {
        match Connection::open(self.plan.addr, self.plan.timeout, self.plan.wait).await {
            Ok(connection) => {
                self.stats.borrow_mut().connects += 1;
                Some(connection)
            }
            Err(error) => {
                self.error(phase, ErrorKind::Connect, 0, &error);
                let retry = (Instant::now() + CONNECT_BACKOFF).min(self.plan.end);
                self.plan.wait.until(retry).await;
                None
            }
        }
    }
}

/// Runs this core's connections to the end of the window and returns what they measured.
pub async fn run_core(plan: Plan) -> Stats {
    let core = Rc::new(Core {
        quota: Cell::new(plan.quota),
        plan,
        stats: RefCell::new(Stats::new()),
        done: Cell::new(false),
    });
    let tasks: Vec<_> = core
        .plan
        .connections
        .iter()
        .map(|&index| {
            let core = core.clone();
            glommio::spawn_local(async move {
                match core.plan.rate {
                    None => closed_loop(&core).await,
                    Some(rate) => open_loop(&core, index, rate).await,
                }
            })
        })
        .collect();
    // Spin mode: glommio parks a core only when no task is runnable, but a preempt timer that
    // fires just before its task loop can make it park once with runnable tasks; with no timer
    // armed that park would last for ever. A ticking timer bounds it.
    let heartbeat = (core.plan.wait == Wait::Spin).then(|| {
        let core = core.clone();
        glommio::spawn_local(async move {
            while !core.done.get() {
                sleep(HEARTBEAT).await;
            }
        })
    });
    for task in tasks {
        task.await;
    }
    core.done.set(true);
    if let Some(heartbeat) = heartbeat {
        heartbeat.await;
    }
    core.stats.replace(Stats::new())
}

/// Send a batch, read its responses, repeat, until the window ends.
async fn closed_loop(core: &Core) {
    let plan = &core.plan;
    let mut connection = core.connect_and_wait_for_start().await;
    loop {
        let now = Instant::now();
        if now >= plan.end {
            return;
        }
        let Some(open) = connection.as_mut() else {
            connection = core.connect(plan.phase(now)).await;
            continue;
        };
        if !core.take_quota(plan.pipeline) {
            return;
        }
        let sent = Instant::now();
        let phase = plan.phase(sent);
        if let Err((kind, error)) = open.send(&plan.batch).await {
            core.error(phase, kind, plan.pipeline - 1, &error);
            connection = None;
            continue;
        }
        for answered in 0..plan.pipeline {
            let unanswered = plan.pipeline - answered - 1;
            match open.response().await {
                Ok(response) => {
                    let done = Instant::now();
                    let mut stats = core.stats.borrow_mut();
                    stats.response(phase, done - sent, &response, done);
                    if response.close || plan.request_closes {
                        stats.server_close(phase, unanswered as u64);
                        connection = None;
                        break;
                    }
                }
                Err((kind, error)) => {
                    core.error(phase, kind, unanswered, &error);
                    connection = None;
                    break;
                }
            }
        }
    }
}

/// Send each request at its scheduled time (or at once when behind), until the window ends.
async fn open_loop(core: &Core, index: usize, rate: f64) {
    let plan = &core.plan;
    let connections = plan.total_connections as f64;
    // Seconds after `start` of this connection's request `k`.
    let offset = |k: u64| (index as f64 + k as f64 * connections) / rate;
    let mut connection = core.connect_and_wait_for_start().await;
    let mut k: u64 = 0;
    loop {
        let scheduled = plan.start + Duration::from_secs_f64(offset(k));
        let now = Instant::now();
        if scheduled >= plan.end || now >= plan.end {
            break;
        }
        let phase = plan.phase(scheduled);
        let Some(open) = connection.as_mut() else {
            // The request waits for the connection; the wait shows in its latency.
            connection = core.connect(plan.phase(now)).await;
            continue;
        };
        plan.wait.until(scheduled).await;
        if open.idle_since.elapsed() >= IDLE_CHECK_AFTER && open.peer_closed() {
            // The server closed the idle connection (a keep-alive timeout): reconnect and send
            // this request late, which shows in its latency.
            core.stats.borrow_mut().server_close(phase, 0);
            connection = None;
            continue;
        }
        if !core.take_quota(1) {
            return;
        }
        k += 1;
        if phase == Phase::Measured {
            let lag = Instant::now().saturating_duration_since(scheduled);
            core.stats.borrow_mut().send_lag(lag);
        }
        if let Err((kind, error)) = open.send(&plan.batch).await {
            core.error(phase, kind, 0, &error);
            connection = None;
            continue;
        }
        match open.response().await {
            Ok(response) => {
                let done = Instant::now();
                let mut stats = core.stats.borrow_mut();
                stats.response(
                    phase,
                    done.saturating_duration_since(scheduled),
                    &response,
                    done,
                );
                if response.close || plan.request_closes {
                    stats.server_close(phase, 0);
                    connection = None;
                }
            }
            Err((kind, error)) => {
                core.error(phase, kind, 0, &error);
                connection = None;
            }
        }
    }
    // Requests scheduled in the window that the connection never got to send.
    let window_start = plan.window_start.duration_since(plan.start).as_secs_f64();
    let window_end = plan.end.duration_since(plan.start).as_secs_f64();
    // How many of this connection's requests are scheduled before `t` seconds.
    let before = |t: f64| ((t * rate - index as f64) / connections).ceil().max(0.0) as u64;
    let unsent = before(window_end).saturating_sub(k.max(before(window_start)));
    core.stats.borrow_mut().unsent += unsent;
}

/// One keep-alive connection: the socket, a read buffer and the response parser.
struct Connection {
    socket: Socket,
    /// Longest wait for a read or write in spin mode (park mode sets it on the stream).
    timeout: Duration,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    parser: ResponseParser,
    /// When the last response completed (or the connection opened).
    idle_since: Instant,
}

/// The socket as each wait mode drives it.
enum Socket {
    /// Park: glommio's stream, its io_uring readiness waits and timeouts.
    Ring(TcpStream),
    /// Spin: a plain non-blocking socket that glommio's reactor never sees.
    Raw(std::net::TcpStream),
}

impl Socket {
    fn fd(&self) -> RawFd {
        match self {
            Socket::Ring(stream) => stream.as_raw_fd(),
            Socket::Raw(stream) => stream.as_raw_fd(),
        }
    }
}

/// A failed operation: its kind for the counts, and the error for the first-error message.
type Failure = (ErrorKind, Box<dyn std::error::Error>);

impl Connection {
    async fn open(addr: SocketAddr, timeout: Duration, wait: Wait) -> io::Result<Connection> {
        let socket = match wait {
            Wait::Park => {
                let stream = TcpStream::connect_timeout(addr, timeout).await?;
                stream.set_nodelay(true)?;
                // Bounds every read and write: no progress for `timeout` is an error.
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))?;
                Socket::Ring(stream)
            }
            Wait::Spin => Socket::Raw(connect_spinning(addr, timeout).await?),
        };
        Ok(Connection {
            socket,
            timeout,
            buf: vec![0; READ_BUFFER_BYTES],
            start: 0,
            end: 0,
            parser: ResponseParser::new(),
            idle_since: Instant::now(),
        })
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let sent = match &mut self.socket {
            Socket::Ring(stream) => stream.write_all(bytes).await,
            Socket::Raw(_) => self.send_spinning(bytes).await,
        };
        sent.map_err(|error| (io_kind(&error, ErrorKind::Write), error.into()))
    }

    /// Writes all of `bytes` with non-blocking `send`s, yielding while the socket is full;
    /// `TimedOut` after `timeout` without progress.
    async fn send_spinning(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let mut deadline = None;
        while !bytes.is_empty() {
            // SAFETY: `bytes` is valid for reads of its length; the fd is our open socket.
            let sent = unsafe {
                libc::send(
                    self.socket.fd(),
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if sent >= 0 {
                bytes = &bytes[sent.unsigned_abs()..];
                deadline = None;
                continue;
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {}
                _ => return Err(error),
            }
            let now = Instant::now();
            if now >= *deadline.get_or_insert(now + self.timeout) {
                return Err(io::ErrorKind::TimedOut.into());
            }
            yield_now().await;
        }
        Ok(())
    }

    /// Reads until the next response is complete.
    async fn response(&mut self) -> Result<Response, Failure> {
        loop {
            if self.start < self.end {
                let (consumed, response) = self
                    .parser
                    .feed(&self.buf[self.start..self.end])
                    .map_err(|error| (ErrorKind::Parse, error.into()))?;
                self.start += consumed;
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
                if let Some(response) = response {
                    self.idle_since = Instant::now();
                    return Ok(response);
                }
            }
            self.make_room()?;
            match self.read().await {
                Ok(0) => {
                    let unconsumed = self.end - self.start;
                    return match self.parser.finish(unconsumed) {
                        Ok(Some(response)) => Ok(response),
                        Ok(None) => Err((ErrorKind::Eof, "server closed the connection".into())),
                        Err(error) => Err((ErrorKind::Eof, error.into())),
                    };
                }
                Ok(read) => self.end += read,
                Err(error) => return Err((io_kind(&error, ErrorKind::Read), error.into())),
            }
        }
    }

    /// Between responses: the server closed the connection, or sent bytes nobody asked for
    /// (say a 408 before closing). Either way it is not fit for the next request.
    fn peer_closed(&self) -> bool {
        let mut probe = [0u8; 1];
        // SAFETY: `probe` is valid and writable for its length; the fd is our open socket.
        let read = unsafe {
            libc::recv(
                self.socket.fd(),
                probe.as_mut_ptr().cast(),
                probe.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        read >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock
    }

    /// Reads into the free space after `end`. `Ok(0)` is end of stream; `TimedOut` when
    /// nothing came for `timeout`.
    async fn read(&mut self) -> io::Result<usize> {
        if let Socket::Ring(stream) = &mut self.socket {
            // glommio's read: its own io_uring poll and the stream's read timeout.
            return stream.read(&mut self.buf[self.end..]).await;
        }
        let mut deadline = None;
        loop {
            match recv_now(self.socket.fd(), &mut self.buf[self.end..]) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                result => return result,
            }
            let now = Instant::now();
            if now >= *deadline.get_or_insert(now + self.timeout) {
                return Err(io::ErrorKind::TimedOut.into());
            }
            yield_now().await;
        }
    }

    /// Ensures free space after `end`: moves unconsumed bytes to the front, or grows the buffer
    /// for a head that does not fit (the parser rejects heads over its limit first).
    fn make_room(&mut self) -> Result<(), Failure> {
        if self.end < self.buf.len() {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        } else if self.buf.len() <= 2 * MAX_HEAD_BYTES {
            self.buf.resize(self.buf.len() * 2, 0);
        } else {
            return Err((ErrorKind::Parse, "response head too large".into()));
        }
        Ok(())
    }
}

/// Connects a non-blocking socket, yielding until the handshake is done: no io_uring, so a
/// spinning core never depends on glommio reaping a completion.
async fn connect_spinning(addr: SocketAddr, timeout: Duration) -> io::Result<std::net::TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => return Ok(socket.into()),
        Err(error) if error.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(error) => return Err(error),
    }
    let deadline = Instant::now() + timeout;
    loop {
        let mut poll = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid `pollfd`, and a zero timeout: this never blocks.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        if ready > 0 {
            break;
        }
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
        if Instant::now() >= deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        yield_now().await;
    }
    match socket.take_error()? {
        Some(error) => Err(error),
        None => Ok(socket.into()),
    }
}

/// `recv` with `MSG_DONTWAIT`: `WouldBlock` when the socket holds nothing yet.
fn recv_now(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, writable region of `buf.len()` bytes for the whole call, and
    // `fd` is an open socket owned by the caller's `TcpStream`.
    let read = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if read < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(read.unsigned_abs())
    }
}

fn io_kind(error: &io::Error, otherwise: ErrorKind) -> ErrorKind {
    match error.kind() {
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        io::ErrorKind::UnexpectedEof => ErrorKind::Eof,
        _ => otherwise,
    }
}
