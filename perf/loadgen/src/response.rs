//! Incremental HTTP/1.1 response parser.
//!
//! The connection loop hands [`ResponseParser::feed`] whatever unconsumed bytes it holds; the
//! parser consumes a prefix of them and says how many, so a body is never buffered whole: only
//! a response head (at most [`MAX_HEAD_BYTES`]) or a chunk-size line has to sit in the buffer
//! until it is complete. Bytes may arrive split at any offset.
//!
//! Framing, per RFC 9112 §6.3: 1xx heads are skipped (101 is an error: we never ask to
//! upgrade); 204 and 304 have no body; a `Transfer-Encoding` whose last coding is `chunked` is
//! decoded chunk by chunk (extensions ignored, trailers read and dropped); any other
//! `Transfer-Encoding`, or neither header, means the body runs until the server closes;
//! otherwise `Content-Length` counts the body (several values must agree).
//!
//! Every malformed input is an [`Err`], never a panic: these are bytes off the network.

use std::fmt;

/// Longest response head accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest chunk-size line accepted, extensions included.
pub const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;
/// Most trailer bytes accepted after the last chunk.
pub const MAX_TRAILER_BYTES: usize = 64 * 1024;
/// Most header fields in one response head.
const MAX_HEADERS: usize = 100;

/// One complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The server will close the connection after this response (`connection: close`, an
    /// HTTP/1.0 response without keep-alive, or a body delimited by the close itself).
    pub close: bool,
    /// Body bytes after de-chunking.
    pub body_bytes: u64,
}

/// Why the bytes are not a valid response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// httparse rejected the head.
    Head(httparse::Error),
    /// The head is longer than [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// A `Content-Length` that is not a decimal number, or several that disagree.
    BadContentLength,
    /// A chunk-size line that is not hex digits followed by optional extensions and CRLF.
    BadChunkSize,
    /// A chunk's data is not followed by CRLF.
    MissingChunkCrlf,
    /// The trailer section is longer than [`MAX_TRAILER_BYTES`] or has a line without a colon.
    BadTrailer,
    /// 101 Switching Protocols, which a load generator never asks for.
    UnexpectedUpgrade,
    /// The connection ended inside a response.
    Truncated,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Head(error) => write!(f, "invalid response head: {error}"),
            ParseError::HeadTooLarge => write!(f, "response head over {MAX_HEAD_BYTES} bytes"),
            ParseError::BadContentLength => write!(f, "invalid content-length"),
            ParseError::BadChunkSize => write!(f, "invalid chunk-size line"),
            ParseError::MissingChunkCrlf => write!(f, "chunk data not followed by CRLF"),
            ParseError::BadTrailer => write!(f, "invalid trailer section"),
            ParseError::UnexpectedUpgrade => write!(f, "unexpected 101 switching protocols"),
            ParseError::Truncated => write!(f, "connection closed inside a response"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Where the parser is inside the current response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a complete head.
    Head,
    /// `remaining` body bytes counted by `Content-Length`.
    Fixed { remaining: u64 },
    /// Waiting for a complete chunk-size line.
    ChunkSize,
    /// Inside a chunk's data.
    ChunkData { remaining: u64 },
    /// After a chunk's data: expecting CRLF.
    ChunkEnd,
    /// After the last chunk: trailer lines until an empty one; `seen` bytes so far.
    Trailers { seen: usize },
    /// Body delimited by the end of the connection.
    UntilClose,
}

/// Parses a sequence of responses on one connection.
#[derive(Debug, Clone)]
pub struct ResponseParser {
    state: State,
    status: u16,
    close: bool,
    body_bytes: u64,
}

impl Default for ResponseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseParser {
    /// A parser waiting for the first response head.
    pub fn new() -> Self {
        ResponseParser {
            state: State::Head,
            status: 0,
            close: false,
            body_bytes: 0,
        }
    }

    /// Consumes a prefix of `buf`. Returns how many bytes were consumed and, when that prefix
    /// completes a response, the response; the parser is then ready for the next one and the
    /// bytes after the consumed prefix belong to it. Unconsumed bytes (an incomplete head or
    /// chunk-size line) must be passed again, with more appended, on the next call.
    pub fn feed(&mut self, buf: &[u8]) -> Result<(usize, Option<Response>), ParseError> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match self.state {
                State::Head => match self.parse_head(rest)? {
                    None => return Ok((pos, None)),
                    Some(len) => {
                        pos += len;
                        if let Some(done) = self.complete_if_empty() {
                            return Ok((pos, Some(done)));
                        }
                    }
                },
                State::Fixed { remaining } => {
                    let take = take_len(remaining, rest.len());
                    pos += take;
                    self.body_bytes += take as u64;
                    let remaining = remaining - take as u64;
                    if remaining == 0 {
                        return Ok((pos, Some(self.complete())));
                    }
                    self.state = State::Fixed { remaining };
                    return Ok((pos, None));
                }
                State::ChunkSize => match parse_chunk_size_line(rest)? {
                    None => return Ok((pos, None)),
                    Some((len, 0)) => {
                        pos += len;
                        self.state = State::Trailers { seen: 0 };
                    }
                    Some((len, size)) => {
                        pos += len;
                        self.state = State::ChunkData { remaining: size };
                    }
                },
                State::ChunkData { remaining } => {
                    let take = take_len(remaining, rest.len());
                    pos += take;
                    self.body_bytes += take as u64;
                    let remaining = remaining - take as u64;
                    if remaining > 0 {
                        self.state = State::ChunkData { remaining };
                        return Ok((pos, None));
                    }
                    self.state = State::ChunkEnd;
                }
                State::ChunkEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok((pos, None)),
                    _ => return Err(ParseError::MissingChunkCrlf),
                },
                State::Trailers { seen } => {
                    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
                        if seen + rest.len() > MAX_TRAILER_BYTES {
                            return Err(ParseError::BadTrailer);
                        }
                        return Ok((pos, None));
                    };
                    let seen = seen + lf + 1;
                    if seen > MAX_TRAILER_BYTES || lf == 0 || rest[lf - 1] != b'\r' {
                        return Err(ParseError::BadTrailer);
                    }
                    let line = &rest[..lf - 1];
                    pos += lf + 1;
                    if line.is_empty() {
                        return Ok((pos, Some(self.complete())));
                    }
                    if !line.contains(&b':') {
                        return Err(ParseError::BadTrailer);
                    }
                    self.state = State::Trailers { seen };
                }
                State::UntilClose => {
                    self.body_bytes += rest.len() as u64;
                    return Ok((buf.len(), None));
                }
            }
        }
    }

    /// The connection reached end of stream: completes a close-delimited body, or says the
    /// response was cut short. `Ok(None)` when no response was started (a clean close between
    /// responses; whether that is an error depends on what the caller still waits for).
    pub fn finish(&mut self, unconsumed: usize) -> Result<Option<Response>, ParseError> {
        match self.state {
            State::UntilClose => Ok(Some(self.complete())),
            State::Head if unconsumed == 0 => Ok(None),
            _ => Err(ParseError::Truncated),
        }
    }

    /// Parses a head at the start of `buf`: `Ok(None)` if incomplete, else its length, with
    /// the state set for the body. 1xx interim heads are consumed and skipped.
    fn parse_head(&mut self, buf: &[u8]) -> Result<Option<usize>, ParseError> {
        let mut skipped = 0;
        loop {
            let buf = &buf[skipped..];
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut head = httparse::Response::new(&mut headers);
            let len = match head.parse(buf) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
                    return Err(ParseError::HeadTooLarge);
                }
                Ok(httparse::Status::Partial) => {
                    // Interim heads already skipped count as consumed; the state stays `Head`.
                    return Ok((skipped > 0).then_some(skipped));
                }
                Err(error) => return Err(ParseError::Head(error)),
            };
            if len > MAX_HEAD_BYTES {
                return Err(ParseError::HeadTooLarge);
            }
            // httparse sets code and version on a complete parse.
            let status = head.code.unwrap_or(0);
            let http10 = head.version == Some(0);
            match status {
                101 => return Err(ParseError::UnexpectedUpgrade),
                100..=199 => {
                    skipped += len;
                    continue;
                }
                _ => {}
            }
            let framing = Framing::of(status, head.headers)?;
            self.status = status;
            self.body_bytes = 0;
            self.close = wants_close(http10, head.headers) || framing == Framing::UntilClose;
            self.state = match framing {
                Framing::Empty => State::Fixed { remaining: 0 },
                Framing::Length(remaining) => State::Fixed { remaining },
                Framing::Chunked => State::ChunkSize,
                Framing::UntilClose => State::UntilClose,
            };
            return Ok(Some(skipped + len));
        }
    }

    /// Completes a response whose body is empty right after its head.
    fn complete_if_empty(&mut self) -> Option<Response> {
        (self.state == State::Fixed { remaining: 0 }).then(|| self.complete())
    }

    fn complete(&mut self) -> Response {
        let done = Response {
            status: self.status,
            close: self.close,
            body_bytes: self.body_bytes,
        };
        *self = ResponseParser::new();
        done
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

impl Framing {
    fn of(status: u16, headers: &[httparse::Header<'_>]) -> Result<Framing, ParseError> {
        if status == 204 || status == 304 {
            return Ok(Framing::Empty);
        }
        let mut transfer_encoding: Option<&[u8]> = None;
        let mut length: Option<u64> = None;
        for header in headers {
            if header.name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoding = Some(header.value);
            } else if header.name.eq_ignore_ascii_case("content-length") {
                for value in header.value.split(|&b| b == b',') {
                    let value = parse_decimal(trim(value)).ok_or(ParseError::BadContentLength)?;
                    if length.is_some_and(|seen| seen != value) {
                        return Err(ParseError::BadContentLength);
                    }
                    length = Some(value);
                }
            }
        }
        if let Some(codings) = transfer_encoding {
            let last = codings.split(|&b| b == b',').next_back().map(trim);
            return Ok(match last {
                Some(coding) if coding.eq_ignore_ascii_case(b"chunked") => Framing::Chunked,
                _ => Framing::UntilClose,
            });
        }
        Ok(match length {
            Some(0) => Framing::Empty,
            Some(length) => Framing::Length(length),
            None => Framing::UntilClose,
        })
    }
}

/// `connection: close`, or HTTP/1.0 without `connection: keep-alive`.
fn wants_close(http10: bool, headers: &[httparse::Header<'_>]) -> bool {
    let mut close = false;
    let mut keep_alive = false;
    for header in headers {
        if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',').map(trim) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    close || (http10 && !keep_alive)
}

/// Parses `HEX [WS] [; extensions] CRLF` at the start of `buf`: `Ok(None)` while the line is
/// incomplete, else the line's length and the chunk size.
fn parse_chunk_size_line(buf: &[u8]) -> Result<Option<(usize, u64)>, ParseError> {
    let Some(lf) = buf
        .iter()
        .take(MAX_CHUNK_LINE_BYTES)
        .position(|&b| b == b'\n')
    else {
        if buf.len() >= MAX_CHUNK_LINE_BYTES {
            return Err(ParseError::BadChunkSize);
        }
        return Ok(None);
    };
    let Some(line) = buf[..lf].strip_suffix(b"\r") else {
        return Err(ParseError::BadChunkSize);
    };
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(ParseError::BadChunkSize);
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        // Cannot overflow: at most 16 hex digits.
        size = (size << 4) | u64::from(hex_value(b));
    }
    let after = trim_start(&line[digits..]);
    let valid_tail = after.is_empty()
        || (after[0] == b';'
            && after
                .iter()
                .all(|&b| b == b'\t' || (b' '..0x7f).contains(&b)));
    if !valid_tail {
        return Err(ParseError::BadChunkSize);
    }
    Ok(Some((lf + 1, size)))
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// A non-empty run of ASCII digits as a `u64`, or `None` (also on overflow).
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn trim(bytes: &[u8]) -> &[u8] {
    let bytes = trim_start(bytes);
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// `min(remaining, available)` as a `usize`.
fn take_len(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |remaining| remaining.min(available))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` one after another the way the connection loop does: unconsumed bytes
    /// stay at the front of the buffer and the next piece is appended. Returns the responses
    /// and the bytes left unconsumed, or the first error.
    fn run(pieces: &[&[u8]], eof: bool) -> Result<(Vec<Response>, usize), ParseError> {
        let mut parser = ResponseParser::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut done = Vec::new();
        for piece in pieces {
            pending.extend_from_slice(piece);
            loop {
                let (consumed, response) = parser.feed(&pending)?;
                assert!(consumed <= pending.len());
                pending.drain(..consumed);
                match response {
                    Some(response) => done.push(response),
                    None => break,
                }
            }
        }
        if eof && let Some(response) = parser.finish(pending.len())? {
            done.push(response);
        }
        Ok((done, pending.len()))
    }

    fn whole(bytes: &[u8]) -> Result<(Vec<Response>, usize), ParseError> {
        run(&[bytes], false)
    }

    /// Every way of splitting `bytes` in two and in three (the latter on short inputs), and
    /// byte by byte, must give the same result as the whole.
    fn assert_split_invariant(bytes: &[u8], eof: bool) {
        let expected = run(&[bytes], eof);
        for i in 0..=bytes.len() {
            assert_eq!(
                run(&[&bytes[..i], &bytes[i..]], eof),
                expected,
                "split at {i}"
            );
        }
        if bytes.len() <= 200 {
            for i in 0..=bytes.len() {
                for j in i..=bytes.len() {
                    let pieces = [&bytes[..i], &bytes[i..j], &bytes[j..]];
                    assert_eq!(run(&pieces, eof), expected, "split at {i},{j}");
                }
            }
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(run(&bytewise, eof), expected, "byte by byte");
    }

    fn ok(status: u16, body_bytes: u64) -> Response {
        Response {
            status,
            close: false,
            body_bytes,
        }
    }

    const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\nhello";

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\nchunk 0\n\r\n8;name=value\r\nchunk 1\n\r\nA \r\n0123456789\r\n0\r\nx-trailer: yes\r\n\r\n";

    #[test]
    fn content_length_body() {
        assert_eq!(whole(HELLO), Ok((vec![ok(200, 5)], 0)));
        assert_split_invariant(HELLO, false);
    }

    #[test]
    fn incomplete_body_waits_for_more() {
        assert_eq!(whole(&HELLO[..HELLO.len() - 1]), Ok((vec![], 0)));
        assert_eq!(
            run(&[&HELLO[..HELLO.len() - 1]], true),
            Err(ParseError::Truncated)
        );
    }

    #[test]
    fn incomplete_head_is_not_consumed() {
        assert_eq!(whole(&HELLO[..20]), Ok((vec![], 20)));
        assert_eq!(run(&[&HELLO[..20]], true), Err(ParseError::Truncated));
    }

    #[test]
    fn chunked_body_split_at_every_offset() {
        assert_eq!(whole(CHUNKED), Ok((vec![ok(200, 26)], 0)));
        assert_split_invariant(CHUNKED, false);
    }

    #[test]
    fn ringserve_stream_endpoint() {
        let mut bytes = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for i in 0..10 {
            bytes.extend_from_slice(format!("8\r\nchunk {i}\n\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(whole(&bytes), Ok((vec![ok(200, 80)], 0)));
        assert_split_invariant(&bytes, false);
    }

    #[test]
    fn pipelined_responses_in_one_buffer() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(HELLO);
        bytes.extend_from_slice(CHUNKED);
        bytes
            .extend_from_slice(b"HTTP/1.1 422 Unprocessable Entity\r\ncontent-length: 2\r\n\r\n{}");
        bytes.extend_from_slice(b"HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n");
        let expected = vec![ok(200, 5), ok(200, 26), ok(422, 2), ok(204, 0)];
        assert_eq!(whole(&bytes), Ok((expected, 0)));
        assert_split_invariant(&bytes, false);
    }

    #[test]
    fn connection_close_and_http10() {
        let close =
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            whole(close),
            Ok((
                vec![Response {
                    status: 200,
                    close: true,
                    body_bytes: 0
                }],
                0
            ))
        );
        let old = b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nx";
        assert!(whole(old).is_ok_and(|(r, _)| r[0].close));
        let old_kept = b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\nx";
        assert!(whole(old_kept).is_ok_and(|(r, _)| !r[0].close));
    }

    #[test]
    fn body_until_close() {
        let bytes = b"HTTP/1.1 200 OK\r\n\r\nall of this";
        assert_eq!(whole(bytes), Ok((vec![], 0)));
        let expected = Ok((
            vec![Response {
                status: 200,
                close: true,
                body_bytes: 11,
            }],
            0,
        ));
        assert_eq!(run(&[bytes], true), expected);
        assert_split_invariant(bytes, true);
        let gzip = b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nzz";
        assert!(run(&[gzip], true).is_ok_and(|(r, _)| r[0].close && r[0].body_bytes == 2));
    }

    #[test]
    fn interim_responses_are_skipped() {
        let bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok";
        assert_eq!(whole(bytes), Ok((vec![ok(201, 2)], 0)));
        assert_split_invariant(bytes, false);
    }

    #[test]
    fn clean_eof_between_responses() {
        assert_eq!(run(&[HELLO], true), Ok((vec![ok(200, 5)], 0)));
        assert_eq!(run(&[b""], true), Ok((vec![], 0)));
    }

    #[test]
    fn equal_content_lengths_are_accepted() {
        let bytes = b"HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\ncontent-length: 3\r\n\r\nabc";
        assert_eq!(whole(bytes), Ok((vec![ok(200, 3)], 0)));
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let cases: &[(&[u8], ParseError)] = &[
            (
                b"HTTP/1.1 abc OK\r\n\r\n",
                ParseError::Head(httparse::Error::Status),
            ),
            (
                b"HTP/1.1 200 OK\r\n\r\n",
                ParseError::Head(httparse::Error::Version),
            ),
            (
                b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
                ParseError::Head(httparse::Error::HeaderName),
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 12x\r\n\r\n",
                ParseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
                ParseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: \r\n\r\n",
                ParseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n",
                ParseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                ParseError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                ParseError::BadChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\r\n",
                ParseError::BadChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\n",
                ParseError::BadChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-5\r\n",
                ParseError::BadChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5 x\r\n",
                ParseError::BadChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n11111111111111111\r\n",
                ParseError::BadChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nab\r\n",
                ParseError::MissingChunkCrlf,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\rx",
                ParseError::MissingChunkCrlf,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nnot a trailer\r\n\r\n",
                ParseError::BadTrailer,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx: y\n\r\n",
                ParseError::BadTrailer,
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
                ParseError::UnexpectedUpgrade,
            ),
        ];
        for (bytes, error) in cases {
            let text = String::from_utf8_lossy(bytes);
            assert_eq!(whole(bytes), Err(error.clone()), "{text:?}");
            // The same error however the bytes are split (or earlier: never a panic).
            for i in 0..=bytes.len() {
                assert!(
                    run(&[&bytes[..i], &bytes[i..]], true).is_err(),
                    "{text:?} at {i}"
                );
            }
        }
    }

    #[test]
    fn oversized_heads_and_lines_are_errors() {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        while head.len() <= MAX_HEAD_BYTES {
            head.extend_from_slice(
                b"x-filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            );
        }
        assert!(whole(&head).is_err());
        let mut line = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1;".to_vec();
        line.resize(line.len() + MAX_CHUNK_LINE_BYTES, b'e');
        assert_eq!(whole(&line), Err(ParseError::BadChunkSize));
        let mut trailers = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n".to_vec();
        while trailers.len() < 2 * MAX_TRAILER_BYTES {
            trailers.extend_from_slice(b"x-t: 1\r\n");
        }
        assert_eq!(whole(&trailers), Err(ParseError::BadTrailer));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator: no extra dependency.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet =
            b"HTTP/1.1 200 OK\r\n:;0123456789abcdefxchunkedcontent-lengthtransfer-encoding\r\n \t";
        for _ in 0..20_000 {
            let len = (next() % 120) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 7 == 0 {
                        (r >> 8) as u8
                    } else {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    }
                })
                .collect();
            let split = (next() as usize) % (bytes.len() + 1);
            let _ = run(&[&bytes[..split], &bytes[split..]], true);
        }
    }
}
