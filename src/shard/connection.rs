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

use std::io;
use std::rc::Rc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::FutureExt;
use glommio::timer::Timer;
use http::{Method, StatusCode, Version, header};

use super::ShardContext;
use super::body_pump::{BodyPump, PumpFailure};
use super::dispatch::{self, RequestIdText};
use super::response_stream::StreamEnd;
use super::transport::Transport;
use crate::body::ResponseBody;
use crate::http1::body::{BodyFraming, ChunkedDecoder};
use crate::http1::encode::{
    self, EngineHeaders, Framing, Persistence, encode_head, encode_response, status_has_body,
};
use crate::http1::head::RequestHead;
use crate::http1::parse::parse_head_resumable;
use crate::http1::reject::ParseError;
use crate::limits::{
    IDLE_BUFFER_BYTES_MAX, LINGER_BYTES_MAX, LINGER_TIMEOUT, READ_CHUNK_BYTES, WRITE_FLUSH_BYTES,
};
use crate::request::RequestId;
use crate::request_body::Body;

/// Serves one accepted connection until it closes. `key` is its entry in the shard's
/// connection table, made before the task was spawned; `None` means the shard is full, and
/// the connection only gets a 503.
pub(crate) async fn serve<T: Transport>(transport: T, shard: Rc<ShardContext>, key: Option<usize>) {
    let mut connection = Connection {
        transport,
        shard: shard.clone(),
        key,
        read_buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
        write_buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
        request_timer: None,
    };
    match key {
        Some(_) => connection.run().await,
        None => connection.refuse(ParseError::Overloaded).await,
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

/// What the connection does after a request.
enum Next {
    KeepAlive,
    /// Flush, then close gracefully.
    Close,
    /// The peer is gone or misbehaved at the socket level: drop without another write.
    Abort,
}

pub(super) struct Connection<T: Transport> {
    pub(super) transport: T,
    pub(super) shard: Rc<ShardContext>,
    key: Option<usize>,
    pub(super) read_buf: BytesMut,
    pub(super) write_buf: BytesMut,
    /// Made on the first request that has a timeout, then reused.
    pub(super) request_timer: Option<Timer>,
}

impl<T: Transport> Connection<T> {
    async fn run(&mut self) {
        let shard = self.shard.clone();
        let limits = &shard.config.options.limits;
        let mut pipelined = 0usize;
        let mut answered_any = false;
        // Bytes at the start of the buffer known not to end a head: a head arriving in pieces
        // is scanned once, not once per piece.
        let mut head_scanned = 0usize;
        // When the current wait began: idle (nothing buffered) or inside a head. Neither is
        // reset by bytes that do not complete a request, so a trickle cannot hold a
        // connection open past its timeout.
        let mut idle_since: Option<Instant> = None;
        let mut head_started: Option<Instant> = None;
        loop {
            match parse_head_resumable(&self.read_buf, &mut head_scanned, limits) {
                Ok(Some(head)) => {
                    head_scanned = 0;
                    idle_since = None;
                    head_started = None;
                    match self.answer(head).await {
                        Next::KeepAlive => {}
                        Next::Close => return self.close().await,
                        Next::Abort => return,
                    }
                    answered_any = true;
                    pipelined += 1;
                    if pipelined >= limits.pipeline_depth_max
                        || self.write_buf.len() >= WRITE_FLUSH_BYTES
                    {
                        if self.flush().await.is_err() {
                            return;
                        }
                        pipelined = 0;
                    }
                }
                Ok(None) => {
                    if !self.write_buf.is_empty() {
                        if self.flush().await.is_err() {
                            return;
                        }
                        pipelined = 0;
                    }
                    // Empty lines before a request are ignored (RFC 9112 §2.2): some clients
                    // send one after a body. They leave the connection idle.
                    if self
                        .read_buf
                        .iter()
                        .all(|&byte| byte == b'\r' || byte == b'\n')
                    {
                        self.read_buf.clear();
                        head_scanned = 0;
                    }
                    let idle = self.read_buf.is_empty();
                    if idle {
                        if self.shard.draining.get() {
                            return self.close().await;
                        }
                        self.shrink_buffers();
                    }
                    // A new connection gets the head timeout for its first request, not the
                    // keep-alive one, so silent connections cannot hold slots for long.
                    let deadline = match (idle, answered_any) {
                        (true, true) => {
                            *idle_since.get_or_insert_with(Instant::now)
                                + shard.config.options.keep_alive_timeout
                        }
                        (true, false) => {
                            *idle_since.get_or_insert_with(Instant::now)
                                + limits.header_read_timeout
                        }
                        (false, _) => {
                            *head_started.get_or_insert_with(Instant::now)
                                + limits.header_read_timeout
                        }
                    };
                    self.set_idle(idle);
                    let read = self.read(Some(deadline)).await;
                    self.set_idle(false);
                    match read {
                        Ok(0) => return self.close().await,
                        Ok(_) => {}
                        // An idle connection that times out just closes (RFC 9112 §9.8); a
                        // half-sent head gets 408.
                        Err(error) if error.kind() == io::ErrorKind::TimedOut && !idle => {
                            return self.refuse(ParseError::ReadTimeout).await;
                        }
                        Err(_) if idle => return self.close().await,
                        Err(_) => return,
                    }
                }
                Err(error) => return self.refuse(error).await,
            }
        }
    }

    fn set_idle(&self, idle: bool) {
        if let Some(key) = self.key {
            self.shard.set_idle(key, idle);
        }
    }

    /// Gives back the memory a large request or response grew the buffers to, so an idle
    /// connection holds only its working size.
    fn shrink_buffers(&mut self) {
        if self.read_buf.capacity() > IDLE_BUFFER_BYTES_MAX {
            self.read_buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
        }
        if self.write_buf.capacity() > IDLE_BUFFER_BYTES_MAX {
            self.write_buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
        }
    }

    /// Returns once the client has closed its connection (a half-close included) or the socket
    /// failed. One peek and no read: if the client sends more first — a pipelined request — it
    /// never returns, and those bytes stay on the socket for the loop to read after this
    /// answer (peeking again would only see the same bytes at once, a busy loop).
    async fn client_left(&mut self) {
        // `Ok(false)` (end of stream) and errors mean the client is gone: return.
        if let Ok(true) = self.transport.peer_activity().await {
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
        if self.shard.draining.get() || sent_more(&self.read_buf) {
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
    async fn answer(&mut self, head: RequestHead) -> Next {
        let (head_bytes, body, mut pump) = match self.take_body(&head) {
            Ok(parts) => parts,
            Err(error) => {
                self.refuse(error).await;
                return Next::Abort;
            }
        };
        let shard = self.shard.clone();
        let request_id = match head.request_id {
            Some(span) => RequestId::FromClient(span),
            None => RequestId::Generated(shard.request_ids.next()),
        };
        let id_text = RequestIdText::new(&request_id, &head_bytes);
        let is_head = head.method == Method::HEAD;
        let version = head.version;
        let keep_alive = head.keep_alive;
        let mut request_timer = self.request_timer.take();
        let incoming = dispatch::Incoming {
            head_bytes,
            head,
            body,
            request_id,
        };
        let outcome = {
            let dispatched = dispatch::dispatch(&shard, incoming, &id_text, &mut request_timer);
            futures_lite::pin!(dispatched);
            // A handler that finishes at once joins the batch of pipelined answers; one that
            // has to wait must not hold back the answers already encoded.
            match futures_lite::future::poll_once(&mut dispatched).await {
                Some(outcome) => outcome,
                None => {
                    if !self.write_buf.is_empty() && self.flush().await.is_err() {
                        return Next::Abort;
                    }
                    // The handler is polled first in each race, so an answer that is
                    // ready wins over a failure noticed in the same wake-up.
                    let raced = match pump.as_mut() {
                        // While the body is still arriving, the pump's reads see the client
                        // leave; a peek would only see the body's bytes. Once it is all in (or
                        // the handler let it go), the client is watched as below.
                        Some(pump) if !pump.is_done() => {
                            let first = async { Ok(dispatched.as_mut().await) }
                                .or(async { Err(self.pump_until_done(pump).await) })
                                .await;
                            match first {
                                Ok(outcome) => Ok(outcome),
                                Err(Some(failure)) => Err(Dropped::BodyFailed(failure)),
                                Err(None) => self.unless_client_leaves(dispatched.as_mut()).await,
                            }
                        }
                        _ => self.unless_client_leaves(dispatched.as_mut()).await,
                    };
                    match raced {
                        Ok(outcome) => outcome,
                        // The body failed before the handler answered: the handler is
                        // dropped and the client gets the body's error status.
                        Err(Dropped::BodyFailed(PumpFailure::Refused(error))) => {
                            self.refuse(error).await;
                            return Next::Abort;
                        }
                        Err(Dropped::BodyFailed(PumpFailure::Gone)) => {
                            let _ = self.flush().await;
                            return Next::Abort;
                        }
                        // Nobody is there to answer, and the answers before this one were
                        // flushed before the wait.
                        Err(Dropped::ClientGone) => return Next::Abort,
                    }
                }
            }
        };
        self.request_timer = request_timer;
        let (status, headers, body) = outcome.response.into_parts();
        // An interim (1xx) status cannot end a request: the client would wait for a final one
        // forever, or, after 101, stop speaking HTTP/1. hyper answers 500 too.
        let (status, headers, body) = if status.is_informational() {
            dispatch::internal_error().into_parts()
        } else {
            (status, headers, body)
        };
        let handler_closes = headers.iter().any(|(name, value)| {
            name == header::CONNECTION && value.as_bytes().eq_ignore_ascii_case(b"close")
        });
        // A body the handler left unread cannot be skipped safely: close after the answer.
        let mut close = !keep_alive || outcome.close || handler_closes || shard.draining.get();
        let date = shard.date.now();
        let stream = match body {
            ResponseBody::Full(body) => {
                // A body the handler left unread cannot be skipped safely: close after this.
                close |= body_unread(&pump);
                let engine = engine_headers(&date, &id_text, close, version);
                encode_response(
                    &mut self.write_buf,
                    status,
                    &headers,
                    &body,
                    !is_head,
                    &engine,
                );
                None
            }
            // Nothing of a stream is sent for HEAD or a status without content (RFC 9110
            // §6.4.1): it is dropped unpolled; the head says how a GET would be framed.
            ResponseBody::Stream(stream) => {
                let reset_content = status == StatusCode::RESET_CONTENT;
                let sends_body = !is_head && status_has_body(status) && !reset_content;
                let framing = if reset_content {
                    Framing::Length(0)
                } else if version == Version::HTTP_10 {
                    // HTTP/1.0 has no chunked coding: the close ends the body.
                    close |= sends_body;
                    Framing::UntilClose
                } else {
                    Framing::Chunked
                };
                let engine = engine_headers(&date, &id_text, close, version);
                encode_head(&mut self.write_buf, status, &headers, framing, &engine);
                sends_body.then_some((stream, framing == Framing::Chunked))
            }
        };
        if let Some((stream, chunked)) = stream {
            if let Some(pump) = pump.as_mut() {
                pump.final_response_begun();
            }
            let sent = self
                .send_stream(stream, chunked, outcome.deadline, pump.as_mut())
                .await;
            match sent {
                Ok(()) => {}
                // The client cannot be told in-band: end without the last chunk, and close.
                Err(StreamEnd::Cut) => {
                    let _ = self.flush_by(Some(Instant::now() + LINGER_TIMEOUT)).await;
                    return Next::Abort;
                }
                Err(StreamEnd::Gone) => return Next::Abort,
            }
        }
        // A streamed response may have read the request body, or left some: its head is
        // already sent, so an unread rest closes without notice.
        if close || body_unread(&pump) {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// Splits the head off the buffer and takes the body bytes that came with it: the whole
    /// body when it is all there (the usual case: no copy, no pump), otherwise the start of it
    /// and a pump that reads the rest when the handler asks.
    fn take_body(
        &mut self,
        head: &RequestHead,
    ) -> Result<(Bytes, Body, Option<BodyPump>), ParseError> {
        let head_bytes = self.read_buf.split_to(head.head_len).freeze();
        let body_bytes_max = self.shard.config.options.limits.body_bytes_max;
        let (body, pump) = match head.framing {
            BodyFraming::None => (Body::Full(Bytes::new()), None),
            BodyFraming::Length(length) => {
                let arrived = (self.read_buf.len() as u64).min(length);
                // `arrived` is at most the buffer's length, so it fits in usize.
                let first = self.read_buf.split_to(arrived as usize).freeze();
                if arrived == length {
                    (Body::Full(first), None)
                } else {
                    BodyPump::length(first, length - arrived, head.expect_continue)
                }
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new(body_bytes_max);
                let mut first = BytesMut::new();
                let progress = decoder.decode(&self.read_buf, &mut first)?;
                self.read_buf.advance(progress.consumed);
                if progress.done {
                    (Body::Full(first.freeze()), None)
                } else {
                    BodyPump::chunked(first.freeze(), decoder, head.expect_continue)
                }
            }
        };
        Ok((head_bytes, body, pump))
    }

    /// Reads more of a request body into the read buffer, by `deadline`.
    pub(super) async fn read_body_piece(&mut self, deadline: Instant) -> Result<(), PumpFailure> {
        if !self.write_buf.is_empty() {
            self.flush().await.map_err(|_| PumpFailure::Gone)?;
        }
        match self.read(Some(deadline)).await {
            Ok(0) => Err(PumpFailure::Gone),
            Ok(_) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                Err(PumpFailure::Refused(ParseError::ReadTimeout))
            }
            Err(_) => Err(PumpFailure::Gone),
        }
    }

    /// Reads more into the read buffer; `TimedOut` once `deadline` passes. The deadline is
    /// handed to the shard's sweeper, which shuts the read side when it passes: no timer per
    /// read. A connection outside the shard's table (refused at the limit) cannot be timed, and
    /// only reads where a timeout is not needed.
    pub(super) async fn read(&mut self, deadline: Option<Instant>) -> io::Result<usize> {
        // Disarmed when the read ends, and also if this future is dropped mid-read (a raced
        // body pump), so no stale deadline cuts a later read.
        let armed = match (self.key, deadline) {
            (Some(key), Some(deadline)) => Some(ArmedDeadline::arm(&self.shard, key, deadline)),
            _ => None,
        };
        let buf = std::mem::take(&mut self.read_buf);
        let (result, buf) = self.transport.read(buf).await;
        self.read_buf = buf;
        if armed.is_some_and(ArmedDeadline::disarm) {
            return Err(io::ErrorKind::TimedOut.into());
        }
        result
    }

    pub(super) async fn flush(&mut self) -> io::Result<()> {
        self.flush_by(None).await
    }

    /// Writes what is buffered, giving up with `TimedOut` at `deadline` as well as after a
    /// stall of `send_timeout`.
    pub(super) async fn flush_by(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let stall_timeout = self.shard.config.options.limits.send_timeout;
        let buf = std::mem::take(&mut self.write_buf);
        let (result, mut buf) = self.transport.write_all(buf, stall_timeout, deadline).await;
        buf.clear();
        self.write_buf = buf;
        result
    }

    /// Answers a refused request with its status and closes.
    async fn refuse(&mut self, error: ParseError) {
        let request_id = RequestId::Generated(self.shard.request_ids.next());
        let id_text = RequestIdText::new(&request_id, &[]);
        let date = self.shard.date.now();
        encode::encode_rejection(&mut self.write_buf, error, &date, id_text.as_bytes());
        self.close().await;
    }

    /// Flushes what is buffered, sends FIN, and discards what the client still sends for a
    /// bounded time and size (nginx's lingering close), so our last response is read, not reset.
    async fn close(&mut self) {
        if !self.write_buf.is_empty() && self.flush().await.is_err() {
            return;
        }
        self.transport.shutdown_write().await;
        if self.key.is_none() {
            // Not in the shard's table, so no read of ours could be timed: no lingering.
            return;
        }
        let deadline = Instant::now() + LINGER_TIMEOUT;
        let mut discarded = 0usize;
        while discarded < LINGER_BYTES_MAX {
            self.read_buf.clear();
            match self.read(Some(deadline)).await {
                Ok(0) | Err(_) => return,
                Ok(read) => discarded += read,
            }
        }
    }
}

/// A read deadline registered with the shard's sweeper for as long as it lives.
struct ArmedDeadline {
    shard: Rc<ShardContext>,
    key: usize,
    armed: bool,
}

impl ArmedDeadline {
    fn arm(shard: &Rc<ShardContext>, key: usize, deadline: Instant) -> Self {
        shard.arm_deadline(key, deadline);
        ArmedDeadline {
            shard: shard.clone(),
            key,
            armed: true,
        }
    }

    /// Ends the timed read; whether the sweeper had cut it.
    fn disarm(mut self) -> bool {
        self.armed = false;
        self.shard.disarm_deadline(self.key)
    }
}

impl Drop for ArmedDeadline {
    fn drop(&mut self) {
        if self.armed {
            self.shard.disarm_deadline(self.key);
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
