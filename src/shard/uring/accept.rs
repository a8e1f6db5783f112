//! Accepting connections through the shard's ring.
//!
//! Invariant: one multishot accept is armed on the listener — one submission for any number
//! of connections, re-armed when the kernel ends it — and every descriptor the kernel makes
//! for it is handed to a caller or closed (`ring`). Multishot accept needs Linux 5.19; the
//! ring itself needs 6.0 (`SINGLE_ISSUER`), so wherever there is a ring there is multishot
//! accept.
//!
//! A failed accept ends the multishot (the kernel says so with its last completion); the next
//! call to [`Acceptor::accept`] arms it again. Out of descriptors (`EMFILE`) the shard makes
//! that call only after its back-off (`shard::descriptors`), so the accept is retried every
//! few milliseconds, never in a busy loop, while connections wait in the listen queue.

use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;

use io_uring::{opcode, types};

use super::ring::{Multishot, Ring, to_io};

/// The shard's listener, accepted from through the ring.
pub(crate) struct Acceptor {
    accepts: Multishot,
}

impl Acceptor {
    pub(crate) fn new(listener: RawFd, ring: &Rc<Ring>) -> Self {
        let entry = opcode::AcceptMulti::new(types::Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build();
        Acceptor {
            accepts: ring.submit_multishot(entry),
        }
    }

    /// The next connection's descriptor, or why the kernel could not make one (then the
    /// multishot has ended, and the next call arms it again).
    pub(crate) async fn accept(&mut self) -> io::Result<RawFd> {
        to_io(self.accepts.next().await).map(|fd| fd as RawFd)
    }
}
