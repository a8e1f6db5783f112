//! `DeploymentHandle`: how a replica calls another deployment of its application — Ray
//! Serve's model composition (pipelines, ensembles, routing between models).
//!
//! Invariant: a handle is only a name for a deployment (an id fixed when its `Application`
//! was made), so it is `Send + Sync` and can be captured by a replica factory; what a call
//! touches is resolved on the calling shard, at call time, through that shard's own state.
//! A call goes through the same admission (turns, queue, overload answer) as HTTP traffic, to
//! the local replica or, when this shard has none, to another shard's over the forwarding
//! links; dropping the call's future — because the outer request was cancelled — drops the
//! inner handler, on whichever shard it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which deployment a handle names: unique in the process, shared by an `Application`'s
/// clones (which are the same deployment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DeploymentId(u64);

impl DeploymentId {
    /// A new id. The one atomic here runs once per `Application::new`, never per request;
    /// `Relaxed` suffices: only uniqueness matters, not ordering with other memory.
    pub(crate) fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        DeploymentId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A handle to another deployment of the application, like Ray Serve's `DeploymentHandle`:
/// get one with [`Application::handle`](crate::Application::handle), bind the deployment to
/// the application that calls it with
/// [`Application::deployment`](crate::Application::deployment), and `call` it from a replica.
///
/// A call is answered by the deployment's replica on the calling core when there is one,
/// otherwise by one on another core (power of two choices, as for forwarded HTTP requests),
/// after waiting its turn under the deployment's `max_ongoing_requests` and
/// `max_queued_requests` like any request. Everything the deployment could answer an HTTP
/// client comes back as a [`Response`](crate::Response): its own answer (a stream included), `503`/`429` when it
/// is overloaded, `500` when it panicked. A call made outside a running server's replica (a
/// plain thread, [`Application::build_local`](crate::Application::build_local)), or to a
/// deployment that no application of the server binds, answers `503` naming the deployment.
///
/// Dropping the call's future cancels the call: the inner handler's future is dropped too,
/// on whichever core it runs. Since the outer request's future is dropped when its client
/// leaves or its request timeout passes, so are all the calls it made. Handle calls have no
/// timeout of their own: they run within the outer request's.
///
/// Extensions do not travel with the request (they may hold values that cannot cross cores),
/// on this core or another; headers, body, method and target do.
///
/// ```
/// use ringserve::{Application, Deployment, DeploymentHandle, Method, Request, Response};
///
/// struct Doubler;
/// impl Deployment for Doubler {
///     async fn call(&self, mut request: Request) -> Response {
///         let n: i64 = std::str::from_utf8(&request.body().await.unwrap_or_default())
///             .ok().and_then(|text| text.parse().ok()).unwrap_or(0);
///         Response::text((2 * n).to_string())
///     }
/// }
///
/// struct Front { doubler: DeploymentHandle }
/// impl Deployment for Front {
///     async fn call(&self, _request: Request) -> Response {
///         let inner = Request::builder(Method::POST, "/").body("21").unwrap();
///         self.doubler.call(inner).await
///     }
/// }
///
/// let doubler = Application::new(|| Doubler).name("doubler").num_replicas(1);
/// let handle = doubler.handle();
/// let app = Application::new(move || Front { doubler: handle.clone() })
///     .name("front")
///     .deployment(doubler);
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct DeploymentHandle {
    id: DeploymentId,
    name: Arc<str>,
}

impl DeploymentHandle {
    pub(crate) fn new(id: DeploymentId, name: &str) -> Self {
        DeploymentHandle {
            id,
            name: Arc::from(name),
        }
    }

    /// The name the deployment had when the handle was made.
    pub fn deployment_name(&self) -> &str {
        &self.name
    }

    /// The deployment this handle calls; `DeploymentHandle::call` is the shard's
    /// (`shard::compose`), which places the call.
    pub(crate) fn id(&self) -> DeploymentId {
        self.id
    }

    /// The deployment's name, shared for the messages of a failed call.
    pub(crate) fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }
}

impl std::fmt::Debug for DeploymentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentHandle")
            .field("deployment", &&*self.name)
            .finish()
    }
}
