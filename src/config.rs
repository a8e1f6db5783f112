//! `ServerConfig`: what every shard of a server shares, read-only, built by `Serve::start`
//! before any shard starts — the resolved options, the applications and the deployments they
//! bind, the server's layers, the prefix trie and what is rendered once (`/-/routes`, the 404
//! hint). It sits below `shard` (which reads it) and `serve` (which builds it), so neither
//! imports the other for it.
//!
//! Invariant: after `Serve::start` hands it to the shards in an `Arc`, nothing in it changes
//! except through the cross-core cells meant for that — each replica's health (`HealthBoard`),
//! its published load (`Loads`), each shard's pulse (`PulseBoard`) and the drain flag
//! (`draining`, set once by the server handle) — which their owners write and others only
//! read.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;

use crate::deploy::Application;
use crate::deploy::handle::DeploymentId;
use crate::deploy::health::HealthBoard;
use crate::deploy::load::Loads;
use crate::deploy::pulse::PulseBoard;
use crate::middleware::Layers;
use crate::options::ResolvedOptions;
use crate::prefix::PrefixTrie;

/// What all shards share, read-only, built before they start.
pub(crate) struct ServerConfig {
    pub(crate) options: ResolvedOptions,
    /// The applications given to `Serve::app`, in order, then the deployments they bind
    /// (`Application::deployment`), each once: an application's index is its place here.
    pub(crate) apps: Vec<Application>,
    /// How many of `apps` are reachable over HTTP: the first ones, those given to `Serve::app`.
    pub(crate) routed: usize,
    /// Each deployment's index in `apps`, for handles.
    pub(crate) deployments: HashMap<DeploymentId, usize>,
    /// Middleware around every routed application, outermost first.
    pub(crate) layers: Layers,
    pub(crate) prefix_trie: PrefixTrie,
    /// `/-/routes`, rendered once.
    pub(crate) routes_json: Bytes,
    /// The end of every 404 body: `Ping http://<host>:<port>/-/routes for available routes.`
    pub(crate) not_found_hint: String,
    /// `<host>:<port>` as the server listens (IPv6 hosts in brackets): the authority of
    /// `Request::url` for a request that names none (HTTP/1.0 without `Host`).
    pub(crate) server_address: String,
    /// Each application's healthy replicas, for `/-/healthz` on every shard.
    pub(crate) health: Arc<HealthBoard>,
    /// Each application's load on each shard's replica, published by that shard, read by the
    /// others when they forward.
    pub(crate) loads: Loads,
    /// Each shard's beats and running application, for the stall watchdog; its verdicts, for
    /// `/-/healthz`.
    pub(crate) pulses: PulseBoard,
    /// Set once shutdown's drain period begins: `/-/healthz` and `/-/routes` answer 503 so
    /// that load balancers stop sending here. Read only by those two endpoints.
    pub(crate) draining: AtomicBool,
}

impl ServerConfig {
    /// What messages call `apps[app]`: an "Application" is routed over HTTP, a
    /// "Deployment" only bound for handles.
    pub(crate) fn kind(&self, app: usize) -> &'static str {
        if app < self.routed {
            "Application"
        } else {
            "Deployment"
        }
    }
}
