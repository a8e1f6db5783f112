//! The connection loop: read, parse every complete request in the buffer, answer each in
//! order into one write buffer, write once, repeat.
//!
//! Invariant: the loop owns its read and write buffers and reuses them (shrinking them back
//! when a large request or response has grown them); requests are answered strictly in arrival
//! order; responses already encoded are flushed before any wait — for input, for a body, or
//! for a handler that did not finish at once — so a pipelining client never waits on us for a
//! response we hold; every wait for the client is bounded by a deadline (a handler's by the
//! request timeout, when one is set); a handler that did not finish at once has its future
//! dropped as soon as its client leaves, and the connection ends without an answer; and a
//! refused request ends the connection after its error response, with a bounded lingering
//! close so the client reads the response instead of a reset.
//!
//! A client "leaves" when a peek at its socket sees end of stream or an error. That includes a
//! half-close — a FIN after the request (`shutdown(SHUT_WR)`, `nc -N`) — which nginx also
//! takes for an abort (its 499): a client that wants its answer keeps its side open (it can
//! say `connection: close` to end after it). A handler that finishes at once is never watched,
//! so it still answers a half-closed client. Only a handler that has to wait pays for the
//! watch (one peek, armed once, not while the shard drains); while its request body is still
//! arriving the body pump's reads notice the client leaving instead, and the watch starts once
//! the body is all in; once the client sends more (a pipelined request) — or had already sent
//! it — the watch ends, or never starts, and the handler is simply awaited.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::FutureExt;
use http::{Method, StatusCode, Version, header};

use super::ShardContext;
use super::body_pump::{BodyPump, PumpFailure};
use super::connection_io::ConnectionIo;
use super::dispatch::{self, RequestIdText};
use super::response_stream::StreamEnd;
use super::transport::Transport;
use crate::body::{ChunkStream, ResponseBody};
use crate::http1::body::{BodyFraming, ChunkedDecoder};
use crate::http1::encode::{
    self, EngineHeaders, Framing, Persistence, encode_head, encode_response, status_has_body,
};
use crate::http1::head::RequestHead;
use crate::http1::parse::{parse_head_resumable, starts_a_head_request};
use crate::http1::reject::ParseError;
use crate::limits::{LINGER_BYTES_MAX, LINGER_TIMEOUT, WRITE_FLUSH_BYTES};
use crate::metrics::MethodLabel;
use crate::metrics::record as metrics;
use crate::pooled::PooledBox;
use crate::request::RequestId;
use crate::request_body::Body;
use crate::response::{Response, ResponseHeaders};

/// The status a request whose client left before its answer is counted with in the metrics:
/// nginx's 499 ("client closed request"), as Ray Serve's proxy counts it. Never sent.
const CLIENT_GONE_STATUS: u16 = 499;

/// Serves one accepted connection until it closes. `key` is its entry in the shard's
/// connection table, made before the task was spawned; `None` means the shard is full, and
/// the connection only gets a 503.
pub(crate) async fn serve<T: Transport>(transport: T, shard: Rc<ShardContext>, key: Option<usize>) {
    let mut connection = Connection {
        io: ConnectionIo::new(transport, shard.clone(), key),
    };
    match key {
        Some(_) => connection.run().await,
        // Nothing was read: the answer cannot know the method.
        None => connection.refuse(ParseError::Overloaded, false).await,
    }
    // Unregister before the socket is closed, so a drain never shuts down a reused fd.
    if let Some(key) = key {
        shard.unregister(key);
    }
    drop(connection);
}

/// Why a handler that had to wait was dropped before it answered.
enum Dropped {
    /// Its request body could not be read to the end.
    BodyFailed(PumpFailure),
    /// The client closed its connection (or the socket failed) while the handler ran.
    ClientGone,
}

/// What the connection does next, after a request or a wait for input.
enum Next {
    /// Go on: parse what is buffered, or read more.
    Continue,
    /// Flush, then close gracefully.
    Close,
    /// Answer with this error status, then close gracefully. `is_head`: the request refused is
    /// a `HEAD`, whose answer has no content.
    Refuse { error: ParseError, is_head: bool },
    /// Drop without another write: the peer is gone or misbehaved at the socket level, or an
    /// idle connection ended — its client closed it, its keep-alive ran out, or a drain shut
    /// it — with nothing to write and nothing to linger for (dropped, a FIN, without taking a
    /// buffer again).
    Abort,
}

/// The connection loop's state between requests, after hyper's `Reading`/`Writing`: where
/// the head being read stands, when the current wait began, and what is batched for the next
/// write.
struct LoopState {
    /// Bytes at the start of the buffer known not to end a head: a head arriving in pieces is
    /// scanned once, not once per piece.
    head_scanned: usize,
    /// When the current wait began: idle (nothing buffered) or inside a head. Neither is reset
    /// by bytes that do not complete a request, so a trickle cannot hold a connection open
    /// past its timeout.
    idle_since: Option<Instant>,
    head_started: Option<Instant>,
    /// Whether a request has been answered: a new connection waits for its first head under
    /// the head timeout, not the keep-alive one.
    answered_any: bool,
    /// Answers encoded into the write buffer since it was last written.
    unflushed_answers: usize,
}

impl LoopState {
    fn new() -> Self {
        LoopState {
            head_scanned: 0,
            idle_since: None,
            head_started: None,
            answered_any: false,
            unflushed_answers: 0,
        }
    }

    /// A complete head was parsed: the next one starts a fresh scan and a fresh wait.
    fn head_parsed(&mut self) {
        self.head_scanned = 0;
        self.idle_since = None;
        self.head_started = None;
    }

    /// An answer was encoded into the write buffer.
    fn answered(&mut self) {
        self.answered_any = true;
        self.unflushed_answers += 1;
    }

    /// The write buffer was written.
    fn flushed(&mut self) {
        self.unflushed_answers = 0;
    }

    /// The buffered bytes were dropped (blank lines): there is no head to resume scanning.
    fn buffer_discarded(&mut self) {
        self.head_scanned = 0;
    }

    /// When the read about to start must end. A new connection gets the head timeout for its
    /// first request, not the keep-alive one, so silent connections cannot hold slots for long.
    fn read_deadline(
        &mut self,
        idle: bool,
        keep_alive_timeout: Duration,
        header_read_timeout: Duration,
    ) -> Instant {
        match (idle, self.answered_any) {
            (true, true) => *self.idle_since.get_or_insert_with(Instant::now) + keep_alive_timeout,
            (true, false) => {
                *self.idle_since.get_or_insert_with(Instant::now) + header_read_timeout
            }
            (false, _) => *self.head_started.get_or_insert_with(Instant::now) + header_read_timeout,
        }
    }
}

/// What the answer needs of its request once the handler has taken it.
struct Answering {
    id_text: RequestIdText,
    is_head: bool,
    version: Version,
    keep_alive: bool,
}

/// The connection loop: the socket and its buffers, and the loop's own policy on top.
struct Connection<T: Transport> {
    io: ConnectionIo<T>,
}

impl<T: Transport> Connection<T> {
    /// Parses, answers and waits for input in turn until the connection ends.
    async fn run(&mut self) {
        let shard = self.io.shard.clone();
        let limits = &shard.config.options.limits;
        let mut state = LoopState::new();
        loop {
            let next =
                match parse_head_resumable(&self.io.read_buf, &mut state.head_scanned, limits) {
                    Ok(Some(head)) => {
                        state.head_parsed();
                        // Boxed in a block the shard keeps for the next answer: the answer
                        // in progress (the handler's call, its body, a streamed response) is
                        // most of a connection's state, and an idle connection holds none of it.
                        match PooledBox::pin_with(|| self.answer(head)).await {
                            Next::Continue => self.batch_answer(&mut state).await,
                            next => next,
                        }
                    }
                    Ok(None) => self.wait_for_input(&mut state).await,
                    Err(error) => Next::Refuse {
                        error,
                        is_head: starts_a_head_request(&self.io.read_buf),
                    },
                };
            match next {
                Next::Continue => {}
                Next::Close => return self.close().await,
                Next::Refuse { error, is_head } => return self.refuse(error, is_head).await,
                Next::Abort => return,
            }
        }
    }

    /// Counts an answer encoded into the write buffer, and writes the batch once it holds as
    /// many answers or bytes as a batch may.
    async fn batch_answer(&mut self, state: &mut LoopState) -> Next {
        state.answered();
        let pipeline_depth_max = self.io.shard.config.options.limits.pipeline_depth_max;
        if state.unflushed_answers >= pipeline_depth_max
            || self.io.write_buf.len() >= WRITE_FLUSH_BYTES
        {
            if self.io.flush().await.is_err() {
                return Next::Abort;
            }
            state.flushed();
        }
        debug_assert!(
            state.unflushed_answers < pipeline_depth_max,
            "a batch holds fewer answers than the pipeline depth"
        );
        Next::Continue
    }

    /// No complete head is buffered: writes what is batched, then reads more by the deadline
    /// of the wait the connection is in (idle, or inside a head).
    async fn wait_for_input(&mut self, state: &mut LoopState) -> Next {
        if !self.io.write_buf.is_empty() {
            if self.io.flush().await.is_err() {
                return Next::Abort;
            }
            state.flushed();
        }
        // Empty lines before a request are ignored (RFC 9112 §2.2): some clients send one
        // after a body. They leave the connection idle.
        if self
            .io
            .read_buf
            .iter()
            .all(|&byte| byte == b'\r' || byte == b'\n')
        {
            self.io.read_buf.clear();
            state.buffer_discarded();
        }
        let idle = self.io.read_buf.is_empty();
        if idle && self.io.shard.draining.get() {
            return Next::Close;
        }
        let options = &self.io.shard.config.options;
        let deadline = state.read_deadline(
            idle,
            options.keep_alive_timeout,
            options.limits.header_read_timeout,
        );
        debug_assert!(
            self.io.write_buf.is_empty(),
            "encoded answers are written before a wait for input"
        );
        self.io.set_idle(idle);
        let read = if idle {
            self.io.read_idle(deadline).await
        } else {
            self.io.read(Some(deadline)).await
        };
        self.io.set_idle(false);
        match read {
            // An idle connection its client closed just closes, with nothing to linger for.
            Ok(0) if idle => Next::Abort,
            Ok(0) => Next::Close,
            Ok(_) => Next::Continue,
            // An idle connection that times out just closes (RFC 9112 §9.8); a half-sent head
            // gets 408.
            Err(error) if error.kind() == io::ErrorKind::TimedOut && !idle => Next::Refuse {
                error: ParseError::ReadTimeout,
                is_head: starts_a_head_request(&self.io.read_buf),
            },
            Err(_) => Next::Abort,
        }
    }

    /// Returns once the client has closed its connection (a half-close included) or the socket
    /// failed. One peek and no read: if the client sends more first — a pipelined request — it
    /// never returns, and those bytes stay on the socket for the loop to read after this
    /// answer (peeking again would only see the same bytes at once, a busy loop).
    async fn client_left(&mut self) {
        // `Ok(false)` (end of stream) and errors mean the client is gone: return.
        if let Ok(true) = self.io.transport.peer_activity().await {
            std::future::pending::<()>().await;
        }
    }

    /// Awaits the handler, dropping it if the client leaves first. A drain may have shut the
    /// read side of a connection that was idle when it began, which would read as a client
    /// that left: a drain lets in-flight requests finish instead. And a client that already
    /// sent more (pipelined requests in the buffer) is not watched: a FIN after them is not a
    /// client leaving before its answers.
    async fn unless_client_leaves(
        &mut self,
        dispatched: std::pin::Pin<&mut impl std::future::Future<Output = dispatch::Outcome>>,
    ) -> Result<dispatch::Outcome, Dropped> {
        if self.io.shard.draining.get() || sent_more(&self.io.read_buf) {
            return Ok(dispatched.await);
        }
        async { Ok(dispatched.await) }
            .or(async {
                self.client_left().await;
                Err(Dropped::ClientGone)
            })
            .await
    }

    /// Takes the body that came with the head, calls the application (pumping the rest of
    /// the body to it as it asks), and encodes its response.
    async fn answer(&mut self, mut head: RequestHead) -> Next {
        // The request's latency runs from here, its head complete, to its answer's last byte
        // handed to the socket (or encoded behind the answers batched before it).
        let shard = self.io.shard.clone();
        let started = shard.metrics.now();
        let _ongoing = shard.metrics.ongoing();
        let method = MethodLabel::of(&head.method);
        head.client = self.io.client;
        let (head_bytes, body, mut pump) = match self.take_body(&head) {
            Ok(parts) => parts,
            Err(error) => {
                return Next::Refuse {
                    error,
                    is_head: head.method == Method::HEAD,
                };
            }
        };
        let request_id = match head.request_id {
            Some(span) => RequestId::FromClient(span),
            None => RequestId::Generated(self.io.shard.request_ids.next()),
        };
        let request = Answering {
            id_text: RequestIdText::new(&request_id, &head_bytes),
            is_head: head.method == Method::HEAD,
            version: head.version,
            keep_alive: head.keep_alive,
        };
        let incoming = dispatch::Incoming {
            head_bytes,
            head,
            body,
            request_id,
        };
        // The applications as they are now: a reload during this request leaves it on them.
        let generation = shard.current();
        let mut request_timer = self.io.request_timer.take();
        let routed = Cell::new(None);
        let awaited = {
            // Pinned in this future's state, where it is made: only a reference travels into
            // the steps below, so no await moves the handler's future.
            let dispatched = dispatch::dispatch(
                &shard,
                &generation,
                incoming,
                &request.id_text,
                &mut request_timer,
                &routed,
            );
            futures_lite::pin!(dispatched);
            self.await_handler(dispatched, pump.as_mut(), request.is_head)
                .await
        };
        // Requests no application took (unknown paths, the system endpoints) share slot 0.
        let slot = routed
            .get()
            .map_or(0, |app| generation.routes.metric_slots[app]);
        let outcome = match awaited {
            Ok(outcome) => outcome,
            Err(next) => {
                if matches!(next, Next::Abort) {
                    // The client left (or its socket failed) before its answer: counted as
                    // Ray Serve and nginx count it, 499.
                    metrics::bump(&shard.metrics.engine.client_departures);
                    let elapsed = shard.metrics.since(started);
                    shard
                        .metrics
                        .http_request(slot, method, CLIENT_GONE_STATUS, elapsed);
                }
                return next;
            }
        };
        self.io.request_timer = request_timer;
        let (status, headers, body) = without_interim_status(outcome.response);
        let mut close = self.closes_after(&request, outcome.close, &headers);
        let stream = self.encode_answer(
            status,
            &headers,
            body,
            &request,
            &mut close,
            body_unread(&pump),
        );
        let sent = match stream {
            Some((stream, framing)) => {
                self.send_streamed_body(stream, framing, outcome.deadline, pump.as_mut())
                    .await
            }
            None => Ok(()),
        };
        shard
            .metrics
            .http_request(slot, method, status.as_u16(), shard.metrics.since(started));
        if let Err(next) = sent {
            return next;
        }
        // A streamed response may have read the request body, or left some: its head is
        // already sent, so an unread rest closes without notice.
        if close || body_unread(&pump) {
            Next::Close
        } else {
            Next::Continue
        }
    }

    /// Awaits the handler. One that finishes at once joins the batch of pipelined answers; one
    /// that has to wait must not hold back the answers already encoded, so they are written
    /// first, and then it races its request body's reads and the client leaving. `Err` is
    /// what the connection does instead of answering.
    async fn await_handler(
        &mut self,
        mut dispatched: std::pin::Pin<&mut impl std::future::Future<Output = dispatch::Outcome>>,
        pump: Option<&mut BodyPump>,
        is_head: bool,
    ) -> Result<dispatch::Outcome, Next> {
        if let Some(outcome) = futures_lite::future::poll_once(dispatched.as_mut()).await {
            return Ok(outcome);
        }
        if !self.io.write_buf.is_empty() && self.io.flush().await.is_err() {
            return Err(Next::Abort);
        }
        debug_assert!(
            self.io.write_buf.is_empty(),
            "encoded answers are written before a wait for the handler"
        );
        match self.race_handler(dispatched, pump).await {
            Ok(outcome) => Ok(outcome),
            // The body failed before the handler answered: the handler is dropped and the
            // client gets the body's error status.
            Err(Dropped::BodyFailed(PumpFailure::Refused(error))) => {
                Err(Next::Refuse { error, is_head })
            }
            Err(Dropped::BodyFailed(PumpFailure::Gone)) => {
                let _ = self.io.flush().await;
                Err(Next::Abort)
            }
            // Nobody is there to answer, and the answers before this one were flushed before
            // the wait.
            Err(Dropped::ClientGone) => Err(Next::Abort),
        }
    }

    /// Awaits a handler that had to wait, racing the reads of its request body while the body
    /// is still arriving, then the client leaving. The handler is polled first in each race,
    /// so an answer that is ready wins over a failure noticed in the same wake-up.
    async fn race_handler(
        &mut self,
        mut dispatched: std::pin::Pin<&mut impl std::future::Future<Output = dispatch::Outcome>>,
        pump: Option<&mut BodyPump>,
    ) -> Result<dispatch::Outcome, Dropped> {
        match pump {
            // While the body is still arriving, the pump's reads see the client leave; a peek
            // would only see the body's bytes. Once it is all in (or the handler let it go),
            // the client is watched as below.
            Some(pump) if !pump.is_done() => {
                let first = async { Ok(dispatched.as_mut().await) }
                    .or(async { Err(self.io.pump_until_done(pump).await) })
                    .await;
                match first {
                    Ok(outcome) => Ok(outcome),
                    Err(Some(failure)) => Err(Dropped::BodyFailed(failure)),
                    Err(None) => self.unless_client_leaves(dispatched).await,
                }
            }
            _ => self.unless_client_leaves(dispatched).await,
        }
    }

    /// Whether the connection closes after this answer: the client or the handler asked for
    /// it, the handler's request cannot be followed (`outcome_closes`), or the shard drains.
    fn closes_after(
        &self,
        request: &Answering,
        outcome_closes: bool,
        headers: &ResponseHeaders,
    ) -> bool {
        let handler_closes = headers.iter().any(|(name, value)| {
            name == header::CONNECTION && value.as_bytes().eq_ignore_ascii_case(b"close")
        });
        !request.keep_alive || outcome_closes || handler_closes || self.io.shard.draining.get()
    }

    /// Encodes the response: all of it when its body is whole, its head when the body is a
    /// stream, which is returned (with its framing) if it is to be sent. Sets `close` when the
    /// framing chosen needs the connection to end after it.
    fn encode_answer(
        &mut self,
        status: StatusCode,
        headers: &ResponseHeaders,
        body: ResponseBody,
        request: &Answering,
        close: &mut bool,
        body_unread: bool,
    ) -> Option<(ChunkStream, Framing)> {
        let date = self.io.shard.date.now();
        match body {
            ResponseBody::Full(body) => {
                // A body the handler left unread cannot be skipped safely: close after this.
                *close |= body_unread;
                let engine = engine_headers(&date, &request.id_text, *close, request.version);
                encode_response(
                    &mut self.io.write_buf,
                    status,
                    headers,
                    &body,
                    !request.is_head,
                    &engine,
                );
                None
            }
            ResponseBody::Stream(stream) => {
                let (framing, sends_body) =
                    stream_framing(status, headers, request.is_head, request.version);
                // HTTP/1.0 has no chunked coding: the close ends the body.
                *close |= sends_body && framing == Framing::UntilClose;
                let engine = engine_headers(&date, &request.id_text, *close, request.version);
                encode_head(&mut self.io.write_buf, status, headers, framing, &engine);
                sends_body.then_some((stream, framing))
            }
        }
    }

    /// Sends a streamed body after its head. `Err` is how the connection ends when the body
    /// could not be sent whole.
    async fn send_streamed_body(
        &mut self,
        stream: ChunkStream,
        framing: Framing,
        deadline: Option<Instant>,
        mut pump: Option<&mut BodyPump>,
    ) -> Result<(), Next> {
        if let Some(pump) = pump.as_mut() {
            pump.final_response_begun();
        }
        match self.io.send_stream(stream, framing, deadline, pump).await {
            Ok(()) => Ok(()),
            // The client cannot be told in-band: end without the last chunk, and close.
            Err(StreamEnd::Cut) => {
                let _ = self
                    .io
                    .flush_by(Some(Instant::now() + LINGER_TIMEOUT))
                    .await;
                Err(Next::Abort)
            }
            Err(StreamEnd::Gone) => Err(Next::Abort),
        }
    }

    /// Splits the head off the buffer and takes the body bytes that came with it: the whole
    /// body when it is all there (the usual case: no copy, no pump), otherwise the start of it
    /// and a pump that reads the rest when the handler asks.
    fn take_body(
        &mut self,
        head: &RequestHead,
    ) -> Result<(Bytes, Body, Option<BodyPump>), ParseError> {
        debug_assert!(
            head.head_len <= self.io.read_buf.len(),
            "a head is parsed from the bytes in the read buffer"
        );
        let head_bytes = self.io.read_buf.split_to(head.head_len).freeze();
        let body_bytes_max = self.io.shard.config.options.limits.body_bytes_max;
        let (body, pump) = match head.framing {
            BodyFraming::None => (Body::Full(Bytes::new()), None),
            BodyFraming::Length(length) => {
                let arrived = (self.io.read_buf.len() as u64).min(length);
                // `arrived` is at most the buffer's length, so it fits in usize.
                let first = self.io.read_buf.split_to(arrived as usize).freeze();
                if arrived == length {
                    (Body::Full(first), None)
                } else {
                    BodyPump::length(first, length - arrived, head.expect_continue)
                }
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new(body_bytes_max);
                let mut first = BytesMut::new();
                let progress = decoder.decode(&self.io.read_buf, &mut first)?;
                self.io.read_buf.advance(progress.consumed);
                if progress.done {
                    (Body::Full(first.freeze()), None)
                } else {
                    BodyPump::chunked(first.freeze(), decoder, head.expect_continue)
                }
            }
        };
        Ok((head_bytes, body, pump))
    }

    /// Answers a refused request with its status and closes.
    async fn refuse(&mut self, error: ParseError, is_head: bool) {
        self.io
            .shard
            .metrics
            .engine
            .rejected(error.status().as_u16());
        let request_id = RequestId::Generated(self.io.shard.request_ids.next());
        let id_text = RequestIdText::new(&request_id, &[]);
        let date = self.io.shard.date.now();
        encode::encode_rejection(
            &mut self.io.write_buf,
            error,
            is_head,
            &date,
            id_text.as_bytes(),
        );
        self.close().await;
    }

    /// Flushes what is buffered, sends FIN, and discards what the client still sends for a
    /// bounded time and size (nginx's lingering close), so our last response is read, not reset.
    async fn close(&mut self) {
        if !self.io.write_buf.is_empty() && self.io.flush().await.is_err() {
            return;
        }
        self.io.transport.shutdown_write().await;
        if self.io.key.is_none() {
            // Not in the shard's table, so no read of ours could be timed: no lingering.
            return;
        }
        let deadline = Instant::now() + LINGER_TIMEOUT;
        let mut discarded = 0usize;
        while discarded < LINGER_BYTES_MAX {
            self.io.read_buf.clear();
            match self.io.read(Some(deadline)).await {
                Ok(0) | Err(_) => return,
                Ok(read) => discarded += read,
            }
        }
    }
}

/// Whether the client sent more than blank lines after the current request.
fn sent_more(buffered: &[u8]) -> bool {
    buffered.iter().any(|&byte| byte != b'\r' && byte != b'\n')
}

/// Whether a request body is still (partly) on the socket.
fn body_unread(pump: &Option<BodyPump>) -> bool {
    pump.as_ref().is_some_and(|pump| !pump.is_done())
}

/// An interim (1xx) status cannot end a request: the client would wait for a final one
/// forever, or, after 101, stop speaking HTTP/1. hyper answers 500 too.
fn without_interim_status(response: Response) -> (StatusCode, ResponseHeaders, ResponseBody) {
    let (status, headers, body) = response.into_parts();
    if status.is_informational() {
        dispatch::internal_error().into_parts()
    } else {
        (status, headers, body)
    }
}

/// How a streamed body is framed, and whether it is sent at all. Nothing of a stream is sent
/// for HEAD or a status without content (RFC 9110 §6.4.1): it is dropped unpolled; the head
/// says how a GET would be framed. A stream whose handler states its `content-length` (a
/// file, a proxied body) is sent with that length, unchunked; the stream must then yield
/// exactly that many bytes (`send_stream` closes the connection otherwise).
fn stream_framing(
    status: StatusCode,
    headers: &ResponseHeaders,
    is_head: bool,
    version: Version,
) -> (Framing, bool) {
    let reset_content = status == StatusCode::RESET_CONTENT;
    let sends_body = !is_head && status_has_body(status) && !reset_content;
    let framing = if reset_content {
        Framing::Length(0)
    } else if let Some(length) = stated_length(headers) {
        Framing::Length(length)
    } else if version == Version::HTTP_10 {
        Framing::UntilClose
    } else {
        Framing::Chunked
    };
    (framing, sends_body)
}

/// The `content-length` a handler set, when it is one plain decimal number.
fn stated_length(headers: &ResponseHeaders) -> Option<u64> {
    let (_, value) = headers
        .iter()
        .find(|(name, _)| name == header::CONTENT_LENGTH)?;
    let digits = value.as_bytes();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The engine headers for one response.
fn engine_headers<'a>(
    date: &'a [u8],
    id_text: &'a RequestIdText,
    close: bool,
    version: Version,
) -> EngineHeaders<'a> {
    let persistence = match (close, version) {
        (true, _) => Persistence::Close,
        (false, Version::HTTP_10) => Persistence::KeepAliveHttp10,
        (false, _) => Persistence::KeepAlive,
    };
    EngineHeaders {
        date,
        request_id: id_text.as_bytes(),
        persistence,
    }
}
