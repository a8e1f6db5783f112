//! Turns a loaded [`ConfigFile`] into a [`Serve`]: options, applications built by the
//! registry's factories, their deployments' settings, the server's layers, and how to log.
//!
//! Invariant: every value is checked here or by [`Serve::check`], and every bad one is a
//! [`ConfigError`] naming its key — all of them in one pass, so that `ringserve check` lists
//! each mistake of a file at once. Nothing is bound or started.

use std::path::Path;
use std::time::Duration;

use super::load::ConfigError;
use super::registry::Registry;
use super::schema::{
    ApplicationSection, ConfigFile, CoresValue, DeploymentSection, LimitsSection, NumReplicas,
    RingserveSection,
};
use crate::deploy::Application;
use crate::limits::Limits;
use crate::middleware::{AccessLog, Compression};
use crate::options::{Cores, HttpOptions, IoBackend};
use crate::serve::Serve;

/// The edge binary's drain period: long enough for a load balancer polling `/-/healthz` every
/// second to see two failures, short enough for a quick restart.
pub(crate) const DEFAULT_DRAIN_PERIOD: Duration = Duration::from_secs(2);

/// The binary's metrics listener unless `ringserve.metrics_address` names another (or `off`):
/// loopback only, so that nothing outside the machine scrapes it unless the operator says so.
/// Taken (another ringserve on the machine, a node exporter): a warning, no listener.
pub(crate) const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9100";

/// The longest duration a file may give: ten years, far past any timeout that means
/// something, and far from where adding it to a clock reading would overflow.
const SECONDS_MAX: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// What the command line sets over the file.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub cores: Option<Cores>,
}

/// How the binary logs (`logging_config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Logging {
    pub level: tracing::Level,
    pub json: bool,
}

/// A file made ready to serve.
pub(crate) struct Plan {
    pub serve: Serve,
    pub logging: Logging,
    /// One line per Ray-only key and per setting accepted but not applied.
    pub warnings: Vec<String>,
    /// The applications, as `name at route_prefix (import_path)`, for the start-up log.
    pub summary: Vec<String>,
    /// What a reload cannot change — `http_options`, the `ringserve` section, the log's level
    /// and encoding — as the file says them (and the flags over them), to tell a reload that
    /// changes them that they wait for a restart.
    pub restart_settings: String,
}

/// Checks `config` (read from `file`) and builds its server, or names every bad value.
pub(crate) fn plan(
    file: &Path,
    mut config: ConfigFile,
    overrides: &Overrides,
    registry: &Registry,
) -> Result<Plan, Vec<ConfigError>> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut warnings: Vec<String> = config
        .ray_only_keys()
        .into_iter()
        .map(|key| format!("{key}: means something only to Ray Serve; ignored"))
        .collect();
    if let Some(host) = &overrides.host {
        config.http_options.host = Some(host.clone());
    }
    if let Some(port) = overrides.port {
        config.http_options.port = Some(port);
    }
    let mut report = |key: &str, message: String| problems.push((key.to_owned(), message));
    let options = http_options(&config, overrides, &mut report);
    let logging = logging(&config, &mut report);
    if config.applications.is_empty() {
        report("applications", "none: there is nothing to serve".to_owned());
    }
    let mut serve = Serve::new();
    let mut summary = Vec::new();
    for (index, section) in config.applications.iter().enumerate() {
        let key = format!("applications[{index}]");
        if let Some(app) = application(&key, section, registry, &mut report, &mut warnings) {
            summary.push(format!(
                "{:?} at {} ({})",
                section.name, section.route_prefix, section.import_path
            ));
            serve = serve.app(app);
        }
    }
    if config.logging_config.enable_access_log.unwrap_or(true) {
        serve = serve.layer(AccessLog::new());
    }
    if config.ringserve.compression.unwrap_or(false) {
        serve = serve.layer(Compression::new());
    }
    let serve = serve.options(options);
    let mut errors: Vec<ConfigError> = problems
        .into_iter()
        .map(|(key, message)| ConfigError::at_key(file, key, message))
        .collect();
    // The server's own checks (names, prefixes, replicas against cores) once the file's
    // values are known good: they read the values, not the file.
    if errors.is_empty()
        && let Err(error) = serve.check()
    {
        let message = match error {
            crate::Error::Config(message) => message,
            other => other.to_string(),
        };
        errors.push(ConfigError::whole_file(file, message));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // `compression` is a layer: a reload applies it, as it does the access log.
    config.ringserve.compression = None;
    let restart_settings = format!(
        "{:?} {:?} {:?} {:?}",
        config.http_options,
        config.ringserve,
        config.logging_config.encoding,
        config.logging_config.log_level
    );
    Ok(Plan {
        serve,
        logging,
        restart_settings,
        warnings: warnings
            .into_iter()
            .map(|warning| format!("{}: {warning}", file.display()))
            .collect(),
        summary,
    })
}

/// A duration in seconds: finite and not negative; `positive` also refuses zero.
fn seconds(
    value: Option<f64>,
    key: &str,
    positive: bool,
    report: &mut dyn FnMut(&str, String),
) -> Option<Duration> {
    let value = value?;
    let duration = Duration::try_from_secs_f64(value).ok();
    match duration {
        Some(duration) if duration > SECONDS_MAX => {
            let max = SECONDS_MAX.as_secs();
            report(
                key,
                format!("{value} is longer than {max} seconds (ten years)"),
            );
            None
        }
        Some(duration) if !(positive && duration.is_zero()) => Some(duration),
        _ => {
            let wanted = if positive {
                "longer than zero"
            } else {
                "zero or more"
            };
            report(key, format!("{value} is not a number of seconds {wanted}"));
            None
        }
    }
}

fn http_options(
    config: &ConfigFile,
    overrides: &Overrides,
    report: &mut dyn FnMut(&str, String),
) -> HttpOptions {
    let http = &config.http_options;
    for (value, key) in [
        (&http.ssl_keyfile, "http_options.ssl_keyfile"),
        (&http.ssl_certfile, "http_options.ssl_certfile"),
        (
            &http.ssl_keyfile_password,
            "http_options.ssl_keyfile_password",
        ),
        (&http.ssl_ca_certs, "http_options.ssl_ca_certs"),
    ] {
        if value.is_some() {
            report(
                key,
                "ringserve does not serve TLS yet: terminate TLS in front of it and remove this key"
                    .to_owned(),
            );
        }
    }
    let mut options = HttpOptions::new().drain_period(DEFAULT_DRAIN_PERIOD);
    if let Some(host) = &http.host {
        options = options.host(host.clone());
    }
    if let Some(port) = http.port {
        options = options.port(port);
    }
    if let Some(root_path) = &http.root_path {
        options = options.root_path(root_path.clone());
    }
    if let Some(timeout) = seconds(
        http.request_timeout_s,
        "http_options.request_timeout_s",
        true,
        report,
    ) {
        options = options.request_timeout(timeout);
    }
    if let Some(timeout) = seconds(
        http.keep_alive_timeout_s,
        "http_options.keep_alive_timeout_s",
        true,
        report,
    ) {
        options = options.keep_alive_timeout(timeout);
    }
    let ours = &config.ringserve;
    if let Some(cores) = overrides.cores.clone().or_else(|| cores(ours, report)) {
        options = options.cores(cores);
    }
    ringserve_options(options, ours, report)
}

fn cores(ours: &RingserveSection, report: &mut dyn FnMut(&str, String)) -> Option<Cores> {
    match ours.cores.as_ref()? {
        CoresValue::Count(count) => Some(Cores::Count(*count)),
        CoresValue::List(list) => Some(Cores::List(list.clone())),
        CoresValue::Named(name) if name == "all" => Some(Cores::All),
        CoresValue::Named(name) => match name.parse() {
            Ok(cores) => Some(cores),
            Err(why) => {
                report("ringserve.cores", format!("{name:?} {why}, nor \"all\""));
                None
            }
        },
    }
}

/// The `ringserve:` section's options.
fn ringserve_options(
    mut options: HttpOptions,
    ours: &RingserveSection,
    report: &mut dyn FnMut(&str, String),
) -> HttpOptions {
    options = match ours.metrics_address.as_deref() {
        None => options.metrics_address_if_free(DEFAULT_METRICS_ADDRESS),
        Some("off") => options,
        Some(address) if crate::options::resolve_metrics_address(address).is_none() => {
            report(
                "ringserve.metrics_address",
                format!("{address:?} is not a host:port (such as 127.0.0.1:9100), nor \"off\""),
            );
            options
        }
        Some(address) => options.metrics_address(address),
    };
    if let Some(prefix) = &ours.metrics_prefix {
        if crate::options::is_metrics_prefix(prefix) {
            options = options.metrics_prefix(prefix.clone());
        } else {
            report(
                "ringserve.metrics_prefix",
                format!(
                    "{prefix:?} may hold only letters, digits, '_' and ':', and not start with a digit"
                ),
            );
        }
    }
    if let Some(io) = &ours.io_backend {
        match io.as_str() {
            "io_uring" => options = options.io_backend(IoBackend::IoUring),
            "glommio" => options = options.io_backend(IoBackend::Glommio),
            _ => report(
                "ringserve.io_backend",
                format!("{io:?} is neither io_uring nor glommio"),
            ),
        }
    }
    if let Some(period) = seconds(
        ours.drain_period_s,
        "ringserve.drain_period_s",
        false,
        report,
    ) {
        options = options.drain_period(period);
    }
    if let Some(grace) = seconds(
        ours.shutdown_grace_s,
        "ringserve.shutdown_grace_s",
        false,
        report,
    ) {
        options = options.shutdown_grace(grace);
    }
    if let Some(timeout) = seconds(
        ours.start_timeout_s,
        "ringserve.start_timeout_s",
        true,
        report,
    ) {
        options = options.start_timeout(timeout);
    }
    if let Some(threshold) = seconds(
        ours.shard_stall_threshold_s,
        "ringserve.shard_stall_threshold_s",
        true,
        report,
    ) {
        options = options.shard_stall_threshold(threshold);
    }
    if let Some(micros) = ours.busy_poll_us {
        options = options.busy_poll(Duration::from_micros(micros));
    }
    if let Some(threads) = ours.blocking_threads {
        options = options.blocking_threads(threads);
    }
    if let Some(strip) = ours.strip_root_path {
        options = options.strip_root_path(strip);
    }
    if let Some(trust) = ours.trust_forwarded_proto {
        options = options.trust_forwarded_proto(trust);
    }
    options.limits(limits(&ours.limits, report))
}

fn limits(section: &LimitsSection, report: &mut dyn FnMut(&str, String)) -> Limits {
    let mut limits = Limits::default();
    let sizes = [
        (section.head_bytes_max, &mut limits.head_bytes_max),
        (section.uri_bytes_max, &mut limits.uri_bytes_max),
        (section.headers_count_max, &mut limits.headers_count_max),
        (section.body_bytes_max, &mut limits.body_bytes_max),
        (section.pipeline_depth_max, &mut limits.pipeline_depth_max),
        (
            section.connections_per_shard_max,
            &mut limits.connections_per_shard_max,
        ),
        (
            section.body_min_bytes_per_second,
            &mut limits.body_min_bytes_per_second,
        ),
        (
            section.body_read_ahead_bytes_per_shard_max,
            &mut limits.body_read_ahead_bytes_per_shard_max,
        ),
    ];
    for (value, field) in sizes {
        if let Some(value) = value {
            *field = value;
        }
    }
    let times = [
        (
            section.header_read_timeout_s,
            "ringserve.limits.header_read_timeout_s",
            &mut limits.header_read_timeout,
        ),
        (
            section.body_read_timeout_s,
            "ringserve.limits.body_read_timeout_s",
            &mut limits.body_read_timeout,
        ),
        (
            section.body_min_rate_grace_s,
            "ringserve.limits.body_min_rate_grace_s",
            &mut limits.body_min_rate_grace,
        ),
        (
            section.send_timeout_s,
            "ringserve.limits.send_timeout_s",
            &mut limits.send_timeout,
        ),
    ];
    for (value, key, field) in times {
        if let Some(duration) = seconds(value, key, true, report) {
            *field = duration;
        }
    }
    limits
}

fn logging(config: &ConfigFile, report: &mut dyn FnMut(&str, String)) -> Logging {
    let section = &config.logging_config;
    let json = match section.encoding.as_deref() {
        None | Some("TEXT") => false,
        Some("JSON") => true,
        Some(other) => {
            report(
                "logging_config.encoding",
                format!("{other:?} is neither TEXT nor JSON"),
            );
            false
        }
    };
    let level = match section
        .log_level
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("INFO") => tracing::Level::INFO,
        Some("DEBUG") => tracing::Level::DEBUG,
        Some("WARNING" | "WARN") => tracing::Level::WARN,
        Some("ERROR" | "CRITICAL") => tracing::Level::ERROR,
        Some(_) => {
            report(
                "logging_config.log_level",
                format!(
                    "{:?} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
                    section.log_level.as_deref().unwrap_or_default()
                ),
            );
            tracing::Level::INFO
        }
    };
    Logging { level, json }
}

/// One application: built by its registry factory, its deployments' settings applied, named
/// and placed as the file says.
fn application(
    key: &str,
    section: &ApplicationSection,
    registry: &Registry,
    report: &mut dyn FnMut(&str, String),
    warnings: &mut Vec<String>,
) -> Option<Application> {
    let name = &section.name;
    let built = registry.build(&section.import_path, section.args.clone());
    let mut app = match built {
        None => {
            let known: Vec<&str> = registry.import_paths().collect();
            report(
                &format!("{key}.import_path"),
                format!(
                    "application {name:?}: {:?} is not a deployment this binary knows (it knows {})",
                    section.import_path,
                    known.join(", ")
                ),
            );
            return None;
        }
        Some(Err(error)) => {
            let at = match &error.key {
                Some(field) => format!("{key}.args.{field}"),
                None => format!("{key}.args"),
            };
            report(&at, format!("application {name:?}: {}", error.message));
            return None;
        }
        Some(Ok(app)) => app,
    };
    let ingress = app.configured_name().to_owned();
    for (position, deployment) in section.deployments.iter().enumerate() {
        let at = format!("{key}.deployments[{position}]");
        let target = if deployment.name == *name {
            ingress.as_str()
        } else {
            deployment.name.as_str()
        };
        let Some(settings) = deployment_settings(&at, deployment, report, warnings) else {
            continue;
        };
        let mut found = false;
        app = app.map_named(target, &settings, &mut found);
        if !found {
            report(
                &format!("{at}.name"),
                format!(
                    "application {name:?} has no deployment {:?} (it has {})",
                    deployment.name,
                    app.deployment_names()
                        .iter()
                        .map(|name| format!("{name:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    Some(
        app.name(name.clone())
            .route_prefix(section.route_prefix.clone()),
    )
}

/// A deployment entry's settings, as a function over the `Application` it names; `None`
/// (and the errors reported) when a value is bad.
fn deployment_settings(
    key: &str,
    section: &DeploymentSection,
    report: &mut dyn FnMut(&str, String),
    warnings: &mut Vec<String>,
) -> Option<impl Fn(Application) -> Application + use<>> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut refuse =
        |field: &str, message: String| problems.push((format!("{key}.{field}"), message));
    let replicas = match &section.num_replicas {
        None => None,
        Some(NumReplicas::Count(count)) => Some(*count),
        Some(NumReplicas::Named(auto)) if auto == "auto" => {
            warnings.push(format!(
                "{key}.num_replicas: \"auto\" (Ray Serve's autoscaling): ringserve runs a replica on every shard instead"
            ));
            None
        }
        Some(NumReplicas::Named(other)) => {
            refuse(
                "num_replicas",
                format!("{other:?} is neither a count nor \"auto\""),
            );
            None
        }
    };
    let queued = match section.max_queued_requests {
        None | Some(-1) => None,
        Some(max) => match usize::try_from(max) {
            Ok(max) => Some(max),
            Err(_) => {
                refuse(
                    "max_queued_requests",
                    format!("{max} is neither a count nor -1 (unbounded)"),
                );
                None
            }
        },
    };
    let ongoing = section.max_ongoing_requests;
    if ongoing == Some(0) {
        refuse("max_ongoing_requests", "0: at least 1 is needed".to_owned());
    }
    let mut refuse_at = |key: &str, message: String| problems.push((key.to_owned(), message));
    let period = seconds(
        section.health_check_period_s,
        &format!("{key}.health_check_period_s"),
        true,
        &mut refuse_at,
    );
    let timeout = seconds(
        section.health_check_timeout_s,
        &format!("{key}.health_check_timeout_s"),
        true,
        &mut refuse_at,
    );
    if section.user_config.is_some() {
        warnings.push(format!(
            "{key}.user_config: ringserve deployments have no reconfigure(): ignored (put settings in the application's args)"
        ));
    }
    if !problems.is_empty() {
        for (key, message) in problems {
            report(&key, message);
        }
        return None;
    }
    Some(move |mut app: Application| {
        if let Some(replicas) = replicas {
            app = app.num_replicas(replicas);
        }
        if let Some(ongoing) = ongoing {
            app = app.max_ongoing_requests(ongoing);
        }
        if let Some(queued) = queued {
            app = app.max_queued_requests(queued);
        }
        if let Some(period) = period {
            app = app.health_check_period(period);
        }
        if let Some(timeout) = timeout {
            app = app.health_check_timeout(timeout);
        }
        app
    })
}
