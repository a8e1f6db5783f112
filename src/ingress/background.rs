//! Work after the handler: [`BackgroundTasks`] (FastAPI's), run once the handler has answered,
//! and [`Teardown`] (the code after a FastAPI dependency's `yield`), run when the dependency's
//! value is dropped.
//!
//! Invariant: background tasks start only from a response the handler returned — never when
//! the handler failed to answer (it panicked, timed out, or its client left and it was
//! dropped) — on the handler's own shard, one after another in the order added, as Starlette
//! runs them. They are a task of their own, so the response never waits for them: the shard
//! hands it to the socket before it runs another task. A task that panics is logged and the
//! next one runs; the shard goes on.
//!
//! Where they differ from Starlette's: they start once the response is made, not once its last
//! byte is sent — for a streamed response, while it streams — and they run even if the client
//! is gone by then; they are not requests, so `max_ongoing_requests` does not count them.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures_lite::FutureExt;

use super::openapi::OperationDoc;
use super::respond::IntoResponse;
use crate::{Response, rt};

/// A task to run after the response.
type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Tasks to run after the response, as FastAPI's `BackgroundTasks`: add them, then answer
/// with [`BackgroundTasks::after`], which runs them once the handler's response is made.
///
/// ```
/// use ringserve::ingress::{Background, BackgroundTasks, Json};
/// use serde_json::{Value, json};
///
/// async fn send_notification() -> Background<Json<Value>> {
///     let mut tasks = BackgroundTasks::new();
///     tasks.add(async {
///         // write the log line, send the e-mail: after the client has its answer
///     });
///     tasks.after(Json(json!({ "message": "Notification sent in the background" })))
/// }
/// # let _ = send_notification;
/// ```
#[derive(Default)]
pub struct BackgroundTasks {
    tasks: Vec<Task>,
}

impl BackgroundTasks {
    /// No tasks yet.
    pub fn new() -> Self {
        BackgroundTasks::default()
    }

    /// Adds a task, run after those added before it. It runs on the handler's shard, so it may
    /// hold the replica's `Rc` state; like a handler, it must not block.
    pub fn add(&mut self, task: impl Future<Output = ()> + 'static) {
        self.tasks.push(Box::pin(task));
    }

    /// `response`, with these tasks run once it is made.
    pub fn after<T: IntoResponse>(self, response: T) -> Background<T> {
        Background {
            response,
            tasks: self,
        }
    }

    /// Starts the tasks as one task of the shard's: each in turn, a panic logged.
    fn start(self) {
        if self.tasks.is_empty() {
            return;
        }
        rt::spawn_local(async move {
            for task in self.tasks {
                if AssertUnwindSafe(task).catch_unwind().await.is_err() {
                    tracing::error!("a background task panicked; the next one runs");
                }
            }
        })
        .detach();
    }
}

/// A response with background tasks ([`BackgroundTasks::after`]): answered as `T`, documented
/// as `T`.
pub struct Background<T> {
    response: T,
    tasks: BackgroundTasks,
}

impl<T: IntoResponse> IntoResponse for Background<T> {
    fn into_response(self) -> Response {
        let response = self.response.into_response();
        self.tasks.start();
        response
    }

    fn describe(operation: &mut OperationDoc) {
        T::describe(operation);
    }
}

/// Code run when the value holding it is dropped: put one in a dependency's value for what
/// FastAPI's dependencies do after `yield` (return a connection to its pool, close a
/// session). The value is dropped once the handler has answered — or failed, or been dropped
/// because its client left or its time ran out — so the code runs in every case. It runs on
/// the shard and must not block or panic; for async work, start a task
/// ([`rt::spawn_local`](crate::rt::spawn_local)) from it.
///
/// ```
/// use ringserve::ingress::{FromRequestParts, Rejection, RequestParts, Teardown};
///
/// struct Session {
///     id: u64,
///     _closed_after: Teardown,
/// }
///
/// impl<S> FromRequestParts<S> for Session {
///     async fn from_request_parts(_parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
///         let id = 7; // opened here
///         Ok(Session { id, _closed_after: Teardown::new(move || println!("closing {id}")) })
///     }
/// }
/// ```
pub struct Teardown {
    action: Option<Box<dyn FnOnce()>>,
}

impl Teardown {
    /// Runs `action` when dropped.
    pub fn new(action: impl FnOnce() + 'static) -> Self {
        Teardown {
            action: Some(Box::new(action)),
        }
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(action) = self.action.take() {
            action();
        }
    }
}

impl std::fmt::Debug for Teardown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Teardown")
    }
}
