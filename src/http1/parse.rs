//! Parsing a request head: httparse for the syntax, then the HTTP/1.1 rules that decide the
//! body's framing, the connection's persistence and the request's target.
//!
//! Invariant: `parse_head` never panics and never allocates for an HTTP/1.0 or 1.1 request with
//! at most sixteen header fields and a standard method (a higher 1.x minor version is parsed
//! from one copy of the head). Incomplete input is `Ok(None)`; every refusal is a
//! [`ParseError`] whose status is fixed in `reject.rs`. Limits are checked on partial input too,
//! so a client cannot make the buffer grow past them by sending a head slowly.

use std::mem::MaybeUninit;
use std::time::Duration;

use http::{Method, Version};

use super::body::BodyFraming;
use super::head::{HeaderSpan, HeaderSpans, RequestHead, Span, TimeoutOverride};
use super::host::is_valid_host;
use super::reject::ParseError;
use crate::limits::{
    HEADERS_COUNT_CEILING, Limits, REQUEST_ID_BYTES_MAX, REQUEST_LINE_OVERHEAD_BYTES,
    TIMEOUT_OVERRIDE_SECONDS_MAX,
};

/// Parses the head at the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, and the head with its length when it is
/// complete. Leading empty lines are skipped (RFC 9112 §2.2).
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>, ParseError> {
    let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); HEADERS_COUNT_CEILING];
    let slots = &mut slots[..limits.headers_count_max.min(HEADERS_COUNT_CEILING)];
    let mut request = httparse::Request::new(&mut []);
    let status = request.parse_with_uninit_headers(buf, slots);
    if request
        .path
        .is_some_and(|path| path.len() > limits.uri_bytes_max)
    {
        return Err(ParseError::UriTooLong);
    }
    let head_len = match status {
        Ok(httparse::Status::Complete(head_len)) => head_len,
        Ok(httparse::Status::Partial) => return partial_head_verdict(buf, &request, limits),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(httparse::Error::Version) => {
            return match version_error(buf) {
                VersionError::HigherMinor { minor_at } => parse_as_http11(buf, minor_at, limits),
                VersionError::Refused(error) => Err(error),
            };
        }
        Err(_) => return Err(ParseError::Malformed),
    };
    if head_len > limits.head_bytes_max {
        return Err(ParseError::HeadTooLarge);
    }
    debug_assert!(head_len <= buf.len(), "a head ends inside its buffer");
    let (Some(method), Some(target), Some(minor)) = (request.method, request.path, request.version)
    else {
        return Err(ParseError::Malformed);
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| ParseError::Malformed)?;
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    let (path, query) = split_target(buf, &method, target)?;
    let fields = read_fields(buf, request.headers, version, limits)?;
    Ok(Some(RequestHead {
        head_len,
        method,
        version,
        path,
        query,
        headers: fields.spans,
        framing: fields.framing,
        keep_alive: fields.keep_alive,
        expect_continue: fields.expect_continue,
        request_id: fields.request_id,
        trace_parent: fields.trace_parent,
        timeout_override: fields.timeout_override,
        client: None,
    }))
}

/// [`parse_head`] made cheap for heads that arrive in pieces (mini-redis's habit of a
/// completeness check before the full parse). `scanned` carries, between calls on the same
/// buffer, how many leading bytes have been looked at; reset it to 0 when the buffer's start
/// moves. httparse runs again only when the new bytes complete a line (twice at most, when the
/// head is not complete yet), and the bytes in between are checked one at a time for what no
/// head may hold, so garbage is refused at once and a head sent byte by byte costs linear, not
/// quadratic, time. The limits are enforced on every partial head.
///
/// The answer does not depend on how the bytes were cut into reads: it is the one the
/// buffer's shortest decided prefix gets. httparse's verdict counts only on complete lines (a
/// complete head, or the lines before the first byte refused on its own), since it judges an
/// unfinished line differently from the byte rules, and the earliest refusal wins.
pub fn parse_head_resumable(
    buf: &[u8],
    scanned: &mut usize,
    limits: &Limits,
) -> Result<Option<RequestHead>, ParseError> {
    let from = (*scanned).min(buf.len());
    *scanned = buf.len();
    if from == buf.len() {
        // No new bytes (the empty buffer after each request, most often): what was there
        // before had no answer, and still has none.
        return Ok(None);
    }
    if !buf[from..].contains(&b'\n') {
        return match first_refused_byte(buf, from, limits) {
            Some((_, error)) => Err(error),
            None => Ok(None),
        };
    }
    // The common case, a complete head: httparse accepted each of its bytes, which no byte rule
    // refuses, and looked at nothing after it; only the request line's length is left to
    // check, which httparse does not limit.
    if let Ok(Some(head)) = parse_head(buf, limits)
        && request_line_fits(&buf[..head.head_len], limits)
    {
        return Ok(Some(head));
    }
    shortest_decided_prefix(buf, from, limits)
}

/// The answer to the shortest prefix of `buf` that has one, given that `buf[..from]` had
/// none: a byte refused on its own, or httparse's verdict on the lines complete before it.
/// Only heads still incomplete, or refused, get here.
fn shortest_decided_prefix(
    buf: &[u8],
    from: usize,
    limits: &Limits,
) -> Result<Option<RequestHead>, ParseError> {
    let refused = first_refused_byte(buf, from, limits);
    let decided = refused.map_or(buf.len(), |(at, _)| at);
    if let Some(line_end) = buf[from..decided].iter().rposition(|&byte| byte == b'\n') {
        let complete_lines = &buf[..from + line_end + 1];
        let parsed = parse_head(complete_lines, limits);
        debug_assert!(
            !matches!(parsed, Ok(None)) || complete_lines.len() <= limits.head_bytes_max,
            "a partial head is held to the head limit"
        );
        if !matches!(parsed, Ok(None)) {
            return parsed;
        }
    }
    match refused {
        Some((_, error)) => Err(error),
        None => {
            debug_assert!(
                buf.len() <= limits.head_bytes_max,
                "a partial head is held to the head limit"
            );
            Ok(None)
        }
    }
}

/// Whether the request line of `complete_lines` (if it has one) ends within the target limit
/// plus the line's overhead, as [`first_refused_byte`] requires of it. A head no longer than
/// that holds its request line within it, unscanned: the common case costs one comparison.
fn request_line_fits(complete_lines: &[u8], limits: &Limits) -> bool {
    let request_line_max = limits.uri_bytes_max + REQUEST_LINE_OVERHEAD_BYTES;
    if complete_lines.len() <= request_line_max {
        return true;
    }
    let rest = &complete_lines[leading_empty_lines(complete_lines)..];
    rest.is_empty() || rest[..rest.len().min(request_line_max + 1)].contains(&b'\n')
}

/// The first byte of `buf[from..]` that a partial head may not end with, and why: a byte no
/// head may contain, the request line growing past the target limit before it ends, or the
/// head growing past the head limit. Line feeds are not judged here: a line they complete is
/// httparse's to judge. Each byte is judged as if it had arrived alone, so the refusal is the
/// same for any cut of the buffer into reads.
fn first_refused_byte(buf: &[u8], from: usize, limits: &Limits) -> Option<(usize, ParseError)> {
    let request_line_max = limits.uri_bytes_max + REQUEST_LINE_OVERHEAD_BYTES;
    let leading = leading_empty_lines(buf);
    // Whether the request line (after the leading empty lines) has ended before `from`.
    let mut request_line_done = buf
        .get(leading..from)
        .is_some_and(|seen| seen.contains(&b'\n'));
    for (at, &byte) in buf.iter().enumerate().skip(from) {
        if byte == b'\n' {
            request_line_done |= at > leading;
            continue;
        }
        // A CR is only ever the first half of a line ending (RFC 9112 §2.2: a bare CR is
        // invalid); httparse says the same once the line is complete.
        let after_cr = at > 0 && buf[at - 1] == b'\r';
        if never_in_a_head(byte) || after_cr {
            return Some((at, ParseError::Malformed));
        }
        // The prefix that ends with this byte.
        let prefix_len = at + 1;
        if !request_line_done && prefix_len.saturating_sub(leading) > request_line_max {
            return Some((at, ParseError::UriTooLong));
        }
        if prefix_len > limits.head_bytes_max {
            return Some((at, ParseError::HeadTooLarge));
        }
    }
    None
}

/// Whether the request at the start of `buf` (complete or not, valid or not) is a `HEAD`: its
/// refusal then carries no content (RFC 9110 §9.3.2).
pub fn starts_a_head_request(buf: &[u8]) -> bool {
    let leading = leading_empty_lines(buf);
    buf[leading..].starts_with(b"HEAD ")
}

/// How many CR and LF bytes open `buf`: the empty lines a request may follow (RFC 9112 §2.2).
fn leading_empty_lines(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&byte| byte == b'\r' || byte == b'\n')
        .count()
}

/// Control characters other than HTAB, CR and LF, and DEL, appear nowhere in a request head
/// (RFC 9112 §3 and RFC 9110 §5.5).
fn never_in_a_head(byte: u8) -> bool {
    (byte < 0x20 && !matches!(byte, b'\t' | b'\r' | b'\n')) || byte == 0x7f
}

/// A partial head is fine unless it is already past a limit.
fn partial_head_verdict(
    buf: &[u8],
    request: &httparse::Request<'_, '_>,
    limits: &Limits,
) -> Result<Option<RequestHead>, ParseError> {
    let request_line_done = request.version.is_some();
    let request_line_len = buf.len() - leading_empty_lines(buf);
    if !request_line_done && request_line_len > limits.uri_bytes_max + REQUEST_LINE_OVERHEAD_BYTES {
        return Err(ParseError::UriTooLong);
    }
    if buf.len() > limits.head_bytes_max {
        return Err(ParseError::HeadTooLarge);
    }
    Ok(None)
}

/// What a version httparse refused is.
enum VersionError {
    /// `HTTP/1.x` with `x` above 1, its minor digit at this offset of the buffer.
    HigherMinor { minor_at: usize },
    /// Garbage (400) or another major version (505).
    Refused(ParseError),
}

/// httparse refuses every version but `HTTP/1.0` and `HTTP/1.1`. A higher minor version of 1.x
/// is processed as the highest 1.x the server implements (RFC 9110 §2.5); another well-formed
/// version is 505 (RFC 9110 §15.6.6); anything else 400.
fn version_error(buf: &[u8]) -> VersionError {
    let leading = leading_empty_lines(buf);
    let rest = &buf[leading..];
    // The request line ends at its LF; a CR ends it only right before that LF (RFC 9112 §2.2:
    // a bare CR is no line ending), so `HTTP/2.0\rx` is no version but garbage.
    let line_end = rest.iter().position(|&byte| byte == b'\n');
    let line = &rest[..line_end.unwrap_or(rest.len())];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&byte| byte == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return VersionError::Refused(ParseError::Malformed);
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            debug_assert!(*minor > b'1', "httparse accepts HTTP/1.0 and HTTP/1.1");
            VersionError::HigherMinor {
                minor_at: leading + line.len() - 1,
            }
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            VersionError::Refused(ParseError::VersionNotSupported)
        }
        _ => VersionError::Refused(ParseError::Malformed),
    }
}

/// Parses a head whose version is `HTTP/1.x`, `x` above 1, as HTTP/1.1: from a copy with the
/// minor digit replaced, which puts every span at the same offset as in `buf`. Such clients
/// are rare, so the copy (of at most one byte past the head limit) stays off the common path.
#[cold]
fn parse_as_http11(
    buf: &[u8],
    minor_at: usize,
    limits: &Limits,
) -> Result<Option<RequestHead>, ParseError> {
    let mut copy = buf[..buf.len().min(limits.head_bytes_max + 1)].to_vec();
    let Some(minor) = copy.get_mut(minor_at) else {
        return Err(ParseError::HeadTooLarge);
    };
    *minor = b'1';
    let parsed = parse_head(&copy, limits);
    debug_assert!(
        !matches!(&parsed, Ok(Some(head)) if head.version != Version::HTTP_11),
        "a higher 1.x minor version is read as HTTP/1.1"
    );
    parsed
}

/// Splits the request target into path and query (RFC 9112 §3.2). Origin-form is the usual
/// case; absolute-form is accepted as servers must; `*` only for `OPTIONS`.
fn split_target(
    buf: &[u8],
    method: &Method,
    target: &str,
) -> Result<(Span, Option<Span>), ParseError> {
    let path_and_query = if target.starts_with('/') {
        target
    } else if target == "*" {
        if method != Method::OPTIONS {
            return Err(ParseError::BadTarget);
        }
        target
    } else {
        path_of_absolute_form(target)?
    };
    if path_and_query.contains('#') {
        return Err(ParseError::BadTarget);
    }
    let bytes = path_and_query.as_bytes();
    Ok(match path_and_query.split_once('?') {
        Some((path, query)) => (
            Span::within(buf, path.as_bytes()),
            Some(Span::within(buf, query.as_bytes())),
        ),
        None => (Span::within(buf, bytes), None),
    })
}

/// `http://authority/path?query` → `/path?query` (an empty result means `/`).
fn path_of_absolute_form(target: &str) -> Result<&str, ParseError> {
    let (scheme, rest) = target.split_once("://").ok_or(ParseError::BadTarget)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(ParseError::BadTarget);
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    if authority_end == 0 {
        return Err(ParseError::BadTarget);
    }
    Ok(&rest[authority_end..])
}

/// What the header fields say about the request, gathered in one pass.
struct Fields {
    spans: HeaderSpans,
    framing: BodyFraming,
    keep_alive: bool,
    expect_continue: bool,
    request_id: Option<Span>,
    trace_parent: Option<u8>,
    timeout_override: TimeoutOverride,
}

fn read_fields(
    buf: &[u8],
    headers: &[httparse::Header<'_>],
    version: Version,
    limits: &Limits,
) -> Result<Fields, ParseError> {
    let mut spans = HeaderSpans::new();
    let mut hosts = 0usize;
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut expect_continue = false;
    let mut request_id = None;
    let mut request_id_seen = false;
    let mut trace_parent = None;
    let mut timeout_override = TimeoutOverride::None;
    for header in headers {
        let name = header.name.as_bytes();
        let value = header.value;
        spans.push(HeaderSpan {
            name: Span::within(buf, name),
            value: Span::within(buf, value),
        });
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                if !is_valid_host(value) {
                    return Err(ParseError::BadHost);
                }
                hosts += 1;
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let length = parse_content_length(value)?;
                if content_length.is_some_and(|seen| seen != length) {
                    return Err(ParseError::InvalidContentLength);
                }
                content_length = Some(length);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                check_transfer_coding(value)?;
                if transfer_encoding {
                    // `chunked` twice: the body would be chunked twice (RFC 9112 §6.1).
                    return Err(ParseError::UnsupportedTransferCoding);
                }
                transfer_encoding = true;
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in comma_list(value) {
                    connection_close |= token.eq_ignore_ascii_case(b"close");
                    connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            // RFC 9110 §10.1.1: an HTTP/1.0 request's expectation MUST be ignored.
            6 if name.eq_ignore_ascii_case(b"expect") && version == Version::HTTP_11 => {
                if !trim(value).eq_ignore_ascii_case(b"100-continue") {
                    return Err(ParseError::ExpectationFailed);
                }
                expect_continue = true;
            }
            // The first `x-request-id` names the request, as Ray Serve reads it.
            12 if name.eq_ignore_ascii_case(b"x-request-id") && !request_id_seen => {
                request_id_seen = true;
                let value = trim(value);
                let usable = !value.is_empty()
                    && value.len() <= REQUEST_ID_BYTES_MAX
                    && value.iter().all(u8::is_ascii_graphic);
                if usable {
                    request_id = Some(Span::within(buf, value));
                }
            }
            // W3C Trace Context: one `traceparent` field; with several, none is used.
            11 if name.eq_ignore_ascii_case(b"traceparent") => {
                // Its place among the fields: `HEADERS_COUNT_CEILING` fits a byte.
                let position = u8::try_from(spans.len() - 1).ok();
                trace_parent = match trace_parent {
                    None => Some(position),
                    Some(_) => Some(None),
                };
            }
            25 if name.eq_ignore_ascii_case(b"x-request-timeout-seconds") => {
                timeout_override = parse_timeout_override(value)?;
            }
            _ => {}
        }
    }
    // RFC 9112 §3.2: a 1.1 request without Host, or any request with several, gets 400.
    if hosts > 1 {
        return Err(ParseError::DuplicateHost);
    }
    if hosts == 0 && version == Version::HTTP_11 {
        return Err(ParseError::MissingHost);
    }
    let framing = match (transfer_encoding, content_length) {
        (true, Some(_)) => return Err(ParseError::LengthAndTransferEncoding),
        (true, None) if version == Version::HTTP_10 => {
            return Err(ParseError::TransferEncodingOnHttp10);
        }
        (true, None) => BodyFraming::Chunked,
        (false, Some(0)) | (false, None) => BodyFraming::None,
        (false, Some(length)) => BodyFraming::Length(length),
    };
    if let BodyFraming::Length(length) = framing
        && length > limits.body_bytes_max as u64
    {
        return Err(ParseError::BodyTooLarge);
    }
    let keep_alive = match version {
        Version::HTTP_11 => !connection_close,
        _ => connection_keep_alive && !connection_close,
    };
    Ok(Fields {
        spans,
        framing,
        keep_alive,
        expect_continue,
        request_id,
        trace_parent: trace_parent.flatten(),
        timeout_override,
    })
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6); a list of identical values is accepted as one.
fn parse_content_length(value: &[u8]) -> Result<u64, ParseError> {
    let mut length: Option<u64> = None;
    for item in comma_list_keep_empty(value) {
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) || item.len() > 19 {
            return Err(ParseError::InvalidContentLength);
        }
        let parsed = item
            .iter()
            .fold(0u64, |total, digit| total * 10 + u64::from(digit - b'0'));
        if length.is_some_and(|seen| seen != parsed) {
            return Err(ParseError::InvalidContentLength);
        }
        length = Some(parsed);
    }
    length.ok_or(ParseError::InvalidContentLength)
}

/// Only `chunked`, alone, is supported (RFC 9112 §6.1: any other coding gets 501).
fn check_transfer_coding(value: &[u8]) -> Result<(), ParseError> {
    let mut codings = comma_list(value);
    match (codings.next(), codings.next()) {
        (Some(coding), None) if coding.eq_ignore_ascii_case(b"chunked") => Ok(()),
        _ => Err(ParseError::UnsupportedTransferCoding),
    }
}

/// `x-request-timeout-seconds`: a positive decimal number of seconds, or `0` / `none` to
/// disable the timeout for this request.
fn parse_timeout_override(value: &[u8]) -> Result<TimeoutOverride, ParseError> {
    let text = std::str::from_utf8(trim(value)).map_err(|_| ParseError::BadTimeoutHeader)?;
    if text.eq_ignore_ascii_case("none") {
        return Ok(TimeoutOverride::Disable);
    }
    let plain_decimal = !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'.')
        && text.bytes().filter(|&byte| byte == b'.').count() <= 1;
    let seconds: f64 = match plain_decimal.then(|| text.parse::<f64>()) {
        Some(Ok(seconds)) if seconds <= TIMEOUT_OVERRIDE_SECONDS_MAX => seconds,
        _ => return Err(ParseError::BadTimeoutHeader),
    };
    if seconds == 0.0 {
        Ok(TimeoutOverride::Disable)
    } else {
        Ok(TimeoutOverride::Shorten(Duration::from_secs_f64(seconds)))
    }
}

/// Non-empty, whitespace-trimmed items of a comma-separated header value.
fn comma_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    comma_list_keep_empty(value).filter(|item| !item.is_empty())
}

fn comma_list_keep_empty(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&byte| byte == b',').map(trim)
}

fn trim(value: &[u8]) -> &[u8] {
    value.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Option<RequestHead>, ParseError> {
        parse_head(bytes, &Limits::default())
    }

    fn complete(bytes: &[u8]) -> RequestHead {
        parse(bytes).expect("valid head").expect("complete head")
    }

    #[test]
    fn simple_get() {
        let bytes = b"GET /hello?name=x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
        let head = complete(bytes);
        assert_eq!(head.head_len, bytes.len());
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.path.str_of(bytes), "/hello");
        assert_eq!(head.query.unwrap().str_of(bytes), "name=x");
        assert_eq!(head.headers.len(), 2);
        assert_eq!(head.headers[1].name.str_of(bytes), "Accept");
        assert_eq!(head.headers[1].value.str_of(bytes), "*/*");
        assert_eq!(head.framing, BodyFraming::None);
        assert!(head.keep_alive);
        assert!(!head.expect_continue);
    }

    #[test]
    fn every_prefix_of_a_valid_head_is_incomplete() {
        let bytes = b"POST /items HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
        for end in 0..bytes.len() {
            assert!(
                parse(&bytes[..end]).unwrap().is_none(),
                "prefix of {end} bytes"
            );
        }
        assert_eq!(complete(bytes).framing, BodyFraming::Length(3));
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let bytes = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(complete(bytes).path.str_of(bytes), "/");
    }

    #[test]
    fn http10_closes_unless_keep_alive_is_asked() {
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(
            !complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, Close\r\n\r\n")
                .keep_alive
        );
    }

    #[test]
    fn host_rules() {
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n\r\n").unwrap_err(),
            ParseError::MissingHost
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").unwrap_err(),
            ParseError::DuplicateHost
        );
        assert!(parse(b"GET / HTTP/1.0\r\n\r\n").is_ok());
    }

    #[test]
    fn body_framing_and_smuggling_defences() {
        let chunked = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n";
        assert_eq!(complete(chunked).framing, BodyFraming::Chunked);
        let cases: [(&[u8], ParseError); 9] = [
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                ParseError::LengthAndTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                ParseError::UnsupportedTransferCoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                ParseError::UnsupportedTransferCoding,
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                ParseError::TransferEncodingOnHttp10,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n",
                ParseError::BodyTooLarge,
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                parse(bytes).unwrap_err(),
                expected,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        let same_twice =
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\n";
        assert_eq!(complete(same_twice).framing, BodyFraming::Length(3));
    }

    #[test]
    fn limits_are_enforced_on_partial_input() {
        let limits = Limits {
            head_bytes_max: 256,
            uri_bytes_max: 32,
            headers_count_max: 3,
            ..Limits::default()
        };
        let long_uri = format!("GET /{} HTTP/1.1\r\n", "a".repeat(40));
        assert_eq!(
            parse_head(long_uri.as_bytes(), &limits).unwrap_err(),
            ParseError::UriTooLong
        );
        let unfinished_uri = format!("GET /{}", "a".repeat(200));
        assert_eq!(
            parse_head(unfinished_uri.as_bytes(), &limits).unwrap_err(),
            ParseError::UriTooLong
        );
        let big_head = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "b".repeat(300));
        assert_eq!(
            parse_head(big_head.as_bytes(), &limits).unwrap_err(),
            ParseError::HeadTooLarge
        );
        let many = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            parse_head(many, &limits).unwrap_err(),
            ParseError::TooManyHeaders
        );
    }

    #[test]
    fn malformed_heads_and_versions() {
        assert_eq!(
            parse(b"GET / HTTP/2.0\r\n\r\n").unwrap_err(),
            ParseError::VersionNotSupported
        );
        assert_eq!(
            parse(b"GET / FOO\r\n\r\n").unwrap_err(),
            ParseError::Malformed
        );
        assert_eq!(
            parse(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            ParseError::Malformed
        );
        assert_eq!(
            parse(b"GET  / HTTP/1.1\r\n\r\n").unwrap_err(),
            ParseError::Malformed
        );
        assert_eq!(
            parse(b"G\x01T / HTTP/1.1\r\n\r\n").unwrap_err(),
            ParseError::Malformed
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n").unwrap_err(),
            ParseError::Malformed
        );
        assert_eq!(
            parse(b"GET x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            ParseError::BadTarget
        );
        assert_eq!(
            parse(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            ParseError::BadTarget
        );
    }

    #[test]
    fn absolute_form_targets() {
        let bytes = b"GET http://example.com:8000/a/b?c=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let head = complete(bytes);
        assert_eq!(head.path.str_of(bytes), "/a/b");
        assert_eq!(head.query.unwrap().str_of(bytes), "c=1");
        let bare = b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n";
        assert!(complete(bare).path.is_empty());
        let options = b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(complete(options).path.str_of(options), "*");
    }

    #[test]
    fn expectations() {
        let bytes =
            b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n";
        assert!(complete(bytes).expect_continue);
        assert_eq!(
            parse(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n").unwrap_err(),
            ParseError::ExpectationFailed
        );
        assert!(!complete(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    }

    #[test]
    fn the_one_traceparent_field_is_found_and_two_are_none() {
        let one = b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\ntraceparent: 00-ab-cd-01\r\n\r\n";
        let head = complete(one);
        let field = &head.headers[usize::from(head.trace_parent.unwrap())];
        assert_eq!(field.value.of(one), b"00-ab-cd-01");
        let two = b"GET / HTTP/1.1\r\nHost: a\r\ntraceparent: x\r\nTraceparent: y\r\n\r\n";
        assert_eq!(complete(two).trace_parent, None);
        assert_eq!(
            complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").trace_parent,
            None
        );
    }

    #[test]
    fn request_id_and_timeout_headers() {
        let bytes = b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id:  abc-123 \r\nx-request-timeout-seconds: 0.5\r\n\r\n";
        let head = complete(bytes);
        assert_eq!(head.request_id.unwrap().str_of(bytes), "abc-123");
        assert_eq!(
            head.timeout_override,
            TimeoutOverride::Shorten(Duration::from_millis(500))
        );
        let disable = b"GET / HTTP/1.1\r\nHost: a\r\nx-request-timeout-seconds: 0\r\n\r\n";
        assert_eq!(complete(disable).timeout_override, TimeoutOverride::Disable);
        let bad = b"GET / HTTP/1.1\r\nHost: a\r\nx-request-timeout-seconds: -1\r\n\r\n";
        assert_eq!(parse(bad).unwrap_err(), ParseError::BadTimeoutHeader);
        let too_long = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nx-request-id: {}\r\n\r\n",
            "i".repeat(REQUEST_ID_BYTES_MAX + 1)
        );
        assert_eq!(complete(too_long.as_bytes()).request_id, None);
    }

    #[test]
    fn resumable_parsing_agrees_with_a_full_parse_at_every_split() {
        let bytes = b"\r\nPOST /a?b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok";
        let full = complete(bytes);
        for step in 1..=bytes.len() {
            let mut scanned = 0;
            let mut end = 0;
            let found = loop {
                end = (end + step).min(bytes.len());
                let parsed = parse_head_resumable(&bytes[..end], &mut scanned, &Limits::default());
                if let Some(head) = parsed.unwrap() {
                    break head;
                }
                assert!(scanned <= end);
                assert!(end < bytes.len(), "never completed with step {step}");
            };
            assert_eq!(found.head_len, full.head_len);
            assert_eq!(found.framing, full.framing);
        }
    }

    /// The answer the connection loop gets for `bytes` sent in one read, asserted to be the
    /// same when they come byte by byte and when they are split in two at every offset.
    fn answer_at_every_split(bytes: &[u8], limits: &Limits) -> String {
        fn answer(bytes: &[u8], ends: &[usize], limits: &Limits) -> String {
            let mut scanned = 0;
            for &end in ends {
                match parse_head_resumable(&bytes[..end], &mut scanned, limits) {
                    Ok(None) => {}
                    Ok(Some(head)) => return format!("{head:?}"),
                    Err(error) => return format!("{error:?}"),
                }
            }
            "incomplete".to_owned()
        }
        let one_read = answer(bytes, &[bytes.len()], limits);
        let byte_by_byte: Vec<usize> = (1..=bytes.len()).collect();
        assert_eq!(
            answer(bytes, &byte_by_byte, limits),
            one_read,
            "byte by byte"
        );
        for split in 1..bytes.len() {
            assert_eq!(
                answer(bytes, &[split, bytes.len()], limits),
                one_read,
                "split at {split} of {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        one_read
    }

    /// Found by the fuzz target `head` (tests/fuzz.rs): httparse judged an unfinished last line
    /// only when it came in the same read as an earlier line's end, so a head's answer
    /// depended on where reads were cut — 400 at once in one cut, a wait for more in another;
    /// 505 or 400 for a version ended by a bare CR; a too-long request line refused or served.
    #[test]
    fn the_answer_does_not_depend_on_where_reads_are_cut() {
        let limits = Limits {
            head_bytes_max: 200,
            uri_bytes_max: 40,
            headers_count_max: 6,
            ..Limits::default()
        };
        let malformed = format!("{:?}", ParseError::Malformed);
        let cases: [(Vec<u8>, String); 9] = [
            // A bare CR in an unfinished line.
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\xff".to_vec(),
                malformed.clone(),
            ),
            // A bare CR after leading empty lines.
            (
                b"\r\n\r\n\rGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
                malformed.clone(),
            ),
            // A request line ended by a bare CR is no version.
            (
                b"GET / HTTP/2.0\rx\r\nHost: a\r\n\r\n".to_vec(),
                malformed.clone(),
            ),
            (
                b"GET / HTTP/1.1\rx\r\nHost: a\r\n\r\n".to_vec(),
                malformed.clone(),
            ),
            (
                b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(),
                format!("{:?}", ParseError::VersionNotSupported),
            ),
            // A control byte in a complete line, then more lines.
            (
                b"GET / HTTP/1.1\r\nX: \x01\r\nHost: a\r\n\r\n".to_vec(),
                malformed,
            ),
            // A request line longer than the target limit allows, with a short target.
            (
                format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(120)).into_bytes(),
                format!("{:?}", ParseError::UriTooLong),
            ),
            // A head past the head limit with a bad line after the limit.
            (
                format!(
                    "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\nY\r\n\r\n",
                    "v".repeat(200)
                )
                .into_bytes(),
                format!("{:?}", ParseError::HeadTooLarge),
            ),
            // Many empty lines first are not a long request line.
            (
                format!("{}GET / HTTP/1.1\r\nHost: a\r\n", "\r\n".repeat(60)).into_bytes(),
                "incomplete".to_owned(),
            ),
        ];
        for (bytes, expected) in &cases {
            assert_eq!(
                &answer_at_every_split(bytes, &limits),
                expected,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let served = b"\r\nGET /a?b HTTP/1.2\r\nHost: a\r\nContent-Length: 2\r\n\r\nok\x01";
        assert!(answer_at_every_split(served, &limits).starts_with("RequestHead"));
    }

    #[test]
    fn resumable_parsing_enforces_limits_on_partial_heads() {
        let limits = Limits {
            head_bytes_max: 256,
            uri_bytes_max: 32,
            ..Limits::default()
        };
        let mut scanned = 0;
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n", "a".repeat(40));
        assert_eq!(
            parse_head_resumable(long_target.as_bytes(), &mut scanned, &limits).unwrap_err(),
            ParseError::UriTooLong
        );
        let mut scanned = 0;
        let unfinished = format!("GET /{}", "a".repeat(200));
        assert_eq!(
            parse_head_resumable(unfinished.as_bytes(), &mut scanned, &limits).unwrap_err(),
            ParseError::UriTooLong
        );
        let mut scanned = 0;
        let big = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "b".repeat(300));
        assert_eq!(
            parse_head_resumable(big.as_bytes(), &mut scanned, &limits).unwrap_err(),
            ParseError::HeadTooLarge
        );
    }

    #[test]
    fn resumable_parsing_refuses_garbage_before_any_line_ends() {
        let mut scanned = 0;
        let tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
        assert_eq!(
            parse_head_resumable(tls_hello, &mut scanned, &Limits::default()).unwrap_err(),
            ParseError::Malformed
        );
    }

    #[test]
    fn seventeen_headers_spill_but_parse() {
        let mut bytes = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for index in 0..20 {
            bytes.extend_from_slice(format!("X-{index}: {index}\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        let head = complete(&bytes);
        assert_eq!(head.headers.len(), 21);
        assert_eq!(head.headers[20].value.str_of(&bytes), "19");
    }
}
