//! The ceiling for ringserve's `GET /` on this machine's io_uring: a raw loop, no runtime, no
//! framework.
//!
//! Serves what `glommio-raw` serves, byte for byte: ringserve's bench `GET /` → `hello`, with
//! `date`, `content-length` and `content-type: text/plain; charset=utf-8`; anything else is a
//! 404 `Not Found` with `connection: close`, after which the connection closes, since this loop
//! reads no request bodies. Keep-alive as HTTP/1.1 and 1.0 define it. Pipelining: every complete
//! request in the input is answered, all answers go out in one `send`, and the bytes of a partial
//! request wait for more. A malformed request (more than 32 headers included), or a head over
//! 8 KiB, closes the connection, after the answers to the requests before it. Environment:
//! `HOST` (default `127.0.0.1`), `PORT` (default `8000`), `CORES` (`0`, `0,1`, `0-3`; default
//! `0`).
//!
//! ## Layout
//!
//! Per core of `CORES`, one thread pinned to it with `sched_setaffinity`, with its own
//! `SO_REUSEPORT` listener and its own ring, set up `SINGLE_ISSUER` + `DEFER_TASKRUN`
//! (`COOP_TASKRUN` where the kernel refuses that). One multishot accept; per connection one
//! operation at a time: a `recv` into its input buffer, or a `send` of its output buffer, naming
//! the socket by its slot in the ring's file table (registered when accepted; `FIXED_FILES=0`
//! names it by descriptor instead). Each
//! turn of the loop is one `submit_and_wait(1)`, which submits everything queued and waits,
//! then the completion queue is drained until it is empty.
//!
//! ## Buffers in flight
//!
//! A connection lives in a slot of [`Slots`], indexed by the low 32 bits of an operation's
//! `user_data` (the high bits name the operation). Its buffers are heap allocations the slot
//! owns; neither grows or moves while an operation on it is in flight, and a slot is freed only
//! from the completion of its one operation, so the kernel never reads or writes freed memory.
//! The loop ends only with the process.

use std::convert::Infallible;
use std::error::Error;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use socket2::{Domain, Protocol, Socket, Type};

/// A connection's input buffer, so the largest request head (or pipelined batch) it takes.
const BUFFER_BYTES: usize = 8 * 1024;
/// Headers per request; more is a malformed request (glommio-raw's limit).
const HEADERS_MAX: usize = 32;
/// Submission queue entries. Each connection queues at most one entry per completion; a full
/// queue is submitted early, not an error.
const SUBMISSION_ENTRIES: u32 = 256;
/// Completion queue entries: a turn's worth with room to spare (each connection has at most
/// one operation in flight; the kernel keeps any overflow until the queue has room).
const COMPLETION_ENTRIES: u32 = 4096;
/// Open connections per core; past it a new connection is closed at once.
const CONNECTIONS_MAX: usize = 1 << 16;
/// Pending connections the kernel queues on each core's listener.
const LISTEN_BACKLOG: i32 = 1024;
/// How long accepting pauses after an error (out of descriptors, most likely), instead of
/// spinning on it.
static ACCEPT_BACKOFF: types::Timespec = types::Timespec::new().nsec(10_000_000);

/// Operation kinds, in the high 32 bits of `user_data`; the low 32 hold a connection's slot.
const ACCEPT: u64 = 1;
const BACKOFF: u64 = 2;
const RECV: u64 = 3;
const SEND: u64 = 4;

fn user_data(kind: u64, slot: usize) -> u64 {
    debug_assert!(slot < CONNECTIONS_MAX);
    kind << 32 | slot as u64
}

/// This core's responses, rebuilt when the second in their `date` header changes.
struct Responses {
    second: u64,
    hello: Vec<u8>,
    not_found: Vec<u8>,
}

impl Responses {
    /// The same bytes glommio-raw sends.
    fn at(second: u64) -> Self {
        let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
        let response = |status: &str, extra: &str, body: &str| {
            format!(
                "HTTP/1.1 {status}\r\ndate: {date}\r\n{extra}content-length: {}\r\n\
                 content-type: text/plain; charset=utf-8\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        };
        Responses {
            second,
            hello: response("200 OK", "", "hello"),
            not_found: response("404 Not Found", "connection: close\r\n", "Not Found"),
        }
    }

    fn refresh(&mut self) {
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |now| now.as_secs());
        if self.second != second {
            *self = Responses::at(second);
        }
    }
}

/// Appends the response to `request` to `output`; false when the connection must close after.
fn respond(request: &httparse::Request, responses: &Responses, output: &mut Vec<u8>) -> bool {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value)
    };
    let connection = header("connection").unwrap_or_default();
    let keep_alive = match request.version {
        Some(1) => !connection.eq_ignore_ascii_case(b"close"),
        _ => connection.eq_ignore_ascii_case(b"keep-alive"),
    };
    // A body would have to be read past; this loop reads none, so such a request ends it.
    let bodyless = header("transfer-encoding").is_none()
        && header("content-length").is_none_or(|length| length == b"0");
    let hello = request.method == Some("GET") && request.path == Some("/") && bodyless;
    output.extend_from_slice(if hello {
        &responses.hello
    } else {
        &responses.not_found
    });
    hello && keep_alive
}

/// One client connection and its buffers.
struct Connection {
    stream: TcpStream,
    /// Fixed length (a boxed slice never reallocates); `input[..filled]` is unparsed input.
    input: Box<[u8]>,
    filled: usize,
    /// Responses to send; `output[..sent]` has gone out.
    output: Vec<u8>,
    sent: usize,
    /// Whether the connection stays open once `output` has gone out.
    keep: bool,
    /// A `recv` into `input` or a `send` from `output` is in flight: neither buffer may be
    /// touched, nor the slot freed, until its completion.
    in_flight: bool,
}

impl Connection {
    fn new(stream: TcpStream) -> Self {
        Connection {
            stream,
            input: vec![0; BUFFER_BYTES].into_boxed_slice(),
            filled: 0,
            output: Vec::with_capacity(BUFFER_BYTES),
            sent: 0,
            keep: true,
            in_flight: false,
        }
    }

    /// Answers every complete request in the input, appending the responses to `output`, and
    /// keeps the bytes of a partial one at the start of `input`. Sets `keep`.
    fn answer(&mut self, responses: &Responses) {
        let input = &self.input[..self.filled];
        let mut parsed = 0;
        let mut open = true;
        // Bounded by the input: each complete request is at least one byte of it.
        while open {
            let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&input[parsed..]) {
                Ok(httparse::Status::Complete(length)) => {
                    parsed += length;
                    open = respond(&request, responses, &mut self.output);
                }
                Ok(httparse::Status::Partial) => break,
                // Answered requests before it still get their responses.
                Err(_) => open = false,
            }
        }
        self.input.copy_within(parsed..self.filled, 0);
        self.filled -= parsed;
        // A full buffer holding no complete request: a head over BUFFER_BYTES.
        self.keep = open && self.filled < self.input.len();
    }
}

/// The connections of one core, by slot; freed slots are reused.
struct Slots {
    connections: Vec<Option<Connection>>,
    free: Vec<usize>,
}

impl Slots {
    /// The new connection's slot, or `None` at `CONNECTIONS_MAX` (the connection is dropped,
    /// so closed).
    fn insert(&mut self, connection: Connection) -> Option<usize> {
        if let Some(slot) = self.free.pop() {
            self.connections[slot] = Some(connection);
            return Some(slot);
        }
        if self.connections.len() == CONNECTIONS_MAX {
            return None;
        }
        self.connections.push(Some(connection));
        Some(self.connections.len() - 1)
    }

    fn get_mut(&mut self, slot: usize) -> Option<&mut Connection> {
        self.connections.get_mut(slot)?.as_mut()
    }

    /// Closes the connection in `slot`, which must have nothing in flight.
    fn remove(&mut self, slot: usize) {
        if let Some(connection) = self.connections.get_mut(slot).and_then(Option::take) {
            assert!(
                !connection.in_flight,
                "slot {slot} freed with an operation in flight"
            );
            self.free.push(slot);
        }
    }
}

/// One core's ring, listener and connections.
struct Core {
    // First, so that it is the first dropped.
    ring: IoUring,
    /// Connections' sockets are registered in the ring's file table (`FIXED_FILES=1`).
    fixed: bool,
    listener: Socket,
    slots: Slots,
    responses: Responses,
}

impl Core {
    /// Serves until an error, which it returns.
    fn run(&mut self) -> io::Result<Infallible> {
        self.arm_accept()?;
        let mut completions = Vec::with_capacity(COMPLETION_ENTRIES as usize);
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                // A signal, or completions waiting for room in the queue: drain it and go on.
                Err(error)
                    if matches!(
                        error.raw_os_error(),
                        Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
                    ) => {}
                Err(error) => return Err(error),
            }
            self.responses.refresh();
            // Handling a completion may submit early (a full submission queue), which can post
            // more completions: drain until the queue is empty.
            loop {
                completions.extend(
                    self.ring
                        .completion()
                        .map(|entry| (entry.user_data(), entry.result(), entry.flags())),
                );
                if completions.is_empty() {
                    break;
                }
                for (user_data, result, flags) in completions.drain(..) {
                    self.complete(user_data, result, flags)?;
                }
            }
        }
    }

    fn complete(&mut self, user_data: u64, result: i32, flags: u32) -> io::Result<()> {
        let slot = (user_data & u64::from(u32::MAX)) as usize;
        match user_data >> 32 {
            ACCEPT => self.accepted(result, flags),
            BACKOFF => self.arm_accept(),
            RECV => self.received(slot, result),
            SEND => self.sent(slot, result),
            kind => unreachable!("no operation of kind {kind} is ever submitted"),
        }
    }

    /// Queues `entry`, submitting what is queued first when the queue is full.
    ///
    /// # Safety
    ///
    /// Every buffer and descriptor `entry` names must stay valid, and unmoved, until its
    /// completion has been reaped.
    unsafe fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller's promise, passed on.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    /// Closes the connection in `slot`, and takes its socket out of the file table.
    fn close(&mut self, slot: usize) -> io::Result<()> {
        self.slots.remove(slot);
        if self.fixed {
            self.ring
                .submitter()
                .register_files_update(slot as u32, &[-1])?;
        }
        Ok(())
    }

    fn arm_accept(&mut self) -> io::Result<()> {
        let entry = opcode::AcceptMulti::new(types::Fd(self.listener.as_raw_fd()))
            .build()
            .user_data(user_data(ACCEPT, 0));
        // SAFETY: it names only the listener, which lives as long as the ring.
        unsafe { self.push(&entry) }
    }

    fn accepted(&mut self, result: i32, flags: u32) -> io::Result<()> {
        if !cqueue::more(flags) {
            // The multishot accept has ended: arm it again, after a pause if it failed.
            if result < 0 {
                let entry = opcode::Timeout::new(&ACCEPT_BACKOFF)
                    .build()
                    .user_data(user_data(BACKOFF, 0));
                // SAFETY: it names only a `static` timespec.
                unsafe { self.push(&entry)? };
            } else {
                self.arm_accept()?;
            }
        }
        if result < 0 {
            eprintln!("accept: {}", io::Error::from_raw_os_error(-result));
            return Ok(());
        }
        // SAFETY: a successful accept's result is a new descriptor that nothing else owns.
        let stream = TcpStream::from(unsafe { OwnedFd::from_raw_fd(result) });
        let _ = stream.set_nodelay(true);
        let fd = stream.as_raw_fd();
        match self.slots.insert(Connection::new(stream)) {
            Some(slot) => {
                // Past the table (more connections than descriptors the process may open,
                // which accept refuses first): closed, as at CONNECTIONS_MAX.
                if self.fixed
                    && let Err(error) = self
                        .ring
                        .submitter()
                        .register_files_update(slot as u32, &[fd])
                {
                    eprintln!("registering a socket: {error}");
                    self.slots.remove(slot);
                    return Ok(());
                }
                self.recv(slot)
            }
            None => Ok(()),
        }
    }

    fn recv(&mut self, slot: usize) -> io::Result<()> {
        let Some(connection) = self.slots.get_mut(slot) else {
            return Ok(());
        };
        debug_assert!(!connection.in_flight && connection.filled < connection.input.len());
        let spare = &mut connection.input[connection.filled..];
        let (pointer, room) = (spare.as_mut_ptr(), spare.len() as u32);
        let (target, flags) = socket_of(self.fixed, slot, &connection.stream);
        let entry = opcode::Recv::new(target, pointer, room)
            .build()
            .flags(flags)
            .user_data(user_data(RECV, slot));
        connection.in_flight = true;
        // SAFETY: the slot owns the socket and `input`, a boxed slice, which never reallocates
        // and stays where it is when the slot moves. Until this recv completes `in_flight`
        // keeps the slot from being freed and nothing touches `input`.
        unsafe { self.push(&entry) }
    }

    fn send(&mut self, slot: usize) -> io::Result<()> {
        let Some(connection) = self.slots.get_mut(slot) else {
            return Ok(());
        };
        debug_assert!(!connection.in_flight && connection.sent < connection.output.len());
        let unsent = &connection.output[connection.sent..];
        let (pointer, length) = (unsent.as_ptr(), unsent.len() as u32);
        let (target, flags) = socket_of(self.fixed, slot, &connection.stream);
        let entry = opcode::Send::new(target, pointer, length)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .flags(flags)
            .user_data(user_data(SEND, slot));
        connection.in_flight = true;
        // SAFETY: the slot owns the socket and `output`, a heap buffer that stays where it is
        // when the slot moves and is neither grown nor cleared until this send completes;
        // `in_flight` keeps the slot from being freed until then.
        unsafe { self.push(&entry) }
    }

    fn received(&mut self, slot: usize, result: i32) -> io::Result<()> {
        let Some(connection) = self.slots.get_mut(slot) else {
            return Ok(());
        };
        connection.in_flight = false;
        // 0 is the peer's end of stream; below 0 an error: either way the connection is done.
        match usize::try_from(result) {
            Ok(read) if read > 0 => connection.filled += read,
            _ => {
                self.close(slot)?;
                return Ok(());
            }
        }
        connection.answer(&self.responses);
        if !connection.output.is_empty() {
            self.send(slot)
        } else if connection.keep {
            self.recv(slot)
        } else {
            self.close(slot)
        }
    }

    fn sent(&mut self, slot: usize, result: i32) -> io::Result<()> {
        let Some(connection) = self.slots.get_mut(slot) else {
            return Ok(());
        };
        connection.in_flight = false;
        match usize::try_from(result) {
            Ok(sent) if sent > 0 => connection.sent += sent,
            _ => {
                self.close(slot)?;
                return Ok(());
            }
        }
        if connection.sent < connection.output.len() {
            return self.send(slot);
        }
        connection.output.clear();
        connection.sent = 0;
        if connection.keep {
            self.recv(slot)
        } else {
            self.close(slot)
        }
    }
}

/// How an operation names a connection's socket: its slot in the ring's file table (`fixed`),
/// or its descriptor.
fn socket_of(fixed: bool, slot: usize, stream: &TcpStream) -> (types::Fd, squeue::Flags) {
    if fixed {
        (types::Fd(slot as i32), squeue::Flags::FIXED_FILE)
    } else {
        (types::Fd(stream.as_raw_fd()), squeue::Flags::empty())
    }
}

/// A ring for this thread: `DEFER_TASKRUN` (completions run only when this thread waits),
/// else `COOP_TASKRUN` where the kernel refuses that (before 6.1); and which it got.
fn new_ring() -> io::Result<(IoUring, &'static str)> {
    let deferred = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(COMPLETION_ENTRIES)
        .build(SUBMISSION_ENTRIES);
    match deferred {
        Ok(ring) => Ok((ring, "DEFER_TASKRUN")),
        Err(_) => IoUring::builder()
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_cqsize(COMPLETION_ENTRIES)
            .build(SUBMISSION_ENTRIES)
            .map(|ring| (ring, "COOP_TASKRUN")),
    }
}

/// Entries of the ring's file table: one per connection slot, as many as the process may
/// open descriptors (the kernel's own bound on a table), at most `CONNECTIONS_MAX`.
fn file_table_size() -> u32 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the call to fill.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let descriptors = if known { limit.rlim_cur } else { 1024 };
    descriptors.min(CONNECTIONS_MAX as u64) as u32
}

fn listen(address: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&address.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket)
}

/// Pins the calling thread to `core`.
fn pin_to(core: usize) -> io::Result<()> {
    if core >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("core {core} is past CPU_SETSIZE"),
        ));
    }
    // SAFETY: `cpu_set_t` is a plain bit mask, for which all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `core` is inside the set, checked above.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid mask of the size passed.
    let pinned = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if pinned != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn serve_core(core: usize, address: SocketAddr) -> Result<Infallible, String> {
    pin_to(core).map_err(|error| format!("pinning to core {core}: {error}"))?;
    let listener = listen(address).map_err(|error| format!("binding {address}: {error}"))?;
    let (ring, mode) = new_ring().map_err(|error| format!("io_uring setup: {error}"))?;
    // Registered sockets spare the kernel a descriptor lookup per operation: 1.03–1.04x the
    // requests per CPU-second at 64 connections (perf/RESULTS.md). `FIXED_FILES=0` turns it off.
    let fixed = std::env::var("FIXED_FILES").map_or(true, |value| value != "0")
        && match ring.submitter().register_files_sparse(file_table_size()) {
            Ok(()) => true,
            Err(error) => {
                eprintln!("core {core}: no file table ({error}): plain descriptors");
                false
            }
        };
    eprintln!("core {core}: io_uring with SINGLE_ISSUER + {mode}, registered sockets: {fixed}");
    let mut core_state = Core {
        ring,
        fixed,
        listener,
        slots: Slots {
            connections: Vec::new(),
            free: Vec::new(),
        },
        responses: Responses::at(0),
    };
    core_state
        .run()
        .map_err(|error| format!("io_uring: {error}"))
}

fn main() -> Result<(), Box<dyn Error>> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let address: SocketAddr = format!("{host}:{port}").parse()?;
    let cores = parse_cores(&std::env::var("CORES").unwrap_or_else(|_| "0".into()))?;

    let mut threads = Vec::new();
    for &core in &cores {
        threads.push(
            std::thread::Builder::new()
                .name(format!("uring-core-{core}"))
                .spawn(move || {
                    let Err(error) = serve_core(core, address);
                    eprintln!("core {core}: {error}");
                    std::process::exit(1);
                })?,
        );
    }
    eprintln!("uring-raw peer on http://{address}, cores {cores:?}");
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}

/// `0`, `0,1`, `0-3`, `0,2-3` → the listed core ids, in order.
fn parse_cores(spec: &str) -> Result<Vec<usize>, String> {
    let mut cores = Vec::new();
    for part in spec.split(',').map(str::trim) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let parse = |n: &str| {
            n.trim()
                .parse::<usize>()
                .map_err(|_| format!("CORES: bad core list {spec:?}"))
        };
        cores.extend(parse(first)?..=parse(last)?);
    }
    if cores.is_empty() {
        return Err(format!("CORES: no cores in {spec:?}"));
    }
    Ok(cores)
}
