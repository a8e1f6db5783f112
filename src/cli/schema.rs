//! The config file's shape: Ray Serve's `serve deploy` schema (`http_options`,
//! `applications[]` with their `deployments[]`, `logging_config`), plus ringserve's own
//! `ringserve:` section, as serde types that both YAML and TOML deserialize into.
//!
//! Invariant: every struct refuses unknown keys (`deny_unknown_fields`), so a typo is an error
//! naming the key; a key that means something only to Ray is a field of type [`RayOnly`],
//! accepted whatever its value and reported by [`ConfigFile::ray_only_keys`] for a warning.
//! Values are only parsed here; `build` checks their ranges and names the bad ones.

use serde::Deserialize;
use serde::de::IgnoredAny;

/// A key Ray Serve understands and ringserve does not use (`runtime_env`, `ray_actor_options`,
/// `proxy_location`, …): accepted with a warning naming it, so an existing Ray config loads.
pub(crate) type RayOnly = Option<IgnoredAny>;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub http_options: HttpOptionsSection,
    #[serde(default)]
    pub applications: Vec<ApplicationSection>,
    #[serde(default)]
    pub logging_config: LoggingSection,
    /// ringserve's own options.
    #[serde(default)]
    pub ringserve: RingserveSection,
    pub proxy_location: RayOnly,
    pub target_capacity: RayOnly,
    /// Until ringserve serves gRPC: Ray's gRPC proxy settings are accepted, with a warning.
    pub grpc_options: RayOnly,
}

/// Ray Serve's `http_options`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpOptionsSection {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub root_path: Option<String>,
    pub request_timeout_s: Option<f64>,
    pub keep_alive_timeout_s: Option<f64>,
    /// TLS is not served yet: these are refused, never ignored (a server the operator believes
    /// to be HTTPS must not start in cleartext).
    pub ssl_keyfile: Option<IgnoredAny>,
    pub ssl_certfile: Option<IgnoredAny>,
    pub ssl_keyfile_password: Option<IgnoredAny>,
    pub ssl_ca_certs: Option<IgnoredAny>,
    pub location: RayOnly,
    pub middlewares: RayOnly,
}

/// One of `applications[]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplicationSection {
    /// Ray Serve's default for an unnamed application.
    #[serde(default = "default_app_name")]
    pub name: String,
    #[serde(default = "default_route_prefix")]
    pub route_prefix: String,
    /// Which deployment of the binary's registry builds this application.
    pub import_path: String,
    /// Handed to the registry's factory, deserialized into its own type.
    pub args: Option<serde_json::Value>,
    #[serde(default)]
    pub deployments: Vec<DeploymentSection>,
    pub runtime_env: RayOnly,
    pub external_scaler_enabled: RayOnly,
    pub logging_config: RayOnly,
}

fn default_app_name() -> String {
    crate::options::DEFAULT_APP_NAME.to_owned()
}

fn default_route_prefix() -> String {
    "/".to_owned()
}

/// One of an application's `deployments[]`: settings for the deployment of that name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeploymentSection {
    pub name: String,
    pub num_replicas: Option<NumReplicas>,
    pub max_ongoing_requests: Option<usize>,
    /// Ray Serve's `-1` means unbounded.
    pub max_queued_requests: Option<i64>,
    pub health_check_period_s: Option<f64>,
    pub health_check_timeout_s: Option<f64>,
    /// Ray hands it to the deployment's `reconfigure`, which ringserve deployments do not
    /// have: accepted with a warning that says so.
    pub user_config: RayOnly,
    pub autoscaling_config: RayOnly,
    pub ray_actor_options: RayOnly,
    pub placement_group_bundles: RayOnly,
    pub placement_group_strategy: RayOnly,
    pub max_replicas_per_node: RayOnly,
    pub graceful_shutdown_wait_loop_s: RayOnly,
    pub graceful_shutdown_timeout_s: RayOnly,
    pub logging_config: RayOnly,
    pub request_router_config: RayOnly,
}

/// `num_replicas`: a count, or Ray's `auto` (autoscaling, which ringserve does not do: a
/// replica on every shard, with a warning).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum NumReplicas {
    Count(usize),
    Named(String),
}

/// Ray Serve's `logging_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoggingSection {
    /// `TEXT` (the default) or `JSON`.
    pub encoding: Option<String>,
    /// Python's names: `DEBUG`, `INFO` (the default), `WARNING`, `ERROR`, `CRITICAL`.
    pub log_level: Option<String>,
    /// One line per request on target `ringserve::access`; on by default, as in Ray Serve.
    pub enable_access_log: Option<bool>,
    pub logs_dir: RayOnly,
    pub additional_log_standard_attrs: RayOnly,
}

/// ringserve's own options: everything `HttpOptions` has beyond Ray's `http_options`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RingserveSection {
    /// A count, a list of core ids, or `all` (as many as the CPU quota allows).
    pub cores: Option<CoresValue>,
    /// `io_uring` (the default) or `glommio`.
    pub io_backend: Option<String>,
    /// How long `/-/healthz` answers 503 before the listener closes, on SIGTERM.
    pub drain_period_s: Option<f64>,
    /// How long in-flight requests may finish once the listener has closed.
    pub shutdown_grace_s: Option<f64>,
    pub start_timeout_s: Option<f64>,
    pub shard_stall_threshold_s: Option<f64>,
    pub busy_poll_us: Option<u64>,
    pub blocking_threads: Option<usize>,
    pub strip_root_path: Option<bool>,
    pub trust_forwarded_proto: Option<bool>,
    /// gzip and brotli for every application, chosen by `Accept-Encoding`.
    pub compression: Option<bool>,
    /// `host:port` of the metrics listener (`GET /metrics`, `GET /stats`), or `off`.
    pub metrics_address: Option<String>,
    /// What every metric name starts with (`ringserve_`; `ray_` for Ray Serve's names).
    pub metrics_prefix: Option<String>,
    #[serde(default)]
    pub limits: LimitsSection,
}

/// `ringserve.cores`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum CoresValue {
    Count(usize),
    List(Vec<usize>),
    Named(String),
}

/// `ringserve.limits`: `Limits`' fields, durations in seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsSection {
    pub head_bytes_max: Option<usize>,
    pub uri_bytes_max: Option<usize>,
    pub headers_count_max: Option<usize>,
    pub body_bytes_max: Option<usize>,
    pub pipeline_depth_max: Option<usize>,
    pub connections_per_shard_max: Option<usize>,
    pub header_read_timeout_s: Option<f64>,
    pub body_read_timeout_s: Option<f64>,
    pub body_min_bytes_per_second: Option<usize>,
    pub body_min_rate_grace_s: Option<f64>,
    pub body_read_ahead_bytes_per_shard_max: Option<usize>,
    pub send_timeout_s: Option<f64>,
}

impl ConfigFile {
    /// The Ray-only keys the file sets, as key paths (`applications[0].runtime_env`).
    pub(crate) fn ray_only_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut note = |present: &RayOnly, path: String| {
            if present.is_some() {
                keys.push(path);
            }
        };
        note(&self.proxy_location, "proxy_location".to_owned());
        note(&self.target_capacity, "target_capacity".to_owned());
        note(&self.grpc_options, "grpc_options".to_owned());
        note(
            &self.http_options.location,
            "http_options.location".to_owned(),
        );
        note(
            &self.http_options.middlewares,
            "http_options.middlewares".to_owned(),
        );
        note(
            &self.logging_config.logs_dir,
            "logging_config.logs_dir".to_owned(),
        );
        note(
            &self.logging_config.additional_log_standard_attrs,
            "logging_config.additional_log_standard_attrs".to_owned(),
        );
        for (index, app) in self.applications.iter().enumerate() {
            let at = |key: &str| format!("applications[{index}].{key}");
            note(&app.runtime_env, at("runtime_env"));
            note(&app.external_scaler_enabled, at("external_scaler_enabled"));
            note(&app.logging_config, at("logging_config"));
            for (position, deployment) in app.deployments.iter().enumerate() {
                let at = |key: &str| format!("applications[{index}].deployments[{position}].{key}");
                for (value, key) in [
                    (&deployment.autoscaling_config, "autoscaling_config"),
                    (&deployment.ray_actor_options, "ray_actor_options"),
                    (
                        &deployment.placement_group_bundles,
                        "placement_group_bundles",
                    ),
                    (
                        &deployment.placement_group_strategy,
                        "placement_group_strategy",
                    ),
                    (&deployment.max_replicas_per_node, "max_replicas_per_node"),
                    (
                        &deployment.graceful_shutdown_wait_loop_s,
                        "graceful_shutdown_wait_loop_s",
                    ),
                    (
                        &deployment.graceful_shutdown_timeout_s,
                        "graceful_shutdown_timeout_s",
                    ),
                    (&deployment.logging_config, "logging_config"),
                    (&deployment.request_router_config, "request_router_config"),
                ] {
                    note(value, at(key));
                }
            }
        }
        keys
    }
}
