//! A shard's generation (the struct sits in `shard`'s facade, beside `ShardContext`, so that
//! forwarding can hold one without a cycle): its replicas of one [`Routes`]' applications, with their turns
//! (admission), scopes, forwarding links and health checks. `Serve::start` makes the first on
//! every shard; each `ServerHandle::reload` makes a new one on every shard, and each shard
//! switches to it between two requests.
//!
//! Invariant: a request — or a call forwarded from another shard, or a handle call — runs
//! wholly on the generation it started on, holding an `Rc` of it; nothing else holds one
//! strongly but the shard (forwarding's receive loops hold `Weak`s). So a retired generation
//! whose `Rc` is the shard's alone is idle on this shard, and it is dropped once every shard
//! has found its own copy idle (`Routes::retired_shards`): only then can no shard send another
//! a call for it.

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::Generation;
use super::forward;
use crate::config::{Routes, ServerConfig};
use crate::deploy::admission::Admission;
use crate::deploy::health;
use crate::metrics::ShardMetrics;
use crate::request::AppScope;

impl Generation {
    /// Builds shard `index`'s replicas of `routes`; a factory that fails or panics is reported
    /// by application name.
    pub(crate) fn build(
        index: usize,
        config: &ServerConfig,
        routes: Arc<Routes>,
        metrics: Rc<ShardMetrics>,
    ) -> Result<Self, String> {
        let shards = config.options.cores.len();
        let hosts = &routes.hosts;
        let mut replicas = Vec::with_capacity(routes.apps.len());
        for (app_index, (app, hosts)) in routes.apps.iter().zip(hosts).enumerate() {
            if !hosts.contains(&index) {
                replicas.push(None);
                continue;
            }
            let built =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.build_replica()));
            match built {
                // The server's layers are for HTTP traffic: a deployment reached only through
                // handles is not wrapped in them.
                Ok(Ok(replica)) if app_index < routes.routed => {
                    replicas.push(Some(routes.layers.wrap(replica)))
                }
                Ok(Ok(replica)) => replicas.push(Some(replica)),
                Ok(Err(reason)) => {
                    return Err(format!(
                        "application {:?} failed to build its replica on shard {index}: {reason}",
                        app.configured_name()
                    ));
                }
                Err(_) => {
                    return Err(format!(
                        "application {:?} panicked while building its replica on shard {index}",
                        app.configured_name()
                    ));
                }
            }
        }
        let app_scopes: Vec<Rc<AppScope>> = routes
            .apps
            .iter()
            .map(|app| {
                Rc::new(AppScope {
                    name: Rc::from(app.configured_name()),
                    root_path: Box::from(config.options.root_path.as_str()),
                    root_in_path: config.options.strip_root_path,
                    server_address: Box::from(config.server_address.as_str()),
                    trust_forwarded_proto: config.options.trust_forwarded_proto,
                })
            })
            .collect();
        let admissions = routes
            .apps
            .iter()
            .zip(&app_scopes)
            .enumerate()
            .map(|(app_index, (app, scope))| {
                let admission =
                    Admission::new(app.admission(), routes.kind(app_index), &scope.name);
                // Others choose where to forward by this replica's published load.
                if forward::spills_over(hosts[app_index].len(), shards) {
                    let routes = routes.clone();
                    admission.publish_load_with(move |load| {
                        routes.loads[app_index][index].publish(load);
                    });
                }
                admission
            })
            .collect();
        Ok(Generation {
            routes_json: Bytes::copy_from_slice(&routes.routes_json),
            routes,
            replicas,
            forwarder: OnceCell::new(),
            app_scopes,
            admissions,
            health_checks: RefCell::new(Vec::new()),
            metrics,
        })
    }

    /// The label a shard's pulse names while it runs a handler of `apps[app]`.
    pub(crate) fn label(&self, app: usize) -> usize {
        self.routes.label_base + app
    }

    /// Whether `label` names one of its applications.
    pub(crate) fn labels(&self, label: usize) -> bool {
        (self.routes.label_base..self.routes.label_base + self.routes.apps.len()).contains(&label)
    }

    /// Starts checking this shard's replicas' health, into this generation's board.
    pub(crate) fn start_health_checks(&self) {
        let checks = self
            .replicas
            .iter()
            .zip(&self.routes.apps)
            .enumerate()
            .filter_map(|(app, (replica, config))| {
                replica.as_ref().map(|replica| (app, replica, config))
            })
            .map(|(app, replica, config)| {
                let watched = health::watch(
                    replica.clone(),
                    app,
                    config.health(),
                    self.routes.health.clone(),
                );
                glommio::spawn_local(watched).detach()
            });
        self.health_checks.borrow_mut().extend(checks);
    }

    /// Stops the health checks: the generation is no longer the one `/-/healthz` reports.
    pub(crate) fn stop_health_checks(&self) {
        for check in self.health_checks.borrow_mut().drain(..) {
            check.cancel();
        }
    }

    /// Whether it still serves calls for other shards.
    pub(crate) fn serves_others(&self) -> bool {
        self.forwarder
            .get()
            .is_some_and(|forwarder| forwarder.is_serving())
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        self.stop_health_checks();
    }
}

/// A generation the shard has switched away from, kept until no shard can need it.
pub(crate) struct Retiring {
    generation: Rc<Generation>,
    /// Whether this shard has counted itself in `Routes::retired_shards`.
    counted: bool,
}

impl Retiring {
    pub(crate) fn new(generation: Rc<Generation>) -> Self {
        Retiring {
            generation,
            counted: false,
        }
    }

    pub(crate) fn generation(&self) -> &Rc<Generation> {
        &self.generation
    }

    /// Whether it may be dropped now, out of `shards`: idle here, and found idle by every
    /// shard. Counts this shard in once, the first time it finds it idle.
    pub(crate) fn may_drop(&mut self, shards: usize) -> bool {
        // Only the shard's own `Rc` left: no request, call or stream of it in flight here.
        let idle = Rc::strong_count(&self.generation) == 1;
        if idle && !self.counted {
            self.counted = true;
            self.generation
                .routes
                .retired_shards
                .fetch_add(1, Ordering::AcqRel);
        }
        idle && self
            .generation
            .routes
            .retired_shards
            .load(Ordering::Acquire)
            >= shards
    }
}
