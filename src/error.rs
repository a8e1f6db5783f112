//! The public error type: what can go wrong before or while a server starts.
//!
//! Invariant: configuration mistakes are reported here, naming the offending value, before any
//! socket is bound or any shard thread is started.

use std::fmt;
use std::io;

/// Why a server could not be built or started.
#[derive(Debug)]
pub enum Error {
    /// A bad option, prefix or application; the message names the value.
    Config(String),
    /// Binding a listener or starting a shard failed.
    Io {
        /// What was being done, with the address or core involved.
        context: String,
        /// The operating system's error.
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config(message.into())
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(message) => write!(f, "invalid configuration: {message}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(_) => None,
            Error::Io { source, .. } => Some(source),
        }
    }
}

/// Says a problem the operator must see — a server that starts, but not as asked (a data path
/// the kernel cannot run) — through `tracing` when a subscriber is installed, on stderr
/// otherwise: a library's log line that nobody collects warns nobody.
pub(crate) fn warn_operator(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{message}");
    } else {
        eprintln!("ringserve: warning: {message}");
    }
}

/// Says an error the operator must see while the server runs — a handler that panicked —
/// through `tracing` when a subscriber is installed, on stderr otherwise.
pub(crate) fn log_operator_error(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::error!("{message}");
    } else {
        eprintln!("ringserve: error: {message}");
    }
}
