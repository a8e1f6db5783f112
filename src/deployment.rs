//! The `Deployment` trait users implement, and its object-safe form the shard stores.
//!
//! Invariant: no `Send` bound anywhere: a replica and the futures it returns live and die on
//! the shard that built them.

use std::future::Future;
use std::pin::Pin;

use crate::pooled::{PooledFuture, pin_future};
use crate::{Request, Response};

/// A request handler, like Ray Serve's `@serve.deployment` class with its `__call__`.
///
/// ```
/// use ringserve::{Deployment, Request, Response};
///
/// struct Hello;
///
/// impl Deployment for Hello {
///     async fn call(&self, _request: Request) -> Response {
///         Response::text("hello")
///     }
/// }
/// ```
pub trait Deployment: 'static {
    /// Answers one request. The future may borrow `self` and need not be `Send`.
    fn call(&self, request: Request) -> impl Future<Output = Response>;

    /// Ray Serve's `check_health`: called every `health_check_period` on each replica; an
    /// `Err` (or a panic, or no answer within `health_check_timeout`) marks the replica
    /// unhealthy, and `/-/healthz` answers `503` while an application has no healthy replica.
    /// The default is always healthy.
    fn check_health(&self) -> impl Future<Output = Result<(), String>> {
        std::future::ready(Ok(()))
    }

    /// [`Deployment::call`] with its future boxed, as the shard stores it — in a block the
    /// shard's thread keeps for the next request (`pooled`), so a request allocates nothing.
    /// Deployments whose future is already boxed (the ingress's routes) return it as it is.
    #[doc(hidden)]
    fn call_boxed(&self, request: Request) -> PooledFuture<'_, Response>
    where
        Self: Sized,
    {
        pin_future(self.call(request))
    }
}

/// The future a replica returns, boxed so that applications of different types can share a
/// route table; pooled, so boxing it allocates nothing per request
/// (`shard::allocation_tests` counts it).
pub(crate) type ReplicaFuture<'a> = PooledFuture<'a, Response>;

/// A health check's future, boxed like a call's.
pub(crate) type HealthFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// A deployment with its type erased.
pub(crate) trait Replica {
    fn call_boxed(&self, request: Request) -> ReplicaFuture<'_>;

    fn check_health_boxed(&self) -> HealthFuture<'_>;
}

impl<D: Deployment> Replica for D {
    fn call_boxed(&self, request: Request) -> ReplicaFuture<'_> {
        Deployment::call_boxed(self, request)
    }

    fn check_health_boxed(&self) -> HealthFuture<'_> {
        Box::pin(self.check_health())
    }
}
