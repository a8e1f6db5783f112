//! The serving side: calls this shard's replicas serve for other shards, each run as a task of
//! its own — admission and panics as for a local call — with its answer sent back to its
//! origin, a streamed one chunk by chunk.
//!
//! Invariant: a served stream sends no chunk without a credit, and holds at most
//! `CHUNK_CREDITS` of them: a slow reader on the origin holds back only its own stream, never
//! the link. Handling a message for a call (start, cancel, credit) never waits, so the receive
//! loop never does. A cancelled call has its handler's future dropped, and an entry lives only
//! while its call is served.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures_lite::{FutureExt, StreamExt};
use glommio::task::JoinHandle;

use super::links::Senders;
use super::protocol::{Carried, ForwardedHead, Message, unavailable};
use crate::body::ResponseBody;
use crate::limits::CHUNK_CREDITS;
use crate::request::Request;
use crate::request_body::Body;
use crate::response::Response;
use crate::shard::Generation;
use crate::shard::replica_call::{call_replica, internal_error};

/// A call this shard serves for another, as its credits and cancellation need it.
struct Serving {
    /// Set once spawned (the entry goes in first: a task may finish, and remove it, before
    /// `spawn_local` returns).
    task: Option<JoinHandle<()>>,
    credits: Rc<Credits>,
}

/// How many chunks a served stream may still send, and the task waiting for more.
struct Credits {
    left: Cell<usize>,
    waiter: Cell<Option<Waker>>,
}

/// A shard's calls served for others.
pub(super) struct ServingSide {
    senders: Rc<Senders>,
    /// By origin and id, to cancel and credit them.
    serving: RefCell<HashMap<(usize, u64), Serving>>,
}

impl ServingSide {
    pub(super) fn new(senders: Rc<Senders>) -> Self {
        ServingSide {
            senders,
            serving: RefCell::new(HashMap::new()),
        }
    }

    /// Whether this shard still serves calls for other shards (the drain waits for them).
    pub(super) fn is_serving(&self) -> bool {
        !self.serving.borrow().is_empty()
    }

    /// Starts serving call `id` from `origin` on this shard's replica of `app`.
    pub(super) fn start(
        self: &Rc<Self>,
        generation: Rc<Generation>,
        origin: usize,
        id: u64,
        app: usize,
        request: Carried,
    ) {
        let credits = Rc::new(Credits {
            left: Cell::new(CHUNK_CREDITS),
            waiter: Cell::new(None),
        });
        let served = serve(
            generation,
            self.clone(),
            origin,
            id,
            app,
            request,
            credits.clone(),
        );
        let earlier = self.serving.borrow_mut().insert(
            (origin, id),
            Serving {
                task: None,
                credits,
            },
        );
        debug_assert!(
            earlier.is_none(),
            "call ids are unique among calls in flight"
        );
        let task = glommio::spawn_local(served).detach();
        if let Some(serving) = self.serving.borrow_mut().get_mut(&(origin, id)) {
            serving.task = Some(task);
        }
    }

    /// The origin gave up on call `id`: its handler's future is dropped.
    pub(super) fn cancel(&self, origin: usize, id: u64) {
        let serving = self.serving.borrow_mut().remove(&(origin, id));
        if let Some(task) = serving.and_then(|serving| serving.task) {
            task.cancel();
        }
    }

    /// The origin's client read `chunks` more chunks of call `id`: that many more may go.
    pub(super) fn credit(&self, origin: usize, id: u64, chunks: usize) {
        let credits = self
            .serving
            .borrow()
            .get(&(origin, id))
            .map(|serving| serving.credits.clone());
        if let Some(credits) = credits {
            credits.left.set(credits.left.get() + chunks);
            debug_assert!(
                credits.left.get() <= CHUNK_CREDITS,
                "the origin returned credits for chunks it was never sent"
            );
            if let Some(waiter) = credits.waiter.take() {
                waiter.wake();
            }
        }
    }
}

/// Serves a call from `origin` on this shard's replica of `app`, and sends the answer back.
async fn serve(
    generation: Rc<Generation>,
    side: Rc<ServingSide>,
    origin: usize,
    id: u64,
    app: usize,
    carried: Carried,
    credits: Rc<Credits>,
) {
    let response = serve_locally(&generation, app, carried).await;
    let (status, headers, body) = response.into_parts();
    let headers: Vec<_> = headers.into_iter().collect();
    let senders = &side.senders;
    match body {
        ResponseBody::Full(body) => {
            senders
                .send(
                    origin,
                    Message::Head {
                        id,
                        head: ForwardedHead {
                            status,
                            headers,
                            body: Some(body),
                        },
                    },
                )
                .await;
        }
        ResponseBody::Stream(mut stream) => {
            if senders
                .send(
                    origin,
                    Message::Head {
                        id,
                        head: ForwardedHead {
                            status,
                            headers,
                            body: None,
                        },
                    },
                )
                .await
            {
                let complete = loop {
                    // A panic inside the handler's stream must not take this shard down: it
                    // cuts the response, as it does for a local one.
                    let next = AssertUnwindSafe(stream.next()).catch_unwind().await;
                    match next {
                        Ok(Some(Ok(chunk))) if chunk.is_empty() => {}
                        Ok(Some(Ok(chunk))) => {
                            // No more than the origin's client has room for.
                            std::future::poll_fn(|cx| {
                                if credits.left.get() > 0 {
                                    Poll::Ready(())
                                } else {
                                    credits.waiter.set(Some(cx.waker().clone()));
                                    Poll::Pending
                                }
                            })
                            .await;
                            debug_assert!(credits.left.get() > 0, "a chunk is sent on a credit");
                            credits.left.set(credits.left.get() - 1);
                            if !senders.send(origin, Message::Chunk { id, chunk }).await {
                                break false;
                            }
                        }
                        Ok(Some(Err(_))) | Err(_) => break false,
                        Ok(None) => break true,
                    }
                };
                senders.send(origin, Message::End { id, complete }).await;
            }
        }
    }
    side.serving.borrow_mut().remove(&(origin, id));
}

/// The replica's answer on this shard, admission and panics included, as for a local call.
async fn serve_locally(generation: &Generation, app: usize, carried: Carried) -> Response {
    let Some(replica) = generation.replicas.get(app).and_then(Option::as_ref) else {
        return unavailable();
    };
    let request = Request::new(
        carried.head,
        carried.parts,
        carried.route_offset,
        Body::Full(carried.body),
        generation.app_scopes[app].clone(),
        carried.request_id,
    );
    call_replica(generation, app, replica.as_ref(), request)
        .await
        .unwrap_or_else(|_| internal_error())
}
