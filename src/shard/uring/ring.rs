//! The shard's own io_uring: its operations, what each owns while the kernel works on it,
//! and how the glommio executor submits, reaps and sleeps through it.
//!
//! Invariants:
//! - **Ownership.** Whatever the kernel may read or write for an operation — a buffer, a
//!   one-byte probe — is moved into the operation's slot when it is submitted and stays there
//!   until the operation's completion is reaped. A caller gets it back only from a completed
//!   operation; an operation whose future is dropped first is *orphaned*: a cancellation is
//!   submitted, and its slot (with the buffer) is freed when the kernel's completion for it
//!   arrives. No buffer is ever freed or reused while the kernel may still touch it.
//! - **Submission.** Operations are pushed to the submission queue without a system call.
//!   The ring is the executor's park hook (`glommio::park`, a patch to the vendored glommio):
//!   every turn of glommio's reactor reaps every completion posted (reading the completion
//!   queue takes no system call) and, on a turn that runs tasks, submits what they pushed in
//!   one `io_uring_enter`, which also has the kernel post the completions it holds (deferred
//!   task work: the kernel flags them, and a turn with nothing to submit enters only then);
//!   before a sleep, the sleep's own enter submits and posts. A full submission
//!   queue is submitted at once (back-pressure costs one system call, never an error).
//!   Completions are reaped between turns, as glommio's own are: a task that keeps running
//!   without awaiting delays them until glommio's preemption timer ends its turn.
//! - **Wake-ups.** This ring is the shard's only blocking point: when glommio has nothing to
//!   run, it sleeps in one `io_uring_enter` here — submitting what is queued and waiting for a
//!   completion, with glommio's next timer as the wait's timeout — instead of in its own
//!   rings. Two polls on this ring watch glommio's rings (its latency ring gets its timers and
//!   the eventfd other shards write to wake this one; its main ring the rest), so glommio's
//!   timers, its I/O and the cross-core channels still wake the shard. The polls are armed
//!   before the first sleep and re-armed as soon as one completes; a ring already readable
//!   when a poll is armed completes it at once, and a completion already posted makes the
//!   wait return at once (no lost wake-up).
//!
//! Everything here is the shard's own (`Rc`, `Cell`, `RefCell`): the ring is created with
//! `SINGLE_ISSUER` on the shard's thread and only that thread touches it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use io_uring::{IoUring, cqueue, opcode, squeue};
use slab::Slab;

use super::provided::{self, ProvidedBuffers};
use crate::limits::{
    PROVIDED_BUFFER_BYTES, RING_DROP_WAIT, RING_DROP_WAIT_ROUNDS, RING_ENTRIES, RING_INITIAL_SLOTS,
    RING_SUBMIT_TRIES_MAX, RING_WAIT_MAX,
};

/// `user_data` of the cancellations the ring submits itself: their completions are ignored.
const CANCEL_TAG: u64 = u64::MAX;

/// `user_data` of the polls on glommio's main and latency rings.
const WAKE_MAIN_TAG: u64 = u64::MAX - 1;
const WAKE_LATENCY_TAG: u64 = u64::MAX - 2;

/// Why this kernel cannot run the io_uring data path, if it cannot: a ring with the flags
/// the shards use, and every operation they submit. Probed once per process, on a thread of
/// its own: a thread that has used io_uring gets task work queued when the ring closes,
/// which interrupts its next blocking system call — a caller's socket read with a timeout
/// would fail with `EINTR`.
pub(crate) fn unsupported() -> Option<String> {
    static PROBED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PROBED
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("ringserve-io-uring-probe".to_owned())
                .spawn(probe)
                .map_or_else(
                    |error| Some(format!("cannot start the probe thread ({error})")),
                    |probe| {
                        probe
                            .join()
                            .unwrap_or_else(|_| Some("the probe panicked".to_owned()))
                    },
                )
        })
        .clone()
}

fn probe() -> Option<String> {
    let ring = match Ring::new() {
        Ok(ring) => ring,
        Err(error) => {
            return Some(format!(
                "no io_uring with SINGLE_ISSUER and TASKRUN_FLAG ({error})"
            ));
        }
    };
    let mut probe = io_uring::Probe::new();
    if let Err(error) = ring.uring.borrow().submitter().register_probe(&mut probe) {
        return Some(format!("cannot probe io_uring's operations ({error})"));
    }
    let needed = [
        ("accept", opcode::Accept::CODE),
        ("recv", opcode::Recv::CODE),
        ("send", opcode::Send::CODE),
        ("link timeout", opcode::LinkTimeout::CODE),
        ("async cancel", opcode::AsyncCancel::CODE),
        ("poll", opcode::PollAdd::CODE),
    ];
    needed
        .iter()
        .find(|(_, code)| !probe.is_supported(*code))
        .map(|(name, _)| format!("io_uring has no {name} operation"))
}

/// A kernel result: a count, or `-errno` as an error.
pub(crate) fn to_io(result: i32) -> io::Result<usize> {
    if result < 0 {
        Err(io::Error::from_raw_os_error(-result))
    } else {
        Ok(result as usize)
    }
}

/// What an operation owns while the kernel may use it: its job is to keep the memory alive.
pub(crate) enum Owned {
    Nothing,
    /// A receive's or send's buffer.
    Buffer(BytesMut),
    /// A send's piece of a streamed body, sent from its own memory.
    Bytes(bytes::Bytes),
    /// A linked timeout's duration, shared with the stream that set it. Held, never read.
    Timespec(#[allow(dead_code)] Rc<io_uring::types::Timespec>),
    /// The provided buffer a receive's completion was given (see `provided`): lent to the
    /// operation's owner until it is recycled.
    Provided(u16),
}

/// One operation's slot.
struct Slot {
    owned: Owned,
    state: SlotState,
    /// Its results are new file descriptors (accept): any nobody takes is closed here.
    yields_fds: bool,
}

enum SlotState {
    /// In the kernel; `waker` is the task awaiting it.
    Pending { waker: Option<Waker> },
    /// Completed, not yet taken by its future.
    Done { result: i32 },
    /// Its future was dropped: freed when its completion arrives.
    Orphaned,
    /// A multishot operation: results queue up while it stays armed.
    Multishot {
        results: std::collections::VecDeque<i32>,
        armed: bool,
        waker: Option<Waker>,
    },
}

/// The shard's ring and its operations.
pub(crate) struct Ring {
    /// Declared before `provided`, so it is closed before the buffers' memory is freed — which
    /// is safe only because nothing is in flight by then (`Drop` waits for every operation,
    /// and leaks the buffers when it gives up waiting).
    uring: RefCell<IoUring>,
    /// Buffers the kernel picks for idle receives; `None` where the kernel cannot register
    /// them (before Linux 5.19), and idle connections keep a buffer of their own.
    provided: RefCell<Option<ProvidedBuffers>>,
    slots: RefCell<Slab<Slot>>,
    /// glommio's rings, watched while the shard sleeps here (once attached).
    executor_rings: Cell<Option<glommio::park::ExecutorRings>>,
    /// Waits that failed in a row (logged at the first and then every thousandth).
    failed_waits: Cell<u64>,
    /// How long `park` polls before it sleeps (`HttpOptions::busy_poll`); zero: not at all.
    busy_poll: std::time::Duration,
}

impl Ring {
    /// A ring for this thread, or why the kernel refused one (the engine then uses glommio's
    /// streams).
    pub(crate) fn new() -> io::Result<Rc<Ring>> {
        Ring::polling_for(std::time::Duration::ZERO)
    }

    /// [`Ring::new`], polling for `busy_poll` before each sleep.
    ///
    /// The kernel posts completions as deferred task work (`DEFER_TASKRUN`, Linux 6.1): only
    /// when this thread enters the ring asking for events — the sleep's enter, or a turn's
    /// submission — never by interrupting it in the middle of a turn. Measured 1.03–1.16x the
    /// requests per CPU-second of `COOP_TASKRUN` at 64 connections (perf/RESULTS.md), which
    /// remains the fallback on older kernels. `TASKRUN_FLAG` says when completions wait to be
    /// posted, so a busy turn enters for them only then, and a busy poll can see them coming.
    pub(crate) fn polling_for(busy_poll: std::time::Duration) -> io::Result<Rc<Ring>> {
        let build = |defer: bool| {
            let mut builder = IoUring::builder();
            builder
                .setup_single_issuer()
                .setup_taskrun_flag()
                .setup_cqsize(RING_ENTRIES * 2);
            if defer {
                builder.setup_defer_taskrun();
            } else {
                builder.setup_coop_taskrun();
            }
            builder.build(RING_ENTRIES)
        };
        let uring = build(true).or_else(|_| build(false))?;
        let provided = ProvidedBuffers::new();
        let provided = match provided::register(&uring, &provided) {
            Ok(()) => Some(provided),
            Err(error) => {
                tracing::debug!(%error, "no provided buffers: idle connections keep their own");
                None
            }
        };
        Ok(Rc::new(Ring {
            uring: RefCell::new(uring),
            provided: RefCell::new(provided),
            slots: RefCell::new(Slab::with_capacity(RING_INITIAL_SLOTS)),
            executor_rings: Cell::new(None),
            failed_waits: Cell::new(0),
            busy_poll,
        }))
    }

    /// Makes this ring the executor's park hook: polled on every turn of glommio's reactor
    /// and the only place the shard sleeps, until the returned guard is dropped. Must be
    /// called on the executor's thread.
    pub(crate) fn attach(self: &Rc<Self>) -> Attached {
        let rings = glommio::park::install(self.clone())
            .expect("an executor has one shard, and a shard one ring");
        self.executor_rings.set(Some(rings));
        self.watch(WAKE_MAIN_TAG);
        self.watch(WAKE_LATENCY_TAG);
        Attached {
            ring: Rc::downgrade(self),
        }
    }

    /// Arms the poll on one of glommio's rings (multishot; the kernel makes it single-shot
    /// when a ring's own completion wakes it, and it is armed again when it ends).
    fn watch(&self, tag: u64) {
        let Some(rings) = self.executor_rings.get() else {
            return;
        };
        let fd = if tag == WAKE_MAIN_TAG {
            rings.main
        } else {
            rings.latency
        };
        let poll = opcode::PollAdd::new(io_uring::types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(tag);
        self.push(poll);
    }

    /// Submits `entry` (its `user_data` is set here), owning `owned` until it completes.
    pub(crate) fn submit(self: &Rc<Self>, entry: squeue::Entry, owned: Owned) -> Operation {
        let key = self.slots.borrow_mut().insert(Slot {
            owned,
            state: SlotState::Pending { waker: None },
            yields_fds: false,
        });
        self.push(entry.user_data(key as u64));
        Operation {
            ring: self.clone(),
            key,
            finished: false,
        }
    }

    /// Submits `first` (which must carry `IO_LINK`) and `then` together, so the link holds:
    /// a send and its linked timeout. Only `first` is awaited; `then`'s slot keeps
    /// `then_owned` until its own completion arrives.
    pub(crate) fn submit_linked(
        self: &Rc<Self>,
        first: squeue::Entry,
        first_owned: Owned,
        then: squeue::Entry,
        then_owned: Owned,
    ) -> Operation {
        let (key, then_key) = {
            let mut slots = self.slots.borrow_mut();
            let key = slots.insert(Slot {
                owned: first_owned,
                state: SlotState::Pending { waker: None },
                yields_fds: false,
            });
            let then_key = slots.insert(Slot {
                owned: then_owned,
                state: SlotState::Orphaned,
                yields_fds: false,
            });
            (key, then_key)
        };
        self.push_all(&[first.user_data(key as u64), then.user_data(then_key as u64)]);
        Operation {
            ring: self.clone(),
            key,
            finished: false,
        }
    }

    /// Submits a multishot `entry` whose results are new file descriptors (accept): they are
    /// read with [`Multishot::next`], and any left untaken when it is dropped are closed.
    pub(crate) fn submit_multishot(self: &Rc<Self>, entry: squeue::Entry) -> Multishot {
        let key = self.slots.borrow_mut().insert(Slot {
            owned: Owned::Nothing,
            yields_fds: true,
            state: SlotState::Multishot {
                results: std::collections::VecDeque::new(),
                armed: true,
                waker: None,
            },
        });
        self.push(entry.clone().user_data(key as u64));
        Multishot {
            ring: self.clone(),
            key,
            entry,
        }
    }

    /// Pushes an entry, submitting first when the queue is full.
    fn push(&self, entry: squeue::Entry) {
        self.push_all(std::slice::from_ref(&entry));
    }

    /// Pushes entries side by side (a link stays whole), submitting first when the queue has
    /// no room for all of them.
    fn push_all(&self, entries: &[squeue::Entry]) {
        let mut uring = self.uring.borrow_mut();
        // SAFETY: everything the entries point at is owned by their slots (or is 'static)
        // until their completions are reaped.
        while unsafe { uring.submission().push_multiple(entries) }.is_err() {
            // Full: hand the queue to the kernel now. An error here (EBUSY: the completion
            // queue is full) is retried after reaping.
            if uring.submit().is_err() {
                drop(uring);
                self.reap();
                uring = self.uring.borrow_mut();
            }
        }
    }

    /// Cancels the operation `key` (its completion still comes, and frees its slot).
    fn cancel(&self, key: usize) {
        self.push(
            opcode::AsyncCancel::new(key as u64)
                .build()
                .user_data(CANCEL_TAG),
        );
    }

    /// Submits what was pushed, without waiting — and enters the kernel with nothing to
    /// submit when completions wait there: overflowed from a full queue, or not yet posted
    /// (deferred task work, run by an enter that asks for events, which `submit` then does).
    fn submit_pending(&self) -> io::Result<()> {
        let overflowed = || self.uring.borrow_mut().submission().cq_overflow();
        let deferred = || self.uring.borrow_mut().submission().taskrun();
        if self.queued() == 0 && !overflowed() && !deferred() {
            return Ok(());
        }
        match self.uring.borrow().submit() {
            Ok(_) => Ok(()),
            Err(error) if error.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Hands what was pushed to the kernel now, before a descriptor it names is closed: an
    /// entry still in the queue names its socket by number, and a new connection could get
    /// that number before the reactor's next turn.
    pub(crate) fn submit_before_close(&self) {
        for _ in 0..RING_SUBMIT_TRIES_MAX {
            if self.queued() == 0 {
                return;
            }
            if let Err(error) = self.submit_pending() {
                tracing::error!(%error, "io_uring submission failed");
            }
            self.reap();
        }
    }

    /// Entries pushed and not yet taken by the kernel (which may take fewer than offered).
    fn queued(&self) -> usize {
        self.uring.borrow_mut().submission().len()
    }

    /// Takes every completion off the queue, finishing its operation; how many.
    fn reap(&self) -> usize {
        let mut reaped = 0;
        let mut ended_watches = [None; 2];
        let mut uring = self.uring.borrow_mut();
        let mut slots = self.slots.borrow_mut();
        for completion in uring.completion() {
            reaped += 1;
            let key = completion.user_data();
            if key == CANCEL_TAG {
                continue;
            }
            if key == WAKE_MAIN_TAG || key == WAKE_LATENCY_TAG {
                // glommio's ring has completions: its reactor reaps them after this.
                if !cqueue::more(completion.flags()) {
                    ended_watches[(key == WAKE_LATENCY_TAG) as usize] = Some(key);
                }
                continue;
            }
            let key = key as usize;
            let Some(slot) = slots.get_mut(key) else {
                continue;
            };
            if let Some(id) = cqueue::buffer_select(completion.flags()) {
                if matches!(slot.state, SlotState::Orphaned) {
                    self.recycle(id);
                } else {
                    slot.owned = Owned::Provided(id);
                }
            }
            let result = completion.result();
            match &mut slot.state {
                SlotState::Pending { waker } => {
                    let waker = waker.take();
                    slot.state = SlotState::Done { result };
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                }
                SlotState::Orphaned => {
                    if slot.yields_fds && result >= 0 {
                        close_unwanted(result);
                    }
                    if !cqueue::more(completion.flags()) {
                        slots.remove(key);
                    }
                }
                SlotState::Multishot {
                    results,
                    armed,
                    waker,
                } => {
                    results.push_back(result);
                    *armed = cqueue::more(completion.flags());
                    if let Some(waker) = waker.take() {
                        waker.wake();
                    }
                }
                SlotState::Done { .. } => {}
            }
        }
        drop((uring, slots));
        for tag in ended_watches.into_iter().flatten() {
            self.watch(tag);
        }
        reaped
    }

    /// Whether idle receives can wait without a buffer ([`Ring::receive_provided`]).
    pub(crate) fn has_provided_buffers(&self) -> bool {
        self.provided.borrow().is_some()
    }

    /// A receive into whichever provided buffer the kernel picks when bytes arrive; its
    /// completion owns [`Owned::Provided`] (nothing when it fails or reads end of stream).
    pub(crate) fn receive_provided(self: &Rc<Self>, fd: io_uring::types::Fd) -> Operation {
        debug_assert!(
            self.has_provided_buffers(),
            "provided buffers are registered"
        );
        let entry = opcode::Recv::new(fd, std::ptr::null_mut(), PROVIDED_BUFFER_BYTES as u32)
            .buf_group(provided::GROUP)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT);
        self.submit(entry, Owned::Nothing)
    }

    /// Appends the `len` bytes a receive got in provided buffer `id` to `into`, and puts the
    /// buffer back in the ring.
    pub(crate) fn take_provided(&self, id: u16, len: usize, into: &mut BytesMut) {
        let mut provided = self.provided.borrow_mut();
        let provided = provided
            .as_mut()
            .expect("a provided buffer comes only from registered ones");
        into.extend_from_slice(provided.received(id, len));
        provided.recycle(id);
    }

    /// Puts back a provided buffer whose bytes nobody will read.
    pub(crate) fn recycle(&self, id: u16) {
        if let Some(provided) = self.provided.borrow_mut().as_mut() {
            provided.recycle(id);
        }
    }

    /// Polls for completions without sleeping, for up to `window`: how many it reaped. What
    /// is queued goes to the kernel first; the kernel is entered again only when it flags
    /// completions waiting to be posted (deferred task work is posted by an enter that asks).
    fn poll_busily(&self, window: std::time::Duration) -> usize {
        let until = std::time::Instant::now() + window;
        loop {
            // Enters the kernel only with something to hand it or completions to post.
            if let Err(error) = self.submit_pending() {
                tracing::error!(%error, "io_uring submission failed");
            }
            let reaped = self.reap();
            if reaped > 0 {
                return reaped;
            }
            if std::time::Instant::now() >= until {
                return 0;
            }
            std::hint::spin_loop();
        }
    }

    /// Sleeps in the kernel until a completion arrives or `timeout` passes: submits what is
    /// queued and waits in the same `io_uring_enter`.
    fn wait(&self, timeout: Option<std::time::Duration>) {
        let uring = self.uring.borrow();
        let submitter = uring.submitter();
        let waited = match timeout {
            Some(timeout) => {
                let timespec = io_uring::types::Timespec::from(timeout.min(RING_WAIT_MAX));
                let args = io_uring::types::SubmitArgs::new().timespec(&timespec);
                submitter.submit_with_args(1, &args)
            }
            None => submitter.submit_and_wait(1),
        };
        match waited {
            // Not failures: the timeout, a signal, or a full completion queue (reaped next).
            Err(error)
                if !matches!(
                    error.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                // A kernel that keeps refusing makes the shard spin; one line per thousand
                // failures says so without flooding the log.
                let failed = self.failed_waits.get();
                self.failed_waits.set(failed + 1);
                if failed.is_multiple_of(1000) {
                    tracing::error!(%error, failed_in_a_row = failed + 1, "waiting on the shard's io_uring failed");
                }
            }
            _ => self.failed_waits.set(0),
        }
    }

    /// Operations the kernel still holds (in flight or orphaned): zero once a shard's
    /// connections are all closed and their cancellations completed.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.borrow().len()
    }
}

impl Ring {
    /// Waits (up to `timeout`) until the kernel holds no operation of this ring: a stopping
    /// shard's cancellations have completed.
    pub(crate) async fn settle(&self, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while !self.slots.borrow().is_empty() && std::time::Instant::now() < deadline {
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

impl Drop for Ring {
    /// Whatever the kernel still holds (a shard stopped past its grace period) is cancelled
    /// and waited for here, on the shard's thread, before the buffers it writes into are freed.
    fn drop(&mut self) {
        // glommio's rings may be closed already: the polls on them are not armed again.
        self.executor_rings.set(None);
        if self.slots.get_mut().is_empty() {
            return;
        }
        let cancel_all = opcode::AsyncCancel2::new(io_uring::types::CancelBuilder::any())
            .build()
            .user_data(CANCEL_TAG);
        self.push(cancel_all);
        let wait = io_uring::types::Timespec::from(RING_DROP_WAIT);
        for _ in 0..RING_DROP_WAIT_ROUNDS {
            let args = io_uring::types::SubmitArgs::new().timespec(&wait);
            let _ = self.uring.get_mut().submitter().submit_with_args(1, &args);
            self.reap();
            // Orphans are freed by their completions; what waits for a future that will never
            // be polled again is freed once the kernel is done with it.
            self.slots
                .get_mut()
                .retain(|_, slot| !matches!(slot.state, SlotState::Done { .. }));
            if self.slots.get_mut().is_empty() {
                return;
            }
        }
        // Given up on: the kernel may still write into these buffers — and into the provided
        // ones, which closing the ring does not unregister at once — so they are leaked,
        // never freed.
        for (_, slot) in std::mem::take(self.slots.get_mut()) {
            std::mem::forget(slot.owned);
        }
        std::mem::forget(self.provided.get_mut().take());
    }
}

/// Closes a descriptor the kernel made for an operation nobody waits for any more.
fn close_unwanted(fd: i32) {
    // SAFETY: `fd` was just created by the kernel for this ring's accept and is owned by no
    // one else.
    unsafe { libc::close(fd) };
}

impl glommio::park::ParkHook for Ring {
    /// Submits on every turn that runs tasks. On a turn that runs none the shard sleeps
    /// next, and the sleep's `io_uring_enter` carries what is queued — one system call, not
    /// two, for the common case below saturation.
    fn poll(&self, idle: bool) -> usize {
        let overflowed = || self.uring.borrow_mut().submission().cq_overflow();
        if (!idle || overflowed())
            && let Err(error) = self.submit_pending()
        {
            tracing::error!(%error, "io_uring submission failed");
        }
        let reaped = self.reap();
        // Completions that overflowed wait in the kernel: stay awake to fetch them.
        reaped + usize::from(overflowed())
    }

    fn park(&self, mut timeout: Option<std::time::Duration>) -> usize {
        if !self.busy_poll.is_zero() {
            // Never past glommio's next timer: the poll ends by it, and the sleep after a
            // poll that found nothing waits only for what is left of it.
            let started = std::time::Instant::now();
            let window = timeout.map_or(self.busy_poll, |timeout| timeout.min(self.busy_poll));
            let reaped = self.poll_busily(window);
            if reaped > 0 {
                return reaped;
            }
            timeout = timeout.map(|timeout| timeout.saturating_sub(started.elapsed()));
        }
        let queued = self.queued();
        self.wait(timeout);
        // The kernel took none of the queued entries (short of memory): stay awake and try
        // again on the next turn rather than sleep with them. (Counted before reaping, which
        // may queue entries of its own.)
        let stuck = queued > 0 && self.queued() >= queued;
        self.reap() + usize::from(stuck)
    }
}

/// Keeps a ring attached to its executor ([`Ring::attach`]); dropping it detaches the ring,
/// and the executor sleeps in its own rings again.
pub(crate) struct Attached {
    ring: std::rc::Weak<Ring>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Some(ring) = self.ring.upgrade() {
            ring.executor_rings.set(None);
        }
        drop(glommio::park::remove());
    }
}

/// A submitted operation; awaiting it gives its result and what it owned back.
pub(crate) struct Operation {
    ring: Rc<Ring>,
    key: usize,
    finished: bool,
}

impl Future for Operation {
    /// The kernel's result (negative: `-errno`) and what the operation owned.
    type Output = (i32, Owned);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Its slot may already serve another operation.
        assert!(
            !self.finished,
            "an io_uring operation polled after it completed"
        );
        let mut slots = self.ring.slots.borrow_mut();
        let Some(slot) = slots.get_mut(self.key) else {
            return Poll::Ready((-libc::ECANCELED, Owned::Nothing));
        };
        match &mut slot.state {
            SlotState::Done { result } => {
                let result = *result;
                let slot = slots.remove(self.key);
                drop(slots);
                self.finished = true;
                Poll::Ready((result, slot.owned))
            }
            SlotState::Pending { waker } => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
            SlotState::Orphaned | SlotState::Multishot { .. } => Poll::Pending,
        }
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut slots = self.ring.slots.borrow_mut();
        let Some(slot) = slots.get_mut(self.key) else {
            return;
        };
        match slot.state {
            // Completed but never taken: nothing is in the kernel any more.
            SlotState::Done { .. } => {
                let owned = slots.remove(self.key).owned;
                drop(slots);
                if let Owned::Provided(id) = owned {
                    self.ring.recycle(id);
                }
            }
            _ => {
                slot.state = SlotState::Orphaned;
                drop(slots);
                self.ring.cancel(self.key);
            }
        }
    }
}

/// A multishot operation (accept): results arrive one by one; re-armed when the kernel
/// stops it.
pub(crate) struct Multishot {
    ring: Rc<Ring>,
    key: usize,
    entry: squeue::Entry,
}

impl Multishot {
    /// The next result.
    pub(crate) fn next(&mut self) -> impl Future<Output = i32> + '_ {
        std::future::poll_fn(move |cx| {
            let mut slots = self.ring.slots.borrow_mut();
            let Some(slot) = slots.get_mut(self.key) else {
                return Poll::Ready(-libc::ECANCELED);
            };
            let SlotState::Multishot {
                results,
                armed,
                waker,
            } = &mut slot.state
            else {
                return Poll::Ready(-libc::ECANCELED);
            };
            if let Some(result) = results.pop_front() {
                return Poll::Ready(result);
            }
            *waker = Some(cx.waker().clone());
            if !*armed {
                // The kernel ended it (an error, or a full completion queue): arm it again.
                *armed = true;
                drop(slots);
                self.ring
                    .push(self.entry.clone().user_data(self.key as u64));
            }
            Poll::Pending
        })
    }
}

impl Drop for Multishot {
    fn drop(&mut self) {
        let mut slots = self.ring.slots.borrow_mut();
        let Some(slot) = slots.get_mut(self.key) else {
            return;
        };
        if let SlotState::Multishot { results, .. } = &mut slot.state {
            for result in results.drain(..) {
                if result >= 0 {
                    close_unwanted(result);
                }
            }
        }
        let armed = matches!(slot.state, SlotState::Multishot { armed: true, .. });
        if armed {
            slot.state = SlotState::Orphaned;
            drop(slots);
            self.ring.cancel(self.key);
        } else {
            slots.remove(self.key);
        }
    }
}
