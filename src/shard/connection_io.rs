//! A connection's socket and its buffers: the reads and writes the connection loop, the body
//! pump and a streamed response all go through, below all three.
//!
//! Invariant: the read and write buffers are handed to the transport by value and taken back
//! with the result, so nothing borrows them across an await; while the connection waits idle
//! it holds neither (they are the shard's, `buffers`), and it takes two when bytes arrive;
//! a read with a deadline has it
//! registered with the shard's sweeper exactly while the read runs — disarmed when the read
//! ends, and also when the read's future is dropped mid-read — so no stale deadline cuts a
//! later read.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use bytes::BytesMut;

use crate::metrics::record as metrics;
use glommio::timer::Timer;

use super::ShardContext;
use super::transport::Transport;

/// One connection's socket, its buffers, and what times its reads and waits.
pub(super) struct ConnectionIo<T: Transport> {
    pub(super) transport: T,
    pub(super) shard: Rc<ShardContext>,
    /// Its entry in the shard's connection table; `None` for a connection refused at the
    /// limit, whose reads cannot be timed.
    pub(super) key: Option<usize>,
    pub(super) read_buf: BytesMut,
    pub(super) write_buf: BytesMut,
    /// Made on the first request that has a timeout, then reused.
    pub(super) request_timer: Option<Timer>,
    /// The client's address, asked of the socket once (`None` if it is already gone).
    pub(super) client: Option<SocketAddr>,
}

impl<T: Transport> ConnectionIo<T> {
    pub(super) fn new(transport: T, shard: Rc<ShardContext>, key: Option<usize>) -> Self {
        let client = peer_address(transport.raw_fd());
        ConnectionIo {
            client,
            transport,
            shard,
            key,
            // Taken from the shard's spares by the first read (a connection starts idle).
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
            request_timer: None,
        }
    }

    /// Tells the shard whether the connection waits idle, so that a drain can end it now.
    pub(super) fn set_idle(&self, idle: bool) {
        if let Some(key) = self.key {
            self.shard.set_idle(key, idle);
        }
    }

    /// Gives both buffers back to the shard: the connection waits idle holding neither (one
    /// grown large by a big request or response is freed, not kept).
    fn release_buffers(&mut self) {
        debug_assert!(
            self.read_buf.is_empty() && self.write_buf.is_empty(),
            "an idle connection has nothing buffered"
        );
        self.give_buffers_back();
    }

    fn give_buffers_back(&mut self) {
        self.shard.buffers.give(std::mem::take(&mut self.read_buf));
        self.shard.buffers.give(std::mem::take(&mut self.write_buf));
    }

    /// Waits idle for the next request, holding no buffer while it waits, until `deadline`
    /// (`TimedOut` past it); the bytes that arrive are in the read buffer after.
    pub(super) async fn read_idle(&mut self, deadline: Instant) -> io::Result<usize> {
        let armed = self.arm(Some(deadline));
        self.release_buffers();
        let (result, buf) = self.transport.read_idle(&self.shard.buffers).await;
        self.read_buf = buf;
        self.count_received(&result);
        // Bytes arrived: the answer needs a write buffer. A connection that ends takes none.
        if matches!(result, Ok(received) if received > 0) {
            self.write_buf = self.shard.buffers.take();
        }
        disarmed(armed, result)
    }

    /// Reads more into the read buffer; `TimedOut` once `deadline` passes. The deadline is
    /// handed to the shard's sweeper, which shuts the read side when it passes: no timer per
    /// read. A connection outside the shard's table (refused at the limit) cannot be timed, and
    /// only reads where a timeout is not needed.
    pub(super) async fn read(&mut self, deadline: Option<Instant>) -> io::Result<usize> {
        let armed = self.arm(deadline);
        let buf = std::mem::take(&mut self.read_buf);
        let (result, buf) = self.transport.read(buf).await;
        self.read_buf = buf;
        self.count_received(&result);
        disarmed(armed, result)
    }

    fn count_received(&self, result: &io::Result<usize>) {
        if let Ok(received) = result {
            metrics::add(&self.shard.metrics.engine.bytes_received, *received as u64);
        }
    }

    /// Registers a read's deadline with the sweeper (when the connection is in the table). It
    /// is disarmed when the read ends ([`disarmed`]), and also if the read's future is dropped
    /// mid-read (a raced body pump), so no stale deadline cuts a later read.
    fn arm(&self, deadline: Option<Instant>) -> Option<ArmedDeadline> {
        match (self.key, deadline) {
            (Some(key), Some(deadline)) => Some(ArmedDeadline::arm(&self.shard, key, deadline)),
            _ => None,
        }
    }

    pub(super) async fn flush(&mut self) -> io::Result<()> {
        self.flush_by(None).await
    }

    /// Writes what is buffered, giving up with `TimedOut` at `deadline` as well as after a
    /// stall of `send_timeout`.
    pub(super) async fn flush_by(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let stall_timeout = self.shard.config.options.limits.send_timeout;
        let buf = std::mem::take(&mut self.write_buf);
        let length = buf.len() as u64;
        let (result, mut buf) = self.transport.write_all(buf, stall_timeout, deadline).await;
        if result.is_ok() {
            metrics::add(&self.shard.metrics.engine.bytes_sent, length);
        }
        buf.clear();
        self.write_buf = buf;
        result
    }
}

impl<T: Transport> Drop for ConnectionIo<T> {
    /// A closed connection's buffers are kept for the shard's next connections.
    fn drop(&mut self) {
        self.give_buffers_back();
    }
}

/// A read's result once its deadline is disarmed: `TimedOut` if the sweeper cut it.
fn disarmed(armed: Option<ArmedDeadline>, result: io::Result<usize>) -> io::Result<usize> {
    if armed.is_some_and(ArmedDeadline::disarm) {
        return Err(io::ErrorKind::TimedOut.into());
    }
    result
}

/// A read deadline registered with the shard's sweeper for as long as it lives.
struct ArmedDeadline {
    shard: Rc<ShardContext>,
    key: usize,
    armed: bool,
}

impl ArmedDeadline {
    fn arm(shard: &Rc<ShardContext>, key: usize, deadline: Instant) -> Self {
        shard.arm_deadline(key, deadline);
        ArmedDeadline {
            shard: shard.clone(),
            key,
            armed: true,
        }
    }

    /// Ends the timed read; whether the sweeper had cut it.
    fn disarm(mut self) -> bool {
        self.armed = false;
        self.shard.disarm_deadline(self.key)
    }
}

impl Drop for ArmedDeadline {
    fn drop(&mut self) {
        if self.armed {
            self.shard.disarm_deadline(self.key);
        }
    }
}

/// The address of the socket's peer, once per connection (one `getpeername`); `None` when the
/// peer has already gone (or `fd` is no socket).
fn peer_address(fd: std::os::fd::RawFd) -> Option<SocketAddr> {
    // SAFETY: `getpeername` writes at most `length` bytes into the storage `try_init` gives,
    // and sets `length` to what it wrote; a bad `fd` is an error, not undefined behaviour.
    let (_, address) = unsafe {
        socket2::SockAddr::try_init(|storage, length| {
            if libc::getpeername(fd, storage.cast(), length) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        })
    }
    .ok()?;
    address.as_socket()
}
