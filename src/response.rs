//! `Response`: what a deployment returns.
//!
//! Invariant: a response holds only what the handler chose — status, its own headers, body
//! (whole, or a stream). The engine adds `date`, `content-length` or `transfer-encoding`,
//! `x-request-id` and `connection` when it encodes the response, and ignores handler-set values
//! for those — but for a stream's stated `content-length`, which it sends and then holds the
//! stream to (a stream that yields more or fewer bytes is cut and the connection closed) — so
//! framing is always the engine's and always right.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_lite::Stream;
use http::{HeaderName, HeaderValue, StatusCode, header};
use smallvec::SmallVec;

use crate::body::{BoxError, ChunkStream, IntoChunks, ResponseBody};

/// Up to four handler headers are kept inline, so a typical response allocates nothing for them.
pub(crate) type ResponseHeaders = SmallVec<[(HeaderName, HeaderValue); 4]>;

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// An HTTP response.
///
/// ```
/// use ringserve::Response;
/// use ringserve::{StatusCode, header, HeaderValue};
///
/// let ok = Response::text("hello");
/// let mut created = Response::new(StatusCode::CREATED)
///     .with_header(header::LOCATION, HeaderValue::from_static("/items/5"))
///     .with_body("{\"item_id\":5}");
/// created.set_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
/// assert_eq!(created.header("location").unwrap(), "/items/5");
/// assert_eq!(created.status(), StatusCode::CREATED);
/// assert_eq!(ok.body_bytes().unwrap(), "hello");
/// ```
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: ResponseHeaders,
    body: ResponseBody,
}

impl Response {
    /// A response with this status, no headers and an empty body.
    pub fn new(status: StatusCode) -> Self {
        Response {
            status,
            headers: ResponseHeaders::new(),
            body: ResponseBody::Full(Bytes::new()),
        }
    }

    /// `200 OK` with a `text/plain; charset=utf-8` body.
    pub fn text(body: impl Into<Bytes>) -> Self {
        Response::new(StatusCode::OK)
            .with_header(header::CONTENT_TYPE, TEXT_PLAIN)
            .with_body(body)
    }

    /// `200 OK` with an `application/json` body that is already JSON.
    pub fn json_bytes(body: impl Into<Bytes>) -> Self {
        Response::new(StatusCode::OK)
            .with_header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .with_body(body)
    }

    /// `200 OK` whose body is sent chunk by chunk as `chunks` yields them, with
    /// `transfer-encoding: chunked` (HTTP/1.0 clients get the body delimited by the close).
    /// The stream is polled no faster than the client reads; it is dropped as soon as the client
    /// leaves or the request times out. An `Err` item cuts the response short: the client sees
    /// no terminating chunk and the connection closes, so it can tell the body is incomplete.
    ///
    /// A stream of known length (a file, a proxied body) may say so with a `content-length`
    /// header: it is then sent with that length instead of chunked, and must yield exactly
    /// that many bytes — one that yields more or fewer is cut there, and the connection closes.
    /// A middleware that changes a body's length removes the header (`Compression` does).
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use ringserve::rt::stream;
    /// use ringserve::Response;
    ///
    /// let numbers = stream::iter((0..3).map(|i| Ok::<_, Infallible>(format!("{i}\n"))));
    /// let response = Response::stream(numbers);
    /// # let _ = response;
    /// ```
    pub fn stream<S, B, E>(chunks: S) -> Self
    where
        S: Stream<Item = Result<B, E>> + 'static,
        B: Into<Bytes>,
        E: Into<BoxError>,
    {
        Response {
            status: StatusCode::OK,
            headers: ResponseHeaders::new(),
            body: ResponseBody::Stream(Box::pin(IntoChunks::new(chunks))),
        }
    }

    /// Replaces the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a header; a second value for the same name is sent as a second field line.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Replaces the body with a whole one.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = ResponseBody::Full(body.into());
        self
    }

    /// Adds several headers, in order (as [`Response::with_header`] does for one).
    pub fn with_headers(
        mut self,
        headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
    ) -> Self {
        self.headers.extend(headers);
        self
    }

    /// Sets a header, replacing every value the response had for that name.
    pub fn set_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.retain(|(existing, _)| *existing != name);
        self.headers.push((name, value));
    }

    /// Removes every value of a header; returns the first one removed.
    pub fn remove_header(&mut self, name: &HeaderName) -> Option<HeaderValue> {
        let first = self
            .headers
            .iter()
            .position(|(existing, _)| existing == name)
            .map(|index| self.headers.remove(index).1);
        self.headers.retain(|(existing, _)| existing != name);
        first
    }

    /// Whether the body is a stream (sent chunked) rather than whole.
    pub fn is_stream(&self) -> bool {
        matches!(self.body, ResponseBody::Stream(_))
    }

    /// Transforms the body chunk by chunk — the whole body as one chunk, or each chunk of a
    /// stream as it is produced — keeping status and headers. For middleware that rewrites
    /// bodies (compression, say); `f` gets `None` once after a stream's last chunk, and may
    /// return a final chunk then.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use ringserve::Response;
    ///
    /// let shouting = Response::text("hello").map_body(|chunk| {
    ///     chunk.map(|chunk| Bytes::from(chunk.to_ascii_uppercase()))
    /// });
    /// assert_eq!(shouting.body_bytes().unwrap(), "HELLO");
    /// ```
    pub fn map_body<F>(mut self, mut f: F) -> Self
    where
        F: FnMut(Option<Bytes>) -> Option<Bytes> + 'static,
    {
        self.body = match self.body {
            ResponseBody::Full(bytes) => {
                let mapped = f(Some(bytes)).unwrap_or_default();
                // Joined (a copy) only when the function adds a final chunk.
                match f(None).filter(|last| !last.is_empty()) {
                    None => ResponseBody::Full(mapped),
                    Some(last) => {
                        let mut whole = BytesMut::with_capacity(mapped.len() + last.len());
                        whole.extend_from_slice(&mapped);
                        whole.extend_from_slice(&last);
                        ResponseBody::Full(whole.freeze())
                    }
                }
            }
            ResponseBody::Stream(chunks) => ResponseBody::Stream(Box::pin(MappedChunks {
                chunks,
                f,
                finished: false,
            })),
        };
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The handler's headers, in the order they were added.
    pub fn headers(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.headers.iter().map(|(name, value)| (name, value))
    }

    /// The first value of the header `name` (case-insensitive) that the handler set.
    pub fn header(&self, name: impl AsRef<str>) -> Option<&HeaderValue> {
        let name = name.as_ref();
        self.headers
            .iter()
            .find(|(candidate, _)| candidate.as_str().eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The body, when it is whole (`None` for a streamed body).
    pub fn body_bytes(&self) -> Option<&Bytes> {
        match &self.body {
            ResponseBody::Full(bytes) => Some(bytes),
            ResponseBody::Stream(_) => None,
        }
    }

    /// The body, whole: a streamed body is read to its end — for responses from deployments
    /// this application calls through a [`DeploymentHandle`](crate::DeploymentHandle). An
    /// `Err` when the stream ended with one, or when the body grows past `limit` bytes (the
    /// caller's bound on what it holds in memory; the rest of the stream is dropped).
    ///
    /// ```
    /// use ringserve::Response;
    ///
    /// let streamed = Response::stream(ringserve::rt::stream::iter(
    ///     ["a", "b"].map(Ok::<_, std::io::Error>),
    /// ));
    /// let body = ringserve::rt::block_on(streamed.into_bytes(1024)).unwrap();
    /// assert_eq!(body, "ab");
    /// let too_long = Response::text("more than four bytes");
    /// assert!(ringserve::rt::block_on(too_long.into_bytes(4)).is_err());
    /// ```
    pub async fn into_bytes(self, limit: usize) -> Result<Bytes, BoxError> {
        let too_large = || format!("response body over {limit} bytes").into();
        match self.body {
            ResponseBody::Full(bytes) if bytes.len() > limit => Err(too_large()),
            ResponseBody::Full(bytes) => Ok(bytes),
            ResponseBody::Stream(mut chunks) => {
                let mut whole = BytesMut::new();
                while let Some(chunk) = futures_lite::StreamExt::next(&mut chunks).await {
                    let chunk = chunk?;
                    if whole.len() + chunk.len() > limit {
                        return Err(too_large());
                    }
                    whole.extend_from_slice(&chunk);
                }
                Ok(whole.freeze())
            }
        }
    }

    /// The body as a stream of chunks — each chunk of a streamed body as it is produced, or a
    /// whole body as one chunk — to pass a called deployment's stream on, or to read it
    /// piece by piece.
    pub fn into_chunks(self) -> impl Stream<Item = Result<Bytes, BoxError>> + 'static {
        let chunks: ChunkStream = match self.body {
            ResponseBody::Full(bytes) if bytes.is_empty() => {
                Box::pin(futures_lite::stream::empty())
            }
            ResponseBody::Full(bytes) => Box::pin(futures_lite::stream::once(Ok(bytes))),
            ResponseBody::Stream(chunks) => chunks,
        };
        chunks
    }

    /// Replaces a streamed body by what `f` makes of it; a whole body is left as it is.
    pub(crate) fn map_stream(mut self, f: impl FnOnce(ChunkStream) -> ChunkStream) -> Self {
        if let ResponseBody::Stream(chunks) = self.body {
            self.body = ResponseBody::Stream(f(chunks));
        }
        self
    }

    pub(crate) fn with_response_body(mut self, body: ResponseBody) -> Self {
        self.body = body;
        self
    }

    pub(crate) fn into_parts(self) -> (StatusCode, ResponseHeaders, ResponseBody) {
        (self.status, self.headers, self.body)
    }
}

impl From<&'static str> for Response {
    fn from(body: &'static str) -> Self {
        Response::text(body)
    }
}

impl From<String> for Response {
    fn from(body: String) -> Self {
        Response::text(body)
    }
}

impl From<StatusCode> for Response {
    fn from(status: StatusCode) -> Self {
        Response::new(status)
    }
}

/// A streamed body with each chunk passed through a function, then a last call with `None`.
struct MappedChunks<F> {
    chunks: ChunkStream,
    f: F,
    finished: bool,
}

// Nothing is pinned through `MappedChunks`: the function is only ever called by `&mut`, and
// the inner stream is boxed.
impl<F> Unpin for MappedChunks<F> {}

impl<F: FnMut(Option<Bytes>) -> Option<Bytes>> Stream for MappedChunks<F> {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match this.chunks.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Some(Ok(chunk))) => {
                    // A chunk the function swallows (a compressor buffering) yields nothing yet.
                    if let Some(mapped) = (this.f)(Some(chunk)).filter(|mapped| !mapped.is_empty())
                    {
                        return Poll::Ready(Some(Ok(mapped)));
                    }
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    if let Some(last) = (this.f)(None).filter(|last| !last.is_empty()) {
                        return Poll::Ready(Some(Ok(last)));
                    }
                }
            }
        }
    }
}
