//! Sending a streamed response body: chunk framing, coalescing, backpressure, and dropping the
//! stream the moment the client leaves or the request's deadline passes.
//!
//! Invariant: the stream is never polled while a write is in flight (so a slow client slows
//! the stream and memory stays bounded by the write buffer plus one chunk), whatever is
//! buffered is written before the stream is awaited (so each chunk reaches the client as soon
//! as it exists), and the request's deadline bounds the whole body — waits, ready chunks and
//! writes alike.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use futures_lite::{FutureExt, StreamExt};
use glommio::timer::Timer;

use super::body_pump::{BodyPump, PumpFailure};
use super::connection_io::ConnectionIo;
use super::transport::Transport;
use crate::body::{BoxError, ChunkStream};
use crate::http1::encode::{Framing, LAST_CHUNK, encode_chunk, encode_chunk_size};
use crate::limits::{DIRECT_WRITE_BYTES_MIN, WRITE_FLUSH_BYTES};

/// Why a streamed body ended early.
pub(super) enum StreamEnd {
    /// The stream failed, the request body failed, or the request timed out: send what was
    /// made, end without the last chunk, close.
    Cut,
    /// The client left or stopped accepting bytes.
    Gone,
}

/// What ended a wait inside a streamed body.
enum Waited {
    /// The stream's next item, or the payload of its panic.
    Item(std::thread::Result<Option<Result<Bytes, BoxError>>>),
    PeerSentData,
    PeerGone,
    RequestBodyFailed(PumpFailure),
    DeadlinePassed,
}

impl<T: Transport> ConnectionIo<T> {
    /// Puts a piece of the body after what is buffered: copied into the write buffer, or —
    /// at [`DIRECT_WRITE_BYTES_MIN`] or more — written from its own memory once the buffer is
    /// flushed.
    async fn put_piece(
        &mut self,
        piece: Bytes,
        deadline: Option<Instant>,
    ) -> Result<(), StreamEnd> {
        if piece.len() < DIRECT_WRITE_BYTES_MIN {
            self.write_buf.put_slice(&piece);
            return Ok(());
        }
        if !self.write_buf.is_empty() {
            self.flush_by(deadline).await.map_err(|_| StreamEnd::Gone)?;
        }
        let stall_timeout = self.shard.config.options.limits.send_timeout;
        let length = piece.len() as u64;
        self.transport
            .write_bytes(piece, stall_timeout, deadline)
            .await
            .map_err(|_| StreamEnd::Gone)?;
        crate::metrics::record::add(&self.shard.metrics.engine.bytes_sent, length);
        Ok(())
    }

    /// Sends a streamed body, chunk by chunk as the stream yields them. A small chunk that is
    /// ready at once joins the write buffer (coalescing small chunks), a large one is written
    /// from its own memory after it (`put_piece`); when the stream has to wait, what is
    /// buffered is written first. While it waits, the stream races the client leaving,
    /// the request body it may be reading, and the request's deadline.
    pub(super) async fn send_stream(
        &mut self,
        mut stream: ChunkStream,
        framing: Framing,
        deadline: Option<Instant>,
        mut pump: Option<&mut BodyPump>,
    ) -> Result<(), StreamEnd> {
        // Bytes from the client (a pipelined request) would make the readiness watch fire at
        // once every time: watch only a connection with nothing more to read.
        let mut watch_peer = self.read_buf.is_empty();
        let chunked = framing == Framing::Chunked;
        // The bytes a stated length still expects; a stream that yields more or fewer breaks
        // the framing, so it is cut (the client sees a short body and the close).
        let mut expected = match framing {
            Framing::Length(length) => Some(length),
            Framing::Chunked | Framing::UntilClose => None,
        };
        loop {
            // The request timeout runs to the end of the body, also for a stream that never
            // has to wait.
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(StreamEnd::Cut);
            }
            // A panic inside the handler's stream must not take the shard down: it cuts this
            // response, as an `Err` item would.
            let next = AssertUnwindSafe(stream.next()).catch_unwind();
            let polled = match futures_lite::future::poll_once(next).await {
                Some(Ok(item)) => Some(item),
                Some(Err(_panic)) => return Err(StreamEnd::Cut),
                None => None,
            };
            let item = match polled {
                Some(item) => item,
                None => {
                    if !self.write_buf.is_empty() {
                        self.flush_by(deadline).await.map_err(|_| StreamEnd::Gone)?;
                    }
                    debug_assert!(
                        self.write_buf.is_empty(),
                        "what is buffered is written before the stream is awaited"
                    );
                    let waited = self
                        .wait_for_chunk(&mut stream, watch_peer, deadline, pump.as_deref_mut())
                        .await;
                    match waited {
                        Waited::Item(Ok(item)) => item,
                        Waited::Item(Err(_panic)) => return Err(StreamEnd::Cut),
                        Waited::PeerSentData => {
                            watch_peer = false;
                            continue;
                        }
                        Waited::PeerGone | Waited::RequestBodyFailed(PumpFailure::Gone) => {
                            return Err(StreamEnd::Gone);
                        }
                        Waited::RequestBodyFailed(PumpFailure::Refused(_))
                        | Waited::DeadlinePassed => return Err(StreamEnd::Cut),
                    }
                }
            };
            match item {
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(chunk)) if chunked && chunk.len() >= DIRECT_WRITE_BYTES_MIN => {
                    encode_chunk_size(&mut self.write_buf, chunk.len());
                    self.put_piece(chunk, deadline).await?;
                    self.write_buf.put_slice(b"\r\n");
                }
                Some(Ok(chunk)) if chunked => encode_chunk(&mut self.write_buf, &chunk),
                Some(Ok(chunk)) => match &mut expected {
                    None => self.put_piece(chunk, deadline).await?,
                    Some(left) => {
                        let fits = usize::try_from(*left)
                            .map_or(chunk.len(), |left| left.min(chunk.len()));
                        let whole = chunk.len();
                        self.put_piece(chunk.slice(..fits), deadline).await?;
                        *left -= fits as u64;
                        if fits < whole {
                            return Err(StreamEnd::Cut);
                        }
                        if *left == 0 {
                            // All the stated bytes: the body is whole. A stream that goes on
                            // waiting is not waited for (the client may send its next
                            // request); one more chunk ready at once is past the length.
                            let next = AssertUnwindSafe(stream.next()).catch_unwind();
                            return match futures_lite::future::poll_once(next).await {
                                Some(Ok(Some(Ok(extra)))) if !extra.is_empty() => {
                                    Err(StreamEnd::Cut)
                                }
                                _ => Ok(()),
                            };
                        }
                    }
                },
                Some(Err(_)) => return Err(StreamEnd::Cut),
                None if expected.is_some_and(|left| left > 0) => return Err(StreamEnd::Cut),
                None => {
                    if chunked {
                        self.write_buf.put_slice(LAST_CHUNK);
                    }
                    return Ok(());
                }
            }
            if self.write_buf.len() >= WRITE_FLUSH_BYTES {
                self.flush_by(deadline).await.map_err(|_| StreamEnd::Gone)?;
            }
            debug_assert!(
                self.write_buf.len() < WRITE_FLUSH_BYTES,
                "a streamed body buffers less than one write"
            );
        }
    }

    /// Waits for the stream's next item, the client's next move, or the deadline. While the
    /// request body is still being read, the body pump stands in for the client watch (its
    /// reads see the client leave).
    async fn wait_for_chunk(
        &mut self,
        stream: &mut ChunkStream,
        watch_peer: bool,
        deadline: Option<Instant>,
        pump: Option<&mut BodyPump>,
    ) -> Waited {
        let mut timer = self.request_timer.take();
        let waited = {
            let next = async { Waited::Item(AssertUnwindSafe(stream.next()).catch_unwind().await) };
            let expired = async {
                let Some(deadline) = deadline else {
                    return std::future::pending().await;
                };
                let timer = timer.get_or_insert_with(|| Timer::new(Duration::ZERO));
                timer.reset(deadline.saturating_duration_since(Instant::now()));
                timer.await;
                Waited::DeadlinePassed
            };
            let client = async {
                match pump {
                    Some(pump) if !pump.is_done() => {
                        Waited::RequestBodyFailed(self.pump_body(pump).await)
                    }
                    _ if watch_peer => match self.transport.peer_activity().await {
                        Ok(true) => Waited::PeerSentData,
                        Ok(false) | Err(_) => Waited::PeerGone,
                    },
                    _ => std::future::pending().await,
                }
            };
            next.or(client).or(expired).await
        };
        self.request_timer = timer;
        waited
    }
}
