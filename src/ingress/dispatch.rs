//! `Ingress`: a built router, serving one application's requests.
//!
//! Invariant: the route table is frozen when the router is built; per request the ingress does
//! one matchit lookup (no allocation: parameters are kept as ranges into the path), a scan of
//! the few methods of the matched path, and hands the request to the route's handler — whose
//! boxed future is the only allocation routing adds (`Deployment::call_boxed` passes it
//! through instead of boxing it again; extractors and the response add their own: a `Json`
//! response one, a `Query` or `Header` struct a few). Not-found, method-not-allowed, `OPTIONS` and the
//! OpenAPI pages are answered here, with bodies rendered once.

use std::cell::OnceCell;
use std::future::{Future, ready};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use smallvec::SmallVec;

use super::docs::{SWAGGER_OAUTH2_REDIRECT_HTML, redoc_html, swagger_ui_html};
use super::extract::PathParams;
use super::handler::RouteFuture;
use super::openapi::{DocumentBuilder, OperationDoc};
use super::route::{Route, RouteError, RouteSpec};
use crate::pooled::{PooledFuture, pin_future};
use crate::{Deployment, Request, Response};

/// Where the OpenAPI document is served, relative to the application's prefix.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Where the Swagger UI page is served, relative to the application's prefix.
pub const DOCS_PATH: &str = "/docs";
/// Where Swagger UI's OAuth2 redirect page is served, relative to the application's prefix.
pub const DOCS_OAUTH2_REDIRECT_PATH: &str = "/docs/oauth2-redirect";
/// Where the ReDoc page is served, relative to the application's prefix.
pub const REDOC_PATH: &str = "/redoc";
const TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");

const NOT_FOUND_BODY: &[u8] = br#"{"detail":"Not Found"}"#;
const METHOD_NOT_ALLOWED_BODY: &[u8] = br#"{"detail":"Method Not Allowed"}"#;
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// What a matched path template leads to.
enum Target<S> {
    /// User routes, one per method.
    Routes(SmallVec<[(Method, Route<S>); 2]>),
    /// The OpenAPI document.
    OpenApi,
    /// A documentation page (Swagger UI, its OAuth2 redirect, ReDoc), rendered when built.
    Page(Bytes),
}

struct PathEntry<S> {
    target: Target<S>,
    /// The template's parameter names, in the order matchit yields their values.
    param_names: Vec<String>,
    /// The `Allow` header: the methods this path answers, rendered at build time.
    allow: HeaderValue,
}

/// A router that has been checked and built: the [`Deployment`] that serves an application.
/// Make it with [`Router::build`](super::Router::build) inside an
/// [`Application::try_new`](crate::Application::try_new) factory, so that each shard builds its
/// own (with its own `!Send` state).
pub struct Ingress<S = ()> {
    paths: matchit::Router<usize>,
    entries: Vec<PathEntry<S>>,
    state: S,
    document: DocumentBuilder,
    title: String,
    version: String,
    /// The rendered document, made on first request (it names the route prefix it is served
    /// under, which only a request tells).
    openapi_json: OnceCell<Bytes>,
}

impl<S: 'static> Ingress<S> {
    pub(crate) fn build(
        specs: Vec<RouteSpec<S>>,
        state: S,
        title: &str,
        version: &str,
        docs: bool,
    ) -> Result<Self, RouteError> {
        let mut paths = matchit::Router::new();
        let mut templates: Vec<String> = Vec::new();
        let mut entries: Vec<PathEntry<S>> = Vec::new();
        let mut document = DocumentBuilder::default();
        if docs {
            let pages = [
                (OPENAPI_PATH, Target::OpenApi),
                (DOCS_PATH, Target::Page(swagger_ui_html(title).into())),
                (
                    DOCS_OAUTH2_REDIRECT_PATH,
                    Target::Page(Bytes::from_static(SWAGGER_OAUTH2_REDIRECT_HTML.as_bytes())),
                ),
                (REDOC_PATH, Target::Page(redoc_html(title).into())),
            ];
            for (template, target) in pages {
                insert(&mut paths, template, entries.len())?;
                templates.push(template.to_owned());
                entries.push(PathEntry {
                    target,
                    param_names: Vec::new(),
                    allow: HeaderValue::from_static("GET, HEAD, OPTIONS"),
                });
            }
        }
        for spec in specs {
            if !spec.template.starts_with('/') {
                return Err(RouteError::InvalidTemplate {
                    template: spec.template,
                    reason: "a route path must start with '/'".to_owned(),
                });
            }
            let index = match templates.iter().position(|known| *known == spec.template) {
                Some(index) => index,
                None => {
                    insert(&mut paths, &spec.template, entries.len())?;
                    templates.push(spec.template.clone());
                    entries.push(PathEntry {
                        target: Target::Routes(SmallVec::new()),
                        param_names: template_params(&spec.template),
                        allow: HeaderValue::from_static(""),
                    });
                    entries.len() - 1
                }
            };
            let Target::Routes(routes) = &mut entries[index].target else {
                return Err(RouteError::Reserved {
                    template: spec.template,
                });
            };
            if routes.iter().any(|(method, _)| *method == spec.method) {
                return Err(RouteError::Duplicate {
                    method: spec.method,
                    template: spec.template,
                });
            }
            let mut operation = OperationDoc::new(template_params(&spec.template));
            for dependency in &spec.dependencies {
                dependency.describe(&mut operation);
            }
            (spec.describe)(&mut operation);
            for (status, description) in &spec.declared {
                operation.declare_response(*status, description);
            }
            if let Some(reason) = operation.take_problems().into_iter().next() {
                return Err(RouteError::Extractor {
                    method: spec.method,
                    template: spec.template,
                    reason,
                });
            }
            document.add(&spec.template, &spec.method, spec.handler_name, operation);
            routes.push((
                spec.method,
                Route {
                    handler: spec.handler,
                    dependencies: spec.dependencies,
                },
            ));
        }
        for entry in &mut entries {
            if let Target::Routes(routes) = &entry.target {
                // A path entry is made only for a route, so none is left without one.
                debug_assert!(!routes.is_empty(), "a path without a route");
                entry.allow = allow_header(routes.iter().map(|(method, _)| method));
            }
        }
        Ok(Ingress {
            paths,
            entries,
            state,
            document,
            title: title.to_owned(),
            version: version.to_owned(),
            openapi_json: OnceCell::new(),
        })
    }

    /// The replica's state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The OpenAPI document as served under `route_prefix` (`""` or `"/"` for the root): the
    /// path clients see in front of the application's routes, root path included.
    pub fn openapi(&self, route_prefix: &str) -> utoipa::openapi::OpenApi {
        let server = Some(route_prefix).filter(|prefix| !prefix.is_empty() && *prefix != "/");
        self.document.build(&self.title, &self.version, server)
    }

    fn serve(&self, request: Request) -> RouteFuture<'_> {
        let path = request.route_path();
        let Ok(matched) = self.paths.at(path) else {
            return pin_future(ready(self.not_found(&request)));
        };
        let Some(entry) = self.entries.get(*matched.value) else {
            return pin_future(ready(self.not_found(&request)));
        };
        let mut params = PathParams::new(&entry.param_names);
        let path_start = path.as_ptr() as usize;
        for (_, value) in matched.params.iter() {
            // matchit's values are slices of `path`; checked all the same, since that is how
            // matchit works rather than what it promises.
            let start = (value.as_ptr() as usize).checked_sub(path_start);
            match start.filter(|start| start + value.len() <= path.len()) {
                Some(start) => params.push(start..start + value.len()),
                None => return pin_future(ready(self.not_found(&request))),
            }
        }
        // matchit yields one value per parameter of the template it matched.
        debug_assert_eq!(params.len(), entry.param_names.len());
        let method = request.method();
        match &entry.target {
            Target::Routes(routes) => {
                let route = routes
                    .iter()
                    .find(|(candidate, _)| candidate == method)
                    .or_else(|| {
                        (method == Method::HEAD)
                            .then(|| {
                                routes
                                    .iter()
                                    .find(|(candidate, _)| candidate == Method::GET)
                            })
                            .flatten()
                    });
                match route {
                    Some((_, route)) => route.call(request, params, &self.state),
                    None => pin_future(ready(method_not_allowed(method, &entry.allow))),
                }
            }
            Target::OpenApi if is_read(method) => {
                let body = self
                    .openapi_json
                    .get_or_init(|| {
                        Bytes::from(
                            serde_json::to_vec(&self.openapi(&mount_path(&request)))
                                .unwrap_or_default(),
                        )
                    })
                    .clone();
                pin_future(ready(
                    Response::new(StatusCode::OK)
                        .with_header(header::CONTENT_TYPE, APPLICATION_JSON)
                        .with_body(body),
                ))
            }
            Target::Page(html) if is_read(method) => pin_future(ready(
                Response::new(StatusCode::OK)
                    .with_header(header::CONTENT_TYPE, TEXT_HTML)
                    .with_body(html.clone()),
            )),
            Target::OpenApi | Target::Page(_) => {
                pin_future(ready(method_not_allowed(method, &entry.allow)))
            }
        }
    }

    /// FastAPI's 404, or — when the path with its trailing slash added or removed exists —
    /// a `307` to it, as FastAPI's `redirect_slashes` does.
    fn not_found(&self, request: &Request) -> Response {
        let path = request.route_path();
        let toggled = match path.strip_suffix('/') {
            Some(without) if !without.is_empty() => without.to_owned(),
            Some(_) => return not_found(),
            None => format!("{path}/"),
        };
        if self.paths.at(&toggled).is_err() {
            return not_found();
        }
        let mut location = format!("{}{toggled}", mount_path(request));
        if let Some(query) = request.query() {
            location.push('?');
            location.push_str(query);
        }
        match HeaderValue::try_from(location) {
            Ok(location) => Response::new(StatusCode::TEMPORARY_REDIRECT)
                .with_header(header::LOCATION, location),
            Err(_) => not_found(),
        }
    }
}

impl<S: 'static> Deployment for Ingress<S> {
    fn call(&self, request: Request) -> impl Future<Output = Response> {
        self.serve(request)
    }

    fn call_boxed(&self, request: Request) -> PooledFuture<'_, Response> {
        self.serve(request)
    }
}

fn insert(
    paths: &mut matchit::Router<usize>,
    template: &str,
    index: usize,
) -> Result<(), RouteError> {
    paths
        .insert(template, index)
        .map_err(|error| RouteError::InvalidTemplate {
            template: template.to_owned(),
            reason: error.to_string(),
        })
}

/// The parameter names of a matchit template, in order (`/a/{x}/{*rest}` → `x`, `rest`);
/// `{{` and `}}` are matchit's escapes for literal braces, not parameters.
fn template_params(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(literal) = after.strip_prefix('{') {
            rest = literal;
            continue;
        }
        let Some(close) = after.find('}') else {
            break;
        };
        names.push(after[..close].trim_start_matches('*').to_owned());
        rest = &after[close + 1..];
    }
    names
}

/// Where the application's routes are mounted as clients see them: the server's root path
/// (which a proxy in front may have removed) and the route prefix the request came by.
fn mount_path(request: &Request) -> String {
    format!("{}{}", request.root_path(), request.route_prefix())
}

fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// The methods a path answers, with `HEAD` where `GET` is served and `OPTIONS` always.
fn allow_header<'m>(methods: impl Iterator<Item = &'m Method> + Clone) -> HeaderValue {
    let mut allowed: Vec<&str> = methods.clone().map(Method::as_str).collect();
    if methods.clone().any(|method| method == Method::GET)
        && !methods.clone().any(|method| method == Method::HEAD)
    {
        allowed.push("HEAD");
    }
    if !methods.clone().any(|method| method == Method::OPTIONS) {
        allowed.push("OPTIONS");
    }
    // Method names are tokens, so the joined list is a valid header value.
    HeaderValue::try_from(allowed.join(", ")).unwrap_or(HeaderValue::from_static("OPTIONS"))
}

fn not_found() -> Response {
    Response::new(StatusCode::NOT_FOUND)
        .with_header(header::CONTENT_TYPE, APPLICATION_JSON)
        .with_body(Bytes::from_static(NOT_FOUND_BODY))
}

/// `OPTIONS` on a path without its own `OPTIONS` route answers `204` with `Allow`; any other
/// method the path does not serve answers FastAPI's `405`, with `Allow` as RFC 9110 requires.
fn method_not_allowed(method: &Method, allow: &HeaderValue) -> Response {
    if method == Method::OPTIONS {
        return Response::new(StatusCode::NO_CONTENT).with_header(header::ALLOW, allow.clone());
    }
    Response::new(StatusCode::METHOD_NOT_ALLOWED)
        .with_header(header::ALLOW, allow.clone())
        .with_header(header::CONTENT_TYPE, APPLICATION_JSON)
        .with_body(Bytes::from_static(METHOD_NOT_ALLOWED_BODY))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ingress::{Path, Query, Router};

    async fn one_id(Path(_id): Path<i64>) -> &'static str {
        "ok"
    }

    async fn scalar_query(Query(_limit): Query<i64>) -> &'static str {
        "ok"
    }

    #[test]
    fn extractors_that_cannot_match_their_route_are_refused_when_built() {
        let error = Router::new().get("/a/{x}/{y}", one_id).build().err();
        assert!(
            matches!(&error, Some(RouteError::Extractor { template, reason, .. })
                if template == "/a/{x}/{y}" && reason.contains("exactly one route parameter")),
            "{error:?}"
        );
        let error = Router::new().get("/plain", one_id).build().err();
        assert!(
            matches!(error, Some(RouteError::Extractor { .. })),
            "{error:?}"
        );
        let error = Router::new().get("/q", scalar_query).build().err();
        assert!(
            matches!(&error, Some(RouteError::Extractor { reason, .. }) if reason.contains("Query<T>")),
            "{error:?}"
        );
        assert!(Router::new().get("/a/{x}", one_id).build().is_ok());
    }

    #[test]
    fn nest_prefixes_are_checked() {
        for prefix in ["/admin/", "admin", "/a//b", "/"] {
            let nested = Router::new().get("/x", one_id_free);
            let error = Router::new().nest(prefix, nested).build().err();
            assert_eq!(
                error,
                Some(RouteError::NestPrefix {
                    prefix: prefix.to_owned()
                }),
                "{prefix}"
            );
        }
        let nested = Router::new().get("/x", one_id_free);
        assert!(Router::new().nest("/admin", nested).build().is_ok());
    }

    async fn one_id_free() -> &'static str {
        "ok"
    }

    #[test]
    fn template_parameter_names() {
        assert_eq!(template_params("/items/{item_id}"), ["item_id"]);
        assert_eq!(template_params("/a/{x}/b/{*rest}"), ["x", "rest"]);
        assert!(template_params("/plain").is_empty());
        assert!(template_params("/lit/{{x}}").is_empty());
        assert_eq!(template_params("/{{a}}/{b}"), ["b"]);
    }

    #[test]
    fn allow_lists_head_and_options() {
        let methods = [Method::GET, Method::POST];
        assert_eq!(allow_header(methods.iter()), "GET, POST, HEAD, OPTIONS");
        let methods = [Method::DELETE];
        assert_eq!(allow_header(methods.iter()), "DELETE, OPTIONS");
    }
}
