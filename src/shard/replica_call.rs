//! Calling this shard's replica of an application, for a request accepted here or one
//! forwarded from another shard: its turn first (admission), then the handler with its panics
//! caught, and the `500` a panic becomes. It sits below `dispatch` (which routes to it) and
//! `forward` (whose serving side calls it for other shards), so neither imports the other.
//!
//! Invariant: a call ends in exactly one outcome — admission's overload answer, the handler's
//! response, or the panic it raised — and the turn it was admitted with is held until that
//! response is finished, a streamed body included. Every piece of the handler's code (its
//! call, each poll of its future and of its stream) runs inside a catch scope of `panics`, so
//! its panics are logged at a bounded rate, and marks the shard's pulse with the application
//! (`running::mark`), so that a stall names it, and makes the request's trace context
//! current (`trace::Polling`), so that the requests it builds for handle calls carry it.

use std::rc::Rc;

use http::StatusCode;

use super::Generation;
use super::panics::{self, Caught};
use super::running;
use crate::deployment::Replica;
use crate::metrics::record::Elapsed;
use crate::request::Request;
use crate::response::Response;

/// The `500` for a handler that panicked.
pub(crate) fn internal_error() -> Response {
    Response::text("Internal Server Error").with_status(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(crate) use super::panics::Panic;

/// Calls this shard's replica: it waits for its turn first (inside the request timeout, as Ray
/// Serve counts the time queued against it) and holds the turn until its response is
/// finished, a stream included. A deployment may panic while making its future, or while it
/// runs, or while its stream makes a chunk: all are caught, and logged under application
/// `app` (its index in the generation's `Routes::apps`).
pub(crate) async fn call_replica(
    generation: &Generation,
    app: usize,
    replica: &dyn Replica,
    request: Request,
) -> Result<Response, Panic> {
    let turn = match generation.admissions[app].admit().await {
        Ok(turn) => turn,
        Err(overloaded) => return Ok(overloaded),
    };
    let name: &Rc<str> = &generation.app_scopes[app].name;
    let label = generation.label(app);
    let started = generation.metrics.now();
    // Current while the handler is polled: the requests it builds for handle calls carry it.
    let trace = request.trace_parent().map(Rc::new);
    running::mark(label);
    let called = match panics::catching(name, || replica.call_boxed(request)) {
        Ok(future) => Caught::new(name, label, trace.clone(), future).await,
        Err(panic) => Err(panic),
    };
    record_call(generation, app, &called, generation.metrics.since(started));
    let response = called?;
    Ok(response
        .map_stream(|chunks| panics::caught_stream(name.clone(), label, trace, chunks, turn)))
}

/// Counts the call for the replica's metrics: its status (a panic's is 500) and the time its
/// handler took to return the response (a streamed body's time is not in it).
fn record_call(
    generation: &Generation,
    app: usize,
    called: &Result<Response, Panic>,
    processing: Elapsed,
) {
    let metrics = &generation.metrics;
    let status = match called {
        Ok(response) => response.status().as_u16(),
        Err(_) => {
            crate::metrics::record::bump(&metrics.engine.handler_panics);
            StatusCode::INTERNAL_SERVER_ERROR.as_u16()
        }
    };
    metrics.replica_call(generation.routes.metric_slots[app], status, processing);
}
