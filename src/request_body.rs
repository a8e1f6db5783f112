//! Request bodies: whole when they arrived with the head, otherwise a stream pulled from the
//! connection chunk by chunk — by the engine, which reads it whole before admission
//! (`Application::buffer_request_body`, the default), or by the handler itself.
//!
//! Invariant: the connection reads a body only when its reader asks for the next chunk, and
//! holds at most one chunk for it (plus its read buffer); only the engine's read ahead of
//! admission collects a body whole, within the shard's read-ahead budget
//! (`Limits::body_read_ahead_bytes_per_shard_max`), so a large streamed upload never has to
//! fit in memory; every chunk is checked against the body limit, the body read timeout and
//! the minimum data rate before its reader sees it. The [`BodyChannel`] between handler and connection is single-core
//! (`Rc`, `RefCell`): one reader, one pump, no locks.

use std::cell::RefCell;
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use futures_lite::{Stream, StreamExt};

/// Why a request body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// Longer than `Limits::body_bytes_max`.
    TooLarge,
    /// The chunked framing was invalid.
    Malformed,
    /// The client stopped sending for `Limits::body_read_timeout`.
    TimedOut,
    /// The client closed the connection before the body ended.
    Disconnected,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "request body too large",
            BodyError::Malformed => "malformed chunked request body",
            BodyError::TimedOut => "timed out reading the request body",
            BodyError::Disconnected => "client disconnected during the request body",
        })
    }
}

impl std::error::Error for BodyError {}

impl BodyError {
    /// The status a request whose body failed this way is answered with, as the engine
    /// answers it: 413, 408, or 400 (a client that left gets no answer at all).
    pub fn status(self) -> http::StatusCode {
        match self {
            BodyError::TooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut => http::StatusCode::REQUEST_TIMEOUT,
            BodyError::Malformed | BodyError::Disconnected => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// A request's body as the request holds it.
pub(crate) enum Body {
    /// All of it arrived with the head (or there is none).
    Full(Bytes),
    /// The rest is still on the socket; the connection pumps it on demand.
    Streaming(Rc<BodyChannel>),
}

/// A request body as a stream of chunks, for bodies too large to hold whole.
///
/// ```
/// use ringserve::rt::stream::StreamExt;
/// use ringserve::{Deployment, Request, Response};
///
/// /// Counts the bytes of an upload without keeping it.
/// struct Count;
///
/// impl Deployment for Count {
///     async fn call(&self, mut request: Request) -> Response {
///         let mut body = request.body_stream();
///         let mut total = 0;
///         while let Some(chunk) = body.next().await {
///             match chunk {
///                 Ok(chunk) => total += chunk.len(),
///                 Err(error) => return Response::text(error.to_string()),
///             }
///         }
///         Response::text(total.to_string())
///     }
/// }
/// ```
pub struct BodyStream {
    source: Source,
}

enum Source {
    Full(Option<Bytes>),
    Channel(Rc<BodyChannel>),
}

impl BodyStream {
    pub(crate) fn new(body: Body) -> Self {
        let source = match body {
            Body::Full(bytes) => Source::Full((!bytes.is_empty()).then_some(bytes)),
            Body::Streaming(channel) => Source::Channel(channel),
        };
        BodyStream { source }
    }

    /// Reads the rest of the body into one buffer.
    pub async fn collect_bytes(mut self) -> Result<Bytes, BodyError> {
        let first = match self.next().await {
            None => return Ok(Bytes::new()),
            Some(first) => first?,
        };
        let Some(second) = self.next().await else {
            // One chunk (the usual case): no copy.
            return Ok(first);
        };
        let mut whole = BytesMut::from(&first[..]);
        whole.extend_from_slice(&second?);
        while let Some(chunk) = self.next().await {
            whole.extend_from_slice(&chunk?);
        }
        Ok(whole.freeze())
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.source {
            Source::Full(bytes) => Poll::Ready(bytes.take().map(Ok)),
            Source::Channel(channel) => channel.poll_chunk(cx),
        }
    }
}

impl Drop for BodyStream {
    fn drop(&mut self) {
        if let Source::Channel(channel) = &self.source {
            channel.reader_gone();
        }
    }
}

impl fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodyStream")
    }
}

/// The one-chunk hand-off between a handler reading a body and the connection reading the
/// socket.
#[derive(Default)]
pub(crate) struct BodyChannel {
    state: RefCell<ChannelState>,
}

#[derive(Default)]
struct ChannelState {
    /// A chunk read for the handler and not yet taken.
    chunk: Option<Bytes>,
    /// Set once the body has ended, well or not.
    end: Option<Result<(), BodyError>>,
    /// The handler is waiting for the next chunk.
    wanted: bool,
    /// The handler dropped its stream: nobody will read the rest.
    reader_gone: bool,
    reader: Option<Waker>,
    pump: Option<Waker>,
}

/// What the handler wants of the connection next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Demand {
    /// Read the next chunk.
    NextChunk,
    /// Nobody will read the rest of the body.
    Abandoned,
}

impl BodyChannel {
    /// A channel whose first chunk (bytes that arrived with the head) is already there.
    pub(crate) fn with_first_chunk(chunk: Bytes) -> Self {
        let channel = BodyChannel::default();
        if !chunk.is_empty() {
            channel.state.borrow_mut().chunk = Some(chunk);
        }
        channel
    }

    fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        let mut state = self.state.borrow_mut();
        if let Some(chunk) = state.chunk.take() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        match state.end {
            Some(Ok(())) => Poll::Ready(None),
            Some(Err(error)) => Poll::Ready(Some(Err(error))),
            None => {
                state.wanted = true;
                state.reader = Some(cx.waker().clone());
                if let Some(pump) = state.pump.take() {
                    pump.wake();
                }
                Poll::Pending
            }
        }
    }

    fn reader_gone(&self) {
        let mut state = self.state.borrow_mut();
        state.reader_gone = true;
        if let Some(pump) = state.pump.take() {
            pump.wake();
        }
    }

    /// Resolves when the handler wants a chunk or has given up on the body.
    pub(crate) fn poll_demand(&self, cx: &mut Context<'_>) -> Poll<Demand> {
        let mut state = self.state.borrow_mut();
        if state.reader_gone {
            return Poll::Ready(Demand::Abandoned);
        }
        if state.wanted && state.chunk.is_none() {
            return Poll::Ready(Demand::NextChunk);
        }
        state.pump = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Hands the handler its next chunk.
    pub(crate) fn deliver(&self, chunk: Bytes) {
        let mut state = self.state.borrow_mut();
        state.chunk = Some(chunk);
        state.wanted = false;
        if let Some(reader) = state.reader.take() {
            reader.wake();
        }
    }

    /// Ends the body, well or not.
    pub(crate) fn finish(&self, result: Result<(), BodyError>) {
        let mut state = self.state.borrow_mut();
        state.end = Some(result);
        state.wanted = false;
        if let Some(reader) = state.reader.take() {
            reader.wake();
        }
    }
}
