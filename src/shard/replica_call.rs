//! Calling this shard's replica of an application, for a request accepted here or one
//! forwarded from another shard: its turn first (admission), then the handler with its panics
//! caught, and the `500` a panic becomes. It sits below `dispatch` (which routes to it) and
//! `forward` (whose serving side calls it for other shards), so neither imports the other.
//!
//! Invariant: a call ends in exactly one outcome — admission's overload answer, the handler's
//! response, or the panic it raised — and the turn it was admitted with is held until that
//! response is finished, a streamed body included.

use std::panic::AssertUnwindSafe;

use futures_lite::FutureExt;
use http::StatusCode;

use crate::deploy::admission::Admission;
use crate::deployment::Replica;
use crate::request::Request;
use crate::response::Response;

/// The `500` for a handler that panicked.
pub(crate) fn internal_error() -> Response {
    Response::text("Internal Server Error").with_status(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A panic caught from a handler.
pub(crate) type Panic = Box<dyn std::any::Any + Send>;

/// Calls this shard's replica: it waits for its turn first (inside the request timeout, as Ray
/// Serve counts the time queued against it) and holds the turn until its response is
/// finished, a stream included. A deployment may panic while making its future, or while it
/// runs: both are caught.
pub(crate) async fn call_replica(
    admission: &Admission,
    replica: &dyn Replica,
    request: Request,
) -> Result<Response, Panic> {
    let turn = match admission.admit().await {
        Ok(turn) => turn,
        Err(overloaded) => return Ok(overloaded),
    };
    let future = std::panic::catch_unwind(AssertUnwindSafe(|| replica.call_boxed(request)))?;
    let response = AssertUnwindSafe(future).catch_unwind().await?;
    Ok(if response.is_stream() {
        response.map_body(move |chunk| {
            let _held_until_the_stream_ends = &turn;
            chunk
        })
    } else {
        response
    })
}
