//! The edge server's command line: `ringserve check FILE`, `ringserve run FILE`, `ringserve
//! status`, over a config file in Ray Serve's schema (`schema`, read by `load`, made a
//! [`Serve`](crate::Serve) by `build`), with the deployments a [`Registry`] knows.
//!
//! A user's own binary runs the same command line with its own deployments added:
//!
//! ```no_run
//! use ringserve::cli::{NoArgs, Registry};
//! use ringserve::{Application, Deployment, Request, Response};
//!
//! struct Hello;
//! impl Deployment for Hello {
//!     async fn call(&self, _request: Request) -> Response { Response::text("hello") }
//! }
//!
//! fn main() {
//!     ringserve::cli::main(Registry::new().add("hello:Hello", |_: NoArgs| {
//!         Application::new(|| Hello).name("Hello")
//!     }))
//! }
//! ```
//!
//! Invariant: `check` and `run` load a file through the same code, so a file `check` accepts
//! is one `run` starts (on the same machine); every problem is reported before anything
//! binds, and the process exits 0 only after a clean check or a graceful stop.

mod build;
mod load;
mod logging;
mod registry;
mod run;
mod schema;
mod status;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};

pub use load::ConfigError;
pub use registry::{NoArgs, Registry};

use crate::options::Cores;
use build::{Overrides, Plan};

/// `ringserve`: a low-latency HTTP edge server, configured as Ray Serve is.
#[derive(Debug, Parser)]
#[command(
    name = "ringserve",
    version,
    about = "ringserve: a low-latency HTTP edge server for Linux, run from a config file in Ray Serve's schema"
)]
struct Command {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Validate a config file: exit 0, or 1 naming each bad value.
    Check {
        /// The config file (*.yaml, *.yml, *.json or *.toml).
        file: PathBuf,
    },
    /// Serve a config file in the foreground, logging to stderr. SIGTERM or SIGINT drains
    /// (`/-/healthz` answers 503 for `drain_period_s`), then stops; SIGHUP re-reads the file.
    Run {
        /// The config file (*.yaml, *.yml, *.json or *.toml).
        file: PathBuf,
        /// Listen on this address instead of `http_options.host`.
        #[arg(long)]
        host: Option<String>,
        /// Listen on this port instead of `http_options.port`.
        #[arg(long)]
        port: Option<u16>,
        /// Run shards on these cores instead of `ringserve.cores`: a count (4) or a list (0,2,4-6).
        #[arg(long, value_parser = parse_cores)]
        cores: Option<Cores>,
    },
    /// Ask a running server for its applications, health and figures (per application and
    /// per shard: request rate, latency percentiles, errors, queue).
    Status {
        /// The server's address.
        #[arg(long, default_value = "127.0.0.1:8000")]
        address: String,
        /// Its metrics listener (`ringserve.metrics_address`).
        #[arg(long, default_value = build::DEFAULT_METRICS_ADDRESS)]
        metrics_address: String,
        /// Seconds between the two samples the request rates come from (0: one sample, no
        /// rates).
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

fn parse_cores(text: &str) -> Result<Cores, String> {
    text.parse()
}

/// Runs the command line with `registry`'s deployments and exits: what a binary's `main`
/// calls. Exit status 0 on success, 1 for a bad file or a failed start, 2 for bad arguments.
pub fn main(registry: Registry) -> ! {
    let command = Command::parse();
    let status = match command.action {
        Action::Check { file } => check(&file, &registry),
        Action::Run {
            file,
            host,
            port,
            cores,
        } => run::run(file, Overrides { host, port, cores }, registry),
        Action::Status {
            address,
            metrics_address,
            interval,
            json,
        } => status::status(&status::Asked {
            address: &address,
            metrics_address: &metrics_address,
            interval: Duration::try_from_secs_f64(interval).unwrap_or_default(),
            json,
        }),
    };
    std::process::exit(status)
}

/// Loads and checks `file` as `run` would: the plan, or every error (and the warnings).
pub(crate) fn load_plan(
    file: &Path,
    overrides: &Overrides,
    registry: &Registry,
) -> Result<Plan, Vec<ConfigError>> {
    let config = load::load(file).map_err(|error| vec![error])?;
    build::plan(file, config, overrides, registry)
}

/// `ringserve check FILE`.
fn check(file: &Path, registry: &Registry) -> i32 {
    match load_plan(file, &Overrides::default(), registry) {
        Ok(plan) => {
            for warning in &plan.warnings {
                eprintln!("warning: {warning}");
            }
            println!(
                "{}: OK, {} application(s): {}",
                file.display(),
                plan.summary.len(),
                plan.summary.join(", ")
            );
            0
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("error: {error}");
            }
            1
        }
    }
}
