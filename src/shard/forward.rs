//! Cross-core forwarding: a request accepted on a shard without a replica of its application
//! is served by a replica on another shard, and the response — streamed ones included — comes
//! back to the shard that owns the connection.
//!
//! Invariant: shards talk only through glommio's single-producer single-consumer shared
//! channels, one per ordered pair of shards that forwarding needs, built before any shard
//! starts: no locks. What
//! crosses is owned and `Send` (the request's head and whole body as `Bytes`, the response's
//! head, body or chunks as `Bytes`); everything else — the waiting calls, the calls being
//! served, their wakers — stays on its own shard in `RefCell`s. A call whose origin gives up
//! (its request timed out, its client left mid-stream) sends `Cancel`, and the serving shard
//! drops the handler's future. A link's capacity bounds what is in flight between two shards,
//! and each streamed response has its own window of `CHUNK_CREDITS` chunks, renewed as the
//! origin's client reads them: a slow reader holds back only its own stream, never the link,
//! and a receive loop never waits. When a link closes (its shard stopped), every call
//! waiting on it is answered at once.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use std::panic::AssertUnwindSafe;

use bytes::Bytes;
use futures_lite::{FutureExt, Stream, StreamExt};
use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};
use glommio::task::JoinHandle;
use http::{HeaderName, HeaderValue, StatusCode};

use super::ShardContext;
use crate::body::{BoxError, ResponseBody};
use crate::deploy::load::Load;
use crate::http1::head::RequestHead;
use crate::request::{Request, RequestId};
use crate::request_body::Body;
use crate::response::Response;

/// Messages a link holds at most: past it, the sender waits (backpressure between shards).
const LINK_CAPACITY: usize = 256;

/// Chunks of one forwarded stream that may be sent before the origin's client has read them:
/// the most the origin ever buffers for one call.
const CHUNK_CREDITS: usize = 16;

/// The origin returns credits in batches of this many read chunks, to send fewer messages.
const CREDIT_BATCH: usize = CHUNK_CREDITS / 2;

/// What travels between shards.
pub(crate) enum Message {
    /// Serve this request on one of your replicas of `app`; answer to the sender with `id`.
    /// (Boxed: a request's head is large, and every message is as large as the largest.)
    Call {
        id: u64,
        app: usize,
        request: Box<Carried>,
    },
    /// The origin gave up on call `id`: drop its handler.
    Cancel { id: u64 },
    /// The origin's client read `chunks` more chunks of call `id`: that many more may come.
    Credit { id: u64, chunks: usize },
    /// The response's head, and its whole body unless chunks follow.
    Head { id: u64, head: ForwardedHead },
    /// The next chunk of a streamed response.
    Chunk { id: u64, chunk: Bytes },
    /// The end of a streamed response; `complete: false` when it was cut (an `Err` item).
    End { id: u64, complete: bool },
}

/// A response's status, headers and whole body (`None` when its chunks follow).
pub(crate) struct ForwardedHead {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Bytes>,
}

/// A request as it crosses cores: everything owned, nothing tied to the origin shard.
pub(crate) struct Carried {
    pub(crate) head: Bytes,
    pub(crate) parts: RequestHead,
    pub(crate) route_offset: usize,
    pub(crate) body: Bytes,
    pub(crate) request_id: RequestId,
}

/// A shard's links, connected.
pub(crate) struct ConnectedLinks {
    senders: Vec<Option<ConnectedSender<Message>>>,
    receivers: Vec<Option<ConnectedReceiver<Message>>>,
}

/// A shard's ends of the links, before they are connected on its executor.
pub(crate) struct Links {
    outgoing: Vec<Option<SharedSender<Message>>>,
    incoming: Vec<Option<SharedReceiver<Message>>>,
}

/// The links forwarding needs, given each application's hosting shards: a shard that hosts
/// none of an application's replicas sends calls to the shards that do, and they answer back;
/// the hosts of an application placed on some shards only also send each other the calls
/// their own replica has no turn for (spill-over, see `dispatch::place`). One link each way
/// for such a pair, none for any other (every link adds work to both shards' reactors on
/// every turn). Element `i` is shard `i`'s ends.
pub(crate) fn build_links(shards: usize, hosts: &[Vec<usize>]) -> Vec<Links> {
    let mut links: Vec<Links> = (0..shards)
        .map(|_| Links {
            outgoing: (0..shards).map(|_| None).collect(),
            incoming: (0..shards).map(|_| None).collect(),
        })
        .collect();
    let forwards = |from: usize, to: usize| {
        hosts.iter().any(|hosts| {
            hosts.contains(&to) && (!hosts.contains(&from) || spills_over(hosts.len(), shards))
        })
    };
    for from in 0..shards {
        for to in 0..shards {
            if from != to && (forwards(from, to) || forwards(to, from)) {
                let (sender, receiver) = shared_channel::new_bounded(LINK_CAPACITY);
                links[from].outgoing[to] = Some(sender);
                links[to].incoming[from] = Some(receiver);
            }
        }
    }
    links
}

/// Whether the hosts of an application with `replicas` replicas on `shards` shards send each
/// other the calls they have no turn for. Not when every shard hosts one (the default): each
/// shard then serves its own connections, and no link is built just in case.
pub(crate) fn spills_over(replicas: usize, shards: usize) -> bool {
    (2..shards).contains(&replicas)
}

/// One task per link end, connecting it (a missing end stays missing).
fn connecting<End, Connected, Connect, Fut>(
    ends: Vec<Option<End>>,
    connect: Connect,
) -> Vec<glommio::Task<Option<Connected>>>
where
    End: 'static,
    Connected: 'static,
    Connect: Fn(End) -> Fut + Copy + 'static,
    Fut: std::future::Future<Output = Connected> + 'static,
{
    ends.into_iter()
        .map(|end| {
            glommio::spawn_local(async move {
                match end {
                    Some(end) => Some(connect(end).await),
                    None => None,
                }
            })
        })
        .collect()
}

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

/// A call this shard serves for another, as its credits and cancellation need it.
struct Serving {
    /// Set once spawned (the entry goes in first: a task may finish, and remove it, before
    /// `spawn_local` returns).
    task: Option<JoinHandle<()>>,
    credits: Rc<Credits>,
}

/// How many chunks a served stream may still send, and the task waiting for more.
#[derive(Default)]
struct Credits {
    left: Cell<usize>,
    waiter: Cell<Option<Waker>>,
}

type WaitingCall = Rc<RefCell<Waiting>>;

/// A shard's side of forwarding.
pub(crate) struct Forwarder {
    senders: Vec<Option<ConnectedSender<Message>>>,
    /// Calls this shard forwarded, by id.
    waiting: RefCell<HashMap<u64, WaitingCall>>,
    next_id: Cell<u64>,
    /// Calls this shard serves for others, by origin and id, to cancel and credit them.
    serving: RefCell<HashMap<(usize, u64), Serving>>,
    /// A small xorshift state for choosing between replicas: no shared randomness.
    random: Cell<u64>,
    /// Calls this shard has sent to each shard and not yet seen finished: added to the load a
    /// host published, which cannot count calls still on their way to it — without them, a
    /// burst from this shard would all pick the same host.
    outstanding: RefCell<Vec<usize>>,
}

impl Forwarder {
    /// Connects this shard's links on its own executor. Every shard does so at start, before
    /// it builds its replicas (a connection waits for its peer, and glommio polls a waiting
    /// connection on every turn: waiting through a slow replica build would spin).
    pub(crate) async fn connect(links: Links) -> ConnectedLinks {
        let senders = connecting(links.outgoing, SharedSender::connect);
        let receivers = connecting(links.incoming, SharedReceiver::connect);
        // Connected concurrently: each waits for its peer, which connects its own in turn.
        let mut connected = ConnectedLinks {
            senders: Vec::with_capacity(senders.len()),
            receivers: Vec::with_capacity(receivers.len()),
        };
        for sender in senders {
            connected.senders.push(sender.await);
        }
        for receiver in receivers {
            connected.receivers.push(receiver.await);
        }
        connected
    }

    /// The shard's forwarder over its connected links, with one receive loop per incoming link.
    pub(crate) fn start(index: usize, links: ConnectedLinks, shard: &Rc<ShardContext>) -> Rc<Self> {
        let shards = links.senders.len();
        let forwarder = Rc::new(Forwarder {
            senders: links.senders,
            waiting: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            serving: RefCell::new(HashMap::new()),
            random: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1)),
            outstanding: RefCell::new(vec![0; shards]),
        });
        for (origin, receiver) in links.receivers.into_iter().enumerate() {
            if let Some(receiver) = receiver {
                let loop_ = receive(
                    origin,
                    receiver,
                    Rc::downgrade(shard),
                    Rc::downgrade(&forwarder),
                );
                glommio::spawn_local(loop_).detach();
            }
        }
        forwarder
    }

    /// Whether this shard still serves calls for other shards (the drain waits for them).
    pub(crate) fn is_serving(&self) -> bool {
        !self.serving.borrow().is_empty()
    }

    /// The shard to send a call for an application to, of its `hosts` other than `exclude`
    /// (this shard): of two picked at random, the less loaded (power of two choices); the
    /// only one when there is one. With its load as this shard sees it.
    pub(crate) fn choose(
        &self,
        hosts: &[usize],
        loads: &[Load],
        exclude: usize,
    ) -> Option<(usize, usize)> {
        let candidates = || hosts.iter().copied().filter(move |&host| host != exclude);
        let outstanding = self.outstanding.borrow();
        let load = |shard: usize| {
            let published = loads.get(shard).map_or(usize::MAX, Load::read);
            published.saturating_add(outstanding.get(shard).copied().unwrap_or(0))
        };
        let count = candidates().count();
        let chosen = match count {
            0 => return None,
            1 => candidates().next()?,
            _ => {
                let first_index = self.next_random() % count;
                // A different second one: drawn from the others, skipping the first.
                let mut second_index = self.next_random() % (count - 1);
                if second_index >= first_index {
                    second_index += 1;
                }
                let first = candidates().nth(first_index)?;
                let second = candidates().nth(second_index)?;
                if load(second) < load(first) {
                    second
                } else {
                    first
                }
            }
        };
        Some((chosen, load(chosen)))
    }

    fn next_random(&self) -> usize {
        let mut x = self.random.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random.set(x);
        x as usize
    }

    /// Sends `request` to `target` to be served by its replica of `app`, and answers with its
    /// response. Dropped before the response is whole (timeout, client gone), it cancels the
    /// call on `target`.
    pub(crate) async fn call(
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
        self.waiting.borrow_mut().insert(id, waiting.clone());
        if let Some(count) = self.outstanding.borrow_mut().get_mut(target) {
            *count += 1;
        }
        let mut guard = CallGuard {
            forwarder: self.clone(),
            target,
            id,
            finished: false,
        };
        let request = Box::new(request);
        if !self.send(target, Message::Call { id, app, request }).await {
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
        let response = Response::new(status).headers_from(headers);
        match body {
            Some(body) => {
                guard.finished = true;
                response.body(body)
            }
            None => response.with_body(ResponseBody::Stream(Box::pin(ForwardedChunks {
                waiting,
                guard,
            }))),
        }
    }

    async fn send(&self, target: usize, message: Message) -> bool {
        match self.senders.get(target).and_then(Option::as_ref) {
            Some(sender) => sender.send(message).await.is_ok(),
            None => false,
        }
    }
}

const UNREACHABLE: &[u8] = b"Service Unavailable: the replica's shard is not reachable";

/// `503` for a call the serving shard could not be reached for (it is shutting down).
fn unavailable() -> Response {
    Response::text(Bytes::from_static(UNREACHABLE)).with_status(StatusCode::SERVICE_UNAVAILABLE)
}

/// Cancels a forwarded call on its serving shard unless it finished.
struct CallGuard {
    forwarder: Rc<Forwarder>,
    target: usize,
    id: u64,
    finished: bool,
}

impl CallGuard {
    /// Lets the serving shard send `chunks` more chunks of this call (sent from a task of its
    /// own: a stream's poll cannot wait for room in the link).
    fn grant(&self, chunks: usize) {
        let forwarder = self.forwarder.clone();
        let (target, id) = (self.target, self.id);
        glommio::spawn_local(async move {
            forwarder.send(target, Message::Credit { id, chunks }).await;
        })
        .detach();
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.forwarder.waiting.borrow_mut().remove(&self.id);
        if let Some(count) = self.forwarder.outstanding.borrow_mut().get_mut(self.target) {
            *count = count.saturating_sub(1);
        }
        if self.finished {
            return;
        }
        let forwarder = self.forwarder.clone();
        let (target, id) = (self.target, self.id);
        // Sent from a task of its own: a drop cannot wait for room in the link.
        glommio::spawn_local(async move {
            forwarder.send(target, Message::Cancel { id }).await;
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

/// Receives from the link of `origin` until it closes, never waiting on anything but the
/// link; then answers every call still waiting on `origin`.
async fn receive(
    origin: usize,
    receiver: ConnectedReceiver<Message>,
    shard: std::rc::Weak<ShardContext>,
    forwarder: std::rc::Weak<Forwarder>,
) {
    while let Some(message) = receiver.recv().await {
        let (Some(shard), Some(forwarder)) = (shard.upgrade(), forwarder.upgrade()) else {
            return;
        };
        match message {
            Message::Call { id, app, request } => {
                let credits = Rc::new(Credits {
                    left: Cell::new(CHUNK_CREDITS),
                    waiter: Cell::new(None),
                });
                let served = serve(
                    shard.clone(),
                    forwarder.clone(),
                    origin,
                    id,
                    app,
                    *request,
                    credits.clone(),
                );
                forwarder.serving.borrow_mut().insert(
                    (origin, id),
                    Serving {
                        task: None,
                        credits,
                    },
                );
                let task = glommio::spawn_local(served).detach();
                if let Some(serving) = forwarder.serving.borrow_mut().get_mut(&(origin, id)) {
                    serving.task = Some(task);
                }
            }
            Message::Cancel { id } => {
                let serving = forwarder.serving.borrow_mut().remove(&(origin, id));
                if let Some(task) = serving.and_then(|serving| serving.task) {
                    task.cancel();
                }
            }
            Message::Credit { id, chunks } => {
                let credits = forwarder
                    .serving
                    .borrow()
                    .get(&(origin, id))
                    .map(|serving| serving.credits.clone());
                if let Some(credits) = credits {
                    credits.left.set(credits.left.get() + chunks);
                    if let Some(waiter) = credits.waiter.take() {
                        waiter.wake();
                    }
                }
            }
            Message::Head { id, head } => deliver(&forwarder, id, |state| state.head = Some(head)),
            // Within the call's credits, so the buffer stays bounded without waiting here.
            Message::Chunk { id, chunk } => {
                deliver(&forwarder, id, |state| state.chunks.push_back(chunk))
            }
            Message::End { id, complete } => {
                deliver(&forwarder, id, |state| state.end = Some(complete))
            }
        }
    }
    // The link closed: its shard stopped. Its calls will never be answered; say so now.
    if let Some(forwarder) = forwarder.upgrade() {
        let stranded: Vec<WaitingCall> = forwarder
            .waiting
            .borrow()
            .values()
            .filter(|waiting| waiting.borrow().target == origin)
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
}

/// Updates a waiting call (if it still waits) and wakes its reader.
fn deliver(forwarder: &Forwarder, id: u64, update: impl FnOnce(&mut Waiting)) {
    let waiting = forwarder.waiting.borrow().get(&id).cloned();
    if let Some(waiting) = waiting {
        let mut state = waiting.borrow_mut();
        update(&mut state);
        if let Some(reader) = state.reader.take() {
            reader.wake();
        }
    }
}

/// Serves a call from `origin` on this shard's replica of `app`, and sends the answer back.
async fn serve(
    shard: Rc<ShardContext>,
    forwarder: Rc<Forwarder>,
    origin: usize,
    id: u64,
    app: usize,
    carried: Carried,
    credits: Rc<Credits>,
) {
    let response = serve_locally(&shard, app, carried).await;
    let (status, headers, body) = response.into_parts();
    let headers: Vec<_> = headers.into_iter().collect();
    match body {
        ResponseBody::Full(body) => {
            forwarder
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
            if forwarder
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
                            credits.left.set(credits.left.get() - 1);
                            if !forwarder.send(origin, Message::Chunk { id, chunk }).await {
                                break false;
                            }
                        }
                        Ok(Some(Err(_))) | Err(_) => break false,
                        Ok(None) => break true,
                    }
                };
                forwarder.send(origin, Message::End { id, complete }).await;
            }
        }
    }
    forwarder.serving.borrow_mut().remove(&(origin, id));
}

/// The replica's answer on this shard, admission and panics included, as for a local call.
async fn serve_locally(shard: &ShardContext, app: usize, carried: Carried) -> Response {
    let Some(replica) = shard.replicas.get(app).and_then(Option::as_ref) else {
        return unavailable();
    };
    let request = Request::new(
        carried.head,
        carried.parts,
        carried.route_offset,
        Body::Full(carried.body),
        shard.app_names[app].clone(),
        carried.request_id,
    );
    super::replica_call::call_replica(&shard.admissions[app], replica.as_ref(), request)
        .await
        .unwrap_or_else(|_| super::replica_call::internal_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::load::loads;

    fn linked(links: &[Links]) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (from, ends) in links.iter().enumerate() {
            for (to, sender) in ends.outgoing.iter().enumerate() {
                if sender.is_some() {
                    assert!(links[to].incoming[from].is_some());
                    pairs.push((from, to));
                }
            }
        }
        pairs
    }

    fn unlinked(shards: usize) -> Forwarder {
        Forwarder {
            senders: (0..shards).map(|_| None).collect(),
            waiting: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            serving: RefCell::new(HashMap::new()),
            random: Cell::new(7),
            outstanding: RefCell::new(vec![0; shards]),
        }
    }

    #[test]
    fn of_two_hosts_the_less_loaded_counting_calls_on_their_way() {
        let forwarder = unlinked(3);
        let loads = loads(1, 3);
        let choose = |hosts: &[usize], exclude| {
            forwarder
                .choose(hosts, &loads[0], exclude)
                .map(|(host, _)| host)
        };
        assert_eq!(choose(&[], 0), None);
        assert_eq!(choose(&[2], 0), Some(2));
        // Never the excluded shard (the caller itself), even when it is the only host.
        assert_eq!(choose(&[2], 2), None);
        loads[0][1].publish(5);
        for _ in 0..10 {
            assert_eq!(choose(&[1, 2], 0), Some(2));
            assert_eq!(choose(&[0, 1, 2], 0), Some(2));
        }
        // Equal published loads: the host this shard already sent more to is avoided.
        loads[0][1].publish(0);
        forwarder.outstanding.borrow_mut()[2] = 3;
        for _ in 0..10 {
            assert_eq!(choose(&[1, 2], 0), Some(1));
        }
        assert_eq!(forwarder.choose(&[2], &loads[0], 0), Some((2, 3)));
    }

    #[test]
    fn links_join_only_shards_that_forward_to_each_other() {
        // One app on shard 0 of 3, one on every shard: 1 and 2 call 0, 0 answers them.
        let links = build_links(3, &[vec![0], vec![0, 1, 2]]);
        assert_eq!(linked(&links), [(0, 1), (0, 2), (1, 0), (2, 0)]);
        // Replicas everywhere: nothing to link.
        assert!(linked(&build_links(3, &[vec![0, 1, 2]])).is_empty());
        // Two replicas of three shards: the hosts spill over to each other, too.
        assert_eq!(
            linked(&build_links(3, &[vec![1, 2]])),
            [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
        );
    }
}
