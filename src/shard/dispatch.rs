//! From a complete request to a response: system endpoints, root path, the prefix trie, the
//! body read whole (unless the application streams it), the replica call — after its turn
//! (admission), on this shard or forwarded to another — with its timeout, and the answers the
//! engine gives itself (404, 408, 500, 503).
//!
//! A body still arriving is read before admission, inside the request timeout: the request
//! holds its connection while its client uploads, never a turn of the replica.
//!
//! Invariant: whatever the handler does — return, run past its timeout, or panic — exactly one
//! response comes back, and a handler past its timeout has its future dropped before the 408 is
//! sent. The shard keeps serving after a panic.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::FutureExt;
use glommio::timer::Timer;
use http::{HeaderValue, Method, StatusCode, header};

use super::forward::Carried;
use super::read_ahead::Reservation;
pub(crate) use super::replica_call::{call_replica, internal_error};
use super::{Generation, ShardContext};
use crate::config::ServerConfig;
use crate::deployment::Replica;
use crate::http1::body::BodyFraming;
use crate::http1::head::{RequestHead, TimeoutOverride};
use crate::limits::REQUEST_ID_BYTES_MAX;
use crate::request::{Request, RequestId};
use crate::request_body::{Body, BodyStream};
use crate::response::Response;

/// A request as the connection hands it over, before routing.
pub(crate) struct Incoming {
    pub head_bytes: Bytes,
    pub head: RequestHead,
    pub body: Body,
    pub request_id: RequestId,
}

/// The response, whether the connection must close after it, and until when a streamed body
/// may keep sending (the request timeout still runs while a body streams).
pub(crate) struct Outcome {
    pub response: Response,
    pub close: bool,
    pub deadline: Option<Instant>,
}

/// The request id copied onto the stack, so it outlives the request the handler consumes
/// without cloning the head buffer.
pub(crate) struct RequestIdText {
    bytes: [u8; REQUEST_ID_BYTES_MAX],
    len: usize,
}

impl RequestIdText {
    pub(crate) fn new(id: &RequestId, head: &[u8]) -> Self {
        let source: &[u8] = match id {
            RequestId::FromClient(span) => span.of(head),
            RequestId::Generated(bytes) => bytes,
        };
        let len = source.len().min(REQUEST_ID_BYTES_MAX);
        let mut bytes = [0u8; REQUEST_ID_BYTES_MAX];
        bytes[..len].copy_from_slice(&source[..len]);
        RequestIdText { bytes, len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// Routes the request and produces its response. `routed` is told the application that
/// takes it (its index in the generation) as soon as it is known, for the request's metrics —
/// also when the answer never comes (the client left).
pub(crate) async fn dispatch(
    shard: &ShardContext,
    generation: &Generation,
    incoming: Incoming,
    id_text: &RequestIdText,
    request_timer: &mut Option<Timer>,
    routed: &Cell<Option<usize>>,
) -> Outcome {
    let config = &shard.config;
    let Incoming {
        head_bytes,
        head,
        body,
        request_id,
    } = incoming;
    let path = head.path_str(&head_bytes);
    // Requests carry the root path only with `strip_root_path`; otherwise a proxy in front
    // removed it, and the path is routed as received.
    let carried_root = if config.options.strip_root_path {
        config.options.root_path.as_str()
    } else {
        ""
    };
    let root_len = match strip_root(path, carried_root) {
        Some(root_len) => root_len,
        None => {
            let response = system_endpoint(shard, generation, &head.method, path)
                .unwrap_or_else(|| not_found(config, path));
            return keep_open(response);
        }
    };
    let inner_path = &path[root_len..];
    if let Some(response) = system_endpoint(shard, generation, &head.method, inner_path) {
        return keep_open(response);
    }
    let routes = &generation.routes;
    let Some(found) = routes.prefix_trie.lookup(inner_path) else {
        return keep_open(not_found(config, path));
    };
    let app_timeout = routes.apps[found.app].configured_request_timeout();
    let timeout = effective_timeout(
        app_timeout.or(config.options.request_timeout),
        head.timeout_override,
    );
    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    let app = found.app;
    routed.set(Some(app));
    let route_offset = root_len + found.prefix_len;
    let call = async {
        // A body still arriving is read whole before the request asks for a turn, so a slow
        // upload holds its connection, never a turn of the replica — while the shard's
        // read-ahead budget has room for it; its share is held until the call ends.
        let (body, _read_ahead) = match body {
            Body::Streaming(_) if routes.apps[app].buffers_request_body() => {
                match read_ahead(shard, &head, body).await {
                    Ok(read) => read,
                    Err(error) => return Ok(body_error(error)),
                }
            }
            body => (body, None),
        };
        match place(shard, generation, app, matches!(body, Body::Full(_))) {
            Place::Here(replica) => {
                let request = Request::new(
                    head_bytes,
                    head,
                    route_offset,
                    body,
                    generation.app_scopes[app].clone(),
                    request_id,
                );
                call_replica(generation, app, replica, request).await
            }
            Place::There(target) => Ok(forward(
                shard,
                generation,
                target,
                app,
                Carried {
                    head: head_bytes,
                    parts: head,
                    route_offset,
                    body: Bytes::new(),
                    request_id,
                },
                body,
            )
            .await),
            Place::Nowhere => Ok(internal_error()),
        }
    };
    let finished = match timeout {
        None => call.await,
        Some(timeout) => {
            let timer = request_timer.get_or_insert_with(|| Timer::new(timeout));
            timer.reset(timeout);
            let raced = async { Some(call.await) }
                .or(async {
                    timer.await;
                    None
                })
                .await;
            // `or` has dropped the handler's future by the time the timer wins: the 408 is
            // never sent while the handler still runs.
            let Some(finished) = raced else {
                crate::metrics::record::bump(&shard.metrics.engine.request_timeouts);
                return Outcome {
                    response: timed_out(id_text, timeout),
                    // 408 means the server gives up on the connection (RFC 9110 §15.5.9).
                    close: true,
                    deadline: None,
                };
            };
            finished
        }
    };
    let response = finished.unwrap_or_else(|_| internal_error());
    Outcome {
        response,
        close: false,
        deadline,
    }
}

/// Where a call for an application is served.
pub(crate) enum Place<'a> {
    /// By this shard's replica.
    Here(&'a dyn Replica),
    /// By the replica on that shard.
    There(usize),
    /// Nowhere: no replica here and no link to one (never, once `Serve` has checked).
    Nowhere,
}

/// This shard's replica of `app`, when it has one with a free turn; otherwise another host's,
/// chosen by power of two choices — when this shard has no replica, or (spill-over) when every
/// turn on its own is taken, the application lives on some shards only (`forward::spills_over`)
/// and the other replica is less loaded than this one. A call forwarded to another shard is
/// served there, never sent on again. Only a request whose body is `whole` spills over: one
/// still arriving would have to be read into memory first, where the local replica streams
/// it. Checking for spill-over costs one `Cell` read per request.
pub(crate) fn place<'a>(
    shard: &ShardContext,
    generation: &'a Generation,
    app: usize,
    whole: bool,
) -> Place<'a> {
    let admission = &generation.admissions[app];
    let local = generation.replicas[app].as_deref();
    if let Some(replica) = local
        && !admission.is_saturated()
    {
        return Place::Here(replica);
    }
    let hosts = &generation.routes.hosts[app];
    let elsewhere = || {
        let forwarder = generation.forwarder.get()?;
        forwarder.choose(hosts, &generation.routes.loads[app], shard.index)
    };
    match local {
        None => elsewhere().map_or(Place::Nowhere, |(target, _)| Place::There(target)),
        Some(replica) if whole && super::forward::spills_over(hosts.len(), shard.shards()) => {
            match elsewhere() {
                Some((target, load)) if load < admission.load() => Place::There(target),
                _ => Place::Here(replica),
            }
        }
        Some(replica) => Place::Here(replica),
    }
}

/// Serves a request on shard `target`'s replica of `app`. The body is read whole first (up to
/// the body limit), whatever the application's `buffer_request_body`: what crosses cores is
/// owned bytes.
pub(crate) async fn forward(
    shard: &ShardContext,
    generation: &Generation,
    target: usize,
    app: usize,
    mut carried: Carried,
    body: Body,
) -> Response {
    debug_assert_ne!(target, shard.index, "a call is forwarded to another shard");
    let Some(forwarder) = generation.forwarder.get() else {
        return internal_error();
    };
    carried.body = match whole_body(body).await {
        Ok(bytes) => bytes,
        Err(error) => return body_error(error),
    };
    let sent = shard.metrics.now();
    let response = forwarder.call(target, app, carried).await;
    shard.metrics.engine.forwarded(shard.metrics.since(sent));
    response
}

/// A body still arriving, read whole if the shard's read-ahead budget has room for it at its
/// declared length (at `body_bytes_max` when chunked), with that room; otherwise left to
/// stream to the handler once the request has its turn.
async fn read_ahead<'a>(
    shard: &'a ShardContext,
    head: &RequestHead,
    body: Body,
) -> Result<(Body, Option<Reservation<'a>>), crate::BodyError> {
    let limits = &shard.config.options.limits;
    let declared = match head.framing {
        BodyFraming::Length(length) => usize::try_from(length).unwrap_or(usize::MAX),
        BodyFraming::Chunked | BodyFraming::None => limits.body_bytes_max,
    };
    match shard
        .read_ahead
        .reserve(declared.min(limits.body_bytes_max))
    {
        Some(room) => Ok((Body::Full(whole_body(body).await?), Some(room))),
        None => Ok((body, None)),
    }
}

/// The whole body: at once when it came with the head, else read to its end (within the body
/// limit, the body read timeout and the minimum data rate, which the connection's pump
/// enforces as it feeds the stream).
async fn whole_body(body: Body) -> Result<Bytes, crate::BodyError> {
    match body {
        Body::Full(bytes) => Ok(bytes),
        streaming => BodyStream::new(streaming).collect_bytes().await,
    }
}

/// The answer to a request body that could not be read whole.
fn body_error(error: crate::BodyError) -> Response {
    Response::text(error.to_string()).with_status(error.status())
}

/// An answer the engine gives itself, before any application: the connection stays open.
fn keep_open(response: Response) -> Outcome {
    Outcome {
        response,
        close: false,
        deadline: None,
    }
}

/// The server's timeout, shortened or disabled by `x-request-timeout-seconds`.
fn effective_timeout(server: Option<Duration>, asked: TimeoutOverride) -> Option<Duration> {
    match asked {
        TimeoutOverride::None => server,
        TimeoutOverride::Disable => None,
        TimeoutOverride::Shorten(asked) => Some(server.map_or(asked, |server| server.min(asked))),
    }
}

/// The length of the root path if `path` lies under it (on a segment boundary), else `None`.
fn strip_root(path: &str, root_path: &str) -> Option<usize> {
    if root_path.is_empty() {
        return Some(0);
    }
    let rest = path.strip_prefix(root_path)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(root_path.len())
}

/// `/-/routes` and `/-/healthz`, answered by every shard as Ray Serve's proxy does.
fn system_endpoint(
    shard: &ShardContext,
    generation: &Generation,
    method: &Method,
    path: &str,
) -> Option<Response> {
    let body = match path {
        "/-/routes" | "/-/healthz" if shard.config.draining.load(Ordering::Relaxed) => {
            Response::text(DRAINING).with_status(StatusCode::SERVICE_UNAVAILABLE)
        }
        "/-/routes" => Response::json_bytes(generation.routes_json.clone()),
        "/-/healthz" => healthz(shard, generation),
        _ => return None,
    };
    if method == Method::GET || method == Method::HEAD {
        return Some(body);
    }
    Some(
        Response::text("Method Not Allowed")
            .with_status(StatusCode::METHOD_NOT_ALLOWED)
            .with_header(header::ALLOW, HeaderValue::from_static("GET, HEAD")),
    )
}

/// Ray Serve's answer on `/-/healthz` and `/-/routes` while its proxy drains.
const DRAINING: &str = "This node is being drained.";

/// `success`, or `503` naming another shard that has stalled, or the first application
/// without a healthy replica.
fn healthz(shard: &ShardContext, generation: &Generation) -> Response {
    if let Some((stalled, stall)) = shard.config.pulses.first_stalled_besides(shard.index) {
        return Response::text(super::watchdog::describe_stall(
            &shard.config,
            stalled,
            stall,
        ))
        .with_status(StatusCode::SERVICE_UNAVAILABLE);
    }
    match generation.routes.health.first_unhealthy() {
        None => Response::text("success"),
        Some(app) => Response::text(format!(
            "{} {:?} has no healthy replica.",
            generation.routes.kind(app),
            &*generation.app_scopes[app].name
        ))
        .with_status(StatusCode::SERVICE_UNAVAILABLE),
    }
}

/// Ray Serve's 404 text, naming the path and where to find the routes.
fn not_found(config: &ServerConfig, path: &str) -> Response {
    Response::text(format!(
        "Path '{path}' not found. {}",
        config.not_found_hint
    ))
    .with_status(StatusCode::NOT_FOUND)
}

/// Ray Serve's 408 text.
fn timed_out(id_text: &RequestIdText, timeout: Duration) -> Response {
    Response::text(format!(
        "Request {} timed out after {}s.",
        id_text.as_str(),
        timeout.as_secs_f64()
    ))
    .with_status(StatusCode::REQUEST_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_path_matches_whole_segments() {
        assert_eq!(strip_root("/anything", ""), Some(0));
        assert_eq!(strip_root("/serve", "/serve"), Some(6));
        assert_eq!(strip_root("/serve/api", "/serve"), Some(6));
        assert_eq!(strip_root("/server", "/serve"), None);
        assert_eq!(strip_root("/other", "/serve"), None);
    }

    #[test]
    fn timeout_header_shortens_or_disables() {
        let five = Some(Duration::from_secs(5));
        let one = Duration::from_secs(1);
        assert_eq!(effective_timeout(five, TimeoutOverride::None), five);
        assert_eq!(effective_timeout(five, TimeoutOverride::Disable), None);
        assert_eq!(
            effective_timeout(five, TimeoutOverride::Shorten(one)),
            Some(one)
        );
        assert_eq!(
            effective_timeout(Some(one), TimeoutOverride::Shorten(Duration::from_secs(9))),
            Some(one)
        );
        assert_eq!(
            effective_timeout(None, TimeoutOverride::Shorten(one)),
            Some(one)
        );
    }
}
