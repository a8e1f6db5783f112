//! Admission: how many requests a replica serves at once (`max_ongoing_requests`), how many
//! may wait for a turn (`max_queued_requests`) and for how long (`max_queue_wait`), and the
//! answer past them — Ray Serve's backpressure.
//!
//! Invariant: a request either holds one of the replica's permits while its handler runs (and,
//! for a streamed response, until the stream ends), waits its turn in FIFO order in a queue
//! that never exceeds its bound and for no longer than `max_queue_wait`, or is refused with
//! the configured overload answer (past the queue's bound) or `503` (past the wait) — never
//! queued without bound, in length or in time. A freed turn goes to the oldest waiter, never
//! to a newcomer. Everything here is per shard: `Cell`s and a queue, no locks, no atomics. A
//! waiting request leaves the queue when its future is dropped — by its queue wait, its
//! request timeout, or the shutdown drain; the engine does not watch the socket while a
//! request waits, so a client that leaves keeps its place until one of those comes.
//!
//! Admission is the engine's, around every layer: like a 408, the overload answer passes
//! through no middleware (no CORS headers, no access-log event — as Ray Serve's proxy answers
//! backpressure outside the replica's FastAPI middleware), and a middleware runs only once
//! its request has a turn.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{HeaderValue, StatusCode, header};

use crate::Response;
use crate::limits::MAX_QUEUE_WAIT_DEFAULT;

/// Ray Serve's default `max_ongoing_requests`.
pub const DEFAULT_MAX_ONGOING_REQUESTS: usize = 100;

/// What a refused request is answered with when the replica and its queue are full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overload {
    /// `503 Service Unavailable` (Ray Serve's answer).
    ServiceUnavailable,
    /// `429 Too Many Requests` with `Retry-After` (whole seconds, at least 1).
    TooManyRequests {
        /// When the client may try again.
        retry_after: Duration,
    },
}

/// An application's admission settings, as `Application` holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AdmissionConfig {
    pub(crate) max_ongoing_requests: usize,
    /// `None`: unbounded, Ray Serve's default.
    pub(crate) max_queued_requests: Option<usize>,
    /// Longest wait for a turn; past it, `503`.
    pub(crate) max_queue_wait: Duration,
    pub(crate) overload: Overload,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            max_ongoing_requests: DEFAULT_MAX_ONGOING_REQUESTS,
            max_queued_requests: None,
            max_queue_wait: MAX_QUEUE_WAIT_DEFAULT,
            overload: Overload::ServiceUnavailable,
        }
    }
}

/// One replica's admission state on its shard.
pub(crate) struct Admission {
    turns: Rc<Turns>,
    config: AdmissionConfig,
    /// The overload answer's body, rendered once (and made `'static`, so each refusal copies
    /// a reference: refusals are the hot path under overload).
    overloaded_body: &'static str,
    /// The answer's body for a request that waited `max_queue_wait` in vain, likewise.
    waited_too_long_body: &'static str,
}

/// The replica's turns and the requests waiting for one, in arrival order.
///
/// A released turn is handed straight to the oldest waiter (it never becomes free while
/// anyone waits), so a newcomer cannot overtake the queue, and a waiter that gives up after
/// being handed a turn passes it on at once.
struct Turns {
    capacity: usize,
    free: Cell<usize>,
    waiting: RefCell<VecDeque<Rc<Slot>>>,
    /// Told the replica's load (turns held plus requests waiting) whenever it changes, when
    /// other shards forward to this replica and choose by it.
    publish: std::cell::OnceCell<Box<dyn Fn(usize)>>,
}

/// One waiting request's place in the queue.
#[derive(Default)]
struct Slot {
    granted: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Turns {
    /// Turns held plus requests waiting.
    fn load(&self) -> usize {
        self.capacity - self.free.get() + self.waiting.borrow().len()
    }

    fn publish(&self) {
        if let Some(publish) = self.publish.get() {
            publish(self.load());
        }
    }

    /// Gives a turn back: to the oldest waiter if there is one, else to the free count.
    fn release(&self) {
        let next = self.waiting.borrow_mut().pop_front();
        match next {
            Some(slot) => {
                slot.granted.set(true);
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            }
            None => self.free.set(self.free.get() + 1),
        }
        self.publish();
    }
}

/// Holds a turn on the replica; dropping it gives the turn to the next in the queue.
pub(crate) struct Turn {
    turns: Rc<Turns>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.turns.release();
    }
}

/// A request waiting in the queue. Dropped before its turn comes, it leaves the queue; dropped
/// after a turn was handed to it but before it took it, it passes the turn on.
struct Waiting {
    turns: Rc<Turns>,
    slot: Rc<Slot>,
    taken: bool,
}

impl Future for Waiting {
    type Output = Turn;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Turn> {
        if self.slot.granted.get() {
            self.taken = true;
            return Poll::Ready(Turn {
                turns: self.turns.clone(),
            });
        }
        self.slot.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        if self.slot.granted.get() {
            self.turns.release();
        } else {
            self.turns
                .waiting
                .borrow_mut()
                .retain(|slot| !Rc::ptr_eq(slot, &self.slot));
            self.turns.publish();
        }
    }
}

impl Admission {
    /// Admission for the replica of `app_name`, which the overload answer calls by `kind`
    /// ("Application", or "Deployment" for one reached only through handles).
    pub(crate) fn new(config: AdmissionConfig, kind: &str, app_name: &str) -> Self {
        let queued = match config.max_queued_requests {
            Some(max) => max.to_string(),
            None => "unbounded".to_owned(),
        };
        let body = format!(
            "{kind} {app_name:?} is overloaded: {} requests in progress \
             (max_ongoing_requests) and {queued} queued (max_queued_requests). Try again later.",
            config.max_ongoing_requests
        );
        let waited_too_long = format!(
            "{kind} {app_name:?} is overloaded: no turn came within {}s (max_queue_wait) \
             with {} requests in progress (max_ongoing_requests). Try again later.",
            config.max_queue_wait.as_secs_f64(),
            config.max_ongoing_requests
        );
        Admission {
            turns: Rc::new(Turns {
                capacity: config.max_ongoing_requests,
                publish: std::cell::OnceCell::new(),
                free: Cell::new(config.max_ongoing_requests),
                waiting: RefCell::new(VecDeque::new()),
            }),
            config,
            overloaded_body: Box::leak(body.into_boxed_str()),
            waited_too_long_body: Box::leak(waited_too_long.into_boxed_str()),
        }
    }

    /// A turn on the replica: at once if one is free (then nobody waits), after every request
    /// queued before this one otherwise; `Err` with the overload answer when the queue is full
    /// too, or with `503` when no turn came within `max_queue_wait`.
    pub(crate) async fn admit(&self) -> Result<Turn, Response> {
        let free = self.turns.free.get();
        if free > 0 {
            self.turns.free.set(free - 1);
            self.turns.publish();
            return Ok(Turn {
                turns: self.turns.clone(),
            });
        }
        let queued = self.turns.waiting.borrow().len();
        if self
            .config
            .max_queued_requests
            .is_some_and(|max| queued >= max)
        {
            return Err(self.overloaded());
        }
        let slot = Rc::new(Slot::default());
        self.turns.waiting.borrow_mut().push_back(slot.clone());
        self.turns.publish();
        let waiting = Waiting {
            turns: self.turns.clone(),
            slot,
            taken: false,
        };
        // Dropped at the deadline, the waiter leaves the queue (or passes on a turn it was
        // handed in the same instant).
        crate::rt::timeout(self.config.max_queue_wait, waiting)
            .await
            .map_err(|_| self.waited_too_long())
    }

    /// Whether every turn is taken: a newcomer would have to queue.
    pub(crate) fn is_saturated(&self) -> bool {
        self.turns.free.get() == 0
    }

    /// Turns held plus requests waiting: the load other shards see published.
    pub(crate) fn load(&self) -> usize {
        self.turns.load()
    }

    /// Reports the replica's load through `publish` from now on.
    pub(crate) fn publish_load_with(&self, publish: impl Fn(usize) + 'static) {
        let _ = self.turns.publish.set(Box::new(publish));
    }

    /// Requests waiting for a turn now.
    pub(crate) fn queued(&self) -> usize {
        self.turns.waiting.borrow().len()
    }

    /// Turns held now: requests being processed.
    pub(crate) fn processing(&self) -> usize {
        self.turns.capacity - self.turns.free.get()
    }

    fn waited_too_long(&self) -> Response {
        Response::text(self.waited_too_long_body).with_status(StatusCode::SERVICE_UNAVAILABLE)
    }

    fn overloaded(&self) -> Response {
        let response = Response::text(self.overloaded_body);
        match self.config.overload {
            Overload::ServiceUnavailable => response.with_status(StatusCode::SERVICE_UNAVAILABLE),
            Overload::TooManyRequests { retry_after } => {
                // Whole seconds, rounded up: a client must not come back before it was told.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response
                    .with_status(StatusCode::TOO_MANY_REQUESTS)
                    .with_header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::FutureExt;

    fn admission(max_ongoing: usize, max_queued: Option<usize>, overload: Overload) -> Admission {
        Admission::new(
            AdmissionConfig {
                max_ongoing_requests: max_ongoing,
                max_queued_requests: max_queued,
                max_queue_wait: MAX_QUEUE_WAIT_DEFAULT,
                overload,
            },
            "Application",
            "model",
        )
    }

    #[test]
    fn turns_then_a_bounded_queue_then_refusals() {
        crate::rt::block_on(async {
            let admission = admission(2, Some(1), Overload::ServiceUnavailable);
            let first = admission.admit().await.expect("a free turn");
            let _second = admission.admit().await.expect("a free turn");
            let mut waiting = Box::pin(admission.admit());
            assert!(
                futures_lite::future::poll_once(&mut waiting)
                    .await
                    .is_none()
            );
            assert_eq!(admission.queued(), 1);
            let refused = admission.admit().await.err().expect("queue full");
            assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                String::from_utf8_lossy(refused.body_bytes().unwrap())
                    .starts_with("Application \"model\" is overloaded: 2 requests")
            );
            drop(first);
            let third = waiting
                .await
                .expect("the queued request gets the freed turn");
            assert_eq!(admission.queued(), 0);
            drop(third);
        });
    }

    #[test]
    fn a_request_that_leaves_the_queue_frees_its_place() {
        crate::rt::block_on(async {
            let admission = admission(1, Some(1), Overload::ServiceUnavailable);
            let held = admission.admit().await.expect("a free turn");
            {
                let mut waiting = Box::pin(admission.admit());
                assert!(
                    futures_lite::future::poll_once(&mut waiting)
                        .await
                        .is_none()
                );
                assert_eq!(admission.queued(), 1);
            }
            assert_eq!(admission.queued(), 0);
            let mut again = Box::pin(admission.admit());
            assert!(futures_lite::future::poll_once(&mut again).await.is_none());
            drop(held);
            assert!(
                again
                    .or(async { panic!("the turn is handed over") })
                    .await
                    .is_ok()
            );
        });
    }

    #[test]
    fn a_freed_turn_goes_to_the_oldest_waiter_not_a_newcomer() {
        crate::rt::block_on(async {
            let admission = admission(1, None, Overload::ServiceUnavailable);
            let held = admission.admit().await.expect("a free turn");
            let mut first = Box::pin(admission.admit());
            let mut second = Box::pin(admission.admit());
            assert!(futures_lite::future::poll_once(&mut first).await.is_none());
            assert!(futures_lite::future::poll_once(&mut second).await.is_none());
            drop(held);
            // A newcomer arriving before the woken waiter runs again must wait behind it.
            let mut newcomer = Box::pin(admission.admit());
            assert!(
                futures_lite::future::poll_once(&mut newcomer)
                    .await
                    .is_none()
            );
            let first_turn = first.await.expect("the oldest waiter's turn");
            assert!(futures_lite::future::poll_once(&mut second).await.is_none());
            drop(first_turn);
            let second_turn = second.await.expect("then the next");
            drop(second_turn);
            assert!(newcomer.await.is_ok());
        });
    }

    #[test]
    fn a_waiter_dropped_after_being_handed_a_turn_passes_it_on() {
        crate::rt::block_on(async {
            let admission = admission(1, None, Overload::ServiceUnavailable);
            let held = admission.admit().await.expect("a free turn");
            let mut woken = Box::pin(admission.admit());
            let mut next = Box::pin(admission.admit());
            assert!(futures_lite::future::poll_once(&mut woken).await.is_none());
            assert!(futures_lite::future::poll_once(&mut next).await.is_none());
            drop(held);
            // Handed the turn, then dropped before it was polled again.
            drop(woken);
            assert!(futures_lite::future::poll_once(&mut next).await.is_some());
        });
    }

    #[test]
    fn a_request_waits_no_longer_than_max_queue_wait() {
        crate::rt::block_on(async {
            let admission = Admission::new(
                AdmissionConfig {
                    max_ongoing_requests: 1,
                    max_queue_wait: Duration::from_millis(20),
                    ..AdmissionConfig::default()
                },
                "Application",
                "model",
            );
            let held = admission.admit().await.expect("a free turn");
            let refused = admission
                .admit()
                .await
                .err()
                .expect("no turn within the wait");
            assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                String::from_utf8_lossy(refused.body_bytes().unwrap()),
                "Application \"model\" is overloaded: no turn came within 0.02s \
                 (max_queue_wait) with 1 requests in progress (max_ongoing_requests). \
                 Try again later."
            );
            assert_eq!(admission.queued(), 0, "the waiter left the queue");
            drop(held);
            assert!(admission.admit().await.is_ok(), "the turn was not lost");
        });
    }

    #[test]
    fn too_many_requests_says_when_to_retry() {
        crate::rt::block_on(async {
            let admission = admission(
                1,
                Some(0),
                Overload::TooManyRequests {
                    retry_after: Duration::from_millis(1500),
                },
            );
            let _held = admission.admit().await.expect("a free turn");
            let refused = admission.admit().await.err().expect("no queue");
            assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
            // 1.5 s rounds up: the client must not come back early.
            assert_eq!(refused.header(&header::RETRY_AFTER).unwrap(), "2");
        });
    }
}
