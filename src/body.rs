//! Response bodies: whole, or a stream of chunks produced while the response is being sent.
//!
//! Invariant: a streamed body is polled only by the connection that sends it, one chunk at a
//! time and no faster than the client accepts bytes; dropping the [`ResponseBody`] drops the
//! stream, and with it whatever the handler's generator holds.

use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_lite::Stream;

/// The error a body stream may end with. No `Send` bound: streams live on one core.
pub type BoxError = Box<dyn StdError + 'static>;

/// A stream of body chunks, type-erased.
pub(crate) type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>>>>;

/// A response's body.
pub(crate) enum ResponseBody {
    /// Known in full: sent with `content-length`.
    Full(Bytes),
    /// Produced while sending: `transfer-encoding: chunked` on HTTP/1.1, delimited by the
    /// connection's close on HTTP/1.0.
    Stream(ChunkStream),
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseBody::Full(bytes) => f.debug_tuple("Full").field(&bytes.len()).finish(),
            ResponseBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// Adapts a user's stream (any chunk type that becomes `Bytes`, any error that becomes a
/// [`BoxError`]) without boxing each item.
pub(crate) struct IntoChunks<S> {
    inner: Pin<Box<S>>,
}

impl<S> IntoChunks<S> {
    pub(crate) fn new(inner: S) -> Self {
        IntoChunks {
            inner: Box::pin(inner),
        }
    }
}

impl<S, B, E> Stream for IntoChunks<S>
where
    S: Stream<Item = Result<B, E>>,
    B: Into<Bytes>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|chunk| chunk.map(Into::into).map_err(Into::into)))
    }
}
