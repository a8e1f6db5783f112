//! `Router`: the builder users write routes into, and the checks it makes when it is built.
//!
//! Invariant: every route is checked when the router is built — its template (by matchit), its
//! method, conflicts with every other route — and a bad one is an `Err` naming it, before a
//! request can reach it. Dependencies attached to a router apply to every route it holds,
//! including routes merged or nested into it.

use std::rc::Rc;

use http::{Method, StatusCode};

use super::dispatch::Ingress;
use super::extract::FromRequestParts;
use super::guard::Guard;
use super::handler::{Handler, TypedHandler};
use super::route::{Dependency, RouteError, RouteSpec, run_dependency};

/// FastAPI-style routing for one application: method + path templates with typed parameters,
/// handlers whose arguments are extractors, dependencies, and a generated OpenAPI document.
///
/// Paths are relative to the application's route prefix. Templates are matchit's: `{name}`
/// matches one segment, `{*rest}` the rest of the path.
///
/// ```
/// use ringserve::Application;
/// use ringserve::ingress::{Json, Path, Router};
/// use serde_json::{Value, json};
///
/// async fn read_item(Path(item_id): Path<i64>) -> Json<Value> {
///     Json(json!({ "item_id": item_id }))
/// }
///
/// async fn create_item(Json(item): Json<Value>) -> Json<Value> {
///     Json(json!({ "created": item }))
/// }
///
/// let app = Application::try_new(|| {
///     Router::new()
///         .get("/items/{item_id}", read_item)
///         .post("/items/", create_item)
///         .build()
/// })
/// .route_prefix("/api");
/// # let _ = app;
/// ```
pub struct Router<S = ()> {
    /// The first mistake found while routes were added, reported by `build`.
    error: Option<RouteError>,
    routes: Vec<RouteSpec<S>>,
    dependencies: Vec<Dependency<S>>,
    title: String,
    version: String,
    docs: bool,
}

impl<S: 'static> Default for Router<S> {
    fn default() -> Self {
        Router::new()
    }
}

impl<S: 'static> Router<S> {
    /// An empty router whose handlers read state of type `S` (`()` when they read none).
    pub fn new() -> Self {
        Router {
            error: None,
            routes: Vec::new(),
            dependencies: Vec::new(),
            title: "ringserve".to_owned(),
            version: "0.1.0".to_owned(),
            docs: true,
        }
    }

    /// Routes `method` requests for `path` to `handler`.
    pub fn route<H, Args>(mut self, method: Method, path: &str, handler: H) -> Self
    where
        H: Handler<Args, S>,
        Args: 'static,
    {
        self.routes.push(RouteSpec {
            method,
            template: path.to_owned(),
            handler: Box::new(TypedHandler::new(handler)),
            handler_name: std::any::type_name::<H>(),
            describe: H::describe,
            dependencies: Vec::new(),
            declared: Vec::new(),
        });
        self
    }

    /// Documents another answer of the route added just before — an error it or one of its
    /// dependencies may return, say — as FastAPI's `responses={404: {"description": …}}`:
    /// `.get("/items/{id}", read_item).responds_with(StatusCode::NOT_FOUND, "Item not found")`.
    /// It changes nothing in what the route answers.
    pub fn responds_with(mut self, status: StatusCode, description: impl Into<String>) -> Self {
        match self.routes.last_mut() {
            Some(route) => route.declared.push((status, description.into())),
            None => {
                self.error
                    .get_or_insert(RouteError::NoRouteToDocument { status });
            }
        }
        self
    }

    /// Routes `GET` (and `HEAD`) requests for `path`.
    pub fn get<H: Handler<Args, S>, Args: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::GET, path, handler)
    }

    /// Routes `POST` requests for `path`.
    pub fn post<H: Handler<Args, S>, Args: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::POST, path, handler)
    }

    /// Routes `PUT` requests for `path`.
    pub fn put<H: Handler<Args, S>, Args: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::PUT, path, handler)
    }

    /// Routes `PATCH` requests for `path`.
    pub fn patch<H: Handler<Args, S>, Args: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::PATCH, path, handler)
    }

    /// Routes `DELETE` requests for `path`.
    pub fn delete<H: Handler<Args, S>, Args: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::DELETE, path, handler)
    }

    /// Runs the dependency `D` before the handler of every route of this router (FastAPI's
    /// `APIRouter(dependencies=[Depends(d)])`): its value is dropped, its rejection answers.
    /// To require it on one route only, take it as an argument of that route's handler.
    pub fn depends_on<D: FromRequestParts<S> + 'static>(mut self) -> Self {
        self.dependencies.push(Dependency::Extractor {
            run: run_dependency::<D, S>,
            describe: D::describe,
        });
        self
    }

    /// Checks every route of this router with `guard` before anything else runs — a
    /// [`BearerAuth`](crate::middleware::auth::BearerAuth) or
    /// [`ApiKeyAuth`](crate::middleware::auth::ApiKeyAuth), say — and documents its security
    /// scheme on each. To guard one route, put it in a router of its own and `merge` it.
    pub fn guard(mut self, guard: impl Guard) -> Self {
        self.dependencies.push(Dependency::Guard(Rc::new(guard)));
        self
    }

    /// Adds every route of `other`, with `other`'s dependencies applied to them.
    pub fn merge(self, other: Router<S>) -> Self {
        self.nest_routes("", other)
    }

    /// Adds every route of `other` under `prefix` (`/admin` + `/stats` → `/admin/stats`), with
    /// `other`'s dependencies applied to them. A bad prefix is reported by [`Router::build`].
    pub fn nest(self, prefix: &str, other: Router<S>) -> Self {
        self.nest_routes(prefix, other)
    }

    fn nest_routes(mut self, prefix: &str, other: Router<S>) -> Self {
        let valid = prefix.is_empty()
            || (prefix.starts_with('/') && !prefix.ends_with('/') && !prefix.contains("//"));
        if !valid && self.error.is_none() {
            self.error = Some(RouteError::NestPrefix {
                prefix: prefix.to_owned(),
            });
        }
        if let Some(error) = other.error {
            self.error.get_or_insert(error);
        }
        for mut route in other.routes {
            route.template = format!("{prefix}{}", route.template);
            let mut dependencies = other.dependencies.clone();
            dependencies.append(&mut route.dependencies);
            route.dependencies = dependencies;
            self.routes.push(route);
        }
        self
    }

    /// The title of the OpenAPI document (default `ringserve`).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The API version in the OpenAPI document (default `0.1.0`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Serves none of the documentation: `/openapi.json`, `/docs`, `/docs/oauth2-redirect`
    /// and `/redoc` are then free for routes.
    pub fn without_docs(mut self) -> Self {
        self.docs = false;
        self
    }

    /// Checks every route and builds the router, serving `state` to its handlers.
    pub fn build_with_state(self, state: S) -> Result<Ingress<S>, RouteError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let mut routes = self.routes;
        for route in &mut routes {
            let mut dependencies = self.dependencies.clone();
            dependencies.append(&mut route.dependencies);
            route.dependencies = dependencies;
        }
        Ingress::build(routes, state, &self.title, &self.version, self.docs)
    }
}

impl Router<()> {
    /// Checks every route and builds the router, for handlers that read no state.
    pub fn build(self) -> Result<Ingress<()>, RouteError> {
        self.build_with_state(())
    }
}
