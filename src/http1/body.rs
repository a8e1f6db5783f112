//! Request body framing for HTTP/1.1: how a request's body is delimited ([`BodyFraming`]) and
//! the decoder that removes the chunked transfer coding ([`ChunkedDecoder`], RFC 9112 §7.1).
//!
//! The decoder is an explicit state machine, so input may be split at any byte boundary: a
//! chunk-size line, a CRLF or a trailer line cut in two is resumed from the state, never
//! re-read.
//!
//! Invariant: the decoder never consumes past the body's end. When it reports `done`, the next
//! byte of the input is the first byte of the next (pipelined) request. Partial input is ordinary
//! progress, not an error: every byte given is consumed and the caller feeds the next read.
//!
//! Framing is parsed strictly, because two parsers that disagree on where a chunked body ends
//! let a client smuggle a request past one of them (RFC 9112 §11.2). Anything outside the
//! grammar, a bare LF included, is [`ParseError::BadChunk`].

use bytes::BytesMut;

use crate::http1::reject::ParseError;
use crate::limits::{CHUNK_LINE_BYTES_MAX, TRAILER_BYTES_MAX};

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: "If this is a request message and none of the above are true, then the message
    /// body length is zero" (§6.3 point 7).
    None,
    /// Exactly this many bytes: "If a valid Content-Length header field is present without
    /// Transfer-Encoding, its decimal value defines the expected message body length in octets"
    /// (§6.3 point 6).
    Length(u64),
    /// Chunked: the body is "determined by reading and decoding the chunked data until the
    /// transfer coding indicates the data is complete" (§6.3 point 4).
    Chunked,
}

/// Progress of one [`ChunkedDecoder::decode`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedProgress {
    /// Input bytes consumed by this call.
    pub consumed: usize,
    /// Whether the last chunk and the trailer section, up to its final CRLF, have been seen.
    pub done: bool,
}

/// Where the decoder is in the chunked body. The grammar (RFC 9112 §7.1):
///
/// ```text
/// chunked-body   = *chunk
///                  last-chunk
///                  trailer-section
///                  CRLF
///
/// chunk          = chunk-size [ chunk-ext ] CRLF
///                  chunk-data CRLF
/// chunk-size     = 1*HEXDIG
/// last-chunk     = 1*("0") [ chunk-ext ] CRLF
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk-size: `value` so far, and whether a digit was read.
    SizeDigits { value: u64, any_digit: bool },
    /// After the chunk-size, in whitespace that must lead to a `;`.
    SizeWhitespace { size: u64 },
    /// In the chunk extensions, up to the CR that ends the chunk-size line.
    Extensions { size: u64 },
    /// Saw the CR that ends the chunk-size line; the LF must follow.
    SizeLineLf { size: u64 },
    /// Copying chunk data: `remaining` bytes of this chunk are still to come.
    Data { remaining: u64 },
    /// After the chunk data: its CR must follow.
    DataCr,
    /// After the chunk data and its CR: the LF must follow.
    DataLf,
    /// In a line of the trailer section; `started` once the line has some content.
    TrailerLine { started: bool },
    /// Saw the CR that ends a trailer field line; the LF must follow.
    TrailerLineLf,
    /// Saw the CR of the empty line that ends the trailer section; the LF must follow.
    FinalLf,
    /// The whole chunked body has been read.
    Done,
    /// The body was refused; every later call returns this error again.
    Failed(ParseError),
}

/// Where the content of a line (chunk extensions or a trailer field line) stops in one input.
enum LineContent {
    /// All these bytes are content: the line goes on in the next input.
    Continues(usize),
    /// These many content bytes, then the CR that ends the line.
    EndsAtCr(usize),
}

/// Decoder of the chunked transfer coding: feed it the request's bytes as they arrive.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// Data bytes decoded so far; never above `body_bytes_max`.
    body_len: u64,
    body_bytes_max: u64,
    /// Bytes of the current chunk-size line so far, without its CRLF.
    size_line_bytes: usize,
    /// Bytes of the trailer section so far, CRLFs included.
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    /// `body_bytes_max`: the most decoded data bytes accepted; more is
    /// [`ParseError::BodyTooLarge`].
    pub fn new(body_bytes_max: usize) -> Self {
        Self {
            state: State::SizeDigits {
                value: 0,
                any_digit: false,
            },
            body_len: 0,
            body_bytes_max: u64::try_from(body_bytes_max).unwrap_or(u64::MAX),
            size_line_bytes: 0,
            trailer_bytes: 0,
        }
    }

    /// Decodes as much of `input` as it can, appending chunk data bytes to `out`.
    ///
    /// Returns how many input bytes were consumed and whether the last chunk and the trailer
    /// section, ending in the empty line, have been fully seen. When `done`, `consumed` stops
    /// exactly after the final CRLF: the bytes after it (a pipelined next request) are not
    /// consumed. When not done, all of `input` is consumed: partial lines are kept in the state.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
    ) -> Result<ChunkedProgress, ParseError> {
        let mut consumed = 0;
        loop {
            let rest = input.get(consumed..).unwrap_or_default();
            match self.step(rest, out) {
                Ok(0) => break,
                Ok(stepped) => consumed += stepped,
                Err(error) => {
                    self.state = State::Failed(error);
                    return Err(error);
                }
            }
        }
        debug_assert!(consumed <= input.len(), "consumed past the input");
        debug_assert!(
            self.state == State::Done || consumed == input.len(),
            "partial input is consumed whole"
        );
        Ok(ChunkedProgress {
            consumed,
            done: self.state == State::Done,
        })
    }

    /// Total data bytes decoded so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Whether the last chunk and the trailer section have been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Advances over the start of `rest` and returns how many bytes it consumed: at least one,
    /// or zero only when `rest` is empty or the body is done. That keeps `decode`'s loop bounded
    /// by the input length.
    fn step(&mut self, rest: &[u8], out: &mut BytesMut) -> Result<usize, ParseError> {
        let Some(&byte) = rest.first() else {
            return Ok(0);
        };
        match self.state {
            State::SizeDigits { value, any_digit } => self.on_size_byte(value, any_digit, byte),
            State::SizeWhitespace { size } => self.on_whitespace_byte(size, byte),
            State::Extensions { size } => self.skip_extensions(size, rest),
            State::SizeLineLf { size } => self.on_size_line_lf(size, byte),
            State::Data { remaining } => Ok(self.copy_data(remaining, rest, out)),
            State::DataCr => self.expect_byte(byte, CR, State::DataLf),
            State::DataLf => self.expect_byte(
                byte,
                LF,
                State::SizeDigits {
                    value: 0,
                    any_digit: false,
                },
            ),
            State::TrailerLine { started } => self.skip_trailer_line(started, rest),
            State::TrailerLineLf => {
                self.count_trailer_bytes(1)?;
                self.expect_byte(byte, LF, State::TrailerLine { started: false })
            }
            State::FinalLf => {
                self.count_trailer_bytes(1)?;
                self.expect_byte(byte, LF, State::Done)
            }
            State::Done => Ok(0),
            State::Failed(error) => Err(error),
        }
    }

    /// One byte of a chunk-size line while the size is being read.
    /// RFC 9112 §7.1: `chunk-size = 1*HEXDIG`; "Recipients MUST anticipate potentially large
    /// hexadecimal numerals and prevent parsing errors due to integer conversion overflows".
    /// Only a size past `u64` is refused: leading zeros are digits like any other, bounded by
    /// the chunk-line limit.
    fn on_size_byte(&mut self, value: u64, any_digit: bool, byte: u8) -> Result<usize, ParseError> {
        let Some(digit) = hex_digit_value(byte) else {
            if !any_digit {
                return Err(ParseError::BadChunk);
            }
            return self.on_size_end_byte(value, byte);
        };
        let value = value
            .checked_mul(16)
            .and_then(|shifted| shifted.checked_add(digit))
            .ok_or(ParseError::BadChunk)?;
        self.count_size_line_bytes(1)?;
        self.state = State::SizeDigits {
            value,
            any_digit: true,
        };
        Ok(1)
    }

    /// The first byte after the size digits: the CR ending the line, or what may lead to
    /// extensions.
    fn on_size_end_byte(&mut self, size: u64, byte: u8) -> Result<usize, ParseError> {
        if byte == CR {
            self.state = State::SizeLineLf { size };
            return Ok(1);
        }
        self.on_whitespace_byte(size, byte)
    }

    /// Whitespace before the `;` of a chunk extension, or that `;`. RFC 9112 §7.1.1:
    /// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`, and BWS is
    /// `*( SP / HTAB )` (RFC 9110 §5.6.3). Whitespace not followed by `;` is outside the grammar.
    fn on_whitespace_byte(&mut self, size: u64, byte: u8) -> Result<usize, ParseError> {
        self.state = match byte {
            b' ' | b'\t' => State::SizeWhitespace { size },
            b';' => State::Extensions { size },
            _ => return Err(ParseError::BadChunk),
        };
        self.count_size_line_bytes(1)?;
        Ok(1)
    }

    /// Skips chunk extensions up to the CR ending the chunk-size line. RFC 9112 §7.1.1: "A
    /// recipient MUST ignore unrecognized chunk extensions." None is recognized, so the bytes
    /// are only checked to be line content.
    fn skip_extensions(&mut self, size: u64, rest: &[u8]) -> Result<usize, ParseError> {
        let budget = CHUNK_LINE_BYTES_MAX.saturating_sub(self.size_line_bytes);
        match scan_line_content(rest, budget)? {
            LineContent::Continues(len) => {
                self.count_size_line_bytes(len)?;
                Ok(len)
            }
            LineContent::EndsAtCr(len) => {
                self.count_size_line_bytes(len)?;
                self.state = State::SizeLineLf { size };
                Ok(len + 1)
            }
        }
    }

    /// The LF ending a chunk-size line. A size of zero is the last chunk, followed by the trailer
    /// section; any other size must fit in what is left of the body limit, checked now, before
    /// the data arrives.
    fn on_size_line_lf(&mut self, size: u64, byte: u8) -> Result<usize, ParseError> {
        if byte != LF {
            return Err(ParseError::BadChunk);
        }
        self.size_line_bytes = 0;
        self.state = if size == 0 {
            State::TrailerLine { started: false }
        } else if size > self.body_bytes_max.saturating_sub(self.body_len) {
            return Err(ParseError::BodyTooLarge);
        } else {
            State::Data { remaining: size }
        };
        Ok(1)
    }

    /// Copies as much of the current chunk's data as `rest` holds to `out`, in one slice.
    fn copy_data(&mut self, remaining: u64, rest: &[u8], out: &mut BytesMut) -> usize {
        let data = prefix(rest, usize::try_from(remaining).unwrap_or(usize::MAX));
        out.extend_from_slice(data);
        let copied = data.len() as u64;
        self.body_len += copied;
        debug_assert!(
            self.body_len <= self.body_bytes_max,
            "a chunk is checked against the body limit before its data"
        );
        self.state = match remaining - copied {
            0 => State::DataCr,
            remaining => State::Data { remaining },
        };
        data.len()
    }

    /// Skips a line of the trailer section up to its CR. RFC 9112 §7.1.2:
    /// `trailer-section = *( field-line CRLF )`, and the chunked body ends with a CRLF: an empty
    /// line. Field lines are only checked to be line content, then discarded.
    fn skip_trailer_line(&mut self, started: bool, rest: &[u8]) -> Result<usize, ParseError> {
        let budget = TRAILER_BYTES_MAX.saturating_sub(self.trailer_bytes);
        match scan_line_content(rest, budget)? {
            LineContent::Continues(len) => {
                self.count_trailer_bytes(len)?;
                self.state = State::TrailerLine { started: true };
                Ok(len)
            }
            LineContent::EndsAtCr(len) => {
                self.count_trailer_bytes(len + 1)?;
                self.state = if started || len > 0 {
                    State::TrailerLineLf
                } else {
                    State::FinalLf
                };
                Ok(len + 1)
            }
        }
    }

    /// Consumes `byte` if it is `wanted` and moves to `next`. The CRLFs of the framing are
    /// matched exactly. RFC 9112 §2.2 lets a recipient accept a bare LF as a line terminator;
    /// this one does not, since a peer that framed the bytes differently is a smuggling vector.
    /// RFC 9112 §2.2 on a bare CR: "A recipient of such a bare CR MUST consider that element to
    /// be invalid".
    fn expect_byte(&mut self, byte: u8, wanted: u8, next: State) -> Result<usize, ParseError> {
        if byte != wanted {
            return Err(ParseError::BadChunk);
        }
        self.state = next;
        Ok(1)
    }

    fn count_size_line_bytes(&mut self, len: usize) -> Result<(), ParseError> {
        self.size_line_bytes = add_within(self.size_line_bytes, len, CHUNK_LINE_BYTES_MAX)?;
        Ok(())
    }

    fn count_trailer_bytes(&mut self, len: usize) -> Result<(), ParseError> {
        self.trailer_bytes = add_within(self.trailer_bytes, len, TRAILER_BYTES_MAX)?;
        Ok(())
    }
}

/// `total + len`, or `BadChunk` when that is above `max`.
fn add_within(total: usize, len: usize, max: usize) -> Result<usize, ParseError> {
    total
        .checked_add(len)
        .filter(|&sum| sum <= max)
        .ok_or(ParseError::BadChunk)
}

/// Finds where the line content at the start of `rest` stops, looking at no more than
/// `budget + 1` bytes so that a line over its budget is refused without being read to its end.
/// A line stops at its CR; a LF or another control character there is `BadChunk`.
fn scan_line_content(rest: &[u8], budget: usize) -> Result<LineContent, ParseError> {
    let window = prefix(rest, budget.saturating_add(1));
    let len = window
        .iter()
        .position(|&byte| !is_line_content(byte))
        .unwrap_or(window.len());
    if len > budget {
        return Err(ParseError::BadChunk);
    }
    match rest.get(len) {
        None => Ok(LineContent::Continues(len)),
        Some(&CR) => Ok(LineContent::EndsAtCr(len)),
        Some(_) => Err(ParseError::BadChunk),
    }
}

/// Bytes allowed inside a chunk extension or a trailer line: anything but control characters,
/// HTAB excepted. CR and LF are control characters, so a line cannot hide a line break.
fn is_line_content(byte: u8) -> bool {
    byte == b'\t' || !byte.is_ascii_control()
}

/// The value of a hex digit (`HEXDIG`, either case), or `None` for any other byte.
fn hex_digit_value(byte: u8) -> Option<u64> {
    char::from(byte).to_digit(16).map(u64::from)
}

/// The first `len` bytes of `bytes`, or all of them when there are fewer.
fn prefix(bytes: &[u8], len: usize) -> &[u8] {
    bytes.split_at(len.min(bytes.len())).0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generous limit for the fixtures that do not test it.
    const BODY_MAX: usize = 1 << 20;

    /// Everything observable after feeding a decoder some pieces of input, the way the engine
    /// does: append each read to a buffer, decode it, drop the consumed bytes.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        result: Result<(), ParseError>,
        body: Vec<u8>,
        done: bool,
        /// Bytes left unconsumed at the end (not meaningful after an error: left empty).
        leftover: Vec<u8>,
        body_len: u64,
    }

    fn feed<'a>(pieces: impl IntoIterator<Item = &'a [u8]>, body_max: usize) -> Outcome {
        let mut decoder = ChunkedDecoder::new(body_max);
        let mut pending = Vec::new();
        let mut body = BytesMut::new();
        let mut done = false;
        for piece in pieces {
            pending.extend_from_slice(piece);
            match decoder.decode(&pending, &mut body) {
                Ok(progress) => {
                    assert!(progress.consumed <= pending.len());
                    if !progress.done {
                        assert_eq!(progress.consumed, pending.len(), "not done: all consumed");
                    }
                    pending.drain(..progress.consumed);
                    done = progress.done;
                }
                Err(error) => {
                    return Outcome {
                        result: Err(error),
                        body: body.to_vec(),
                        done: false,
                        leftover: Vec::new(),
                        body_len: decoder.body_len(),
                    };
                }
            }
        }
        Outcome {
            result: Ok(()),
            body: body.to_vec(),
            done,
            leftover: pending,
            body_len: decoder.body_len(),
        }
    }

    /// Feeds `input` at once, split in two at every offset, and byte by byte; asserts all give
    /// the same outcome and returns it.
    fn decode_every_split(input: &[u8], body_max: usize) -> Outcome {
        let whole = feed([input], body_max);
        for offset in 0..=input.len() {
            let (head, tail) = input.split_at(offset);
            assert_eq!(feed([head, tail], body_max), whole, "split at {offset}");
        }
        assert_eq!(feed(input.chunks(1), body_max), whole, "byte by byte");
        whole
    }

    fn assert_decodes(input: &[u8], body: &[u8], leftover: &[u8]) {
        let outcome = decode_every_split(input, BODY_MAX);
        assert_eq!(outcome.result, Ok(()));
        assert!(outcome.done);
        assert_eq!(outcome.body, body);
        assert_eq!(outcome.body_len, body.len() as u64);
        assert_eq!(outcome.leftover, leftover);
    }

    fn assert_refused_with_limit(input: &[u8], body_max: usize, error: ParseError) {
        assert_eq!(decode_every_split(input, body_max).result, Err(error));
    }

    fn assert_bad_chunk(input: &[u8]) {
        assert_refused_with_limit(input, BODY_MAX, ParseError::BadChunk);
    }

    fn chunk_line_of_len(len: usize) -> Vec<u8> {
        let mut line = b"5;x=".to_vec();
        line.resize(len, b'a');
        line.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        line
    }

    fn trailer_section_of_len(len: usize) -> Vec<u8> {
        // "X: " + value + CRLF + final CRLF.
        let mut body = b"0\r\nX: ".to_vec();
        body.resize(b"0\r\n".len() + len - 4, b'v');
        body.extend_from_slice(b"\r\n\r\n");
        body
    }

    #[test]
    fn simple_body() {
        assert_decodes(b"5\r\nhello\r\n0\r\n\r\n", b"hello", b"");
    }

    #[test]
    fn several_chunks() {
        assert_decodes(
            b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n",
            b"hello world",
            b"",
        );
    }

    #[test]
    fn data_may_hold_crlf_and_any_byte() {
        assert_decodes(b"6\r\n\r\n\n\r\0\xff\r\n0\r\n\r\n", b"\r\n\n\r\0\xff", b"");
    }

    #[test]
    fn extensions_are_ignored() {
        assert_decodes(
            b"5;name=value\r\nhello\r\n6 \t; a=\"q s\";b;c=\x80\xff\r\n world\r\n0;last\r\n\r\n",
            b"hello world",
            b"",
        );
    }

    #[test]
    fn trailers_are_discarded() {
        assert_decodes(
            b"5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:\t1 \r\n\r\n",
            b"hello",
            b"",
        );
    }

    #[test]
    fn hex_sizes_in_either_case() {
        let mut input = b"a\r\n0123456789\r\nA\r\n0123456789\r\n1f\r\n".to_vec();
        input.extend_from_slice(&[b'z'; 31]);
        input.extend_from_slice(b"\r\n1F\r\n");
        input.extend_from_slice(&[b'Z'; 31]);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        let mut body = b"01234567890123456789".to_vec();
        body.extend_from_slice(&[b'z'; 31]);
        body.extend_from_slice(&[b'Z'; 31]);
        assert_decodes(&input, &body, b"");
    }

    #[test]
    fn leading_zeros() {
        assert_decodes(b"0005\r\nhello\r\n000\r\n\r\n", b"hello", b"");
        assert_decodes(
            b"000000000000000a\r\n0123456789\r\n0000000000000000\r\n\r\n",
            b"0123456789",
            b"",
        );
    }

    #[test]
    fn empty_body() {
        assert_decodes(b"0\r\n\r\n", b"", b"");
    }

    #[test]
    fn pipelined_bytes_after_the_end_are_not_consumed() {
        assert_decodes(
            b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"abc",
            b"GET / HTTP/1.1\r\n\r\n",
        );
        assert_decodes(b"0\r\nX: y\r\n\r\n\r\n", b"", b"\r\n");
    }

    #[test]
    fn chunk_line_and_trailer_at_their_limits_are_accepted() {
        assert_decodes(&chunk_line_of_len(CHUNK_LINE_BYTES_MAX), b"hello", b"");
        assert_decodes(&trailer_section_of_len(TRAILER_BYTES_MAX), b"", b"");
    }

    #[test]
    fn body_at_its_limit_is_accepted() {
        let outcome = decode_every_split(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 5);
        assert_eq!(outcome.result, Ok(()));
        assert_eq!(outcome.body, b"abcde");
    }

    #[test]
    fn partial_input_is_consumed_whole() {
        let mut decoder = ChunkedDecoder::new(BODY_MAX);
        let mut out = BytesMut::new();
        let progress = decoder.decode(b"5;ext\r\nhel", &mut out).unwrap();
        assert_eq!(
            progress,
            ChunkedProgress {
                consumed: 10,
                done: false
            }
        );
        assert_eq!(&out[..], b"hel");
        assert_eq!(decoder.body_len(), 3);
        let progress = decoder.decode(b"", &mut out).unwrap();
        assert_eq!(
            progress,
            ChunkedProgress {
                consumed: 0,
                done: false
            }
        );
    }

    #[test]
    fn calls_after_done_consume_nothing() {
        let mut decoder = ChunkedDecoder::new(BODY_MAX);
        let mut out = BytesMut::new();
        let progress = decoder.decode(b"0\r\n\r\nGET", &mut out).unwrap();
        assert_eq!(
            progress,
            ChunkedProgress {
                consumed: 5,
                done: true
            }
        );
        for input in [&b"GET"[..], b"", b"0\r\n\r\n", b"\n"] {
            let progress = decoder.decode(input, &mut out).unwrap();
            assert_eq!(
                progress,
                ChunkedProgress {
                    consumed: 0,
                    done: true
                }
            );
        }
        assert!(out.is_empty());
    }

    #[test]
    fn calls_after_an_error_repeat_it() {
        let mut decoder = ChunkedDecoder::new(BODY_MAX);
        let mut out = BytesMut::new();
        assert_eq!(decoder.decode(b"5\n", &mut out), Err(ParseError::BadChunk));
        assert_eq!(
            decoder.decode(b"0\r\n\r\n", &mut out),
            Err(ParseError::BadChunk)
        );
    }

    #[test]
    fn bare_lf_is_refused() {
        assert_bad_chunk(b"5\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"5;ext\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"5\r\nhello\n0\r\n\r\n");
        assert_bad_chunk(b"0\n\r\n");
        assert_bad_chunk(b"0\r\n\n");
        assert_bad_chunk(b"0\r\nX: y\n\r\n");
        assert_bad_chunk(b"0\r\nX: y\r\n\n");
        assert_bad_chunk(b"\n");
    }

    #[test]
    fn cr_without_lf_is_refused() {
        assert_bad_chunk(b"5\rhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"5;a\rb\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"5\r\nhello\r\r\n0\r\n\r\n");
        assert_bad_chunk(b"0\r\nX: y\rz\r\n\r\n");
        assert_bad_chunk(b"0\r\n\r\r\n");
    }

    #[test]
    fn missing_crlf_after_data_is_refused() {
        assert_bad_chunk(b"5\r\nhelloX\r\n0\r\n\r\n");
        assert_bad_chunk(b"5\r\nhello0\r\n\r\n");
        assert_bad_chunk(b"5\r\nhello\rX");
    }

    #[test]
    fn non_hex_size_is_refused() {
        assert_bad_chunk(b"g\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"0x5\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"-5\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"+5\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"5z\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b" 5\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"5 \r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"5 x\r\nhello\r\n0\r\n\r\n");
    }

    #[test]
    fn empty_size_is_refused() {
        assert_bad_chunk(b"\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b";ext\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"5\r\nhello\r\n\r\n\r\n");
    }

    #[test]
    fn leading_zeros_past_sixteen_digits_are_only_digits() {
        assert_decodes(b"00000000000000000005\r\nhello\r\n0\r\n\r\n", b"hello", b"");
        assert_decodes(b"5\r\nhello\r\n00000000000000000000\r\n\r\n", b"hello", b"");
    }

    #[test]
    fn a_size_line_of_zeros_past_the_line_limit_is_refused() {
        let mut input = vec![b'0'; CHUNK_LINE_BYTES_MAX + 1];
        input.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(&input);
    }

    #[test]
    fn size_overflowing_u64_is_refused() {
        assert_bad_chunk(b"10000000000000000\r\n");
        assert_bad_chunk(b"fffffffffffffffff\r\n");
        assert_bad_chunk(b"00000fffffffffffffffff\r\n");
    }

    #[test]
    fn control_characters_in_extensions_and_trailers_are_refused() {
        assert_bad_chunk(b"5;a\x01\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"5;a\x7f\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(b"0\r\nX: \0\r\n\r\n");
        assert_bad_chunk(b"0\r\n\x1b\r\n\r\n");
    }

    #[test]
    fn chunk_line_too_long_is_refused() {
        assert_bad_chunk(&chunk_line_of_len(CHUNK_LINE_BYTES_MAX + 1));
        let mut spaces = b"5".to_vec();
        spaces.resize(CHUNK_LINE_BYTES_MAX + 1, b' ');
        spaces.extend_from_slice(b";x\r\nhello\r\n0\r\n\r\n");
        assert_bad_chunk(&spaces);
    }

    #[test]
    fn trailer_too_large_is_refused() {
        assert_bad_chunk(&trailer_section_of_len(TRAILER_BYTES_MAX + 1));
        let mut many_lines = b"0\r\n".to_vec();
        for _ in 0..=TRAILER_BYTES_MAX / 5 {
            many_lines.extend_from_slice(b"X:y\r\n");
        }
        many_lines.extend_from_slice(b"\r\n");
        assert_bad_chunk(&many_lines);
    }

    #[test]
    fn body_too_large_is_refused_when_the_size_is_announced() {
        assert_refused_with_limit(b"b\r\n", 10, ParseError::BodyTooLarge);
        assert_refused_with_limit(b"5\r\nhello\r\n6;ext\r\n", 10, ParseError::BodyTooLarge);
        assert_refused_with_limit(b"ffffffffffffffff\r\n", 10, ParseError::BodyTooLarge);
        let outcome = decode_every_split(b"5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n", 10);
        assert_eq!(outcome.result, Err(ParseError::BodyTooLarge));
        assert_eq!(
            outcome.body, b"hello",
            "nothing of the refused chunk is decoded"
        );
    }

    #[test]
    fn body_framing_is_copy_and_comparable() {
        let framing = BodyFraming::Length(5);
        let copy = framing;
        assert_eq!(framing, copy);
        assert_ne!(BodyFraming::None, BodyFraming::Chunked);
    }

    /// Valid bodies that the random tests mutate.
    const FIXTURES: &[&[u8]] = &[
        b"5\r\nhello\r\n0\r\n\r\n",
        b"5;name=value\r\nhello\r\n6 ; a=\"q s\"\r\n world\r\n0;last\r\n\r\n",
        b"3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\nGET / HTTP/1.1\r\n",
        b"A\r\n0123456789\r\n0000\r\n\r\n",
        b"0\r\n\r\n",
    ];

    /// Bytes that matter to the framing, so that random input hits the interesting paths often.
    const FRAMING_BYTES: &[u8] = b"\r\n0159aAfFgG;= \t:\0\x7f\xff";

    /// Cases each random test runs: enough to cover every state, fast in a debug build.
    const RANDOM_CASES: usize = 3000;

    /// SplitMix64 with a fixed seed per test: random-looking cases, the same on every run.
    struct Random(u64);

    impl Random {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut mixed = self.0;
            mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            mixed ^ (mixed >> 31)
        }

        /// A number in `0..bound`; `bound` must not be zero.
        fn below(&mut self, bound: usize) -> usize {
            (self.next_u64() % bound as u64) as usize
        }

        fn chance(&mut self, in_four: usize) -> bool {
            self.below(4) < in_four
        }

        /// A framing byte three times in four, any byte otherwise.
        fn byte(&mut self) -> u8 {
            if self.chance(3) {
                FRAMING_BYTES[self.below(FRAMING_BYTES.len())]
            } else {
                self.next_u64() as u8
            }
        }

        fn bytes(&mut self, len_bound: usize) -> Vec<u8> {
            let len = self.below(len_bound);
            (0..len).map(|_| self.byte()).collect()
        }

        /// Up to five offsets in `0..=len`, increasing.
        fn cuts(&mut self, len: usize) -> Vec<usize> {
            let count = self.below(6);
            let mut cuts: Vec<usize> = (0..count).map(|_| self.below(len + 1)).collect();
            cuts.sort_unstable();
            cuts
        }

        /// A small limit half the time, so that `BodyTooLarge` is reached too.
        fn body_max(&mut self, small_bound: usize) -> usize {
            if self.chance(2) {
                self.below(small_bound)
            } else {
                BODY_MAX
            }
        }

        /// Replaces, inserts or removes one byte.
        fn mutate(&mut self, input: &mut Vec<u8>) {
            match self.below(3) {
                0 if !input.is_empty() => {
                    let at = self.below(input.len());
                    input[at] = self.byte();
                }
                1 if !input.is_empty() => {
                    input.remove(self.below(input.len()));
                }
                _ => {
                    let at = self.below(input.len() + 1);
                    let byte = self.byte();
                    input.insert(at, byte);
                }
            }
        }
    }

    /// Cuts `input` at `cuts`, increasing offsets in `0..=input.len()`.
    fn split_at_cuts<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut pieces = Vec::new();
        let mut start = 0;
        for &cut in cuts {
            pieces.push(&input[start..cut]);
            start = cut;
        }
        pieces.push(&input[start..]);
        pieces
    }

    /// Feeds the pieces; `feed` itself asserts `consumed <= input length` on every call, and a
    /// panic fails the test. Any split must also give what one-shot and byte-by-byte decoding
    /// give.
    fn assert_split_independent(input: &[u8], cuts: &[usize], body_max: usize) {
        let whole = feed([input], body_max);
        assert_eq!(
            feed(split_at_cuts(input, cuts), body_max),
            whole,
            "{input:?} cut at {cuts:?}"
        );
        assert_eq!(
            feed(input.chunks(1), body_max),
            whole,
            "{input:?} byte by byte"
        );
    }

    /// `chunks` in chunked coding, spelled with random choices, then the last chunk.
    fn encode(random: &mut Random, chunks: &[Vec<u8>]) -> Vec<u8> {
        let upper_hex = random.chance(2);
        let zeros = "0".repeat(random.below(4));
        let extension: &[u8] = if random.chance(2) { b" ;n=\"v\"" } else { b"" };
        let mut encoded = Vec::new();
        for chunk in chunks.iter().filter(|chunk| !chunk.is_empty()) {
            let size = if upper_hex {
                format!("{zeros}{:X}", chunk.len())
            } else {
                format!("{zeros}{:x}", chunk.len())
            };
            encoded.extend_from_slice(size.as_bytes());
            encoded.extend_from_slice(extension);
            encoded.extend_from_slice(b"\r\n");
            encoded.extend_from_slice(chunk);
            encoded.extend_from_slice(b"\r\n");
        }
        encoded.extend_from_slice(b"0\r\n");
        if random.chance(2) {
            encoded.extend_from_slice(b"X-Checksum: 42\r\n");
        }
        encoded.extend_from_slice(b"\r\n");
        encoded
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut random = Random(1);
        for _ in 0..RANDOM_CASES {
            let input = random.bytes(128);
            let cuts = random.cuts(input.len());
            let body_max = random.body_max(64);
            assert_split_independent(&input, &cuts, body_max);
        }
    }

    #[test]
    fn mutated_fixtures_never_panic() {
        let mut random = Random(2);
        for _ in 0..RANDOM_CASES {
            let mut input = FIXTURES[random.below(FIXTURES.len())].to_vec();
            for _ in 0..=random.below(3) {
                random.mutate(&mut input);
            }
            let cuts = random.cuts(input.len());
            let body_max = random.body_max(16);
            assert_split_independent(&input, &cuts, body_max);
        }
    }

    #[test]
    fn encoded_bodies_round_trip() {
        let mut random = Random(3);
        for _ in 0..RANDOM_CASES {
            let chunks: Vec<Vec<u8>> = (0..random.below(5))
                .map(|_| {
                    let len = random.below(40);
                    (0..len).map(|_| random.next_u64() as u8).collect()
                })
                .collect();
            let next_request = random.bytes(8);
            let mut input = encode(&mut random, &chunks);
            input.extend_from_slice(&next_request);
            let cuts = random.cuts(input.len());
            let outcome = feed(split_at_cuts(&input, &cuts), BODY_MAX);
            assert_eq!(outcome.result, Ok(()), "{input:?}");
            assert!(outcome.done);
            assert_eq!(outcome.body, chunks.concat());
            assert_eq!(outcome.leftover, next_request);
        }
    }
}
