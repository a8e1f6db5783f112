//! `Upstream`: a reverse proxy to one or more HTTP/1.1 servers
//! (`import_path: ringserve.proxy:Upstream`), as nginx's `proxy_pass` to an `upstream` block
//! with `keepalive` does.
//!
//! Each shard has its own replica, so its own keep-alive pool and its own view of the
//! upstreams (`pool`, `balance`): nothing is shared between cores, nothing is locked. A request
//! goes to the less loaded of two upstreams picked at random; it is sent as it arrives (the
//! body streamed, never held whole) and the answer comes back the same way (`answer`).
//!
//! Retries are nginx's `proxy_next_upstream error` with `non_idempotent` off: a request goes
//! to another upstream when its connection could not be made, refused or timed out (nothing
//! was sent, so any method may go again); an idempotent request without a body also goes
//! again when the upstream broke before its answer's head. A keep-alive connection that turns
//! out to have been closed by the upstream is replaced by another without counting against
//! the upstream. Neither a timeout waiting for the head (the upstream may still be at work)
//! nor a bad answer (another upstream of the application would likely answer alike) is
//! retried. The answer when every try failed is 502, or 504 when the last one timed out.
//!
//! The socket to an upstream is glommio's (the shard's executor, its io_uring): the engine's
//! own ring serves accepted connections only.
//!
//! Invariant: a request is never sent twice unless no byte of it reached an upstream or it is
//! idempotent and bodiless; an upstream's bad answer is never passed on (502 instead).

mod answer;
mod balance;
mod connection;
mod forward;
mod hop;
mod pool;

use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use http::{Method, StatusCode};
use serde::Deserialize;

use crate::deploy::Application;
use crate::deployment::Deployment;
use crate::http1::body::BodyFraming;
use crate::http1::encode::encode_chunk_size;
use crate::request::Request;
use crate::request_body::{BodyError, BodyStream};
use crate::response::Response;
use crate::rt::stream::StreamExt;
use answer::{AnswerHead, Failure};
use balance::{Balancer, Tried, UPSTREAMS_MAX, Verdict};
use connection::UpstreamConnection;
use pool::{Lease, ShardUpstreams};

/// Requests one replica of [`Upstreams::application`] serves at once.
pub const PROXY_ONGOING_REQUESTS_MAX: usize = 10_000;
/// The longest timeout the arguments may give: ten years, far past any that means something.
const SECONDS_MAX: f64 = 10.0 * 365.25 * 24.0 * 3600.0;

/// The arguments of `ringserve.proxy:Upstream` in a config file:
///
/// ```yaml
/// import_path: ringserve.proxy:Upstream
/// args: {upstreams: ["10.0.0.1:8080", "10.0.0.2:8080"], connect_timeout_s: 5, header_timeout_s: 60}
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamArgs {
    /// The servers, as `host:port`; a name is resolved when the deployment is built (at start
    /// and at each reload), to its first address.
    pub upstreams: Vec<String>,
    /// How long a connection may take to open (default 5 s; then the next upstream is tried).
    #[serde(default = "default_connect_timeout_s")]
    pub connect_timeout_s: f64,
    /// How long the upstream may be silent, once the request is sent, before its answer's
    /// head is whole (default 60 s; then 504), as nginx's `proxy_read_timeout` counts: from
    /// one read to the next.
    #[serde(default = "default_long_timeout_s")]
    pub header_timeout_s: f64,
    /// How long one read of the answer's body, or one write of the request's, may wait
    /// (default 60 s; then the transfer is cut), as nginx's `proxy_read_timeout`.
    #[serde(default = "default_long_timeout_s")]
    pub read_timeout_s: f64,
    /// How long a keep-alive connection may wait unused in the pool (default 60 s). Keep it
    /// below the upstream's own keep-alive timeout.
    #[serde(default = "default_long_timeout_s")]
    pub idle_timeout_s: f64,
    /// Idle connections kept per upstream on each shard (default 32; 0: none, a connection per
    /// request).
    #[serde(default = "default_idle_connections")]
    pub idle_connections: usize,
    /// Failures in a row after which an upstream is skipped (default 3).
    #[serde(default = "default_max_fails")]
    pub max_fails: u32,
    /// How long a failing upstream is skipped (default 10 s).
    #[serde(default = "default_fail_timeout_s")]
    pub fail_timeout_s: f64,
    /// Send the path without the application's route prefix (`/api/items` at prefix `/api`
    /// goes upstream as `/items`); default false, the path as the client sent it.
    #[serde(default)]
    pub strip_prefix: bool,
}

fn default_connect_timeout_s() -> f64 {
    5.0
}

fn default_long_timeout_s() -> f64 {
    60.0
}

fn default_idle_connections() -> usize {
    32
}

fn default_max_fails() -> u32 {
    3
}

fn default_fail_timeout_s() -> f64 {
    10.0
}

/// The validated arguments, shared by every shard's replica: make one per application and
/// build each replica with [`Upstreams::replica`].
#[derive(Clone, Debug)]
pub struct Upstreams {
    settings: Arc<Settings>,
}

#[derive(Debug)]
struct Settings {
    targets: Vec<Target>,
    connect_timeout: Duration,
    header_timeout: Duration,
    read_timeout: Duration,
    idle_timeout: Duration,
    idle_connections: usize,
    max_fails: u32,
    fail_timeout: Duration,
    strip_prefix: bool,
}

#[derive(Debug)]
struct Target {
    address: SocketAddr,
    /// As written in the arguments: the `Host` of a request that sent none, and the name in logs.
    authority: String,
}

impl Upstreams {
    /// Checks the arguments and resolves the upstreams; the error names the bad argument.
    pub fn new(args: &UpstreamArgs) -> Result<Self, String> {
        if args.upstreams.is_empty() {
            return Err("upstreams: name at least one host:port".to_owned());
        }
        if args.upstreams.len() > UPSTREAMS_MAX {
            return Err(format!("upstreams: at most {UPSTREAMS_MAX}"));
        }
        let targets = args
            .upstreams
            .iter()
            .enumerate()
            .map(|(index, authority)| {
                let address = authority
                    .to_socket_addrs()
                    .map_err(|error| error.to_string())
                    .and_then(|mut found| found.next().ok_or_else(|| "no address".to_owned()))
                    .map_err(|why| {
                        format!("upstreams[{index}]: {authority:?} is not a host:port that resolves ({why})")
                    })?;
                Ok(Target {
                    address,
                    authority: authority.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        if args.max_fails == 0 {
            return Err("max_fails: 0 is not a number of failures (1 or more)".to_owned());
        }
        let settings = Settings {
            targets,
            connect_timeout: seconds("connect_timeout_s", args.connect_timeout_s)?,
            header_timeout: seconds("header_timeout_s", args.header_timeout_s)?,
            read_timeout: seconds("read_timeout_s", args.read_timeout_s)?,
            idle_timeout: seconds("idle_timeout_s", args.idle_timeout_s)?,
            idle_connections: args.idle_connections,
            max_fails: args.max_fails,
            fail_timeout: seconds("fail_timeout_s", args.fail_timeout_s)?,
            strip_prefix: args.strip_prefix,
        };
        Ok(Upstreams {
            settings: Arc::new(settings),
        })
    }

    /// The application: a replica per shard ([`Upstreams::replica`]), named `Upstream`, with
    /// request bodies streamed to the upstream as they arrive (not read whole first, as nginx's
    /// `proxy_request_buffering off`) and [`PROXY_ONGOING_REQUESTS_MAX`] requests at once per
    /// replica — a proxy's requests mostly wait on the network, and the shard's connection
    /// limit bounds them anyway.
    pub fn application(&self) -> Application {
        let upstreams = self.clone();
        Application::new(move || upstreams.replica())
            .name("Upstream")
            .buffer_request_body(false)
            .max_ongoing_requests(PROXY_ONGOING_REQUESTS_MAX)
    }

    /// A replica for one shard, with its own pool and balancer.
    pub fn replica(&self) -> Upstream {
        let settings = self.settings.clone();
        let balancer = Balancer::new(
            settings.targets.len(),
            settings.max_fails,
            settings.fail_timeout,
            RandomState::new().hash_one(0u8),
        );
        let shard = ShardUpstreams::new(balancer, settings.idle_connections, settings.idle_timeout);
        Upstream {
            settings,
            shard: Rc::new(RefCell::new(shard)),
        }
    }
}

fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 && value <= SECONDS_MAX {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "{name}: {value} is not a number of seconds longer than zero and at most ten years"
        ))
    }
}

/// One shard's proxy to the upstreams.
pub struct Upstream {
    settings: Arc<Settings>,
    shard: Rc<RefCell<ShardUpstreams>>,
}

/// Why one try gave no answer to pass on.
enum TryFailed {
    /// The upstream's side.
    Upstream(Failure),
    /// The client's body could not be read: its own answer (400, 413, …), no other try.
    Body(BodyError),
}

impl Deployment for Upstream {
    async fn call(&self, mut request: Request) -> Response {
        let bodiless = matches!(
            request.framing(),
            BodyFraming::None | BodyFraming::Length(0)
        );
        let replayable = bodiless && is_idempotent(request.method());
        let mut body: Option<BodyStream> = None;
        let mut tried = Tried::default();
        let mut last_failure = None;
        loop {
            let now = Instant::now();
            let Some(peer) = self.shard.borrow_mut().balancer.choose(tried, now) else {
                break;
            };
            let lease = Lease::new(&self.shard, peer);
            let mut connection = match self.connection_to(peer, now, !replayable).await {
                Ok(connection) => connection,
                Err(failure) => {
                    // Nothing was sent: any request may try the next upstream.
                    tried.add(peer);
                    self.failed(peer, &failure);
                    last_failure = Some(failure);
                    continue;
                }
            };
            match self
                .exchange(peer, &mut connection, &mut request, &mut body)
                .await
            {
                Ok(head) => {
                    lease.succeeded();
                    return answer::into_response(head, connection, lease);
                }
                Err(TryFailed::Body(error)) => return body_refused(error),
                Err(TryFailed::Upstream(failure)) => {
                    if connection.reused && replayable && matches!(failure, Failure::Broken(_)) {
                        // A keep-alive connection the upstream had closed: not its failure.
                        continue;
                    }
                    tried.add(peer);
                    self.failed(peer, &failure);
                    // Broken, not timed out (it may still be at work) nor a bad answer
                    // (another upstream of the same application would likely answer alike).
                    let again = replayable && matches!(failure, Failure::Broken(_));
                    last_failure = Some(failure);
                    if !again {
                        break;
                    }
                }
            }
        }
        gateway_error(last_failure.as_ref())
    }
}

impl Upstream {
    /// A pooled connection to `peer` (checked first when `checked`), or a new one.
    async fn connection_to(
        &self,
        peer: usize,
        now: Instant,
        checked: bool,
    ) -> Result<UpstreamConnection, Failure> {
        let idle = self.shard.borrow_mut().take_idle(peer, now, checked);
        if let Some(idle) = idle {
            return Ok(idle);
        }
        let settings = &self.settings;
        UpstreamConnection::connect(
            settings.targets[peer].address,
            settings.connect_timeout,
            settings.read_timeout,
        )
        .await
        .map_err(|error| match error.kind() {
            io::ErrorKind::TimedOut => Failure::TimedOut,
            _ => Failure::Broken(error),
        })
    }

    /// Sends the request on `connection` and reads its answer's head.
    async fn exchange(
        &self,
        peer: usize,
        connection: &mut UpstreamConnection,
        request: &mut Request,
        body: &mut Option<BodyStream>,
    ) -> Result<AnswerHead, TryFailed> {
        let path = if self.settings.strip_prefix {
            request.route_path()
        } else {
            request.path()
        };
        let authority = &self.settings.targets[peer].authority;
        connection.out.clear();
        forward::write_head(&mut connection.out, request, path, authority);
        let framing = request.framing();
        if matches!(framing, BodyFraming::None | BodyFraming::Length(0)) {
            connection.send_out().await.map_err(broken)?;
        } else {
            debug_assert!(body.is_none(), "a body is sent once");
            let chunks = body.get_or_insert_with(|| request.body_stream());
            send_body(connection, chunks, framing == BodyFraming::Chunked).await?;
        }
        let is_head = request.method() == Method::HEAD;
        // Each read of the head may wait this long; the body's, `read_timeout`.
        connection.set_read_timeout(self.settings.header_timeout);
        let head = answer::read_head(connection, is_head).await;
        connection.set_read_timeout(self.settings.read_timeout);
        head.map_err(TryFailed::Upstream)
    }

    fn failed(&self, peer: usize, failure: &Failure) {
        let verdict = self
            .shard
            .borrow_mut()
            .balancer
            .failed(peer, Instant::now());
        let upstream = &self.settings.targets[peer].authority;
        tracing::debug!(upstream, %failure, "an upstream failed");
        if verdict == Verdict::Ejected {
            tracing::warn!(
                upstream,
                %failure,
                "upstream failed {} times in a row: skipped for {:?}",
                self.settings.max_fails,
                self.settings.fail_timeout
            );
        }
    }
}

/// Sends the body after the head already in `connection.out` (the first piece in the same
/// write), as it arrives, chunked again when the client sent it chunked.
async fn send_body(
    connection: &mut UpstreamConnection,
    chunks: &mut BodyStream,
    chunked: bool,
) -> Result<(), TryFailed> {
    while let Some(piece) = chunks.next().await {
        let piece: Bytes = piece.map_err(TryFailed::Body)?;
        if piece.is_empty() {
            continue;
        }
        if chunked {
            encode_chunk_size(&mut connection.out, piece.len());
        }
        connection.out.extend_from_slice(&piece);
        if chunked {
            connection.out.put_slice(b"\r\n");
        }
        // Sent at once: the next piece may be long in coming. (Pieces are what one read
        // of the client's socket brought, so they come batched already.)
        connection.send_out().await.map_err(broken)?;
    }
    if chunked {
        connection.out.put_slice(b"0\r\n\r\n");
    }
    connection.send_out().await.map_err(broken)
}

fn broken(error: io::Error) -> TryFailed {
    TryFailed::Upstream(Failure::Broken(error))
}

/// Methods whose request may be sent again with the same effect (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// 504 when the last try timed out, 502 otherwise (nginx's choice).
fn gateway_error(last_failure: Option<&Failure>) -> Response {
    match last_failure {
        Some(Failure::TimedOut) => {
            Response::text("Gateway Timeout: the upstream did not answer in time.")
                .with_status(StatusCode::GATEWAY_TIMEOUT)
        }
        _ => Response::text("Bad Gateway: no upstream answered.")
            .with_status(StatusCode::BAD_GATEWAY),
    }
}

fn body_refused(error: BodyError) -> Response {
    Response::text(error.to_string()).with_status(error.status())
}
