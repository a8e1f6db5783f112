//! The upstream's answer: its head read and checked (httparse), then turned into the
//! [`Response`] the client gets, with the body passed on as it arrives.
//!
//! The body is framed as RFC 9112 §6.3 says for a response: none for `HEAD`, 1xx, 204 and 304;
//! chunked when `Transfer-Encoding` ends in `chunked`; `Content-Length` bytes; otherwise until
//! the upstream closes. Interim answers (`100 Continue`, `103 Early Hints`) are skipped. A body
//! that is already whole in the buffer is sent as one `Bytes`; any other is a stream the client's
//! socket pulls from (so a slow client slows the upstream down, and memory stays bounded), sent
//! with its `content-length` when the upstream gave one.
//!
//! Invariant: a connection goes back to the pool only when the answer was read exactly to its
//! end and the upstream keeps it open; a head with conflicting lengths, bad fields or no end
//! within [`UPSTREAM_READ_BYTES`] is [`Failure::BadAnswer`] (a 502), never passed on.

use std::io;

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, StatusCode, header};

use super::connection::{UPSTREAM_READ_BYTES, UpstreamConnection};
use super::hop::ConnectionTokens;
use super::pool::Lease;
use crate::http1::body::ChunkedDecoder;
use crate::response::Response;
use crate::rt::stream;

/// The most fields an upstream's answer may have.
const UPSTREAM_HEADERS_MAX: usize = 128;

/// Why an exchange with an upstream gave no answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// The socket failed, or the upstream closed before a whole head.
    Broken(io::Error),
    /// Silent for the header timeout before its head was whole (or for the connect timeout).
    TimedOut,
    /// The head was not HTTP, or not one that may be passed on.
    BadAnswer(&'static str),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Broken(error) => write!(f, "{error}"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::BadAnswer(why) => write!(f, "a bad answer: {why}"),
        }
    }
}

/// How the answer's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// No content (204, 304).
    Empty,
    /// The answer to a `HEAD`: no body, and the length a `GET`'s would have, if it was said.
    HeadOf(Option<u64>),
    Length(u64),
    Chunked,
    UntilClose,
}

/// A final answer's head, as the client will get it.
pub(super) struct AnswerHead {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    framing: Framing,
    keep_alive: bool,
}

/// Reads the final answer's head, skipping interim ones, and consumes it from the
/// connection's buffer.
pub(super) async fn read_head(
    connection: &mut UpstreamConnection,
    request_is_head: bool,
) -> Result<AnswerHead, Failure> {
    loop {
        let parsed = parse_head(connection.unread(), request_is_head)?;
        match parsed {
            Some((head_len, None)) => connection.consume(head_len),
            Some((head_len, Some(head))) => {
                connection.consume(head_len);
                return Ok(head);
            }
            None => {
                if connection.unread().len() == UPSTREAM_READ_BYTES {
                    return Err(Failure::BadAnswer("its head is too large"));
                }
                match connection.read_more().await {
                    Ok(0) => {
                        return Err(Failure::Broken(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "closed before its answer",
                        )));
                    }
                    Ok(_) => {}
                    Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                        return Err(Failure::TimedOut);
                    }
                    Err(error) => return Err(Failure::Broken(error)),
                }
            }
        }
    }
}

/// A whole head's length, and the head unless it was interim; `None` while it is partial.
type ParsedHead = Option<(usize, Option<AnswerHead>)>;

/// The head at the start of `bytes`.
fn parse_head(bytes: &[u8], request_is_head: bool) -> Result<ParsedHead, Failure> {
    let mut fields = [httparse::EMPTY_HEADER; UPSTREAM_HEADERS_MAX];
    let mut parsed = httparse::Response::new(&mut fields);
    let head_len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(head_len)) => head_len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Failure::BadAnswer("its head is not HTTP/1.1")),
    };
    let status = parsed
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(Failure::BadAnswer("its status is not valid"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(Failure::BadAnswer(
            "it switched protocols, which was not asked",
        ));
    }
    if status.is_informational() {
        return Ok(Some((head_len, None)));
    }
    let http11 = parsed.version == Some(1);
    let mut keep_alive = http11;
    let mut length: Option<u64> = None;
    let mut transfer_coding: Option<&[u8]> = None;
    let mut headers = Vec::with_capacity(parsed.headers.len());
    let connection =
        ConnectionTokens::of(parsed.headers.iter().map(|field| (field.name, field.value)));
    if connection.lists(b"close") {
        keep_alive = false;
    } else if connection.lists(b"keep-alive") && !http11 {
        keep_alive = true;
    }
    for field in parsed.headers.iter() {
        let name = field.name;
        if name.eq_ignore_ascii_case("content-length") {
            let stated = decimal(field.value).ok_or(Failure::BadAnswer("bad content-length"))?;
            if length.is_some_and(|length| length != stated) {
                return Err(Failure::BadAnswer("conflicting content-lengths"));
            }
            length = Some(stated);
            continue;
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding of the last field decides (RFC 9112 §6.3 point 4).
            transfer_coding = field.value.rsplit(|&byte| byte == b',').next();
            continue;
        }
        if connection.is_hop_by_hop(name) || written_by_the_engine(name) {
            continue;
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Failure::BadAnswer("a field name is not valid"))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| Failure::BadAnswer("a field value is not valid"))?;
        headers.push((name, value));
    }
    let has_no_content = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let framing = if has_no_content {
        Framing::Empty
    } else if request_is_head {
        Framing::HeadOf(length)
    } else if let Some(coding) = transfer_coding {
        if coding.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if let Some(length) = length {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    let head = AnswerHead {
        status,
        headers,
        framing,
        keep_alive,
    };
    Ok(Some((head_len, Some(head))))
}

/// Fields of the upstream's that the engine writes itself, so the client gets its own.
fn written_by_the_engine(name: &str) -> bool {
    ["date", "x-request-id"]
        .iter()
        .any(|field| name.eq_ignore_ascii_case(field))
}

fn decimal(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The client's response: the head's status and fields, and a body read from `connection` —
/// which goes back to the pool (through `lease`) once the body has been read to its end.
pub(super) fn into_response(
    head: AnswerHead,
    mut connection: UpstreamConnection,
    lease: Lease,
) -> Response {
    let AnswerHead {
        status,
        headers,
        framing,
        keep_alive,
    } = head;
    let body = match framing {
        Framing::Length(length) if connection.unread().len() as u64 >= length => {
            // The whole body came with the head: one piece, and the connection is free now.
            // (`length` fits: it is at most what the buffer holds.)
            let length = length as usize;
            let body = Bytes::copy_from_slice(&connection.unread()[..length]);
            connection.consume(length);
            if keep_alive {
                lease.keep(connection);
            }
            Response::new(status).with_body(body)
        }
        Framing::Empty | Framing::HeadOf(_) => {
            if keep_alive {
                lease.keep(connection);
            }
            match framing {
                // An answer to HEAD says how a GET's body would be sent: an empty stream,
                // never polled, with the length if there was one (chunked otherwise).
                Framing::HeadOf(length) => {
                    let empty = Response::stream(stream::empty::<Result<Bytes, io::Error>>());
                    match length {
                        Some(length) => sized(empty, length),
                        None => empty,
                    }
                }
                _ => Response::new(status),
            }
        }
        framing => {
            let body = Body {
                connection: Some(connection),
                keep_alive,
                framing: match framing {
                    Framing::Length(length) => BodyFraming::Remaining(length),
                    Framing::Chunked => BodyFraming::Chunked(ChunkedDecoder::new(usize::MAX)),
                    _ => BodyFraming::UntilClose,
                },
                lease,
            };
            let streamed = Response::stream(stream::unfold(Some(body), |body| async move {
                let mut body = body?;
                match body.next_piece().await {
                    Ok(Some(piece)) => Some((Ok(piece), Some(body))),
                    Ok(None) => None,
                    Err(error) => Some((Err(error), None)),
                }
            }));
            match framing {
                Framing::Length(length) => sized(streamed, length),
                _ => streamed,
            }
        }
    };
    body.with_status(status).with_headers(headers)
}

fn sized(response: Response, length: u64) -> Response {
    let mut digits = BytesMut::new();
    crate::http1::encode::write_decimal(&mut digits, length);
    let value =
        HeaderValue::from_maybe_shared(digits.freeze()).expect("digits are a valid header value");
    response.with_header(header::CONTENT_LENGTH, value)
}

/// What is left of a body.
enum BodyFraming {
    Remaining(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// An answer's body still being read: its connection, until the body's end.
struct Body {
    connection: Option<UpstreamConnection>,
    keep_alive: bool,
    framing: BodyFraming,
    lease: Lease,
}

impl Body {
    /// The next piece of the body, `None` at its end. The connection is given back as soon as
    /// the last byte is read, before that byte's piece is passed on: the engine may never ask
    /// for more once a stated length is sent.
    async fn next_piece(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            let done = self.is_done();
            let Some(connection) = self.connection.as_mut() else {
                return Ok(None);
            };
            if connection.unread().is_empty() && !done {
                let read = connection.read_more().await?;
                if read == 0 {
                    if matches!(self.framing, BodyFraming::UntilClose) {
                        self.connection = None;
                        return Ok(None);
                    }
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the upstream closed before the end of its answer",
                    ));
                }
            }
            let connection = self.connection.as_mut().expect("checked above");
            let piece = match &mut self.framing {
                BodyFraming::Remaining(remaining) => {
                    let take = connection
                        .unread()
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    let piece = Bytes::copy_from_slice(&connection.unread()[..take]);
                    connection.consume(take);
                    *remaining -= take as u64;
                    piece
                }
                BodyFraming::Chunked(decoder) => {
                    let mut decoded = BytesMut::new();
                    let progress =
                        decoder
                            .decode(connection.unread(), &mut decoded)
                            .map_err(|error| {
                                io::Error::new(io::ErrorKind::InvalidData, error.to_string())
                            })?;
                    connection.consume(progress.consumed);
                    decoded.freeze()
                }
                BodyFraming::UntilClose => {
                    let piece = Bytes::copy_from_slice(connection.unread());
                    let all = piece.len();
                    connection.consume(all);
                    piece
                }
            };
            if self.is_done() {
                self.give_back();
            }
            if !piece.is_empty() {
                return Ok(Some(piece));
            }
        }
    }

    fn is_done(&self) -> bool {
        match &self.framing {
            BodyFraming::Remaining(remaining) => *remaining == 0,
            BodyFraming::Chunked(decoder) => decoder.is_done(),
            BodyFraming::UntilClose => false,
        }
    }

    fn give_back(&mut self) {
        if let Some(connection) = self.connection.take()
            && self.keep_alive
        {
            self.lease.keep(connection);
        }
    }
}
