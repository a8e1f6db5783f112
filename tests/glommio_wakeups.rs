//! The vendored glommio (`vendor/glommio`, patch 7 in its PATCHES.md) under the race that hung
//! `Serve::start` (issue 14, finding 9): an executor must not park while a task is queued.
//!
//! A shared channel's `connect` polls its peer on every turn of its executor until the peer
//! connects too; the peer's `connect` notifies nobody. With a short preemption timer kept armed
//! across turns (patch 3), the timer may fire after the reactor's last look at its rings and
//! before the task queues run: the run stops at once with the connecting task still queued, and
//! an executor that then parks sleeps forever — the peer's late connect never writes its
//! eventfd. This test runs that race many times, each with a deadline, so that a lost wake-up
//! fails the test instead of hanging it.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use glommio::channels::shared_channel;
use glommio::{LocalExecutorBuilder, Placement};

/// How long the peer waits before it connects: long enough for the connecting executor to spin
/// through hundreds of turns, each a chance for its 1 ms preemption timer to fire in the gap.
const PEER_LATE: Duration = Duration::from_millis(50);

/// The connecting executor's preemption timer: short, so that it fires often while it waits.
const PREEMPT_EVERY: Duration = Duration::from_millis(1);

/// How long one attempt may take before it counts as hung. An attempt that works takes about
/// `PEER_LATE`; this is a hundred times more, for a loaded machine.
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(5);

/// Attempts. Before the fix one of the first two attempts hung in every run; after it, none
/// in hundreds.
const ATTEMPTS: usize = 20;

/// One attempt: the sender connects on an executor with a 1 ms preemption timer, the receiver
/// on another executor `PEER_LATE` later, and one message passes. Returns how long it took, or
/// `None` if it missed the deadline (its threads are then left behind, stuck; the test fails).
///
/// The late side only receives: it never notifies the sender's executor, so nothing but the
/// sender's own turns can finish the sender's connect (a late *sender* would rescue a parked
/// receiver when it sends).
fn connect_to_a_late_receiver() -> Option<Duration> {
    let (sender, receiver) = shared_channel::new_bounded::<u32>(1);
    let (done, finished) = mpsc::channel::<u32>();
    let (early_done, late_done) = (done.clone(), done);
    let started = Instant::now();
    let early = LocalExecutorBuilder::new(Placement::Unbound)
        .name("early")
        .preempt_timer(PREEMPT_EVERY)
        .spawn(move || async move {
            let sender = sender.connect().await;
            sender.send(7).await.expect("the receiver is there");
            let _ = early_done.send(0);
        })
        .expect("executor starts");
    let late = LocalExecutorBuilder::new(Placement::Unbound)
        .name("late")
        .spawn(move || async move {
            glommio::timer::sleep(PEER_LATE).await;
            let receiver = receiver.connect().await;
            let _ = late_done.send(receiver.recv().await.unwrap_or(0));
        })
        .expect("executor starts");
    // Both sides report; the receiving one reports the message.
    let mut reports = Vec::new();
    while reports.len() < 2 {
        let left = ATTEMPT_DEADLINE.checked_sub(started.elapsed())?;
        reports.push(finished.recv_timeout(left).ok()?);
    }
    let took = started.elapsed();
    reports.sort_unstable();
    assert_eq!(reports, [0, 7], "the message arrives once");
    early.join().expect("the sender's executor ran");
    late.join().expect("the receiver's executor ran");
    Some(took)
}

#[test]
fn a_sender_connecting_to_a_late_receiver_under_a_short_preemption_timer_does_not_hang() {
    let mut slowest = Duration::ZERO;
    for attempt in 1..=ATTEMPTS {
        match connect_to_a_late_receiver() {
            Some(took) => slowest = slowest.max(took),
            None => panic!(
                "attempt {attempt} of {ATTEMPTS}: the sender's executor did not finish \
                 connecting within {ATTEMPT_DEADLINE:?} to a receiver {PEER_LATE:?} late \
                 (it parked with its connecting task still queued)"
            ),
        }
    }
    eprintln!("{ATTEMPTS} attempts, slowest {slowest:?}");
}
