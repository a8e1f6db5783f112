//! ringserve patch: lets a second io_uring be the executor's only blocking point.
//!
//! A [`ParkHook`] installed on an executor is polled on every turn of its reactor and, when
//! the executor has nothing to run, sleeps *instead of* the executor's own rings: it blocks
//! in its own ring until one of its operations completes, one of the executor's rings
//! ([`ExecutorRings`]) becomes readable, or the executor's next timer is due. The executor
//! then arms no timer for the sleep and no poll linking its rings, keeps an armed
//! preemption timer through the sleep instead of cancelling it, and arms a new one only on
//! turns with runnable tasks: the sleep costs the hook's one `io_uring_enter`, where the
//! executor's own costs several, and an idle executor is woken by nothing but events.
//!
//! The hook must watch both rings' fds (a poll on each, re-armed whenever it completes):
//! the latency ring receives timers and the eventfd other executors write to wake this one,
//! the main ring everything else. The poll ring never holds work when the executor sleeps.

use std::{os::unix::io::RawFd, rc::Rc, time::Duration};

/// What a second io_uring does on the executor's turns and sleeps.
pub trait ParkHook {
    /// Called on every turn of the reactor, before it decides whether to sleep: submit what
    /// is queued and reap what completed, without blocking. `idle`: the executor found
    /// nothing to run, and sleeps next unless this turn finds work — the hook may leave its
    /// submissions for the sleep's [`park`](ParkHook::park) to carry. Returns how many
    /// events it handled (tasks woken, roughly); any number above zero keeps the executor
    /// awake.
    fn poll(&self, idle: bool) -> usize;

    /// Called when the executor would sleep: block until one of the hook's operations
    /// completes, one of the [`ExecutorRings`] is readable, or `timeout` passes (`None`:
    /// no timer is pending). Returns how many events it handled.
    fn park(&self, timeout: Option<Duration>) -> usize;
}

/// The fds of the executor's rings that a [`ParkHook::park`] must watch for readability.
#[derive(Clone, Copy, Debug)]
pub struct ExecutorRings {
    /// The main ring: file I/O and everything not on the latency ring.
    pub main: RawFd,
    /// The latency ring: timers, network receives, and wake-ups from other executors.
    pub latency: RawFd,
}

/// Installs `hook` on this thread's executor and returns the ring fds it must watch; `None`
/// (and nothing installed) when the executor already has a hook. Panics outside an
/// executor.
pub fn install(hook: Rc<dyn ParkHook>) -> Option<ExecutorRings> {
    crate::executor().reactor().sys.install_park_hook(hook)
}

/// Removes this thread's executor's hook, if any: it sleeps in its own rings again. Panics
/// outside an executor.
pub fn remove() -> Option<Rc<dyn ParkHook>> {
    crate::executor().reactor().sys.remove_park_hook()
}
