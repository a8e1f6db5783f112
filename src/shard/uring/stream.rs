//! A connection's socket over the shard's own ring: the io_uring implementation of the
//! connection loop's `Transport`.
//!
//! Invariant: every buffer handed to the kernel is moved into its operation and comes back
//! only with the operation's completion (`ring`'s ownership rule); a write that times out is
//! cancelled *and waited for* before its buffer is returned, so the caller never reuses memory
//! the kernel may still read. Sends carry a linked timeout (the stall timeout, or what is left
//! until the deadline), so a stalled peer costs no timer in glommio; the timeout's `timespec`
//! is allocated once per connection and kept alive by every send that links to it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use io_uring::{opcode, squeue, types};

use super::ring::{Operation, Owned, Ring, to_io};
use crate::limits::{LINKED_TIMEOUT_MAX, READ_CHUNK_BYTES};
use crate::shard::buffers::BufferPool;
use crate::shard::transport::Transport;

/// A connection's socket, read and written through the shard's ring.
pub(crate) struct UringStream {
    fd: OwnedFd,
    ring: Rc<Ring>,
    /// The linked timeout of the send in flight; shared with that send's operation, so it
    /// outlives this stream until the kernel has read it.
    timeout: Rc<types::Timespec>,
    /// A receive whose `read` future was dropped (a raced body read, say). It stays in flight
    /// — cancelling it could lose bytes it already took off the socket — and the next `read`
    /// resumes it: its buffer holds what the dropped read's caller held, plus what arrived.
    read_in_flight: Option<Operation>,
    /// What watches for the client leaving while a handler runs or a response streams.
    departure: Departure,
}

/// The watch for the client's leaving: a poll for `POLLRDHUP` (and the hang-ups and errors
/// every poll reports), armed by the first [`Transport::peer_activity`] and left in flight
/// across requests — one submission per connection, where a peek per request cost a
/// submission, a cancellation and two completions (perf/RESULTS.md, issue 17).
enum Departure {
    Unwatched,
    Watching(Operation),
    /// The poll fired: the client shut its side, or the socket failed.
    Fired,
}

impl UringStream {
    /// Takes over `fd`, a connected TCP socket that `accept` just made.
    pub(crate) fn new(fd: RawFd, ring: Rc<Ring>) -> Self {
        // SAFETY: the descriptor was created by the kernel for this connection and is owned by
        // nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Responses are written whole; Nagle would only delay the last segment.
        let _ = socket2::SockRef::from(&fd).set_nodelay(true);
        UringStream {
            fd,
            ring,
            timeout: Rc::new(types::Timespec::new()),
            read_in_flight: None,
            departure: Departure::Unwatched,
        }
    }

    fn raw(&self) -> types::Fd {
        types::Fd(self.fd.as_raw_fd())
    }

    /// Sends all of what `owned` holds (a buffer or a `Bytes`), moved into each send that has
    /// to wait and back with its completion.
    async fn send_owned(
        &mut self,
        mut owned: Owned,
        stall_timeout: Duration,
        deadline: Option<Instant>,
    ) -> (io::Result<()>, Owned) {
        let len = bytes_of(&owned).len();
        // One non-blocking send first: a response usually fits in the socket's buffer, and
        // then it costs one system call here instead of a submission, a completion and a
        // second turn of the shard's loop before the connection can read again.
        let mut written = match send_now(self.fd.as_raw_fd(), bytes_of(&owned)) {
            Ok(sent) => sent,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => 0,
            Err(error) => return (Err(error), owned),
        };
        while written < len {
            let wait = deadline.map_or(stall_timeout, |deadline| {
                stall_timeout.min(deadline.saturating_duration_since(Instant::now()))
            });
            if wait.is_zero() {
                return (Err(io::ErrorKind::TimedOut.into()), owned);
            }
            // The kernel's timespec holds signed seconds: a longer wait is no wait at all.
            let wait = wait.min(LINKED_TIMEOUT_MAX);
            // The timespec the linked timeout points at: written only when no send holds it.
            let timespec = types::Timespec::from(wait);
            match Rc::get_mut(&mut self.timeout) {
                Some(timeout) => *timeout = timespec,
                None => self.timeout = Rc::new(timespec),
            }
            let rest = &bytes_of(&owned)[written..];
            let send = opcode::Send::new(
                self.raw(),
                rest.as_ptr(),
                rest.len().min(u32::MAX as usize) as u32,
            )
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .flags(squeue::Flags::IO_LINK);
            let timeout = opcode::LinkTimeout::new(Rc::as_ptr(&self.timeout)).build();
            let operation = self.ring.submit_linked(
                send,
                owned,
                timeout,
                Owned::Timespec(self.timeout.clone()),
            );
            let (result, back) = operation.await;
            owned = back;
            match result {
                0 => return (Err(io::ErrorKind::WriteZero.into()), owned),
                sent if sent > 0 => written += sent as usize,
                // The linked timeout fired: no byte was accepted for `wait`.
                error if -error == libc::ECANCELED => {
                    return (Err(io::ErrorKind::TimedOut.into()), owned);
                }
                error if -error == libc::EINTR || -error == libc::EAGAIN => {}
                error => return (Err(io::Error::from_raw_os_error(-error)), owned),
            }
        }
        (Ok(()), owned)
    }
}

impl Drop for UringStream {
    fn drop(&mut self) {
        // Operations already submitted hold the socket itself, whatever happens to its
        // number; one still queued names only the number, which closing frees for reuse.
        self.ring.submit_before_close();
    }
}

/// One non-blocking `send` of `bytes`: how many the socket took.
fn send_now(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `bytes` is a live slice; the kernel only reads it during the call.
        let sent = unsafe {
            libc::send(
                fd,
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if sent >= 0 {
            return Ok(sent as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// One non-blocking peek: how many bytes are waiting (0 at the end of the stream).
fn peek_now(fd: RawFd) -> io::Result<usize> {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local; the kernel writes it during the call only.
    let peeked = unsafe {
        libc::recv(
            fd,
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if peeked >= 0 {
        return Ok(peeked as usize);
    }
    let error = io::Error::last_os_error();
    match error.kind() {
        // Open, nothing waiting: the poll fired for something else than a FIN (it cannot, with
        // its mask, but a client that is there is the safe reading).
        io::ErrorKind::WouldBlock => Ok(1),
        _ => Err(error),
    }
}

/// The bytes a send's `owned` holds.
fn bytes_of(owned: &Owned) -> &[u8] {
    match owned {
        Owned::Buffer(buffer) => buffer,
        Owned::Bytes(bytes) => bytes,
        _ => &[],
    }
}

fn take_buffer(owned: Owned) -> BytesMut {
    match owned {
        Owned::Buffer(buffer) => buffer,
        _ => BytesMut::new(),
    }
}

impl Transport for UringStream {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        let operation = match self.read_in_flight.take() {
            // The caller lost its buffer to the dropped read (it was moved in); that read's
            // operation has it.
            Some(resumed) => {
                debug_assert!(buf.is_empty(), "a buffer besides the one in flight");
                resumed
            }
            None => {
                if buf.capacity() - buf.len() < READ_CHUNK_BYTES {
                    buf.reserve(READ_CHUNK_BYTES);
                }
                let spare = buf.spare_capacity_mut();
                let (pointer, room) = (spare.as_mut_ptr().cast::<u8>(), spare.len());
                let entry =
                    opcode::Recv::new(self.raw(), pointer, room.min(u32::MAX as usize) as u32)
                        .build();
                // The buffer moves into the operation; its heap memory, where the kernel
                // writes, does not move with it.
                self.ring.submit(entry, Owned::Buffer(buf))
            }
        };
        // Parked here while awaited, so that a dropped `read` leaves it for the next one.
        let operation = self.read_in_flight.insert(operation);
        let (result, owned) = (&mut *operation).await;
        self.read_in_flight = None;
        let mut buf = take_buffer(owned);
        let result = to_io(result);
        if let Ok(received) = result {
            // SAFETY: the kernel initialised exactly `received` bytes of the spare capacity.
            unsafe { buf.set_len(buf.len() + received) };
        }
        (result, buf)
    }

    async fn read_idle(&mut self, buffers: &BufferPool) -> (io::Result<usize>, BytesMut) {
        // A receive left in flight by a dropped read has the caller's bytes: resume it.
        if self.read_in_flight.is_some() {
            // `read` resumes it, with the buffer it already holds.
            return self.read(BytesMut::new()).await;
        }
        if !self.ring.has_provided_buffers() {
            return self.read(buffers.take()).await;
        }
        let (result, owned) = self.ring.receive_provided(self.raw()).await;
        let provided = match owned {
            Owned::Provided(id) => Some(id),
            _ => None,
        };
        match (to_io(result), provided) {
            (Ok(received), Some(id)) => {
                let mut buf = buffers.take();
                self.ring.take_provided(id, received, &mut buf);
                (Ok(received), buf)
            }
            // Every provided buffer is lent out (a burst of arrivals in one turn): receive
            // into a buffer of the connection's own instead.
            (Err(error), None) if error.raw_os_error() == Some(libc::ENOBUFS) => {
                self.read(buffers.take()).await
            }
            // End of stream, or an error: no bytes, and no buffer taken for them.
            (result, provided) => {
                debug_assert!(provided.is_none(), "a buffer only comes with bytes");
                if let Some(id) = provided {
                    self.ring.recycle(id);
                }
                (result, BytesMut::new())
            }
        }
    }

    async fn write_all(
        &mut self,
        buf: BytesMut,
        stall_timeout: Duration,
        deadline: Option<Instant>,
    ) -> (io::Result<()>, BytesMut) {
        let (result, owned) = self
            .send_owned(Owned::Buffer(buf), stall_timeout, deadline)
            .await;
        (result, take_buffer(owned))
    }

    async fn write_bytes(
        &mut self,
        chunk: Bytes,
        stall_timeout: Duration,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        self.send_owned(Owned::Bytes(chunk), stall_timeout, deadline)
            .await
            .0
    }

    async fn peer_activity(&mut self) -> io::Result<bool> {
        if let Departure::Unwatched = self.departure {
            let entry = opcode::PollAdd::new(self.raw(), libc::POLLRDHUP as u32).build();
            self.departure = Departure::Watching(self.ring.submit(entry, Owned::Nothing));
        }
        if let Departure::Watching(poll) = &mut self.departure {
            // Any result ends the watch: the shut side, a hang-up, an error of the socket or
            // of the poll itself.
            let _ = poll.await;
            self.departure = Departure::Fired;
        }
        // Bytes sent before the FIN (pipelined requests) are a client still there, as a peek
        // would have seen them.
        Ok(peek_now(self.fd.as_raw_fd())? > 0)
    }

    async fn shutdown_write(&mut self) {
        // SAFETY: shutting down the write side of a socket this stream owns.
        unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_WR) };
    }

    fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
