//! `ringserve run FILE`: start the file's server, then answer signals until it stops —
//! SIGHUP reloads the file, SIGTERM or SIGINT drains and stops (a second one exits at once).
//!
//! Invariant: a reload that fails (a bad file, a factory that fails on some shard) changes
//! nothing: the error is logged and the running applications go on serving.

use std::path::{Path, PathBuf};
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::build::Overrides;
use super::registry::Registry;
use super::{load_plan, logging};
use crate::serve::{FORCED_EXIT_STATUS, ServerHandle};

/// How often the main thread looks for signals and for a shard that died.
const SIGNAL_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Runs until a stop signal; the process's exit status.
pub(crate) fn run(file: PathBuf, overrides: Overrides, registry: Registry) -> i32 {
    let plan = match load_plan(&file, &overrides, &registry) {
        Ok(plan) => plan,
        Err(errors) => {
            for error in &errors {
                eprintln!("error: {error}");
            }
            return 1;
        }
    };
    logging::install(plan.logging);
    for warning in &plan.warnings {
        tracing::warn!("{warning}");
    }
    // Before the server starts: a signal that arrives while it starts waits for it.
    let mut signals = match Signals::new([SIGHUP, SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(error) => {
            tracing::error!("installing signal handlers: {error}");
            return 1;
        }
    };
    let summary = plan.summary.join(", ");
    let restart_settings = plan.restart_settings.clone();
    let server = match plan.serve.start() {
        Ok(server) => server,
        Err(error) => {
            tracing::error!("{}: {error}", file.display());
            return 1;
        }
    };
    tracing::info!(
        "serving {} on http://{} with {} shard(s) on cores {:?}: {summary}",
        file.display(),
        server.local_addr(),
        server.cores().len(),
        server.cores(),
    );
    let status = loop {
        let mut stop = false;
        for signal in signals.pending() {
            match signal {
                SIGHUP => reload(&server, &file, &overrides, &registry, &restart_settings),
                signal => {
                    tracing::info!("signal {signal}: draining, then stopping");
                    stop = true;
                }
            }
        }
        if stop {
            break 0;
        }
        if let Some(shard) = server.exited_shard() {
            tracing::error!("shard {shard} stopped unexpectedly: stopping the server");
            break 1;
        }
        std::thread::sleep(SIGNAL_POLL_INTERVAL);
    };
    // A second stop signal during the drain ends the process at once.
    let handle = signals.handle();
    let watcher = std::thread::spawn(move || {
        if signals.forever().any(|signal| signal != SIGHUP) {
            std::process::exit(FORCED_EXIT_STATUS);
        }
    });
    server.shutdown();
    handle.close();
    let _ = watcher.join();
    tracing::info!("stopped");
    status
}

/// SIGHUP: the file again, checked whole; the running server switches to it, or keeps what
/// it serves and says why.
fn reload(
    server: &ServerHandle,
    file: &Path,
    overrides: &Overrides,
    registry: &Registry,
    restart_settings: &str,
) {
    let plan = match load_plan(file, overrides, registry) {
        Ok(plan) => plan,
        Err(errors) => {
            for error in &errors {
                tracing::error!("reload refused, still serving the previous file: {error}");
            }
            return;
        }
    };
    for warning in &plan.warnings {
        tracing::warn!("{warning}");
    }
    if plan.restart_settings != restart_settings {
        tracing::warn!(
            "{}: http_options, the ringserve section (but compression) or the log's level or \
             encoding changed: they apply at the next restart; this reload applies the \
             applications, the access log and compression",
            file.display()
        );
    }
    match server.reload(plan.serve) {
        Ok(()) => tracing::info!("reloaded {}: {}", file.display(), plan.summary.join(", ")),
        Err(error) => {
            tracing::error!("reload refused, still serving the previous file: {error}")
        }
    }
}
