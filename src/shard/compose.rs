//! The shard side of a `DeploymentHandle` call: find the calling shard, the deployment's
//! index, and its replica here or on another shard.
//!
//! Invariant: a call reaches a replica only through `dispatch::call_replica` (its admission,
//! its panic handling) or `dispatch::forward` (the same, on the serving shard), exactly as an
//! HTTP request does; the shard a call runs on is found through a thread-local set while the
//! shard runs, so handles themselves hold no shard state and stay `Send`.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

use super::ShardContext;
use super::dispatch::{self, Place, internal_error};
use super::forward::Carried;
use crate::deploy::DeploymentHandle;
use crate::deploy::handle::DeploymentId;
use crate::request_builder::reencode;
use crate::{Extensions, Request, Response};

thread_local! {
    /// The shard running on this thread, while it runs.
    static CURRENT: RefCell<Weak<ShardContext>> = const { RefCell::new(Weak::new()) };
}

/// Makes `context` the shard handle calls on this thread go through.
pub(crate) fn enter(context: &Rc<ShardContext>) {
    CURRENT.with(|current| *current.borrow_mut() = Rc::downgrade(context));
}

// `call` is written here, beside the code that places calls, rather than in `deploy`: the
// handle itself is plain data below the shards, and the shards are what run the call.
impl DeploymentHandle {
    /// Calls the deployment with `request` and answers with its response.
    pub fn call(&self, request: Request) -> impl Future<Output = Response> + 'static {
        call(self.id(), self.shared_name(), request)
    }
}

/// Calls deployment `id` (named `name` when the handle was made) with `request`.
async fn call(id: DeploymentId, name: Arc<str>, mut request: Request) -> Response {
    let Some(shard) = CURRENT.with(|current| current.borrow().upgrade()) else {
        return unreachable_deployment(&name, "it was called outside a running server's shard");
    };
    let Some((generation, index)) = shard.binding(id, super::running::current()) else {
        return unreachable_deployment(&name, "no application of this server binds it");
    };
    request.set_scope(generation.app_scopes[index].clone());
    // Never across cores, so never here either: a deployment sees the same on every core.
    // Nor what the caller's dependencies remembered (`Depends`): the callee runs its own,
    // against its own state.
    *request.extensions_mut() = Extensions::default();
    request.forget_remembered();
    let target = match dispatch::place(&shard, &generation, index, request.body_is_whole()) {
        Place::Here(replica) => {
            return dispatch::call_replica(&generation, index, replica, request)
                .await
                .unwrap_or_else(|_| internal_error());
        }
        Place::There(target) => target,
        Place::Nowhere => return internal_error(),
    };
    let request = if request.has_header_edits() {
        match reencode(request, &shard.config.options.limits) {
            Ok(request) => request,
            // The edited head broke the server's limits: the caller's bug.
            Err(error) => {
                tracing::error!(
                    %error,
                    deployment = %name,
                    "a request with edited headers cannot cross to another core"
                );
                return internal_error();
            }
        }
    } else {
        request
    };
    let (head, parts, route_offset, body, request_id) = request.into_parts();
    let carried = Carried {
        head,
        parts,
        route_offset,
        body: Bytes::new(),
        request_id,
    };
    dispatch::forward(&shard, &generation, target, index, carried, body).await
}

/// `503` for a call that cannot reach its deployment at all, saying why.
fn unreachable_deployment(name: &str, why: &str) -> Response {
    Response::text(format!("Deployment {name:?} is not reachable: {why}."))
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
}
