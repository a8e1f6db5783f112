//! Admission: how many requests a replica serves at once (`max_ongoing_requests`), how many
//! may wait for a turn (`max_queued_requests`), and the answer past both — Ray Serve's
//! backpressure.
//!
//! Invariant: a request either holds one of the replica's permits while its handler runs (and,
//! for a streamed response, until the stream ends), waits its turn in FIFO order in a queue
//! that never exceeds its bound, or is refused at once with the configured overload answer —
//! never queued without bound. Everything here is per shard: a `Cell` and glommio's local
//! semaphore, no locks, no atomics. A request waiting its turn is dropped like any other when
//! its client leaves or its timeout passes, and leaves the queue then.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use glommio::sync::{Semaphore, StaticPermit};
use http::{HeaderValue, StatusCode, header};

use crate::Response;

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
    pub(crate) overload: Overload,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            max_ongoing_requests: DEFAULT_MAX_ONGOING_REQUESTS,
            max_queued_requests: None,
            overload: Overload::ServiceUnavailable,
        }
    }
}

/// One replica's admission state on its shard.
pub(crate) struct Admission {
    permits: Rc<Semaphore>,
    queued: Rc<Cell<usize>>,
    config: AdmissionConfig,
    app_name: Rc<str>,
}

/// Holds a turn on the replica; dropping it gives the turn to the next in the queue.
pub(crate) struct Turn {
    _permit: StaticPermit,
}

/// Counts a request in the queue while it waits.
struct Queued(Rc<Cell<usize>>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl Admission {
    pub(crate) fn new(config: AdmissionConfig, app_name: Rc<str>) -> Self {
        Admission {
            permits: Rc::new(Semaphore::new(config.max_ongoing_requests as u64)),
            queued: Rc::new(Cell::new(0)),
            config,
            app_name,
        }
    }

    /// A turn on the replica: at once if one is free and nobody waits, after the requests
    /// queued before this one otherwise; `Err` with the overload answer when the queue is
    /// full too.
    pub(crate) async fn admit(&self) -> Result<Turn, Response> {
        if let Ok(permit) = self.permits.try_acquire_static_permit(1) {
            return Ok(Turn { _permit: permit });
        }
        if self
            .config
            .max_queued_requests
            .is_some_and(|max| self.queued.get() >= max)
        {
            return Err(self.overloaded());
        }
        self.queued.set(self.queued.get() + 1);
        let _queued = Queued(self.queued.clone());
        match self.permits.acquire_static_permit(1).await {
            Ok(permit) => Ok(Turn { _permit: permit }),
            // The semaphore is never closed while the shard runs.
            Err(_) => Err(self.overloaded()),
        }
    }

    /// Requests waiting for a turn now.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queued.get()
    }

    fn overloaded(&self) -> Response {
        let queued = match self.config.max_queued_requests {
            Some(max) => max.to_string(),
            None => "unbounded".to_owned(),
        };
        let body = format!(
            "Application {:?} is overloaded: {} requests in progress (max_ongoing_requests) and \
             {} queued (max_queued_requests). Try again later.",
            &*self.app_name, self.config.max_ongoing_requests, queued
        );
        match self.config.overload {
            Overload::ServiceUnavailable => {
                Response::text(body).with_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            Overload::TooManyRequests { retry_after } => Response::text(body)
                .with_status(StatusCode::TOO_MANY_REQUESTS)
                .header(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs().max(1)),
                ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::FutureExt;
    use glommio::LocalExecutorBuilder;

    fn admission(max_ongoing: usize, max_queued: Option<usize>, overload: Overload) -> Admission {
        Admission::new(
            AdmissionConfig {
                max_ongoing_requests: max_ongoing,
                max_queued_requests: max_queued,
                overload,
            },
            Rc::from("model"),
        )
    }

    fn run<T: Send + 'static>(future: impl FnOnce() -> T + Send + 'static) -> T {
        LocalExecutorBuilder::default()
            .spawn(move || async move { future() })
            .expect("executor starts")
            .join()
            .expect("executor finishes")
    }

    #[test]
    fn turns_then_a_bounded_queue_then_refusals() {
        run(|| {
            futures_lite::future::block_on(async {
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
            })
        });
    }

    #[test]
    fn a_request_that_leaves_the_queue_frees_its_place() {
        run(|| {
            futures_lite::future::block_on(async {
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
            })
        });
    }

    #[test]
    fn too_many_requests_says_when_to_retry() {
        run(|| {
            futures_lite::future::block_on(async {
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
                assert_eq!(refused.header_value(&header::RETRY_AFTER).unwrap(), "1");
            })
        });
    }
}
