//! A shard's side of forwarding: the [`Forwarder`] joining its origin side (the calls it
//! forwards) and its serving side (the calls it serves for others) over its links, and one
//! receive loop per incoming link handing each message to the side it is for.
//!
//! Invariant: a receive loop never waits on anything but its link — each message is handled
//! without awaiting — so one slow call never stalls a link; when a link closes (its shard
//! stopped), every call waiting on it is answered at once. Everything here stays on its own
//! shard, in `Rc`s and `RefCell`s; only messages cross.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use glommio::channels::shared_channel::ConnectedReceiver;
use glommio::task::JoinHandle;

use super::choice::Choice;
use super::links::{self, ConnectedLinks, Links};
use super::origin::OriginSide;
use super::protocol::{Carried, Message};
use super::serving::ServingSide;
use crate::deploy::load::Load;
use crate::response::Response;
use crate::shard::Generation;

/// A shard's side of forwarding, for one generation.
pub(crate) struct Forwarder {
    origin: Rc<OriginSide>,
    serving: Rc<ServingSide>,
    /// The receive loops: cancelled when the forwarder goes (its generation was dropped), so
    /// that their receivers close and a shard that still sends a call for this generation
    /// learns at once that nobody will answer it, instead of waiting on a loop that would
    /// drop the call unanswered.
    receive_loops: RefCell<Vec<JoinHandle<()>>>,
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        for receive_loop in self.receive_loops.get_mut().drain(..) {
            receive_loop.cancel();
        }
    }
}

impl Forwarder {
    /// Connects this shard's links on its own executor (see [`links::connect`]).
    pub(crate) async fn connect(links: Links) -> ConnectedLinks {
        links::connect(links).await
    }

    /// The generation's forwarder on shard `index` over its connected links, with one receive
    /// loop per incoming link.
    pub(crate) fn start(
        index: usize,
        links: ConnectedLinks,
        generation: &Rc<Generation>,
    ) -> Rc<Self> {
        let ConnectedLinks { senders, receivers } = links;
        let senders = Rc::new(senders);
        let choice = Choice::new(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1), senders.shards());
        let forwarder = Rc::new(Forwarder {
            origin: Rc::new(OriginSide::new(senders.clone(), choice)),
            serving: Rc::new(ServingSide::new(senders)),
            receive_loops: RefCell::new(Vec::new()),
        });
        for (origin, receiver) in receivers.into_iter().enumerate() {
            if let Some(receiver) = receiver {
                debug_assert_ne!(origin, index, "no shard is linked to itself");
                let loop_ = receive(
                    origin,
                    receiver,
                    Rc::downgrade(generation),
                    Rc::downgrade(&forwarder),
                );
                let handle = glommio::spawn_local(loop_).detach();
                forwarder.receive_loops.borrow_mut().push(handle);
            }
        }
        forwarder
    }

    /// Whether this shard still serves calls for other shards (the drain waits for them).
    pub(crate) fn is_serving(&self) -> bool {
        self.serving.is_serving()
    }

    /// The shard to send a call for an application to, of its `hosts` other than `exclude`
    /// (this shard), with its load as this shard sees it (power of two choices, see `choice`).
    pub(crate) fn choose(
        &self,
        hosts: &[usize],
        loads: &[Load],
        exclude: usize,
    ) -> Option<(usize, usize)> {
        self.origin.choose(hosts, loads, exclude)
    }

    /// Sends `request` to `target` to be served by its replica of `app`, and answers with its
    /// response. Dropped before the response is whole (timeout, client gone), it cancels the
    /// call on `target`.
    pub(crate) async fn call(&self, target: usize, app: usize, request: Carried) -> Response {
        self.origin.call(target, app, request).await
    }
}

/// Receives from the link of `origin` until it closes, never waiting on anything but the
/// link; then answers every call still waiting on `origin`.
async fn receive(
    origin: usize,
    receiver: ConnectedReceiver<Message>,
    generation: Weak<Generation>,
    forwarder: Weak<Forwarder>,
) {
    while let Some(message) = receiver.recv().await {
        let (Some(generation), Some(forwarder)) = (generation.upgrade(), forwarder.upgrade())
        else {
            return;
        };
        // Not one `.await` below: the loop waits on the link only.
        match message {
            Message::Call { id, app, request } => forwarder
                .serving
                .start(generation, origin, id, app, *request),
            Message::Cancel { id } => forwarder.serving.cancel(origin, id),
            Message::Credit { id, chunks } => forwarder.serving.credit(origin, id, chunks),
            Message::Head { id, head } => forwarder.origin.head(id, head),
            Message::Chunk { id, chunk } => forwarder.origin.chunk(id, chunk),
            Message::End { id, complete } => forwarder.origin.end(id, complete),
        }
    }
    // The link closed: its shard stopped. Its calls will never be answered; say so now.
    if let Some(forwarder) = forwarder.upgrade() {
        forwarder.origin.link_closed(origin);
    }
}
