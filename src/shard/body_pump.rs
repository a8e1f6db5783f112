//! Reading the rest of a request body from the socket, one chunk each time its reader asks:
//! the handler, or the engine reading the body whole before admission (`dispatch`).
//!
//! Invariant: the pump reads only on demand and holds at most one chunk for its reader, so
//! the pump itself never buffers an upload whole; it stops exactly at the body's end (Content-Length bytes,
//! or the chunked body's last chunk and trailers), leaving a pipelined next request in the
//! read buffer; every chunk passes the body limit, the body read timeout, and the minimum data
//! rate — all three folded into the deadline of each read, so no timer runs beside it.

use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::connection_io::ConnectionIo;
use super::transport::Transport;
use crate::http1::body::ChunkedDecoder;
use crate::http1::encode::CONTINUE;
use crate::http1::reject::ParseError;
use crate::limits::{Limits, RING_WAIT_MAX};
use crate::request_body::{Body, BodyChannel, BodyError, Demand};

/// Why the pump stopped before the body's end.
pub(super) enum PumpFailure {
    /// The body broke a rule (too large, bad chunk, too slow): answer with this status.
    Refused(ParseError),
    /// The client went away.
    Gone,
}

impl PumpFailure {
    fn body_error(&self) -> BodyError {
        match self {
            PumpFailure::Refused(ParseError::BodyTooLarge) => BodyError::TooLarge,
            PumpFailure::Refused(ParseError::ReadTimeout) => BodyError::TimedOut,
            PumpFailure::Refused(_) => BodyError::Malformed,
            PumpFailure::Gone => BodyError::Disconnected,
        }
    }
}

/// How the rest of the body is delimited.
enum Remaining {
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// The state of one request body still on the socket.
pub(super) struct BodyPump {
    channel: Rc<BodyChannel>,
    remaining: Remaining,
    /// `Expect: 100-continue`: say `100 Continue` before the first read.
    expect_continue: bool,
    /// When the wait for the next piece of the body began. Kept until bytes come, so a read
    /// that is dropped and restarted (the pump races the handler's stream) restarts neither
    /// the body read timeout nor the clock of the minimum data rate.
    piece_started: Option<Instant>,
    /// Body bytes received so far (with the head included) and the time spent waiting for
    /// them: what the minimum data rate is judged on.
    received: u64,
    waited: Duration,
    done: bool,
}

/// What the read buffer yielded.
enum Taken {
    Chunk { chunk: Bytes, last: bool },
    End,
    NeedMore,
}

impl BodyPump {
    /// The final response's head has been sent: an interim `100 Continue` may no longer
    /// follow (RFC 9110 §15.2: interim responses come before the final one); a client still
    /// waiting for it sends the body on seeing the final status, or gives up.
    pub(super) fn final_response_begun(&mut self) {
        self.expect_continue = false;
    }

    /// A Content-Length body of which `first` arrived with the head and `remaining` bytes
    /// are still to come.
    pub(super) fn length(
        first: Bytes,
        remaining: u64,
        expect_continue: bool,
    ) -> (Body, Option<Self>) {
        Self::start(first, Remaining::Length(remaining), expect_continue)
    }

    /// A chunked body whose decoded start is `first`.
    pub(super) fn chunked(
        first: Bytes,
        decoder: ChunkedDecoder,
        expect_continue: bool,
    ) -> (Body, Option<Self>) {
        Self::start(first, Remaining::Chunked(decoder), expect_continue)
    }

    fn start(first: Bytes, remaining: Remaining, expect_continue: bool) -> (Body, Option<Self>) {
        let received = first.len() as u64;
        let channel = Rc::new(BodyChannel::with_first_chunk(first));
        let pump = BodyPump {
            channel: channel.clone(),
            remaining,
            expect_continue,
            piece_started: None,
            received,
            waited: Duration::ZERO,
            done: false,
        };
        (Body::Streaming(channel), Some(pump))
    }

    /// Whether the whole body has been read off the socket.
    pub(super) fn is_done(&self) -> bool {
        self.done
    }

    /// When the next piece must have arrived: within the body read timeout of the start of
    /// its wait, and before the body's waiting time outgrows what its bytes have earned —
    /// the grace period plus `received / body_min_bytes_per_second` (Kestrel's minimum data
    /// rate, averaged over the whole body).
    fn piece_deadline(&mut self, limits: &Limits) -> Instant {
        let started = *self.piece_started.get_or_insert_with(Instant::now);
        let mut allowed = limits.body_read_timeout;
        if limits.body_min_bytes_per_second > 0 {
            let earned_nanos = u128::from(self.received) * 1_000_000_000
                / limits.body_min_bytes_per_second as u128;
            let earned = limits
                .body_min_rate_grace
                .saturating_add(Duration::from_nanos(
                    u64::try_from(earned_nanos).unwrap_or(u64::MAX),
                ));
            allowed = allowed.min(earned.saturating_sub(self.waited));
        }
        // A limit too long for the clock (`Duration::MAX`) waits as long as a ring wait may.
        started
            .checked_add(allowed)
            .unwrap_or_else(|| started + RING_WAIT_MAX)
    }

    /// `count` bytes of the body arrived, ending the wait that began at `piece_started`.
    fn piece_arrived(&mut self, count: usize) {
        if let Some(started) = self.piece_started.take() {
            self.waited += started.elapsed();
        }
        self.received += count as u64;
    }

    /// Takes what the buffer holds of the body, without reading past its end.
    fn take_from(&mut self, buf: &mut BytesMut) -> Result<Taken, ParseError> {
        match &mut self.remaining {
            Remaining::Length(left) => {
                let count = (buf.len() as u64).min(*left);
                if count == 0 {
                    return Ok(Taken::NeedMore);
                }
                debug_assert!(count <= *left, "the pump reads no further than the body");
                *left -= count;
                // `count` is at most the buffer's length, so it fits in usize.
                let chunk = buf.split_to(count as usize).freeze();
                Ok(Taken::Chunk {
                    chunk,
                    last: *left == 0,
                })
            }
            Remaining::Chunked(decoder) => {
                let mut decoded = BytesMut::new();
                let progress = decoder.decode(buf, &mut decoded)?;
                debug_assert!(progress.consumed <= buf.len(), "consumed past the buffer");
                buf.advance(progress.consumed);
                debug_assert!(
                    progress.done || buf.is_empty(),
                    "an unfinished body takes every buffered byte; a finished one leaves the next request"
                );
                Ok(match (decoded.is_empty(), progress.done) {
                    (false, last) => Taken::Chunk {
                        chunk: decoded.freeze(),
                        last,
                    },
                    (true, true) => Taken::End,
                    (true, false) => Taken::NeedMore,
                })
            }
        }
    }
}

/// A pump dropped before the body's end (the connection closed or the answer is done) tells
/// a reader still holding the body — in a task of its own, say — instead of leaving it waiting.
impl Drop for BodyPump {
    fn drop(&mut self) {
        if !self.done {
            self.channel.finish(Err(BodyError::Disconnected));
        }
    }
}

impl<T: Transport> ConnectionIo<T> {
    /// Reads the body for the handler, one chunk each time it asks. Returns only when the
    /// body fails; once it is complete or abandoned it waits forever, so it can be raced
    /// against the handler (or a streamed response) that reads it.
    pub(super) async fn pump_body(&mut self, pump: &mut BodyPump) -> PumpFailure {
        match self.pump_until_done(pump).await {
            Some(failure) => failure,
            None => std::future::pending().await,
        }
    }

    /// [`ConnectionIo::pump_body`], but returning `None` once the body is complete or the
    /// handler let it go, so that the caller can go on to watch the client.
    pub(super) async fn pump_until_done(&mut self, pump: &mut BodyPump) -> Option<PumpFailure> {
        loop {
            if pump.done {
                return None;
            }
            let channel = pump.channel.clone();
            if poll_fn(|cx| channel.poll_demand(cx)).await == Demand::Abandoned {
                return None;
            }
            if let Err(failure) = self.pump_one_chunk(pump).await {
                pump.channel.finish(Err(failure.body_error()));
                pump.done = true;
                return Some(failure);
            }
        }
    }

    async fn pump_one_chunk(&mut self, pump: &mut BodyPump) -> Result<(), PumpFailure> {
        debug_assert!(!pump.done, "a body read to its end is not read further");
        loop {
            match pump
                .take_from(&mut self.read_buf)
                .map_err(PumpFailure::Refused)?
            {
                Taken::Chunk { chunk, last } => {
                    debug_assert!(!chunk.is_empty(), "only bytes are handed to the handler");
                    pump.channel.deliver(chunk);
                    if last {
                        pump.channel.finish(Ok(()));
                        pump.done = true;
                    }
                    return Ok(());
                }
                Taken::End => {
                    pump.channel.finish(Ok(()));
                    pump.done = true;
                    return Ok(());
                }
                Taken::NeedMore => {}
            }
            if pump.expect_continue {
                // The handler wants the body: now the client may send it (RFC 9110 §10.1.1).
                self.write_buf.put_slice(CONTINUE);
                self.flush().await.map_err(|_| PumpFailure::Gone)?;
                pump.expect_continue = false;
            }
            let deadline = pump.piece_deadline(&self.shard.config.options.limits);
            let count = self.read_body_piece(deadline).await?;
            pump.piece_arrived(count);
        }
    }

    /// Reads more of a request body into the read buffer, by `deadline`; how many bytes came.
    async fn read_body_piece(&mut self, deadline: Instant) -> Result<usize, PumpFailure> {
        if !self.write_buf.is_empty() {
            self.flush().await.map_err(|_| PumpFailure::Gone)?;
        }
        match self.read(Some(deadline)).await {
            Ok(0) => Err(PumpFailure::Gone),
            Ok(count) => Ok(count),
            Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                Err(PumpFailure::Refused(ParseError::ReadTimeout))
            }
            Err(_) => Err(PumpFailure::Gone),
        }
    }
}
