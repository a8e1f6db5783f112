//! What travels over a link between two shards: a call with its request, the answer's head and
//! chunks, and the origin's cancellations and chunk credits — and the answer given when the
//! serving side cannot be reached.
//!
//! Invariant: everything in a message is owned and `Send` (`Bytes`, parsed heads, ids, counts):
//! nothing in it borrows from, or points into, the shard that sent it. A call is named by the id
//! its origin gave it, unique among that origin's calls in flight.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::http1::head::RequestHead;
use crate::request::RequestId;
use crate::response::Response;

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

// The invariant above, checked when the crate builds: a message may cross threads.
const _: fn() = || {
    fn crosses_threads<T: Send + 'static>() {}
    crosses_threads::<Message>();
};

/// A response's status, headers and whole body (`None` when its chunks follow).
pub(crate) struct ForwardedHead {
    pub(super) status: StatusCode,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) body: Option<Bytes>,
}

/// A request as it crosses cores: everything owned, nothing tied to the origin shard.
pub(crate) struct Carried {
    pub(crate) head: Bytes,
    pub(crate) parts: RequestHead,
    pub(crate) route_offset: usize,
    pub(crate) body: Bytes,
    pub(crate) request_id: RequestId,
}

/// The body of the `503` for a call whose serving side could not be reached.
pub(super) const UNREACHABLE: &[u8] = b"Service Unavailable: the replica's shard is not reachable";

/// `503` for a call the serving shard could not be reached for (it is shutting down).
pub(super) fn unavailable() -> Response {
    Response::text(Bytes::from_static(UNREACHABLE)).with_status(StatusCode::SERVICE_UNAVAILABLE)
}
