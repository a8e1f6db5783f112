//! The origin side: calls this shard forwarded to a replica on another shard, each waiting for
//! its response — head first, then, for a stream, its chunks — while the connection that owns
//! the request reads it.
//!
//! Invariant: a waiting call buffers at most `CHUNK_CREDITS` chunks (the serving shard sends
//! none it was not granted, and credits go back only for chunks the client read). A call
//! dropped before its response is whole — its request timed out, its client left mid-stream —
//! sends `Cancel`, and its entry and outstanding count are gone once it is dropped. When a link
//! closes, every call waiting on it is answered at once.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_lite::Stream;
use http::StatusCode;

use super::choice::Choice;
use super::links::Senders;
use super::protocol::{Carried, ForwardedHead, Message, UNREACHABLE, unavailable};
use crate::body::{BoxError, ResponseBody};
use crate::deploy::load::Load;
use crate::limits::{CHUNK_CREDITS, CREDIT_BATCH};
use crate::response::Response;

/// A call this shard forwarded, waiting for its answer.
struct Waiting {
    /// The shard serving it.
    target: usize,
    head: Option<ForwardedHead>,
    /// At most `CHUNK_CREDITS`: the serving shard sends no more than it was granted.
    chunks: VecDeque<Bytes>,
    end: Option<bool>,
    /// Chunks read since credits were last returned.
    read_since_credit: usize,
    /// The task waiting for the head or the next chunk.
    reader: Option<Waker>,
}

type WaitingCall = Rc<RefCell<Waiting>>;

/// A shard's calls forwarded to others, and where it chooses to send the next.
pub(super) struct OriginSide {
    senders: Rc<Senders>,
    /// Calls this shard forwarded, by id.
    waiting: RefCell<HashMap<u64, WaitingCall>>,
    next_id: Cell<u64>,
    choice: Choice,
}

impl OriginSide {
    pub(super) fn new(senders: Rc<Senders>, choice: Choice) -> Self {
        OriginSide {
            senders,
            waiting: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            choice,
        }
    }

    /// See [`Choice::choose`].
    pub(super) fn choose(
        &self,
        hosts: &[usize],
        loads: &[Load],
        exclude: usize,
    ) -> Option<(usize, usize)> {
        self.choice.choose(hosts, loads, exclude)
    }

    /// Sends `request` to `target` to be served by its replica of `app`, and answers with its
    /// response. Dropped before the response is whole (timeout, client gone), it cancels the
    /// call on `target`.
    pub(super) async fn call(
        self: &Rc<Self>,
        target: usize,
        app: usize,
        request: Carried,
    ) -> Response {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let waiting: WaitingCall = Rc::new(RefCell::new(Waiting {
            target,
            head: None,
            chunks: VecDeque::new(),
            end: None,
            read_since_credit: 0,
            reader: None,
        }));
        let earlier = self.waiting.borrow_mut().insert(id, waiting.clone());
        debug_assert!(
            earlier.is_none(),
            "call ids are unique among calls in flight"
        );
        self.choice.sent(target);
        let mut guard = CallGuard {
            origin: self.clone(),
            target,
            id,
            finished: false,
        };
        let request = Box::new(request);
        if !self
            .senders
            .send(target, Message::Call { id, app, request })
            .await
        {
            return unavailable();
        }
        let ForwardedHead {
            status,
            headers,
            body,
        } = std::future::poll_fn(|cx| {
            let mut state = waiting.borrow_mut();
            match state.head.take() {
                Some(head) => Poll::Ready(head),
                // The link closed before the answer came: the serving shard stopped.
                None if state.end.is_some() => Poll::Ready(ForwardedHead {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    headers: Vec::new(),
                    body: Some(Bytes::from_static(UNREACHABLE)),
                }),
                None => {
                    state.reader = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        let response = Response::new(status).with_headers(headers);
        match body {
            Some(body) => {
                guard.finished = true;
                response.with_body(body)
            }
            None => response.with_response_body(ResponseBody::Stream(Box::pin(ForwardedChunks {
                waiting,
                guard,
            }))),
        }
    }

    /// The head of call `id`'s response arrived.
    pub(super) fn head(&self, id: u64, head: ForwardedHead) {
        self.deliver(id, |state| state.head = Some(head));
    }

    /// The next chunk of call `id`'s streamed response arrived: within the call's credits, so
    /// the buffer stays bounded without waiting here.
    pub(super) fn chunk(&self, id: u64, chunk: Bytes) {
        self.deliver(id, |state| {
            state.chunks.push_back(chunk);
            debug_assert!(
                state.chunks.len() <= CHUNK_CREDITS,
                "the serving shard sent chunks it was not granted"
            );
        });
    }

    /// Call `id`'s streamed response ended (`complete: false`: it was cut).
    pub(super) fn end(&self, id: u64, complete: bool) {
        self.deliver(id, |state| {
            debug_assert!(state.end.is_none(), "a call ends once");
            state.end = Some(complete);
        });
    }

    /// The link from `target` closed: its shard stopped. Its calls will never be answered;
    /// say so now.
    pub(super) fn link_closed(&self, target: usize) {
        let stranded: Vec<WaitingCall> = self
            .waiting
            .borrow()
            .values()
            .filter(|waiting| waiting.borrow().target == target)
            .cloned()
            .collect();
        for waiting in stranded {
            let mut state = waiting.borrow_mut();
            state.end.get_or_insert(false);
            if let Some(reader) = state.reader.take() {
                reader.wake();
            }
        }
    }

    /// Updates a waiting call (if it still waits) and wakes its reader.
    fn deliver(&self, id: u64, update: impl FnOnce(&mut Waiting)) {
        let waiting = self.waiting.borrow().get(&id).cloned();
        if let Some(waiting) = waiting {
            let mut state = waiting.borrow_mut();
            update(&mut state);
            if let Some(reader) = state.reader.take() {
                reader.wake();
            }
        }
    }
}

/// Cancels a forwarded call on its serving shard unless it finished.
struct CallGuard {
    origin: Rc<OriginSide>,
    target: usize,
    id: u64,
    finished: bool,
}

impl CallGuard {
    /// Lets the serving shard send `chunks` more chunks of this call (sent from a task of its
    /// own: a stream's poll cannot wait for room in the link).
    fn grant(&self, chunks: usize) {
        let origin = self.origin.clone();
        let (target, id) = (self.target, self.id);
        glommio::spawn_local(async move {
            origin
                .senders
                .send(target, Message::Credit { id, chunks })
                .await;
        })
        .detach();
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.origin.waiting.borrow_mut().remove(&self.id);
        self.origin.choice.finished(self.target);
        if self.finished {
            return;
        }
        let origin = self.origin.clone();
        let (target, id) = (self.target, self.id);
        // Sent from a task of its own: a drop cannot wait for room in the link.
        glommio::spawn_local(async move {
            origin.senders.send(target, Message::Cancel { id }).await;
        })
        .detach();
    }
}

/// A streamed response served on another shard, read chunk by chunk as it arrives.
struct ForwardedChunks {
    waiting: WaitingCall,
    guard: CallGuard,
}

impl Stream for ForwardedChunks {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut state = self.waiting.borrow_mut();
        if let Some(chunk) = state.chunks.pop_front() {
            state.read_since_credit += 1;
            if state.read_since_credit >= CREDIT_BATCH {
                let chunks = std::mem::take(&mut state.read_since_credit);
                drop(state);
                self.guard.grant(chunks);
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        match state.end {
            Some(complete) => {
                drop(state);
                self.guard.finished = true;
                if complete {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err("the replica's stream failed".into())))
                }
            }
            None => {
                state.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
