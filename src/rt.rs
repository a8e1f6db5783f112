//! The runtime a handler needs, without naming glommio: timers, tasks on the current shard,
//! blocking work on a thread pool, stream and future helpers, and [`Bytes`].
//!
//! ringserve runs on a patched glommio (`vendor/glommio`, the `ringserve-glommio` package).
//! A user who added crates.io's glommio for its timers would get a second, different copy of
//! the runtime whose timers never fire on ringserve's executors; this module is the one place
//! that names the runtime for users, so their `Cargo.toml` holds `ringserve` alone.
//!
//! Everything here runs on the shard that calls it: a [`Sleep`] is a timer of the calling
//! shard's executor, [`spawn_local`] starts a task on it, and [`spawn_blocking`] hands a
//! closure to that shard's blocking threads and wakes the shard when it returns. Outside a
//! shard (a plain thread, a unit test) run the future with [`block_on`], which makes a
//! runtime on the calling thread for as long as the future runs.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use ringserve::rt::{self, stream::{self, StreamExt}};
//!
//! let chunks: Vec<String> = rt::block_on(async {
//!     let model_output = rt::spawn_blocking(|| 6 * 7).await;     // off the shard's thread
//!     stream::iter(0..3)
//!         .then(|i| async move {
//!             rt::sleep(Duration::from_millis(1)).await;          // a timer of this runtime
//!             Ok::<_, Infallible>(format!("{i}:{model_output}"))
//!         })
//!         .map(Result::unwrap)
//!         .collect()
//!         .await
//! });
//! assert_eq!(chunks, ["0:42", "1:42", "2:42"]);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub use bytes::Bytes;

/// Streams: the trait, its combinators and constructors (`futures-lite`'s, re-exported).
pub mod stream {
    pub use futures_lite::stream::{
        Boxed, BoxedLocal, Stream, StreamExt, empty, iter, once, once_future, pending, poll_fn,
        repeat, repeat_with, try_unfold, unfold,
    };
}

/// Future helpers: run two at once (`zip`, `try_zip`), take the first (`or`, `race`), and the
/// combinators of [`FutureExt`](future::FutureExt) (`futures-lite`'s, re-exported).
pub mod future {
    pub use futures_lite::future::{
        Boxed, BoxedLocal, FutureExt, or, pending, poll_fn, race, ready, try_zip, yield_now, zip,
    };
}

/// A timer of the calling shard: completes `duration` after it was made.
///
/// Made by [`sleep`]; dropping it cancels it. It must be made on a shard (or inside
/// [`block_on`]): there is no runtime elsewhere to fire it.
#[derive(Debug)]
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep(glommio::timer::Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// Waits `duration` without blocking the shard: its other connections go on being served.
///
/// ```
/// # ringserve::rt::block_on(async {
/// ringserve::rt::sleep(std::time::Duration::from_millis(5)).await;
/// # });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep(glommio::timer::Timer::new(duration))
}

/// The error of a [`timeout`] whose future did not finish in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(Duration);

impl std::fmt::Display for Elapsed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "timed out after {:?}", self.0)
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] (and the future dropped)
/// when the time passed first. A duration too long for the clock (`Duration::MAX`) never
/// passes.
///
/// ```
/// use std::time::Duration;
/// use ringserve::rt;
///
/// rt::block_on(async {
///     let slow = rt::sleep(Duration::from_secs(60));
///     assert!(rt::timeout(Duration::from_millis(5), slow).await.is_err());
///     assert_eq!(rt::timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
/// });
/// ```
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    if Instant::now().checked_add(duration).is_none() {
        // Past any clock's reach (`Duration::MAX`, say): it never expires, and no timer
        // could be set for it.
        return Ok(future.await);
    }
    let expired = async {
        sleep(duration).await;
        Err(Elapsed(duration))
    };
    futures_lite::future::or(async { Ok(future.await) }, expired).await
}

/// A stream that yields an [`Instant`] every `period`, the first one `period` from now.
///
/// Ticks are scheduled from the previous tick, not from when it was taken, so a consumer that
/// falls behind gets the missed ticks at once rather than drifting.
///
/// ```
/// use std::time::Duration;
/// use ringserve::rt::{self, stream::StreamExt};
///
/// rt::block_on(async {
///     let ticks = rt::interval(Duration::from_millis(2)).take(3).count().await;
///     assert_eq!(ticks, 3);
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "an interval's period must not be zero");
    let next = Instant::now() + period;
    Interval {
        period,
        next,
        timer: glommio::timer::Timer::new(period),
    }
}

/// The stream made by [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
    timer: glommio::timer::Timer,
}

impl futures_lite::Stream for Interval {
    type Item = Instant;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        let this = &mut *self;
        if Pin::new(&mut this.timer).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let tick = this.next;
        this.next += this.period;
        this.timer
            .reset(this.next.saturating_duration_since(Instant::now()));
        Poll::Ready(Some(tick))
    }
}

/// A task started by [`spawn_local`]: await it for its output; dropping it cancels the task,
/// and [`detach`](Task::detach) lets it run on by itself.
#[derive(Debug)]
#[must_use = "a task is cancelled when dropped; call .detach() to let it run in the background"]
pub struct Task<T>(glommio::Task<T>);

impl<T> Task<T> {
    /// Lets the task run to its end in the background; its output is dropped.
    pub fn detach(self) {
        drop(self.0.detach());
    }

    /// Cancels the task and waits until it has stopped: its output if it had just finished.
    pub async fn cancel(self) -> Option<T> {
        self.0.cancel().await
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Starts `future` as a task on the calling shard. It need not be `Send`: it may hold the
/// replica's `Rc` state. It runs between the shard's other work, so it must not block.
///
/// ```
/// use ringserve::rt;
///
/// let sum = rt::block_on(async {
///     let task = rt::spawn_local(async { 1 + 2 });
///     task.await
/// });
/// assert_eq!(sum, 3);
/// ```
pub fn spawn_local<T: 'static>(future: impl Future<Output = T> + 'static) -> Task<T> {
    Task(glommio::spawn_local(future))
}

/// Runs a CPU-heavy or blocking closure on one of the calling shard's blocking threads and
/// awaits its result, while the shard goes on serving its other connections.
///
/// This is how a handler runs work that takes milliseconds — a model's inference, a large
/// compression, a synchronous library call — without stalling every other request on its
/// core. Each shard has `HttpOptions::blocking_threads` threads (default 1) that the kernel
/// may run on any core; closures beyond that wait their turn in order. A closure that panics
/// panics the awaiting task (the handler's request then gets `500`).
///
/// ```
/// use ringserve::{Deployment, Request, Response, rt};
///
/// struct Model;
///
/// impl Deployment for Model {
///     async fn call(&self, _request: Request) -> Response {
///         let score = rt::spawn_blocking(|| (0..1_000_000u64).sum::<u64>()).await;
///         Response::text(score.to_string())
///     }
/// }
/// ```
pub async fn spawn_blocking<F, R>(closure: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let outcome = glommio::executor()
        .spawn_blocking(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(closure)))
        .await;
    match outcome {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Runs `future` to its end on the calling thread, on a runtime made for it (timers,
/// [`spawn_local`] and [`spawn_blocking`] work inside), and returns its output.
///
/// For code outside a shard: a unit test of a handler (with `Application::build_local`), a
/// tool. Inside a handler, just `.await`: calling this on a shard would stop the shard.
///
/// # Panics
///
/// When the runtime cannot be made (no io_uring, or the memlock limit too low for its rings).
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .make()
        .expect("ringserve::rt::block_on: could not make a runtime on this thread")
        .run(future)
}
