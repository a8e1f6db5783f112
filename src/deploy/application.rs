//! `Application`: a deployment's factory bound to a name and a route prefix.
//!
//! Invariant: the factory is `Send + Sync` and called once per shard, on that shard's core;
//! the name and prefix are checked by `Serve` before anything starts.

use std::rc::Rc;
use std::sync::Arc;

use super::{Deployment, Replica};

/// Ray Serve's name for an application that was not given one.
pub const DEFAULT_APP_NAME: &str = "default";

/// Builds one replica on the calling shard, or says why it could not.
type ReplicaFactory = dyn Fn() -> Result<Rc<dyn Replica>, String> + Send + Sync;

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
            factory: Arc::new(move || Ok(Rc::new(factory()) as Rc<dyn Replica>)),
        }
    }

    /// An application whose replicas are built by a factory that may fail — a router whose
    /// routes conflict, a model that will not load. A failure on any shard stops the server
    /// from starting: `Serve::start` returns an `Err` naming the application and the reason,
    /// before any request is served.
    ///
    /// ```
    /// use ringserve::Application;
    /// use ringserve::ingress::Router;
    ///
    /// async fn hello() -> &'static str {
    ///     "hello"
    /// }
    ///
    /// let app = Application::try_new(|| Router::new().get("/", hello).build());
    /// # let _ = app;
    /// ```
    pub fn try_new<D, E, F>(factory: F) -> Self
    where
        D: Deployment,
        E: std::fmt::Display,
        F: Fn() -> Result<D, E> + Send + Sync + 'static,
    {
        Application {
            name: DEFAULT_APP_NAME.to_owned(),
            route_prefix: "/".to_owned(),
            factory: Arc::new(move || {
                factory()
                    .map(|replica| Rc::new(replica) as Rc<dyn Replica>)
                    .map_err(|error| error.to_string())
            }),
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

    pub(crate) fn build_replica(&self) -> Result<Rc<dyn Replica>, String> {
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
