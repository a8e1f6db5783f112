//! Encoding responses: the status line, the engine's headers, the handler's headers and the
//! body, appended to the connection's write buffer.
//!
//! Invariant: encoding copies bytes into a buffer the connection reuses and allocates nothing
//! once that buffer has grown to its working size. Framing headers are always the engine's: a
//! body-less status (1xx, 204, 304) gets no `content-length` and no body (RFC 9110 §8.6), a 205
//! gets `content-length: 0`, every other response gets the exact `content-length`, and a
//! `HEAD` response gets the length its `GET` would have had, without the body (RFC 9110
//! §9.3.2) — the body's length, or the handler's own `content-length` when it left the body
//! empty.

use bytes::{BufMut, BytesMut};
use http::{HeaderName, HeaderValue, StatusCode, header};

use super::reject::ParseError;
use crate::limits::U64_DECIMAL_DIGITS_MAX;

/// How the connection continues after this response, as the `connection` header says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 default: no header needed.
    KeepAlive,
    /// An HTTP/1.0 client that asked for keep-alive: say yes explicitly.
    KeepAliveHttp10,
    /// The connection closes after this response: `connection: close`.
    Close,
}

/// The parts of a response head the engine supplies.
pub struct EngineHeaders<'a> {
    pub date: &'a [u8],
    pub request_id: &'a [u8],
    pub persistence: Persistence,
}

/// How the body after a head is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `content-length`, with the value written as given (the body's length, or the length a
    /// `HEAD` handler stated).
    Length(u64),
    /// `transfer-encoding: chunked`: a streamed body to an HTTP/1.1 client.
    Chunked,
    /// Neither header: a streamed body to an HTTP/1.0 client, ended by closing the connection.
    UntilClose,
}

/// Appends a whole response. `send_body` is false for `HEAD`.
pub fn encode_response(
    out: &mut BytesMut,
    status: StatusCode,
    headers: &[(HeaderName, HeaderValue)],
    body: &[u8],
    send_body: bool,
    engine: &EngineHeaders<'_>,
) {
    // RFC 9110 §15.3.6: a 205 carries no content; `content-length: 0` says so.
    let body = if status == StatusCode::RESET_CONTENT {
        &[][..]
    } else {
        body
    };
    let length = head_length(headers, body, send_body).unwrap_or(body.len() as u64);
    encode_head(out, status, headers, Framing::Length(length), engine);
    if send_body && status_has_body(status) {
        out.put_slice(body);
    }
}

/// Appends a status line and header section, ending with the empty line.
pub fn encode_head(
    out: &mut BytesMut,
    status: StatusCode,
    headers: &[(HeaderName, HeaderValue)],
    framing: Framing,
    engine: &EngineHeaders<'_>,
) {
    write_status_line(out, status);
    write_engine_headers(out, engine);
    if status_has_body(status) {
        match framing {
            Framing::Length(length) => {
                out.put_slice(b"content-length: ");
                write_decimal(out, length);
                out.put_slice(b"\r\n");
            }
            Framing::Chunked => out.put_slice(b"transfer-encoding: chunked\r\n"),
            Framing::UntilClose => {}
        }
    }
    for (name, value) in headers {
        if is_engine_header(name) {
            continue;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

/// Appends the size line of a chunk of `len` bytes (RFC 9112 §7.1), rendered on the stack.
pub fn encode_chunk_size(out: &mut BytesMut, len: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut line = [0u8; 2 * std::mem::size_of::<usize>() + 2];
    let mut start = line.len() - 2;
    line[start..].copy_from_slice(b"\r\n");
    let mut rest = len;
    loop {
        start -= 1;
        line[start] = DIGITS[rest & 0xf];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    out.put_slice(&line[start..]);
}

/// Appends one whole chunk: size line, data, CRLF. An empty `data` would end the body, so
/// callers skip empty chunks.
pub fn encode_chunk(out: &mut BytesMut, data: &[u8]) {
    debug_assert!(!data.is_empty(), "an empty chunk is the last chunk");
    encode_chunk_size(out, data.len());
    out.put_slice(data);
    out.put_slice(CHUNK_END);
}

/// The CRLF after a chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk and the empty trailer section that end a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A `HEAD` answered without building the body may state the `GET` length itself: a handler's
/// decimal `content-length` is kept when the body is empty and will not be sent.
fn head_length(headers: &[(HeaderName, HeaderValue)], body: &[u8], send_body: bool) -> Option<u64> {
    if send_body || !body.is_empty() {
        return None;
    }
    let value = headers
        .iter()
        .find(|(name, _)| name == header::CONTENT_LENGTH)?
        .1
        .to_str()
        .ok()?;
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Appends the response a codec refusal gets: its status, a plain-text reason, and close. A
/// refused `HEAD` gets the same head and no content (RFC 9110 §9.3.2).
pub fn encode_rejection(
    out: &mut BytesMut,
    error: ParseError,
    is_head: bool,
    date: &[u8],
    request_id: &[u8],
) {
    encode_response(
        out,
        error.status(),
        &[(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        error.reason().as_bytes(),
        !is_head,
        &EngineHeaders {
            date,
            request_id,
            persistence: Persistence::Close,
        },
    );
}

/// The interim response to `Expect: 100-continue` (RFC 9110 §15.2.1).
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// 1xx, 204 and 304 responses never carry content (RFC 9110 §6.4.1).
pub fn status_has_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// Whether the engine writes this header itself (and ignores a handler's).
pub fn is_engine_header(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::DATE
        || name == header::CONNECTION
        || name.as_str() == "x-request-id"
}

fn write_status_line(out: &mut BytesMut, status: StatusCode) {
    // A server sends its own highest version, also to HTTP/1.0 clients (RFC 9110 §2.5).
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
}

fn write_engine_headers(out: &mut BytesMut, engine: &EngineHeaders<'_>) {
    out.put_slice(b"date: ");
    out.put_slice(engine.date);
    out.put_slice(b"\r\nx-request-id: ");
    out.put_slice(engine.request_id);
    out.put_slice(b"\r\n");
    match engine.persistence {
        Persistence::KeepAlive => {}
        Persistence::KeepAliveHttp10 => out.put_slice(b"connection: keep-alive\r\n"),
        Persistence::Close => out.put_slice(b"connection: close\r\n"),
    }
}

pub(crate) fn write_decimal(out: &mut BytesMut, value: u64) {
    let mut digits = [0u8; U64_DECIMAL_DIGITS_MAX];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.put_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn engine(persistence: Persistence) -> EngineHeaders<'static> {
        EngineHeaders {
            date: DATE,
            request_id: b"abc",
            persistence,
        }
    }

    fn encode(
        status: StatusCode,
        headers: &[(HeaderName, HeaderValue)],
        body: &[u8],
        send_body: bool,
        persistence: Persistence,
    ) -> String {
        let mut out = BytesMut::new();
        encode_response(
            &mut out,
            status,
            headers,
            body,
            send_body,
            &engine(persistence),
        );
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn ok_with_body() {
        let text = encode(
            StatusCode::OK,
            &[(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
            b"hello",
            true,
            Persistence::KeepAlive,
        );
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nx-request-id: abc\r\n\
             content-length: 5\r\ncontent-type: text/plain\r\n\r\nhello"
        );
    }

    #[test]
    fn head_keeps_length_but_drops_body() {
        let text = encode(StatusCode::OK, &[], b"hello", false, Persistence::Close);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nx-request-id: abc\r\n\
             connection: close\r\ncontent-length: 5\r\n\r\n"
        );
    }

    #[test]
    fn bodyless_statuses_have_no_length_and_no_body() {
        for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
            let text = encode(status, &[], b"ignored", true, Persistence::KeepAliveHttp10);
            assert!(text.ends_with("connection: keep-alive\r\n\r\n"), "{text}");
            assert!(!text.contains("content-length"), "{text}");
        }
    }

    #[test]
    fn handler_framing_headers_are_ignored() {
        let text = encode(
            StatusCode::from_u16(599).unwrap(),
            &[
                (header::CONTENT_LENGTH, HeaderValue::from_static("99")),
                (
                    header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                ),
                (
                    HeaderName::from_static("x-request-id"),
                    HeaderValue::from_static("mine"),
                ),
                (
                    HeaderName::from_static("x-custom"),
                    HeaderValue::from_static("kept"),
                ),
            ],
            b"",
            true,
            Persistence::KeepAlive,
        );
        assert_eq!(
            text,
            "HTTP/1.1 599 \r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nx-request-id: abc\r\n\
             content-length: 0\r\nx-custom: kept\r\n\r\n"
        );
    }

    #[test]
    fn reset_content_has_a_zero_length_and_no_body() {
        let text = encode(
            StatusCode::RESET_CONTENT,
            &[],
            b"dropped",
            true,
            Persistence::KeepAlive,
        );
        assert!(text.ends_with("content-length: 0\r\n\r\n"), "{text}");
    }

    #[test]
    fn head_may_state_the_get_length_itself() {
        let stated = [(header::CONTENT_LENGTH, HeaderValue::from_static("1234"))];
        let text = encode(StatusCode::OK, &stated, b"", false, Persistence::KeepAlive);
        assert!(text.ends_with("content-length: 1234\r\n\r\n"), "{text}");
        // With a body, or on GET, the engine's own length wins.
        let text = encode(
            StatusCode::OK,
            &stated,
            b"abc",
            false,
            Persistence::KeepAlive,
        );
        assert!(text.ends_with("content-length: 3\r\n\r\n"), "{text}");
        let text = encode(StatusCode::OK, &stated, b"", true, Persistence::KeepAlive);
        assert!(text.ends_with("content-length: 0\r\n\r\n"), "{text}");
    }

    #[test]
    fn rejection_closes_and_explains() {
        let mut out = BytesMut::new();
        encode_rejection(&mut out, ParseError::MissingHost, false, DATE, b"id");
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nBad Request: missing Host header"));
    }

    #[test]
    fn chunks_are_framed_in_lowercase_hex() {
        let mut out = BytesMut::new();
        encode_chunk(&mut out, b"hello");
        encode_chunk(&mut out, &[b'x'; 26]);
        out.put_slice(LAST_CHUNK);
        let mut expected = b"5\r\nhello\r\n1a\r\n".to_vec();
        expected.extend_from_slice(&[b'x'; 26]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(&out[..], &expected[..]);
        for len in [1usize, 15, 16, 255, 4096, 65_536, usize::MAX] {
            let mut line = BytesMut::new();
            encode_chunk_size(&mut line, len);
            assert_eq!(&line[..], format!("{len:x}\r\n").as_bytes());
        }
    }

    #[test]
    fn encoded_chunks_decode_back() {
        let mut out = BytesMut::new();
        let pieces: [&[u8]; 3] = [b"a", &[7u8; 300], b"\r\n0\r\n"];
        for piece in pieces {
            encode_chunk(&mut out, piece);
        }
        out.put_slice(LAST_CHUNK);
        let mut decoder = super::super::body::ChunkedDecoder::new(1 << 20);
        let mut decoded = BytesMut::new();
        let progress = decoder.decode(&out, &mut decoded).unwrap();
        assert!(progress.done);
        assert_eq!(progress.consumed, out.len());
        assert_eq!(&decoded[..], &pieces.concat()[..]);
    }

    #[test]
    fn stream_heads_say_chunked_or_nothing() {
        let mut out = BytesMut::new();
        encode_head(
            &mut out,
            StatusCode::OK,
            &[],
            Framing::Chunked,
            &engine(Persistence::KeepAlive),
        );
        assert!(String::from_utf8_lossy(&out).ends_with("transfer-encoding: chunked\r\n\r\n"));
        let mut out = BytesMut::new();
        encode_head(
            &mut out,
            StatusCode::OK,
            &[],
            Framing::UntilClose,
            &engine(Persistence::Close),
        );
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(text.ends_with("connection: close\r\n\r\n"), "{text}");
        assert!(!text.contains("content-length") && !text.contains("transfer-encoding"));
    }

    #[test]
    fn decimals() {
        for value in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = BytesMut::new();
            write_decimal(&mut out, value);
            assert_eq!(out, value.to_string().as_bytes());
        }
    }
}
