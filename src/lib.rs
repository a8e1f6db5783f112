//! ringserve: a low-latency HTTP/1.1 serving engine for Linux, thread-per-core on glommio.
//!
//! It does the job of Ray Serve's HTTP proxy — deployments bound to route prefixes, several
//! applications side by side, global HTTP options — with one pinned shard per core and no
//! proxy hop.
//!
//! ```no_run
//! use ringserve::{Application, Deployment, Request, Response};
//!
//! struct Hello;
//!
//! impl Deployment for Hello {
//!     async fn call(&self, _request: Request) -> Response {
//!         Response::text("hello")
//!     }
//! }
//!
//! fn main() -> Result<(), ringserve::Error> {
//!     ringserve::run(Application::new(|| Hello))
//! }
//! ```
//!
//! # The request path
//!
//! ```text
//! shard (one per core, pinned)                  no locks, nothing shared written per request
//!   listener (SO_REUSEPORT, one per shard)
//!     └─ connection task
//!          read into the connection's buffer
//!          http1::parse   head → method, target, headers as ranges into the buffer (httparse)
//!          body framing   Content-Length | chunked | none; limits enforced; what arrived
//!                         with the head is handed over whole, the rest pumped on demand
//!          generation     the shard's current applications, taken once per request (a reload
//!                         makes a new one; requests in flight finish on theirs)
//!          prefix trie    longest-prefix lookup → application id (built before start, and by
//!                         each reload)
//!          read ahead     a body still arriving is read whole (within the shard's budget),
//!                         unless the application streams it to the handler
//!          admission      a turn on the replica (max_ongoing_requests), or wait (at most
//!                         max_queue_wait), or 503
//!          handler        Deployment::call on this shard's replica, timeout, panic → 500
//!                         (an ingress app: matchit route → extractors → user fn), or on
//!                         another shard's, forwarded over an SPSC channel (num_replicas)
//!          http1::encode  status line + headers + Content-Length, or chunked for streams
//!          write          pipelined responses batched into one write
//!   deadline sweeper      one per shard: cuts reads whose timeout passed (no timer per read)
//! ```
//!
//! # Layers
//!
//! Each module imports only modules below it; nothing imports `serve`, and there are no
//! cycles. From the top:
//!
//! ```text
//! cli/                   the edge binary's command line: config file (Ray Serve's schema), registry
//!                        of deployments by import path, check / run / status, signals
//! serve, scrape          Serve builder: validation, prefix trie, listeners, shards, ServerHandle;
//!                        scrape: asking every shard for its metrics, the metrics listener
//! shard/                 per core: accept loop and deadline sweeper, connection loop, body pump,
//!                        response streaming, transport (shard::uring, or glommio's streams),
//!                        spare connection buffers, dispatch, forwarding to other shards, handle calls, date cache
//! config                 ServerConfig: what every shard shares, read-only, built by serve
//! builtin/               deployments that come with ringserve: Respond, Files
//! deploy/                Application, DeploymentHandle, admission, health, published loads
//! ingress/               FastAPI-style routing: Router, extractors, validation errors, OpenAPI
//! middleware/            layers around replicas: CORS, auth, compression, access log
//! deployment             the Deployment trait, and Replica: a deployment behind a vtable
//! request, request_builder, request_body, request_id, response, set_cookie, body, sse,
//! extensions             what handlers receive and answer
//! http1/                 the codec, no socket I/O: head, parse, body framing, encode, rejections
//! prefix, options, limits, error, rt, pooled, metrics/
//!                        plain data, the runtime facade, the per-thread boxes that hold
//!                        per-request futures without allocating, and what a shard records
//!                        for metrics (with the text a scrape renders), below everything
//! ```
//!
//! A handler's crate names `ringserve` only: [`rt`] is the runtime it needs (timers, tasks,
//! blocking work, streams), and the patched glommio underneath is the `ringserve-glommio`
//! package, a real dependency that travels with ringserve.

#![warn(missing_docs)]

mod body;
pub mod builtin;
#[cfg(feature = "cli")]
pub mod cli;
mod config;
mod deploy;
mod deployment;
mod error;
mod extensions;
/// The HTTP/1 codec. Not public API: public only so that the codec's benchmarks and property
/// tests can reach it; it may change in any release.
#[doc(hidden)]
pub mod http1;
pub mod ingress;
pub mod limits;
/// Per-shard recording, and the text and figures of a scrape. Not public API: public only so
/// that the recording's benchmark can reach it; [`Stats`] and its parts are the public view.
#[doc(hidden)]
pub mod metrics;
pub mod middleware;
mod options;
mod pooled;
pub mod prefix;
mod request;
mod request_body;
mod request_builder;
mod request_id;
mod response;
pub mod rt;
mod scrape;
mod serve;
mod set_cookie;
mod shard;
pub mod sse;
mod trace;

pub use body::BoxError;
pub use deploy::{Application, DeploymentHandle, LocalReplica, Overload};
pub use deployment::Deployment;
pub use error::Error;
pub use extensions::Extensions;
pub use http1::reject::ParseError;
pub use limits::Limits;
pub use metrics::{ApplicationStats, Percentiles, ShardStats, Stats};
pub use options::{Cores, HttpOptions, IoBackend};
#[doc(hidden)]
pub use pooled::{PooledBox, PooledFuture};
pub use request::Request;
pub use request_body::{BodyError, BodyStream};
pub use request_builder::RequestBuilder;
pub use response::Response;
pub use serve::{Serve, ServerHandle, run};
pub use set_cookie::{CookieError, SameSite, SetCookie};
pub use trace::TraceParent;

/// The README's Rust blocks, compiled (and those not marked `no_run` run) by `cargo test`, so
/// that the front door cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The `http` crate's vocabulary, re-exported so users need not depend on it directly.
pub use http::{HeaderName, HeaderValue, Method, StatusCode, Version, header};
