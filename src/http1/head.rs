//! A parsed request head, kept as byte ranges into the connection's read buffer.
//!
//! Invariant: a [`RequestHead`] never copies header bytes. Every [`Span`] indexes the buffer the
//! head was parsed from, and is only ever resolved against that same buffer (or the `Bytes`
//! split from it, which starts at the same offset).

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use http::{Method, Version};
use smallvec::SmallVec;

use super::body::BodyFraming;
use crate::limits::HEADER_SPANS_INLINE;

/// A range of bytes in the head. `u16` is enough: a head is at most
/// [`crate::limits::HEAD_BYTES_CEILING`] bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u16,
    pub end: u16,
}

impl Span {
    /// The span covering `part`, which must be a sub-slice of `base`.
    pub(crate) fn within(base: &[u8], part: &[u8]) -> Span {
        let start = part.as_ptr() as usize - base.as_ptr() as usize;
        debug_assert!(start + part.len() <= base.len(), "span outside its buffer");
        Span {
            start: start as u16,
            end: (start + part.len()) as u16,
        }
    }

    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The bytes this span covers in `head`; empty if `head` is too short (never, by invariant).
    pub fn of(self, head: &[u8]) -> &[u8] {
        head.get(self.range()).unwrap_or_default()
    }

    /// The span as text. Spans are only made over httparse's `&str` results or over header
    /// values checked to be visible ASCII, so this never falls back to "".
    pub fn str_of(self, head: &[u8]) -> &str {
        std::str::from_utf8(self.of(head)).unwrap_or_default()
    }
}

/// One header field: where its name and value lie in the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderSpan {
    pub name: Span,
    pub value: Span,
}

/// Header fields of one request. [`HEADER_SPANS_INLINE`] fit inline (a browser sends about
/// fifteen), so the common request allocates nothing for them.
pub type HeaderSpans = SmallVec<[HeaderSpan; HEADER_SPANS_INLINE]>;

/// What an `x-request-timeout-seconds` header asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeoutOverride {
    /// No header: the server's request timeout applies.
    None,
    /// `0` or `none`: no timeout for this request.
    Disable,
    /// A positive number of seconds: used when shorter than the server's timeout.
    Shorten(Duration),
}

/// Everything the engine needs from a request head.
#[derive(Clone, Debug)]
pub struct RequestHead {
    /// Bytes from the start of the buffer to the end of the empty line closing the head.
    pub head_len: usize,
    pub method: Method,
    pub version: Version,
    /// The path, without the query. Empty only for absolute-form targets without a path,
    /// which mean `/`.
    pub path: Span,
    /// The query string after `?`, without the `?`.
    pub query: Option<Span>,
    pub headers: HeaderSpans,
    pub framing: BodyFraming,
    /// Whether the connection stays open after this request (RFC 9112 §9.3).
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expect_continue: bool,
    /// A usable `x-request-id` sent by the client.
    pub request_id: Option<Span>,
    /// Where the request's one `traceparent` field (W3C Trace Context) is among `headers`,
    /// its value unchecked. A position, not a span: it fits in the padding, where a span made
    /// every request's futures 112 bytes larger (the head is held in many of their states).
    pub trace_parent: Option<u8>,
    pub timeout_override: TimeoutOverride,
    /// The address of the client that sent it: set by the shard from its connection (the
    /// parser leaves it `None`), kept when the request crosses to another core.
    pub client: Option<SocketAddr>,
}

impl RequestHead {
    /// The path as text, resolved against the head it was parsed from; an absolute-form
    /// target without a path (`http://host`) means `/` (RFC 9112 §3.2.2).
    pub fn path_str<'a>(&self, head: &'a [u8]) -> &'a str {
        match self.path.str_of(head) {
            "" => "/",
            path => path,
        }
    }
}
