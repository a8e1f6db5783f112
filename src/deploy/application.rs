//! `Application`: a deployment's factory bound to a name and a route prefix.
//!
//! Invariant: the factory is `Send + Sync` and called once per shard, on that shard's core;
//! the name and prefix are checked by `Serve` before anything starts.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::admission::{AdmissionConfig, Overload};
use super::health::HealthConfig;
use crate::middleware::{Layers, Middleware};

use super::handle::{DeploymentHandle, DeploymentId};
use crate::deployment::{Deployment, Replica};

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
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct Application {
    name: String,
    route_prefix: String,
    factory: Arc<ReplicaFactory>,
    layers: Layers,
    request_timeout: Option<Duration>,
    /// Read a request's body whole before it asks for a turn.
    buffer_request_body: bool,
    admission: AdmissionConfig,
    health: HealthConfig,
    num_replicas: Option<usize>,
    replica_cores: Option<Vec<usize>>,
    /// Which deployment this is, for handles (clones are the same deployment).
    id: DeploymentId,
    /// The deployments its replicas call through handles (Ray Serve's `.bind(other.bind())`).
    deployments: Vec<Application>,
}

impl Application {
    /// An application named `default` at route prefix `/`, whose replicas `factory` builds,
    /// one per shard.
    pub fn new<D, F>(factory: F) -> Self
    where
        D: Deployment,
        F: Fn() -> D + Send + Sync + 'static,
    {
        Application::try_new(move || Ok::<D, std::convert::Infallible>(factory()))
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
            name: crate::options::DEFAULT_APP_NAME.to_owned(),
            route_prefix: "/".to_owned(),
            layers: Layers::default(),
            request_timeout: None,
            buffer_request_body: true,
            admission: AdmissionConfig::default(),
            health: HealthConfig::default(),
            num_replicas: None,
            replica_cores: None,
            id: DeploymentId::fresh(),
            deployments: Vec::new(),
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

    /// Wraps the application in `middleware`: the first layer added is the outermost. Each
    /// shard gets its own clone.
    ///
    /// ```
    /// use ringserve::Application;
    /// use ringserve::middleware::Cors;
    /// # use ringserve::{Deployment, Request, Response};
    /// # struct Api;
    /// # impl Deployment for Api {
    /// #     async fn call(&self, _request: Request) -> Response { Response::text("hi") }
    /// # }
    ///
    /// let cors = Cors::builder().allow_any_origin().build().expect("valid CORS rules");
    /// let app = Application::new(|| Api).layer(cors);
    /// # let _ = app;
    /// ```
    pub fn layer<M>(self, middleware: M) -> Self
    where
        M: Middleware + Clone + Send + Sync,
    {
        self.layer_with(move || middleware.clone())
    }

    /// Wraps the application in a middleware that `factory` builds on each shard — for
    /// middleware holding `Rc`/`RefCell` state, which cannot be cloned across threads.
    pub fn layer_with<M, F>(mut self, factory: F) -> Self
    where
        M: Middleware,
        F: Fn() -> M + Send + Sync + 'static,
    {
        self.layers.push(factory);
        self
    }

    /// This application's request timeout, instead of `HttpOptions::request_timeout` (longer
    /// or shorter); past it the client gets `408` as for the server's own.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Whether a request's body is read whole before the request waits for a replica's turn
    /// (default `true`), as nginx buffers a body before it proxies it
    /// (`proxy_request_buffering on`): a client that uploads slowly then holds a connection
    /// and up to [`Limits::body_bytes_max`](crate::Limits::body_bytes_max) of memory, but
    /// never one of the replica's `max_ongoing_requests` turns, so slow uploads cannot lock
    /// an application out. The handler then finds the body whole
    /// ([`Request::body`](crate::Request::body) returns at once).
    ///
    /// `false` streams the body to the handler as it reads it
    /// ([`Request::body_stream`](crate::Request::body_stream)), chunk by chunk and without
    /// holding it in memory — for uploads larger than memory should hold, or a handler that
    /// refuses a request before its upload is sent (`Expect: 100-continue`). Its request holds
    /// a turn while the body arrives, bounded by
    /// [`Limits::body_min_bytes_per_second`](crate::Limits::body_min_bytes_per_second).
    ///
    /// What a shard reads ahead is bounded in all by
    /// [`Limits::body_read_ahead_bytes_per_shard_max`](crate::Limits::body_read_ahead_bytes_per_shard_max):
    /// past it, a request's body streams as with `false`. A call through a
    /// [`DeploymentHandle`](crate::DeploymentHandle) hands the deployment its request as the
    /// caller made it: its body is not read ahead.
    pub fn buffer_request_body(mut self, buffer: bool) -> Self {
        self.buffer_request_body = buffer;
        self
    }

    /// How many requests a replica serves at once (Ray Serve's `max_ongoing_requests`,
    /// default 100); more wait their turn in order. A streamed response holds its turn until
    /// the stream ends. Must be at least 1.
    pub fn max_ongoing_requests(mut self, max: usize) -> Self {
        self.admission.max_ongoing_requests = max;
        self
    }

    /// How many requests may wait for a turn on a replica (Ray Serve's `max_queued_requests`;
    /// default unbounded); past it they are refused at once with the overload answer. `0`
    /// refuses whatever finds every turn taken.
    pub fn max_queued_requests(mut self, max: usize) -> Self {
        self.admission.max_queued_requests = Some(max);
        self
    }

    /// How long a request may wait for a turn on a replica (default 60 s,
    /// [`MAX_QUEUE_WAIT_DEFAULT`](crate::limits::MAX_QUEUE_WAIT_DEFAULT)); past it the
    /// request leaves the queue and is answered `503`, whether or not a request timeout is set.
    /// Ray Serve bounds the wait only by the request timeout; here a queue that does not move
    /// (a stuck replica, say) ends in an answer even with none. Must be longer than zero.
    pub fn max_queue_wait(mut self, wait: Duration) -> Self {
        self.admission.max_queue_wait = wait;
        self
    }

    /// What an overloaded replica answers: `503` (default) or `429` with `Retry-After`.
    pub fn overload_response(mut self, overload: Overload) -> Self {
        self.admission.overload = overload;
        self
    }

    /// How often each replica's [`Deployment::check_health`] runs (default 10 s, as Ray
    /// Serve's `health_check_period_s`). Must be longer than zero.
    pub fn health_check_period(mut self, period: Duration) -> Self {
        self.health.period = period;
        self
    }

    /// How long a health check may take before it counts as failed (default 30 s, as Ray
    /// Serve's `health_check_timeout_s`). Must be longer than zero.
    pub fn health_check_timeout(mut self, timeout: Duration) -> Self {
        self.health.timeout = timeout;
        self
    }

    /// How many replicas to build (Ray Serve's `num_replicas`): on `n` consecutive shards,
    /// one each, starting at the application's position among the server's (the first
    /// application's on shard 0, the second's on shard 1, …, then the deployments they bind);
    /// requests accepted on the other shards are forwarded to them over lock-free channels,
    /// and the response comes back the same way. A host whose own replica has no free turn
    /// sends a request to another host's less loaded replica instead of queuing it
    /// (spill-over). Default: one per shard, each shard serving its own connections. Use `1`
    /// for a deployment too expensive to build on every core. Must be between 1 and the
    /// number of shards.
    pub fn num_replicas(mut self, n: usize) -> Self {
        self.num_replicas = Some(n);
        self
    }

    /// Places the replicas on these CPU cores (each one of the server's), one replica each:
    /// for a deployment that must sit where its memory or device is. Overrides the spread
    /// that `num_replicas` gets by default; with both set, they must agree.
    pub fn replica_cores(mut self, cores: impl IntoIterator<Item = usize>) -> Self {
        self.replica_cores = Some(cores.into_iter().collect());
        self
    }

    /// A handle to call this deployment from the replicas of another: capture it in that
    /// application's factory, and bind this one to it with [`Application::deployment`]. See
    /// [`DeploymentHandle`] for how calls are routed, admitted and cancelled.
    pub fn handle(&self) -> DeploymentHandle {
        DeploymentHandle::new(self.id, &self.name)
    }

    /// Binds `deployment` to this application, so that its replicas can call it through
    /// handles (Ray Serve's `Ingress.bind(Model.bind())`): the server builds its replicas —
    /// with its own `num_replicas`, cores, caps and health checks — when it builds this
    /// application's. A deployment bound this way is not reachable over HTTP (its route
    /// prefix is not used) unless it is also given to [`Serve::app`](crate::Serve::app); it
    /// may bind deployments of its own (a pipeline A → B → C), and one bound to several
    /// applications is one deployment. Its name must be unique in the server.
    pub fn deployment(mut self, deployment: Application) -> Self {
        self.deployments.push(deployment);
        self
    }

    pub(crate) fn id(&self) -> DeploymentId {
        self.id
    }

    /// The deployments bound with [`Application::deployment`].
    pub(crate) fn bound_deployments(&self) -> &[Application] {
        &self.deployments
    }

    /// This deployment and every one it binds, at any depth, with `settings` applied to those
    /// named `name` (a config file's `deployments[]` entry); `found` says whether any was.
    pub(crate) fn map_named(
        mut self,
        name: &str,
        settings: &dyn Fn(Application) -> Application,
        found: &mut bool,
    ) -> Self {
        self.deployments = std::mem::take(&mut self.deployments)
            .into_iter()
            .map(|deployment| deployment.map_named(name, settings, found))
            .collect();
        if self.name == name {
            *found = true;
            self = settings(self);
        }
        self
    }

    /// The names of this deployment and of every one it binds, at any depth, each once.
    pub(crate) fn deployment_names(&self) -> Vec<String> {
        let mut names = vec![self.name.clone()];
        for deployment in &self.deployments {
            for name in deployment.deployment_names() {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// How many shards host a replica, out of `shards`.
    pub(crate) fn replica_count(&self, shards: usize) -> usize {
        match &self.replica_cores {
            Some(cores) => cores.len().min(shards),
            None => self.num_replicas.unwrap_or(shards).min(shards),
        }
    }

    /// The shards that host a replica of the application at `index` among the server's,
    /// whose shards run on `cores`: the shards of `replica_cores`, or else consecutive shards
    /// starting at `index`, so that single-replica applications spread over the cores
    /// instead of all landing on the first. (`Serve` has checked the cores.)
    pub(crate) fn hosts(&self, index: usize, cores: &[usize]) -> Vec<usize> {
        let shards = cores.len();
        match &self.replica_cores {
            Some(wanted) => wanted
                .iter()
                .filter_map(|core| cores.iter().position(|shard_core| shard_core == core))
                .collect(),
            None => (0..self.replica_count(shards))
                .map(|offset| (index + offset) % shards.max(1))
                .collect(),
        }
    }

    pub(crate) fn replica_cores_asked(&self) -> Option<&[usize]> {
        self.replica_cores.as_deref()
    }

    pub(crate) fn replicas_asked(&self) -> Option<usize> {
        self.num_replicas
    }

    pub(crate) fn health(&self) -> HealthConfig {
        self.health
    }

    pub(crate) fn admission(&self) -> AdmissionConfig {
        self.admission
    }

    /// Whether its requests' bodies are read whole before admission
    /// ([`Application::buffer_request_body`]).
    pub(crate) fn buffers_request_body(&self) -> bool {
        self.buffer_request_body
    }

    /// The timeout set by [`Application::request_timeout`], if any.
    pub(crate) fn configured_request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// The application's name.
    pub(crate) fn configured_name(&self) -> &str {
        &self.name
    }

    /// The application's route prefix.
    pub(crate) fn configured_route_prefix(&self) -> &str {
        &self.route_prefix
    }

    /// Builds one replica of this application, inside its layers, on the calling thread: to
    /// unit-test or benchmark a deployment, a router or a middleware stack without a socket
    /// (server-wide layers from `Serve::layer` are not included).
    ///
    /// ```
    /// use ringserve::{Application, Deployment, Request, Response};
    ///
    /// struct Hello;
    ///
    /// impl Deployment for Hello {
    ///     async fn call(&self, _request: Request) -> Response {
    ///         Response::text("hello")
    ///     }
    /// }
    ///
    /// let replica = Application::new(|| Hello).build_local().unwrap();
    /// let request = Request::from_http1(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]).unwrap();
    /// let response = ringserve::rt::block_on(replica.call(request));
    /// assert_eq!(response.body_bytes().unwrap(), "hello");
    /// ```
    pub fn build_local(&self) -> Result<LocalReplica, String> {
        self.build_replica().map(|replica| LocalReplica { replica })
    }

    /// Builds this shard's replica, inside the application's layers.
    pub(crate) fn build_replica(&self) -> Result<Rc<dyn Replica>, String> {
        (self.factory)().map(|replica| self.layers.wrap(replica))
    }
}

/// A replica built on the calling thread by [`Application::build_local`].
pub struct LocalReplica {
    replica: Rc<dyn Replica>,
}

impl LocalReplica {
    /// Answers one request, through the application's layers.
    pub fn call(
        &self,
        request: crate::Request,
    ) -> impl std::future::Future<Output = crate::Response> + '_ {
        self.replica.call_boxed(request)
    }
}

impl std::fmt::Debug for LocalReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalReplica")
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("name", &self.name)
            .field("route_prefix", &self.route_prefix)
            .field("layers", &self.layers)
            .field("request_timeout", &self.request_timeout)
            .field("admission", &self.admission)
            .field("deployments", &self.deployments)
            .finish_non_exhaustive()
    }
}
