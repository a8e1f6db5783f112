//! One connection to an upstream: a socket on the shard's own executor (glommio's io_uring
//! `TcpStream`, which tries a plain non-blocking `recv`/`send` before it waits on the ring),
//! the bytes read from it and not yet used, and the buffer a request is written from.
//!
//! Invariant: `unread` holds exactly the bytes received and not yet handed on, at
//! `buffer[start..end]`; a connection is only pooled with none (an upstream that sent more than
//! its answer is not reused).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

/// Bytes read from an upstream at a time; an answer's head must fit in it.
pub(crate) const UPSTREAM_READ_BYTES: usize = 64 * 1024;

pub(super) struct UpstreamConnection {
    stream: TcpStream,
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    /// Where a request is put together before it is written.
    pub(super) out: BytesMut,
    /// Whether it served a request before this one (so it may have been closed while idle).
    pub(super) reused: bool,
}

impl UpstreamConnection {
    /// Connects within `timeout`; writes then wait at most `io_timeout` each, and reads as
    /// long as [`UpstreamConnection::set_read_timeout`] last said (`io_timeout` at first).
    pub(super) async fn connect(
        address: SocketAddr,
        timeout: Duration,
        io_timeout: Duration,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(address, timeout)
            .await
            .map_err(io::Error::from)?;
        stream.set_nodelay(true).map_err(io::Error::from)?;
        stream
            .set_read_timeout(Some(io_timeout))
            .map_err(io::Error::from)?;
        stream
            .set_write_timeout(Some(io_timeout))
            .map_err(io::Error::from)?;
        Ok(UpstreamConnection {
            stream,
            buffer: vec![0; UPSTREAM_READ_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            out: BytesMut::new(),
            reused: false,
        })
    }

    /// How long each read may wait from now on (a read that waits longer fails with
    /// `TimedOut`).
    pub(super) fn set_read_timeout(&self, timeout: Duration) {
        // Only a zero duration is refused, and the arguments have none.
        let _ = self.stream.set_read_timeout(Some(timeout));
    }

    /// Writes what `out` holds, and empties it.
    pub(super) async fn send_out(&mut self) -> io::Result<()> {
        self.stream.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    /// The bytes received and not yet used.
    pub(super) fn unread(&self) -> &[u8] {
        &self.buffer[self.start..self.end]
    }

    /// Marks the first `count` unread bytes as used.
    pub(super) fn consume(&mut self, count: usize) {
        debug_assert!(
            count <= self.end - self.start,
            "consumed past what was read"
        );
        self.start += count;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more after the unread bytes: `Ok(0)` when the upstream closed, or when the
    /// buffer is full (a head longer than [`UPSTREAM_READ_BYTES`]: the caller sees the same
    /// unread bytes and gives up).
    pub(super) async fn read_more(&mut self) -> io::Result<usize> {
        if self.end == self.buffer.len() && self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let read = self.stream.read(&mut self.buffer[self.end..]).await?;
        self.end += read;
        Ok(read)
    }

    /// Whether a pooled connection can no longer carry a request: the upstream closed it (or
    /// reset it, or sent something unasked) while it waited. One non-blocking `recv` peek.
    pub(super) fn went_stale(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: a one-byte peek into a local through the stream's own open socket.
        let peeked = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        // -1 with EAGAIN is the only healthy answer: open, and nothing to read.
        peeked >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock
    }

    /// Whether everything received has been used, so the connection may be pooled.
    pub(super) fn is_drained(&self) -> bool {
        self.start == self.end
    }
}
