//! A route as written ([`RouteSpec`], what the [`Router`](super::Router) collects) and as
//! served ([`Route`], what the built [`Ingress`](super::Ingress) calls), the dependencies that
//! run before its handler, and [`RouteError`], why a route was refused when built.
//!
//! Invariant: a route's dependencies run in order before its handler — the router's own
//! first, then those of the groups nested inside it — and the first that refuses answers
//! instead: no later dependency, extractor or handler runs. Validation errors are collected
//! from all of them and answered together, as FastAPI does.

use std::fmt;
use std::rc::Rc;

use http::{Method, StatusCode};

use super::extract::{FromRequestParts, PathParams, Rejection, Rejections, RequestParts};
use super::guard::Guard;
use super::handler::{ErasedHandler, RouteFuture};
use super::openapi::OperationDoc;
use crate::pooled::{PooledFuture, pin_future};
use crate::{Request, Response};

/// Runs a dependency attached to a group of routes, keeping only whether it passed.
pub(crate) type DependencyFn<S> =
    for<'a> fn(&'a RequestParts<'a, S>) -> PooledFuture<'a, Result<(), Rejection>>;

/// A dependency attached to a router: an extractor type (how to run it, how it documents
/// itself), or a guard value that checks credentials.
pub(crate) enum Dependency<S> {
    Extractor {
        run: DependencyFn<S>,
        describe: fn(&mut OperationDoc),
    },
    Guard(Rc<dyn Guard>),
}

impl<S> Clone for Dependency<S> {
    fn clone(&self) -> Self {
        match self {
            Dependency::Extractor { run, describe } => Dependency::Extractor {
                run: *run,
                describe: *describe,
            },
            Dependency::Guard(guard) => Dependency::Guard(guard.clone()),
        }
    }
}

impl<S> Dependency<S> {
    pub(crate) fn describe(&self, operation: &mut OperationDoc) {
        match self {
            Dependency::Extractor { describe, .. } => describe(operation),
            Dependency::Guard(guard) => guard.describe(operation),
        }
    }
}

/// Runs the extractor `D` as a dependency: its value is dropped, its rejection kept.
pub(crate) fn run_dependency<'a, D, S>(
    parts: &'a RequestParts<'a, S>,
) -> PooledFuture<'a, Result<(), Rejection>>
where
    D: FromRequestParts<S> + 'static,
    S: 'static,
{
    pin_future(async move { D::from_request_parts(parts).await.map(drop) })
}

/// A route as written: method, template, handler, and the dependencies of the groups it is in.
pub(crate) struct RouteSpec<S> {
    pub(crate) method: Method,
    pub(crate) template: String,
    pub(crate) handler: Box<dyn ErasedHandler<S>>,
    pub(crate) handler_name: &'static str,
    pub(crate) describe: fn(&mut OperationDoc),
    pub(crate) dependencies: Vec<Dependency<S>>,
    /// Other answers the route may give, declared with `Router::responds_with`: documented.
    pub(crate) declared: Vec<(StatusCode, String)>,
}

/// One route, ready to serve.
pub(crate) struct Route<S> {
    pub(crate) handler: Box<dyn ErasedHandler<S>>,
    pub(crate) dependencies: Vec<Dependency<S>>,
}

impl<S> Route<S> {
    pub(crate) fn call<'a>(
        &'a self,
        request: Request,
        params: PathParams<'a>,
        state: &'a S,
    ) -> RouteFuture<'a> {
        let rejections = Rejections::default();
        if self.dependencies.is_empty() {
            return self.handler.call(request, params, state, rejections);
        }
        pin_future(self.call_with_dependencies(request, params, state, rejections))
    }

    async fn call_with_dependencies<'a>(
        &'a self,
        request: Request,
        params: PathParams<'a>,
        state: &'a S,
        mut rejections: Rejections,
    ) -> Response {
        {
            let parts = RequestParts::new(&request, &params, state);
            for dependency in &self.dependencies {
                let outcome = match dependency {
                    Dependency::Extractor { run, .. } => run(&parts).await,
                    Dependency::Guard(guard) => {
                        guard.check(parts.request()).map_err(Rejection::Respond)
                    }
                };
                if let Err(response) = rejections.absorb(outcome) {
                    return *response;
                }
            }
        }
        self.handler.call(request, params, state, rejections).await
    }
}

/// Why a router could not be built; each names the route at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The template is not a valid path template, or conflicts with another route's.
    InvalidTemplate {
        /// The template as written.
        template: String,
        /// matchit's reason.
        reason: String,
    },
    /// Two routes have the same method and template.
    Duplicate {
        /// The method.
        method: Method,
        /// The template.
        template: String,
    },
    /// An extractor of the handler can never succeed on this route (e.g. `Path<i64>` on a
    /// route with two parameters, `Query<i64>`).
    Extractor {
        /// The method.
        method: Method,
        /// The template.
        template: String,
        /// What is wrong.
        reason: String,
    },
    /// A prefix given to [`Router::nest`](super::Router::nest) is not `/segment[/segment…]`.
    NestPrefix {
        /// The prefix.
        prefix: String,
    },
    /// The template collides with one of the router's documentation pages.
    Reserved {
        /// The template.
        template: String,
    },
    /// [`Router::responds_with`](super::Router::responds_with) was called before any route
    /// was added, so there was no route to document.
    NoRouteToDocument {
        /// The status it declared.
        status: StatusCode,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::InvalidTemplate { template, reason } => {
                write!(f, "route {template:?}: {reason}")
            }
            RouteError::Duplicate { method, template } => {
                write!(f, "route {method} {template:?} is registered twice")
            }
            RouteError::Extractor {
                method,
                template,
                reason,
            } => write!(f, "route {method} {template:?}: {reason}"),
            RouteError::NestPrefix { prefix } => write!(
                f,
                "nest prefix {prefix:?} must start with '/', not end with '/' and have no empty segment"
            ),
            RouteError::NoRouteToDocument { status } => write!(
                f,
                "responds_with({status}) documents the route added before it, and there was none"
            ),
            RouteError::Reserved { template } => write!(
                f,
                "route {template:?} is one of the router's own pages (/openapi.json, /docs, /docs/oauth2-redirect, /redoc); use Router::without_docs to free it"
            ),
        }
    }
}

impl std::error::Error for RouteError {}
