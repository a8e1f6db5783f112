//! Accepting connections through the shard's ring.
//!
//! Invariant: one accept is armed on the listener at a time — multishot (one submission for
//! any number of connections) where the kernel has it, re-armed one by one where it does not
//! (before Linux 5.19); every descriptor the kernel makes is handed to a caller or closed.

use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;

use io_uring::{opcode, types};

use super::ring::{Multishot, Operation, Owned, Ring};

/// The shard's listener, accepted from through the ring.
pub(crate) struct Acceptor {
    listener: RawFd,
    ring: Rc<Ring>,
    mode: Mode,
}

enum Mode {
    Multishot(Multishot),
    /// The kernel refused multishot accept: one operation per connection.
    Single(Option<Operation>),
}

impl Acceptor {
    pub(crate) fn new(listener: RawFd, ring: Rc<Ring>) -> Self {
        let entry = opcode::AcceptMulti::new(types::Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build();
        let mode = Mode::Multishot(ring.submit_multishot(entry));
        Acceptor {
            listener,
            ring,
            mode,
        }
    }

    /// The next connection's descriptor.
    pub(crate) async fn accept(&mut self) -> io::Result<RawFd> {
        loop {
            let result = match &mut self.mode {
                Mode::Multishot(accepts) => {
                    let result = accepts.next().await;
                    if result == -libc::EINVAL {
                        self.mode = Mode::Single(None);
                        continue;
                    }
                    result
                }
                Mode::Single(pending) => {
                    let operation = pending.get_or_insert_with(|| {
                        let entry = opcode::Accept::new(
                            types::Fd(self.listener),
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                        )
                        .flags(libc::SOCK_CLOEXEC)
                        .build();
                        self.ring.submit(entry, Owned::Nothing)
                    });
                    let (result, _) = operation.await;
                    *pending = None;
                    result
                }
            };
            return if result < 0 {
                Err(io::Error::from_raw_os_error(-result))
            } else {
                Ok(result)
            };
        }
    }
}
