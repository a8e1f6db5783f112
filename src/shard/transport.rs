//! The narrow socket interface the connection loop is written against, and its implementation
//! over glommio's `TcpStream` (the other, the default, is `uring::stream`).
//!
//! Invariant: the interface is completion-shaped. A buffer is handed to `read` or `write_all`
//! by value and handed back with the result, so an implementation that submits the buffer to
//! io_uring owns it until the kernel is done with it; nothing borrows a buffer across an await.
//! Write timeouts are part of the write call for the same reason: dropping an in-flight
//! operation would drop the buffer it owns. Read timeouts are the shard's: its deadline sweeper
//! shuts the read side of a connection whose deadline has passed, which ends a pending read
//! with `Ok(0)` — no timer is armed per read (see `shard::ShardContext::sweep_deadlines`).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use glommio::net::TcpStream;
use glommio::timer::Timer;

use super::buffers::BufferPool;
use crate::limits::READ_CHUNK_BYTES;

/// Socket I/O for one connection, as the connection loop needs it.
pub(crate) trait Transport {
    /// Appends what the peer sent to `buf`, growing it by at least
    /// [`READ_CHUNK_BYTES`] of room first if needed. `Ok(0)` is end of stream — or the read
    /// side shut by the shard's deadline sweeper, which the caller tells apart.
    async fn read(&mut self, buf: BytesMut) -> (io::Result<usize>, BytesMut);

    /// [`Transport::read`] for a connection with nothing buffered: the bytes come back in a
    /// buffer taken from `buffers`. An implementation that can wait without a buffer (the
    /// io_uring one, with the shard's provided buffers) takes it only once bytes arrive, so an
    /// idle connection holds none; by default one is taken first.
    async fn read_idle(&mut self, buffers: &BufferPool) -> (io::Result<usize>, BytesMut) {
        self.read(buffers.take()).await
    }

    /// Writes all of `buf`, or fails with `TimedOut` when the peer accepts no bytes for
    /// `stall_timeout` (a slow but steady reader is never cut off) or when `deadline` passes.
    /// The buffer comes back unchanged for reuse.
    async fn write_all(
        &mut self,
        buf: BytesMut,
        stall_timeout: Duration,
        deadline: Option<Instant>,
    ) -> (io::Result<()>, BytesMut);

    /// [`Transport::write_all`] for a piece of a streamed body, sent from its own memory
    /// instead of being copied into the write buffer first. By default it is copied.
    async fn write_bytes(
        &mut self,
        chunk: Bytes,
        stall_timeout: Duration,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        self.write_all(BytesMut::from(&chunk[..]), stall_timeout, deadline)
            .await
            .0
    }

    /// Reading nothing, waits for the peer: `Ok(false)` (or an error) once it has closed,
    /// `Ok(true)` when it sent something instead — bytes that may end with a FIN, which is
    /// then no departure. How a connection notices a client that left while a handler runs or
    /// a response streams. (glommio's waits for the first of the two; the ring's for the
    /// close alone, so its watch stays armed across requests, and answers `Ok(true)` when
    /// bytes came before the close.)
    async fn peer_activity(&mut self) -> io::Result<bool>;

    /// Sends FIN: no more bytes from us, while the peer may still send.
    async fn shutdown_write(&mut self);

    /// The socket, so that a shard can stop a connection's idle read when it drains.
    fn raw_fd(&self) -> RawFd;
}

/// glommio's readiness-based stream: a non-blocking `recv` first, and on `EAGAIN` a wait for
/// data through glommio's reactor.
pub(crate) struct GlommioTransport {
    stream: TcpStream,
    /// Bounds writes that have to wait; reused, so a stalled write allocates nothing.
    timer: Timer,
    /// The buffer of a read that is waiting, with its length before the wait: kept here, not
    /// in the read's future, so that a read dropped while waiting (a raced body read) leaves
    /// the caller's bytes for the next read instead of dropping them.
    parked: Option<(BytesMut, usize)>,
}

impl GlommioTransport {
    pub(crate) fn new(stream: TcpStream) -> Self {
        // Responses are written whole; Nagle would only delay the last segment.
        let _ = stream.set_nodelay(true);
        GlommioTransport {
            stream,
            timer: Timer::new(Duration::from_secs(3600)),
            parked: None,
        }
    }

    /// Writes all of `buf`: a non-blocking try first, then waits bounded by the stall timeout
    /// and the deadline.
    async fn write_slice(
        &mut self,
        buf: &[u8],
        stall_timeout: Duration,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let mut written = 0;
        while written < buf.len() {
            // Most writes complete at once (glommio tries a non-blocking send first): only a
            // write that has to wait arms the timer, whose re-arming costs a reactor B-tree
            // update (measured with callgrind: ~5% of a request's instructions).
            let attempt = futures_lite::future::poll_once(self.stream.write(&buf[written..])).await;
            match attempt {
                Some(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Some(Ok(count)) => {
                    written += count;
                    continue;
                }
                Some(Err(error)) if error.kind() == io::ErrorKind::Interrupted => continue,
                Some(Err(error)) => return Err(error),
                None => {}
            }
            let wait = deadline.map_or(stall_timeout, |deadline| {
                stall_timeout.min(deadline.saturating_duration_since(Instant::now()))
            });
            self.timer.reset(wait);
            let timer = &mut self.timer;
            let stream = &mut self.stream;
            let write = async { stream.write(&buf[written..]).await };
            let expired = async move {
                timer.await;
                Err(io::Error::from(io::ErrorKind::TimedOut))
            };
            match write.or(expired).await {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(count) => written += count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

impl Transport for GlommioTransport {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        if let Some((parked, len)) = self.parked.take() {
            // The caller's buffer went into the dropped read; this is it.
            debug_assert!(buf.is_empty(), "a buffer besides the parked one");
            buf = parked;
            buf.truncate(len);
        }
        if buf.capacity() - buf.len() < READ_CHUNK_BYTES {
            buf.reserve(READ_CHUNK_BYTES);
        }
        loop {
            match recv_into_spare(self.stream.as_raw_fd(), &mut buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                result => return (result, buf),
            }
            // Nothing yet: wait through glommio's poll-based read, which arms an io_uring poll
            // and allocates no buffer (its `peek` allocates an aligned one per wait: ~1,000
            // instructions, measured with callgrind). The first byte lands in an initialised
            // one-byte tail of the buffer, the rest follows without waiting.
            let len = buf.len();
            buf.put_u8(0);
            let GlommioTransport { stream, parked, .. } = self;
            let (waiting, _) = parked.insert((buf, len));
            let read = stream.read(&mut waiting[len..]).await;
            // Only the next read takes it otherwise, and that cannot run while this one does.
            buf = parked.take().unwrap_or_default().0;
            match read {
                Ok(0) => {
                    buf.truncate(len);
                    return (Ok(0), buf);
                }
                Ok(_) => {
                    let more = recv_into_spare(self.stream.as_raw_fd(), &mut buf).unwrap_or(0);
                    return (Ok(1 + more), buf);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => buf.truncate(len),
                Err(error) => {
                    buf.truncate(len);
                    return (Err(error), buf);
                }
            }
        }
    }

    async fn write_all(
        &mut self,
        buf: BytesMut,
        stall_timeout: Duration,
        deadline: Option<Instant>,
    ) -> (io::Result<()>, BytesMut) {
        let result = self.write_slice(&buf, stall_timeout, deadline).await;
        (result, buf)
    }

    async fn write_bytes(
        &mut self,
        chunk: Bytes,
        stall_timeout: Duration,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        self.write_slice(&chunk, stall_timeout, deadline).await
    }

    async fn peer_activity(&mut self) -> io::Result<bool> {
        let mut probe = [0u8; 1];
        let peeked = self.stream.peek(&mut probe).await?;
        Ok(peeked > 0)
    }

    async fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write).await;
    }

    fn raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

/// One non-blocking `recv` into the spare capacity of `buf`.
fn recv_into_spare(fd: RawFd, buf: &mut BytesMut) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    // SAFETY: the kernel writes at most `spare.len()` bytes into memory we own; `recv` writes
    // through a raw pointer, so no reference to uninitialised memory is created.
    let received = unsafe {
        libc::recv(
            fd,
            spare.as_mut_ptr().cast(),
            spare.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    let received = received as usize;
    // SAFETY: `recv` initialised exactly `received` bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + received) };
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_read_dropped_while_waiting_leaves_the_callers_bytes_for_the_next_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(server);
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .spawn(move || async move {
                use std::os::fd::FromRawFd;
                // SAFETY: a connected socket handed over whole.
                let stream = unsafe { TcpStream::from_raw_fd(fd) };
                let mut transport = GlommioTransport::new(stream);
                let mut held = BytesMut::new();
                held.extend_from_slice(b"held:");
                {
                    let read = transport.read(held);
                    futures_lite::pin!(read);
                    assert!(futures_lite::future::poll_once(&mut read).await.is_none());
                }
                client.write_all(b"arrived").unwrap();
                let (result, buf) = transport.read(BytesMut::new()).await;
                assert!(result.unwrap() > 0);
                assert_eq!(&buf[..], b"held:arrived");
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
