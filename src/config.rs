//! `ServerConfig` and `Routes`: what every shard of a server shares, read-only. The
//! `ServerConfig` lives as long as the server — the resolved options, the address, the shards'
//! pulses, the drain flag, the names of every application served so far. A `Routes` is one
//! generation of applications — the applications and the deployments they bind, the server's
//! layers, the prefix trie, what is rendered once (`/-/routes`), their health and loads —
//! built by `Serve::start`, and again by each `ServerHandle::reload`. They sit below `shard`
//! (which reads them) and `serve` (which builds them), so neither imports the other for them.
//!
//! Invariant: once handed to the shards in an `Arc`, nothing in either changes except through
//! the cross-core cells meant for that — each replica's health (`HealthBoard`), its published
//! load (`Loads`), each shard's pulse (`PulseBoard`), the drain flag (`draining`, set once by
//! the server handle), a generation's count of shards done with it (`retired_shards`) — which
//! their owners write and others only read, and the table of application labels, which only
//! grows (a reload appends its applications', under a lock that the request path never takes:
//! only a stall's description reads it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::deploy::Application;
use crate::deploy::handle::DeploymentId;
use crate::deploy::health::HealthBoard;
use crate::deploy::load::Loads;
use crate::deploy::pulse::PulseBoard;
use crate::metrics::Target;
use crate::middleware::Layers;
use crate::options::ResolvedOptions;
use crate::prefix::PrefixTrie;

/// What all shards share for the server's whole life, read-only, built before they start.
pub(crate) struct ServerConfig {
    pub(crate) options: ResolvedOptions,
    /// The end of every 404 body: `Ping http://<host>:<port>/-/routes for available routes.`
    pub(crate) not_found_hint: String,
    /// `<host>:<port>` as the server listens (IPv6 hosts in brackets): the authority of
    /// `Request::url` for a request that names none (HTTP/1.0 without `Host`).
    pub(crate) server_address: String,
    /// Each shard's beats and running application, for the stall watchdog; its verdicts, for
    /// `/-/healthz`.
    pub(crate) pulses: PulseBoard,
    /// Set once shutdown's drain period begins: `/-/healthz` and `/-/routes` answer 503 so
    /// that load balancers stop sending here. Read only by those two endpoints.
    pub(crate) draining: AtomicBool,
    /// Every application and bound deployment of every generation, by label (the number a
    /// shard's pulse names while it runs one of its handlers: `Routes::label_base` plus its
    /// index): what a stall's description names.
    pub(crate) labels: Mutex<Vec<AppLabel>>,
    /// What each metric slot is labelled with: slot 0 for requests no application took, then
    /// one per distinct application name and route prefix served so far (a reload that keeps
    /// an application keeps its slot, and its counters). Read by scrapes only.
    pub(crate) metric_targets: Mutex<Vec<Target>>,
}

/// How a stall's description names an application.
#[derive(Clone, Debug)]
pub(crate) struct AppLabel {
    pub(crate) name: String,
    /// `None` for a deployment reached only through handles.
    pub(crate) route_prefix: Option<String>,
}

impl ServerConfig {
    /// Labels `apps` (the first `routed` of them reachable over HTTP) after every application
    /// labelled so far, and returns the first one's label. The table grows by each reload's
    /// applications: a few names per reload.
    pub(crate) fn label(&self, apps: &[Application], routed: usize) -> usize {
        let mut labels = self
            .labels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let base = labels.len();
        labels.extend(apps.iter().enumerate().map(|(index, app)| AppLabel {
            name: app.configured_name().to_owned(),
            route_prefix: (index < routed).then(|| app.configured_route_prefix().to_owned()),
        }));
        base
    }

    /// The metric slot of each of `apps` (the first `routed` of them reachable over HTTP),
    /// made for those never served before. The table grows only by new names.
    pub(crate) fn metric_slots(&self, apps: &[Application], routed: usize) -> Vec<usize> {
        let mut targets = self
            .metric_targets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if targets.is_empty() {
            targets.push(Target {
                application: String::new(),
                route: String::new(),
            });
        }
        apps.iter()
            .enumerate()
            .map(|(index, app)| {
                let target = Target {
                    application: app.configured_name().to_owned(),
                    route: if index < routed {
                        app.configured_route_prefix().to_owned()
                    } else {
                        String::new()
                    },
                };
                match targets.iter().position(|known| *known == target) {
                    Some(slot) => slot,
                    None => {
                        targets.push(target);
                        targets.len() - 1
                    }
                }
            })
            .collect()
    }

    /// The metric targets by slot, as a scrape labels them.
    pub(crate) fn metric_targets(&self) -> Vec<Target> {
        self.metric_targets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The application labelled `label`, if any.
    pub(crate) fn labelled(&self, label: usize) -> Option<AppLabel> {
        let labels = self
            .labels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        labels.get(label).cloned()
    }
}

/// One generation of applications, shared by all shards, read-only.
pub(crate) struct Routes {
    /// The applications given to `Serve::app`, in order, then the deployments they bind
    /// (`Application::deployment`), each once: an application's index is its place here.
    pub(crate) apps: Vec<Application>,
    /// How many of `apps` are reachable over HTTP: the first ones, those given to `Serve::app`.
    pub(crate) routed: usize,
    /// Each deployment's index in `apps`, for handles.
    pub(crate) deployments: HashMap<DeploymentId, usize>,
    /// For each application, the shards that host a replica (`Application::hosts`).
    pub(crate) hosts: Vec<Vec<usize>>,
    /// Middleware around every routed application, outermost first.
    pub(crate) layers: Layers,
    pub(crate) prefix_trie: PrefixTrie,
    /// `/-/routes`, rendered once.
    pub(crate) routes_json: Bytes,
    /// Each application's healthy replicas, for `/-/healthz` on every shard.
    pub(crate) health: Arc<HealthBoard>,
    /// Each application's load on each shard's replica, published by that shard, read by the
    /// others when they forward.
    pub(crate) loads: Loads,
    /// The label (`ServerConfig::labels`) of `apps[0]`; the others follow it.
    pub(crate) label_base: usize,
    /// Each application's metric slot (`ServerConfig::metric_slots`).
    pub(crate) metric_slots: Vec<usize>,
    /// How many shards have switched away from this generation and finished its last work:
    /// once all have, no shard can send another a call for it, and each drops it.
    pub(crate) retired_shards: AtomicUsize,
}

impl Routes {
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
