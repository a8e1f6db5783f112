//! `Application`: a deployment's factory bound to a name and a route prefix.
//!
//! Invariant: the factory is `Send + Sync` and called once per shard, on that shard's core;
//! the name and prefix are checked by `Serve` before anything starts.

use std::rc::Rc;
use std::sync::Arc;

use super::{Deployment, Replica};

/// Ray Serve's name for an application that was not given one.
pub const DEFAULT_APP_NAME: &str = "default";

type ReplicaFactory = dyn Fn() -> Rc<dyn Replica> + Send + Sync;

/// A deployment bound to a route prefix, like Ray Serve's `App.bind()` passed to `serve.run`.
///
/// ```
/// use ringserve::{Application, Deployment, Request, Response};
///
/// struct Greeter { greeting: String }
///
/// impl Deployment for Greeter {
///     async fn call(&self, _request: Request) -> Response {
///         Response::text(self.greeting.clone())
///     }
/// }
///
/// let app = Application::new(|| Greeter { greeting: "hi".to_owned() })
///     .name("greeter")
///     .route_prefix("/api/v1");
/// assert_eq!(app.app_name(), "greeter");
/// ```
#[derive(Clone)]
pub struct Application {
    name: String,
    route_prefix: String,
    factory: Arc<ReplicaFactory>,
}

impl Application {
    /// An application named `default` at route prefix `/`, whose replicas `factory` builds,
    /// one per shard.
    pub fn new<D, F>(factory: F) -> Self
    where
        D: Deployment,
        F: Fn() -> D + Send + Sync + 'static,
    {
        Application {
            name: DEFAULT_APP_NAME.to_owned(),
            route_prefix: "/".to_owned(),
            factory: Arc::new(move || Rc::new(factory()) as Rc<dyn Replica>),
        }
    }

    /// Names the application (shown by `/-/routes`, readable by handlers).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Serves the application under this path prefix instead of `/`.
    pub fn route_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.route_prefix = prefix.into();
        self
    }

    /// The application's name.
    pub fn app_name(&self) -> &str {
        &self.name
    }

    /// The application's route prefix.
    pub fn prefix(&self) -> &str {
        &self.route_prefix
    }

    pub(crate) fn build_replica(&self) -> Rc<dyn Replica> {
        (self.factory)()
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("name", &self.name)
            .field("route_prefix", &self.route_prefix)
            .finish_non_exhaustive()
    }
}
