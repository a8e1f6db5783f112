//! The binary's log: `tracing` events on stderr, as text or JSON lines (`logging_config`),
//! the access log among them (target `ringserve::access`) when it is enabled.
//!
//! Invariant: installed once, before the server starts, so that every warning the engine
//! says while starting reaches the same stream in the same encoding.

use tracing_subscriber::filter::LevelFilter;

use super::build::Logging;

/// Installs the process's subscriber; a second call (a subscriber already set, as in a test
/// harness) leaves the first in place.
pub(crate) fn install(logging: Logging) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(LevelFilter::from_level(logging.level))
        .with_ansi(false);
    let _ = if logging.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
