//! Panics raised by handlers: caught where the handler runs, and logged once per application,
//! source location and shard per [`PANIC_LOG_INTERVAL`] — with its backtrace the first time, when
//! `RUST_BACKTRACE` asks for one — while the rest are counted and their number said with the
//! next line logged for that place. A handler that panics on every request then costs its
//! requests a 500 each, not the shard's throughput in stderr writes and backtraces.
//!
//! How: a process-wide panic hook, installed once by [`install_hook`] and chaining to the hook
//! it replaces, stays silent for a panic raised inside a catch scope (a handler's call, or a
//! poll of its future or stream, on this thread) and records where it was raised; the scope
//! that catches it reports it under its application. Panics anywhere else (the engine, a
//! user's own threads) reach the previous hook as before. Each shard keeps its own log of
//! sites (a thread-local map), so nothing is shared or locked: a handler that panics on every
//! shard is logged once per shard per interval.
//!
//! Invariant: a record is taken by the scope that caught its panic, so a report never names
//! another panic's place; the sites map holds at most [`PANIC_SITES_MAX`] entries.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Once;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_lite::Stream;

use crate::body::{BoxError, ChunkStream};
use crate::limits::{PANIC_LOG_INTERVAL, PANIC_SITES_MAX};
use crate::trace::TraceParent;

/// A panic caught from a handler.
pub(crate) type Panic = Box<dyn std::any::Any + Send>;

thread_local! {
    /// How many catch scopes enclose the code running on this thread.
    static SCOPES: Cell<u32> = const { Cell::new(0) };
    /// What the hook saw of the last panic raised inside a scope, until that scope takes it.
    static RAISED: RefCell<Option<Raised>> = const { RefCell::new(None) };
    /// Sites this thread (a shard) has logged so far.
    static SITES: RefCell<HashMap<Site, SiteLog>> = RefCell::new(HashMap::new());
}

/// Where a panic was raised and what it said.
struct Raised {
    location: String,
    message: String,
    backtrace: Option<Backtrace>,
}

/// A place panics are logged for: an application and a source location. Owned strings: the
/// map is written on the panic path only.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Site {
    app: String,
    location: String,
}

/// How a site's panics have been logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SiteLog {
    logged_at: Instant,
    unlogged: u64,
}

/// What to do with a panic at a site.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Log it, with the number of panics there since the last line.
    Log { unlogged_before: u64 },
    /// Count it: the site was logged less than an interval ago.
    Count,
}

impl SiteLog {
    fn first(now: Instant) -> Self {
        SiteLog {
            logged_at: now,
            unlogged: 0,
        }
    }

    fn on_panic(&mut self, now: Instant) -> Verdict {
        if now.duration_since(self.logged_at) < PANIC_LOG_INTERVAL {
            self.unlogged += 1;
            return Verdict::Count;
        }
        let unlogged_before = std::mem::take(&mut self.unlogged);
        self.logged_at = now;
        Verdict::Log { unlogged_before }
    }
}

/// Installs the hook, once per process, in front of the one set before it.
pub(crate) fn install_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if SCOPES.with(Cell::get) == 0 {
                return previous(info);
            }
            record(info);
        }));
    });
}

/// The hook's part inside a scope: remember the panic for the scope that will catch it.
fn record(info: &PanicHookInfo<'_>) {
    let location = info
        .location()
        .map(|location| location.to_string())
        .unwrap_or_else(|| "an unknown location".to_owned());
    let message = match info.payload().downcast_ref::<&str>() {
        Some(text) => (*text).to_owned(),
        None => match info.payload().downcast_ref::<String>() {
            Some(text) => text.clone(),
            None => "Box<dyn Any>".to_owned(),
        },
    };
    // A backtrace only for a location never logged: capturing one costs far more than the
    // panic itself.
    let backtrace = (!location_logged(&location)).then(Backtrace::capture);
    RAISED.with(|raised| {
        *raised.borrow_mut() = Some(Raised {
            location,
            message,
            backtrace,
        });
    });
}

fn location_logged(location: &str) -> bool {
    SITES.with(|sites| sites.borrow().keys().any(|site| site.location == location))
}

/// Runs `f` inside a catch scope: a panic in it is caught, logged under `app` as above, and
/// returned.
pub(crate) fn catching<R>(app: &Rc<str>, f: impl FnOnce() -> R) -> Result<R, Panic> {
    SCOPES.with(|scopes| scopes.set(scopes.get() + 1));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    SCOPES.with(|scopes| scopes.set(scopes.get() - 1));
    if result.is_err() {
        report(app);
    }
    result
}

/// A handler's future, each poll inside a catch scope: it ends with the handler's output, or
/// the panic that ended it. Each poll marks the shard's pulse with the application
/// (its `label`), so that a stall names it.
pub(crate) struct Caught<'a, F> {
    app: &'a Rc<str>,
    label: usize,
    /// The request's trace context, current while the handler is polled. Behind a pointer:
    /// held inline, its 55 bytes made every request's future larger (and callgrind counted
    /// 300 more instructions per request, moving it).
    trace: Option<Rc<TraceParent>>,
    future: F,
}

impl<'a, F: Future> Caught<'a, F> {
    pub(crate) fn new(
        app: &'a Rc<str>,
        label: usize,
        trace: Option<Rc<TraceParent>>,
        future: F,
    ) -> Self {
        Caught {
            app,
            label,
            trace,
            future,
        }
    }
}

impl<F: Future + Unpin> Future for Caught<'_, F> {
    type Output = Result<F::Output, Panic>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        super::running::mark(this.label);
        let _trace = crate::trace::Polling::enter(this.trace.as_deref());
        match catching(this.app, || Pin::new(&mut this.future).poll(cx)) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// A handler's streamed body, each poll inside a catch scope, keeping `held` (its admission
/// turn) until the stream is dropped. A panic is logged here and raised again for the sender,
/// which cuts the response (raising it again does not run the hook a second time). Each poll
/// marks the shard's pulse with the application, as [`Caught`] does.
pub(crate) fn caught_stream<H: Unpin + 'static>(
    app: Rc<str>,
    label: usize,
    trace: Option<Rc<TraceParent>>,
    chunks: ChunkStream,
    held: H,
) -> ChunkStream {
    Box::pin(CaughtStream {
        app,
        label,
        trace,
        chunks,
        _held: held,
    })
}

struct CaughtStream<H> {
    app: Rc<str>,
    label: usize,
    trace: Option<Rc<TraceParent>>,
    chunks: ChunkStream,
    _held: H,
}

impl<H: Unpin> Stream for CaughtStream<H> {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        super::running::mark(this.label);
        let _trace = crate::trace::Polling::enter(this.trace.as_deref());
        match catching(&this.app, || this.chunks.as_mut().poll_next(cx)) {
            Ok(poll) => poll,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Logs (or counts) the panic this thread's hook recorded, under `app`.
fn report(app: &Rc<str>) {
    let Some(raised) = RAISED.with(|raised| raised.borrow_mut().take()) else {
        // Not recorded: raised again by an inner scope (`resume_unwind`), which reported it.
        return;
    };
    let site = Site {
        app: app.to_string(),
        location: raised.location,
    };
    let verdict = SITES.with(|sites| {
        let mut sites = sites.borrow_mut();
        let full = sites.len() >= PANIC_SITES_MAX;
        let verdict = match sites.get_mut(&site) {
            Some(log) => log.on_panic(Instant::now()),
            // Past the bound every new site is logged: none is hidden by a full map.
            None if full => Verdict::Log { unlogged_before: 0 },
            None => {
                sites.insert(site.clone(), SiteLog::first(Instant::now()));
                Verdict::Log { unlogged_before: 0 }
            }
        };
        debug_assert!(
            sites.len() <= PANIC_SITES_MAX,
            "the sites map stays within its bound"
        );
        verdict
    });
    if let Verdict::Log { unlogged_before } = verdict {
        crate::error::log_operator_error(&describe(
            &site,
            &raised.message,
            raised.backtrace.as_ref(),
            unlogged_before,
        ));
    }
}

fn describe(site: &Site, message: &str, backtrace: Option<&Backtrace>, unlogged: u64) -> String {
    let mut text = format!(
        "a handler of application {:?} panicked at {}: {message}",
        site.app, site.location
    );
    if unlogged > 0 {
        text.push_str(&format!(
            " (and {unlogged} more times there since it was last logged, {} s or more ago)",
            PANIC_LOG_INTERVAL.as_secs()
        ));
    }
    match backtrace {
        Some(backtrace) if backtrace.status() == BacktraceStatus::Captured => {
            text.push_str(&format!("\nstack backtrace:\n{backtrace}"));
        }
        Some(_) => text.push_str(
            "\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        ),
        None => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_site_is_logged_once_per_interval_and_counts_the_rest() {
        let start = Instant::now();
        let mut log = SiteLog::first(start);
        let soon = start + Duration::from_millis(1);
        assert_eq!(log.on_panic(soon), Verdict::Count);
        assert_eq!(log.on_panic(soon), Verdict::Count);
        let later = start + PANIC_LOG_INTERVAL;
        assert_eq!(log.on_panic(later), Verdict::Log { unlogged_before: 2 });
        assert_eq!(log.on_panic(later), Verdict::Count);
        assert_eq!(
            log.on_panic(later + PANIC_LOG_INTERVAL),
            Verdict::Log { unlogged_before: 1 }
        );
    }

    #[test]
    fn a_repeated_site_names_how_many_were_not_logged() {
        let site = Site {
            app: "shop".to_owned(),
            location: "src/shop.rs:10:5".to_owned(),
        };
        assert_eq!(
            describe(&site, "boom", None, 0),
            "a handler of application \"shop\" panicked at src/shop.rs:10:5: boom"
        );
        assert!(describe(&site, "boom", None, 41).contains("(and 41 more times there since"));
    }
}
