//! Middleware: code that runs around a replica's handler — for one application
//! ([`Application::layer`](crate::Application::layer)) or for every application of a server
//! ([`Serve::layer`](crate::Serve::layer)).
//!
//! Invariant: layers are stacked once, when a shard builds its replicas, never per request;
//! the first layer added is the outermost (it sees the request first and the response last),
//! and a server's layers sit outside every application's. An application without layers calls
//! its handler directly, so an empty chain costs nothing (`benches/middleware.rs`). A layer,
//! like a replica, lives on one shard: it may hold `Rc`/`RefCell` state and need not be `Send`
//! (`layer_with` builds one per shard and application). The engine's own answers — `/-/routes`,
//! `/-/healthz`, the 404 for a path no application owns, a 408, and the 503/429 of an
//! overloaded replica (admission happens before any layer runs, as Ray Serve's proxy answers
//! backpressure outside the replica) — are not wrapped.
//!
//! What a middleware can do: read the request (and its body), change its headers for the
//! handler ([`Request::set_header`](crate::Request::set_header),
//! [`Request::remove_header`](crate::Request::remove_header)), attach values for the handler
//! ([`Request::extensions_mut`](crate::Request::extensions_mut), read in the ingress with
//! `Extension<T>`), answer without calling the rest of the chain, and change the response —
//! status, headers ([`Response::set_header`](crate::Response::set_header),
//! [`Response::remove_header`](crate::Response::remove_header)) and body, whole or streamed
//! ([`Response::map_body`](crate::Response::map_body)). The path stays as the client sent it
//! (routing to the application already happened).
//!
//! Cost (`cargo bench --bench middleware`, criterion medians on the 2-core development
//! machine, each including ~190 ns of building the request from bytes): no layers 302 ns;
//! one pass-through layer 351 ns (+49 ns: the layer's boxed future); CORS on a simple GET from
//! a listed origin 462 ns (+160 ns); CORS answering a preflight itself 645 ns; `AccessLog`
//! with no subscriber listening 380 ns (+78 ns: its level check and guard); `Compression`
//! on a 4.4 KiB JSON body 59 µs (gzip) or 69 µs (brotli), mostly the encoder's setup and
//! tables, and 484 ns when the client accepts no coding.

pub mod access_log;
pub mod auth;
pub mod compression;
pub mod cors;

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use crate::deployment::{HealthFuture, Replica, ReplicaFuture};
use crate::{Request, Response};

pub use access_log::AccessLog;
pub use compression::{Compression, CompressionLevel};
pub use cors::{Cors, CorsError, Origins};

/// Code around a handler: it may read the request, change its headers and attach values to it,
/// answer without calling the handler, and change the response — streamed bodies included.
///
/// ```
/// use ringserve::middleware::{Middleware, Next};
/// use ringserve::{HeaderValue, Request, Response, StatusCode, header::HeaderName};
///
/// /// Refuses requests without `x-tenant`, and tags every response with the server's name.
/// struct Tenancy;
///
/// impl Middleware for Tenancy {
///     async fn call(&self, request: Request, next: Next<'_>) -> Response {
///         if request.header("x-tenant").is_none() {
///             return Response::text("x-tenant required").with_status(StatusCode::BAD_REQUEST);
///         }
///         next.run(request).await.with_header(
///             HeaderName::from_static("server"),
///             HeaderValue::from_static("ringserve"),
///         )
///     }
/// }
/// ```
pub trait Middleware: 'static {
    /// Handles one request; `next.run(request)` calls the rest of the chain.
    fn call(&self, request: Request, next: Next<'_>) -> impl Future<Output = Response>;
}

/// The rest of the chain after a middleware: the next layer, or the handler.
pub struct Next<'a> {
    inner: &'a dyn Replica,
}

impl<'a> Next<'a> {
    /// Runs the rest of the chain for `request`.
    pub fn run(self, request: Request) -> impl Future<Output = Response> + 'a {
        self.inner.call_boxed(request)
    }
}

/// A middleware wrapped around a replica (or around an inner layer).
struct Layered<M> {
    middleware: M,
    inner: Rc<dyn Replica>,
}

impl<M: Middleware> Replica for Layered<M> {
    fn check_health_boxed(&self) -> HealthFuture<'_> {
        self.inner.check_health_boxed()
    }

    fn call_boxed(&self, request: Request) -> ReplicaFuture<'_> {
        crate::pooled::pin_future(self.middleware.call(
            request,
            Next {
                inner: &*self.inner,
            },
        ))
    }
}

/// Builds one layer on a shard, around what it is given.
type LayerFactory = dyn Fn(Rc<dyn Replica>) -> Rc<dyn Replica> + Send + Sync;

/// An ordered list of layers, outermost first, shared as factories until a shard builds them.
#[derive(Clone, Default)]
pub(crate) struct Layers {
    factories: Vec<Arc<LayerFactory>>,
}

impl Layers {
    /// Adds a layer inside the ones already added.
    pub(crate) fn push<M, F>(&mut self, factory: F)
    where
        M: Middleware,
        F: Fn() -> M + Send + Sync + 'static,
    {
        self.factories.push(Arc::new(move |inner| {
            Rc::new(Layered {
                middleware: factory(),
                inner,
            }) as Rc<dyn Replica>
        }));
    }

    /// `replica` inside every layer: the last added innermost, the first added outermost.
    pub(crate) fn wrap(&self, replica: Rc<dyn Replica>) -> Rc<dyn Replica> {
        self.factories
            .iter()
            .rev()
            .fold(replica, |inner, factory| factory(inner))
    }
}

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} layer(s)", self.factories.len())
    }
}
