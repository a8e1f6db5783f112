//! Response compression as a middleware: `Content-Encoding: br` or `gzip`, negotiated from the
//! request's `Accept-Encoding` (RFC 9110 §12.5.3), for whole and streamed bodies.
//!
//! What it owns: the choice of a coding for each response, the headers that choice changes
//! (`Content-Encoding`, `Vary`, `Content-Length`, `ETag`) and the encoding of the body.
//!
//! Invariants:
//! - It never double-encodes: a response that already has a `Content-Encoding` (any value) is
//!   left exactly as it is, and so is one whose `Cache-Control` says `no-transform`.
//! - `Vary: Accept-Encoding` is on every *eligible* response — a status with content, no
//!   `Content-Encoding`, a compressible type — whether or not it was compressed this time: the
//!   answer depends on the header (a small body, a `HEAD`, a client that asked for nothing). It
//!   is added once; a handler's own `Vary: accept-encoding` or `Vary: *` is kept instead.
//! - A streamed body is compressed chunk by chunk with a flush after each (gzip: a sync flush;
//!   brotli: `BROTLI_OPERATION_FLUSH`), so every chunk reaches the client as soon as the handler
//!   yields it, decodable on its own — server-sent events included. The encoder's output is
//!   taken after every chunk, so nothing is buffered beyond the encoder's window.
//!
//! Choices:
//! - Negotiation: the enabled coding with the highest weight wins; equal weights prefer `br`
//!   (smaller for the same work). `*` gives its weight to codings not named. An entry whose
//!   `q` is malformed, or above 1, counts as `q=0`: not acceptable, the request still served.
//!   `identity` wins only when the client names it with a higher weight than the best coding.
//!   Nothing acceptable, or no `Accept-Encoding` at all, means identity (RFC 9110 says no
//!   header means "anything"; in practice such clients may not decode, as nginx and Express
//!   assume too). Only the first [`ACCEPT_ENCODING_BYTES_MAX`] bytes and
//!   [`ACCEPT_ENCODING_ENTRIES_MAX`] entries are read.
//! - Compressible types: `text/*` (`text/event-stream` too), `application/json`,
//!   `application/javascript`, `application/xml`, `application/x-ndjson`, `application/wasm`,
//!   and every `+json` or `+xml` subtype (so `image/svg+xml`). Everything else — images, video,
//!   archives, a missing `Content-Type` — is sent as it is, without `Vary`.
//! - Statuses: 1xx, 204, 205 and 304 carry no content, and a 206's ranges count identity
//!   bytes: none is compressed. A 304 for a compressible type, to a client that negotiated a coding,
//!   gets `Vary` and a weakened `ETag`, what the 200 it validates carried when it was
//!   compressed; a 304 that does not name its type is left alone.
//! - `HEAD`: never compressed (the engine drops the body); a whole body keeps the identity
//!   length, a streamed one carries the `Content-Encoding` its GET would.
//! - Whole bodies: compressed when at least `min_bytes` long (default
//!   [`DEFAULT_MIN_BYTES`]), and sent as they were when the encoding is not smaller.
//! - Streamed bodies: always compressed, their size being unknown. A flush costs a few bytes
//!   per chunk (5 for gzip), so a stream of tiny chunks may grow; its latency is kept.
//! - On compression `Content-Length` is removed (the engine frames the body anyway) and a
//!   strong `ETag` is weakened with `W/` rather than removed: the compressed bytes differ from
//!   the identity ones, so a strong tag would be wrong, but `If-None-Match` compares weakly
//!   (RFC 9110 §13.1.2), so revalidation keeps working (nginx does the same). The cost:
//!   `If-Match` compares strongly, so a client echoing the `W/` tag there fails it; an API
//!   using `If-Match` for optimistic concurrency should not compress those responses.
//! - Levels: see [`CompressionLevel`]. Brotli's window is [`BROTLI_WINDOW_LOG`] for every body,
//!   which bounds an open stream's encoder.

use std::io::{self, Write};

use bytes::Bytes;
use flate2::write::GzEncoder;
use http::{HeaderValue, Method, StatusCode, header};

use super::{Middleware, Next};
use crate::http1::encode::status_has_body;
use crate::{Request, Response};

use crate::limits::BROTLI_BUFFER_BYTES;
pub use crate::limits::{
    ACCEPT_ENCODING_BYTES_MAX, ACCEPT_ENCODING_ENTRIES_MAX, BROTLI_WINDOW_LOG,
    COMPRESSION_MIN_BYTES_DEFAULT as DEFAULT_MIN_BYTES,
};

/// A weight of 1 (`q=1`), in thousandths: weights are kept as integers.
const WEIGHT_MAX: u16 = 1000;

/// `application/` subtypes worth compressing, beyond every `+json` and `+xml` one.
const COMPRESSIBLE_APPLICATION_SUBTYPES: [&str; 6] = [
    "json",
    "javascript",
    "xml",
    "x-ndjson",
    "wasm",
    "ecmascript",
];

const VARY_ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

/// How hard to compress. Measured once on 1 MiB of JSON-like records with a throwaway program
/// (release build, one core of the development machine; not a checked-in bench), window
/// [`BROTLI_WINDOW_LOG`]:
///
/// | level     | gzip level | brotli quality | gzip        | brotli              |
/// |-----------|------------|----------------|-------------|---------------------|
/// | `Fastest` | 1          | 1              | 238 KB, 3 ms  | 130 KB, 4 ms, 1.9 MiB  |
/// | `Default` | 6          | 5              | 160 KB, 32 ms | 65 KB, 15 ms, 4.7 MiB  |
/// | `Best`    | 9          | 7              | 158 KB, 66 ms | 62 KB, 21 ms, 12 MiB   |
///
/// (brotli's column ends with the encoder's peak memory; gzip's is ~0.7 MiB at every level.)
/// `Best` stops at brotli quality 7: from 8 on, the encoder takes 16–32 MiB even for a 2 KiB
/// body and ~1 ms per request for it, and quality 11 took 2 s per MiB — all of it on the
/// serving core, stalling every other connection on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompressionLevel {
    /// Least CPU, least saving.
    Fastest,
    /// The balance most servers use for responses made per request.
    #[default]
    Default,
    /// Smaller again, for more CPU and memory.
    Best,
}

impl CompressionLevel {
    fn gzip(self) -> flate2::Compression {
        match self {
            CompressionLevel::Fastest => flate2::Compression::new(1),
            CompressionLevel::Default => flate2::Compression::new(6),
            CompressionLevel::Best => flate2::Compression::new(9),
        }
    }

    fn brotli_quality(self) -> u32 {
        match self {
            CompressionLevel::Fastest => 1,
            CompressionLevel::Default => 5,
            CompressionLevel::Best => 7,
        }
    }
}

/// The compression middleware: `br` and `gzip`, bodies of at least [`DEFAULT_MIN_BYTES`],
/// [`CompressionLevel::Default`]. Every setting is valid, so there is nothing to build: with
/// both codings off, every response passes untouched (compression switched off by
/// configuration, the layer left in place).
///
/// ```
/// use ringserve::middleware::compression::{Compression, CompressionLevel};
/// use ringserve::{Application, Deployment, Request, Response};
///
/// struct Report;
///
/// impl Deployment for Report {
///     async fn call(&self, _request: Request) -> Response {
///         Response::text("a long report ".repeat(200))
///     }
/// }
///
/// let app = Application::new(|| Report).layer(
///     Compression::new()
///         .brotli(false)
///         .min_bytes(512)
///         .level(CompressionLevel::Fastest),
/// );
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct Compression {
    gzip: bool,
    brotli: bool,
    min_bytes: usize,
    level: CompressionLevel,
}

impl Default for Compression {
    fn default() -> Self {
        Compression::new()
    }
}

impl Compression {
    /// `br` and `gzip`, whole bodies from [`DEFAULT_MIN_BYTES`], the default level.
    pub fn new() -> Self {
        Compression {
            gzip: true,
            brotli: true,
            min_bytes: DEFAULT_MIN_BYTES,
            level: CompressionLevel::Default,
        }
    }

    /// Whether `gzip` may be chosen (default: yes).
    pub fn gzip(mut self, enabled: bool) -> Self {
        self.gzip = enabled;
        self
    }

    /// Whether `br` may be chosen (default: yes).
    pub fn brotli(mut self, enabled: bool) -> Self {
        self.brotli = enabled;
        self
    }

    /// The shortest whole body compressed, in bytes (default [`DEFAULT_MIN_BYTES`]); an empty
    /// body never is. Streamed bodies are compressed whatever their size.
    pub fn min_bytes(mut self, min_bytes: usize) -> Self {
        self.min_bytes = min_bytes;
        self
    }

    /// How hard to compress (default [`CompressionLevel::Default`]).
    pub fn level(mut self, level: CompressionLevel) -> Self {
        self.level = level;
        self
    }
}

impl Middleware for Compression {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        if !self.gzip && !self.brotli {
            return next.run(request).await;
        }
        // Read before the request moves down the chain: the handler owns it from then on.
        let coding = Preferences::of(&request).choose(self.gzip, self.brotli);
        let is_head = request.method() == Method::HEAD;
        let response = next.run(request).await;
        self.respond(response, coding, is_head)
    }
}

impl Compression {
    /// The response with its body compressed in `coding`, when it is eligible and it pays.
    fn respond(&self, response: Response, coding: Option<Coding>, is_head: bool) -> Response {
        match eligibility(&response) {
            Eligibility::Untouched => response,
            Eligibility::NotModified => match coding {
                // What the 200 this validates carried, had it been compressed.
                Some(_) => weaken_etag(add_vary(response)),
                None => response,
            },
            Eligibility::Eligible => {
                let response = add_vary(response);
                match coding {
                    // The engine drops a HEAD's body unsent: encoding it would be waste. A
                    // stream's GET is always encoded, so its HEAD says so too (RFC 9110
                    // §9.3.2: the same fields as the GET); a whole body's GET is encoded only
                    // when large enough and worth it, which only compressing would tell.
                    Some(coding) if is_head && response.is_stream() => {
                        mark_encoded(response, coding)
                    }
                    Some(_) if is_head => response,
                    Some(coding) if response.is_stream() => self.compress_stream(response, coding),
                    Some(coding) => self.compress_whole(response, coding),
                    None => response,
                }
            }
        }
    }

    fn compress_whole(&self, response: Response, coding: Coding) -> Response {
        let Some(body) = response.body_bytes() else {
            return response;
        };
        if body.is_empty() || body.len() < self.min_bytes {
            return response;
        }
        match encode_whole(coding, self.level, body) {
            Ok(encoded) if encoded.len() < body.len() => {
                mark_encoded(response, coding).body(encoded)
            }
            // Not smaller (already dense text), or the encoder failed: as it was.
            Ok(_) => response,
            Err(error) => {
                tracing::error!(%error, "compressing a whole body failed; sent as it was");
                response
            }
        }
    }

    fn compress_stream(&self, response: Response, coding: Coding) -> Response {
        let mut encoder = Some(StreamEncoder::new(coding, self.level));
        mark_encoded(response, coding).map_body(move |chunk| {
            let produced = match chunk {
                // Nothing to flush: a flush would only add an empty block.
                Some(chunk) if chunk.is_empty() => return None,
                Some(chunk) => encoder.as_mut()?.push(&chunk),
                None => encoder.take()?.finish(),
            };
            match produced {
                Ok(bytes) => Some(bytes),
                Err(error) => {
                    // Writing into a `Vec` cannot fail, so neither can the encoders; were one
                    // to, the stream goes on without its end, which any decoder reports as
                    // truncated, instead of sending bytes that decode wrong.
                    tracing::error!(%error, "compressing a stream failed; its end is withheld");
                    encoder = None;
                    None
                }
            }
        })
    }
}

/// A content coding this middleware produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    fn header_value(self) -> HeaderValue {
        match self {
            Coding::Brotli => HeaderValue::from_static("br"),
            Coding::Gzip => HeaderValue::from_static("gzip"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Negotiation
// ---------------------------------------------------------------------------------------------

/// What a request's `Accept-Encoding` says of the codings this middleware knows: each weight
/// in thousandths, `None` where the coding is not named. The first entry for a coding counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Preferences {
    brotli: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    /// `*`: the weight of every coding not named.
    any: Option<u16>,
}

impl Preferences {
    /// Every `Accept-Encoding` field line of the request, read as one list (RFC 9110 §5.3).
    fn of(request: &Request) -> Self {
        Preferences::parse(
            request
                .headers()
                .filter(|(name, _)| name.eq_ignore_ascii_case("accept-encoding"))
                .map(|(_, value)| value),
        )
    }

    /// Reads the entries of `lines`, up to [`ACCEPT_ENCODING_BYTES_MAX`] bytes and
    /// [`ACCEPT_ENCODING_ENTRIES_MAX`] entries in all; an entry cut by the byte limit is
    /// dropped whole.
    fn parse<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut preferences = Preferences::default();
        let mut bytes_left = ACCEPT_ENCODING_BYTES_MAX;
        let mut entries_left = ACCEPT_ENCODING_ENTRIES_MAX;
        for line in lines {
            let (line, complete) = whole_entries(line, bytes_left);
            bytes_left = bytes_left.saturating_sub(line.len() + 1);
            // `#rule` lists may hold empty elements (RFC 9110 §5.6.1): skipped, not counted.
            for entry in line
                .split(|&byte| byte == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|entry| !entry.is_empty())
            {
                if entries_left == 0 {
                    return preferences;
                }
                entries_left -= 1;
                preferences.add(entry);
            }
            if !complete || bytes_left == 0 {
                return preferences;
            }
        }
        preferences
    }

    /// Records one entry (`coding [; q=weight]`); unknown codings are ignored.
    fn add(&mut self, entry: &[u8]) {
        let (name, weight) = parse_entry(entry);
        let slot = if name.eq_ignore_ascii_case(b"br") {
            &mut self.brotli
        } else if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
            // RFC 9110 §8.4.1.3: `x-gzip` is `gzip`.
            &mut self.gzip
        } else if name.eq_ignore_ascii_case(b"identity") {
            &mut self.identity
        } else if name == b"*" {
            &mut self.any
        } else {
            return;
        };
        slot.get_or_insert(weight);
    }

    /// The enabled coding the client prefers, or `None` for identity.
    fn choose(self, gzip_enabled: bool, brotli_enabled: bool) -> Option<Coding> {
        let weight = |named: Option<u16>, enabled: bool| match enabled {
            true => named.or(self.any).unwrap_or(0),
            false => 0,
        };
        let brotli = weight(self.brotli, brotli_enabled);
        let gzip = weight(self.gzip, gzip_enabled);
        // Equal weights prefer brotli: smaller output for the same work.
        let (coding, best) = if brotli >= gzip {
            (Coding::Brotli, brotli)
        } else {
            (Coding::Gzip, gzip)
        };
        if best == 0 || self.identity.is_some_and(|identity| identity > best) {
            return None;
        }
        Some(coding)
    }
}

/// The part of `line` made of whole entries within `bytes_max` bytes, and whether that is all
/// of it. A line longer than the limit is cut after its last comma inside the limit (a comma
/// right at the limit keeps the entry before it).
fn whole_entries(line: &[u8], bytes_max: usize) -> (&[u8], bool) {
    if line.len() <= bytes_max {
        return (line, true);
    }
    let window = line.get(..=bytes_max).unwrap_or_default();
    let cut = window.iter().rposition(|&byte| byte == b',').unwrap_or(0);
    (window.get(..cut).unwrap_or_default(), false)
}

/// An entry's coding name and weight in thousandths: 1000 without a `q`, 0 when its `q` is
/// malformed (RFC 9110 §12.4.2: `"0" ["." 0*3DIGIT] / "1" ["." 0*3"0"]`). Parameters other
/// than `q` are not in the grammar; they are ignored.
fn parse_entry(entry: &[u8]) -> (&[u8], u16) {
    let mut parts = entry.split(|&byte| byte == b';');
    let name = parts.next().unwrap_or_default().trim_ascii();
    for parameter in parts {
        let mut key_value = parameter.splitn(2, |&byte| byte == b'=');
        let key = key_value.next().unwrap_or_default();
        let value = key_value.next();
        if key.trim_ascii().eq_ignore_ascii_case(b"q") {
            let weight = value.and_then(|value| parse_weight(value.trim_ascii()));
            return (name, weight.unwrap_or(0));
        }
    }
    (name, WEIGHT_MAX)
}

/// A `qvalue` in thousandths, or `None` when it is not one.
fn parse_weight(text: &[u8]) -> Option<u16> {
    let mut parts = text.splitn(2, |&byte| byte == b'.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next().unwrap_or_default();
    if fraction.len() > 3 || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // `.5` is 500 thousandths: pad the digits to three.
    let thousandths = (0..3).fold(0u16, |sum, index| {
        sum * 10
            + fraction
                .get(index)
                .map_or(0, |digit| u16::from(digit - b'0'))
    });
    match whole {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(WEIGHT_MAX),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Eligibility and headers
// ---------------------------------------------------------------------------------------------

/// What may be done to a response.
#[derive(Debug, PartialEq, Eq)]
enum Eligibility {
    /// Nothing: no content, already encoded, `no-transform`, or a type not worth compressing.
    Untouched,
    /// A 304, which validates a response that may have been compressed.
    NotModified,
    /// Compressible; the answer depends on `Accept-Encoding`.
    Eligible,
}

fn eligibility(response: &Response) -> Eligibility {
    if response.header_value(&header::CONTENT_ENCODING).is_some() || forbids_transform(response) {
        return Eligibility::Untouched;
    }
    let status = response.status();
    let compressible = response
        .header_value(&header::CONTENT_TYPE)
        .is_some_and(|content_type| is_compressible(content_type.as_bytes()));
    // A 304's fields are copied into the cached response it validates (RFC 9111 §4.3.4): it
    // is touched only when it says it stands for a compressible type, so a video's strong
    // ETag is never weakened on its way through a cache.
    if status == StatusCode::NOT_MODIFIED {
        return if compressible {
            Eligibility::NotModified
        } else {
            Eligibility::Untouched
        };
    }
    // A 205 is sent with `content-length: 0` whatever its body; a 206's ranges count identity
    // bytes, so encoding its part would make them lie.
    let without_content = !status_has_body(status)
        || status == StatusCode::RESET_CONTENT
        || status == StatusCode::PARTIAL_CONTENT;
    if without_content || !compressible {
        return Eligibility::Untouched;
    }
    Eligibility::Eligible
}

/// Whether a media type (`type/subtype; parameters`) is text-like enough to compress.
fn is_compressible(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&byte| byte == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let mut parts = essence.splitn(2, |&byte| byte == b'/');
    let (Some(kind), Some(subtype)) = (parts.next(), parts.next()) else {
        return false;
    };
    // A structured suffix needs a subtype before it: `+json` alone is not one.
    let ends_with = |suffix: &[u8]| {
        subtype.len() > suffix.len()
            && subtype
                .get(subtype.len() - suffix.len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
    };
    kind.eq_ignore_ascii_case(b"text")
        || ends_with(b"+json")
        || ends_with(b"+xml")
        || (kind.eq_ignore_ascii_case(b"application")
            && COMPRESSIBLE_APPLICATION_SUBTYPES
                .iter()
                .any(|known| known.as_bytes().eq_ignore_ascii_case(subtype)))
}

/// Whether a comma-separated header of the response holds `token` (case-insensitive).
fn has_token(response: &Response, name: &header::HeaderName, token: &[u8]) -> bool {
    response
        .headers()
        .filter(|(candidate, _)| *candidate == name)
        .flat_map(|(_, value)| value.as_bytes().split(|&byte| byte == b','))
        .any(|element| element.trim_ascii().eq_ignore_ascii_case(token))
}

/// `Cache-Control: no-transform` (RFC 9111 §5.2.2.6): the sender wants the bytes as they are.
fn forbids_transform(response: &Response) -> bool {
    has_token(response, &header::CACHE_CONTROL, b"no-transform")
}

/// Adds `Vary: Accept-Encoding` as a field line of its own, unless the response already varies
/// on it or on everything.
fn add_vary(response: Response) -> Response {
    if has_token(&response, &header::VARY, b"accept-encoding")
        || has_token(&response, &header::VARY, b"*")
    {
        return response;
    }
    response.header(header::VARY, VARY_ACCEPT_ENCODING)
}

/// The headers of a response whose body is about to be encoded in `coding`.
fn mark_encoded(mut response: Response, coding: Coding) -> Response {
    // The engine frames the body itself and ignores a handler's length; this one would be the
    // identity length, so it goes rather than mislead a reader of the response.
    response.remove_header(&header::CONTENT_LENGTH);
    weaken_etag(response).set_header(header::CONTENT_ENCODING, coding.header_value())
}

/// A strong `ETag` made weak (`"x"` → `W/"x"`); a weak one is kept.
fn weaken_etag(mut response: Response) -> Response {
    let Some(etag) = response.header_value(&header::ETAG) else {
        return response;
    };
    if etag.as_bytes().starts_with(b"W/") {
        return response;
    }
    let weak = [b"W/", etag.as_bytes()].concat();
    match HeaderValue::from_bytes(&weak) {
        Ok(weak) => response.set_header(header::ETAG, weak),
        // Unreachable: `W/` and a valid value make a valid value. Without a tag the client
        // cannot revalidate, which is safe; a strong tag on changed bytes is not.
        Err(_) => {
            response.remove_header(&header::ETAG);
            response
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoders
// ---------------------------------------------------------------------------------------------

/// A whole body encoded in one go.
fn encode_whole(coding: Coding, level: CompressionLevel, body: &[u8]) -> io::Result<Bytes> {
    // JSON and HTML usually shrink 4–10 times; a quarter avoids most regrowth.
    let out = Vec::with_capacity(body.len() / 4);
    let encoded = match coding {
        Coding::Gzip => {
            let mut encoder = GzEncoder::new(out, level.gzip());
            encoder.write_all(body)?;
            encoder.finish()?
        }
        Coding::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: level.brotli_quality() as i32,
                lgwin: BROTLI_WINDOW_LOG as i32,
                // The size known up front lets brotli size its tables to the body.
                size_hint: body.len(),
                ..Default::default()
            };
            let mut encoder =
                brotli::CompressorWriter::with_params(out, BROTLI_BUFFER_BYTES, &params);
            encoder.write_all(body)?;
            encoder.into_inner()
        }
    };
    Ok(Bytes::from(encoded))
}

/// The encoder of one streamed body, its output taken after every chunk.
enum StreamEncoder {
    Gzip(GzEncoder<Vec<u8>>),
    // Boxed: brotli's writer is 5.6 KB inline, gzip's 144 bytes.
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl StreamEncoder {
    fn new(coding: Coding, level: CompressionLevel) -> Self {
        match coding {
            Coding::Gzip => StreamEncoder::Gzip(GzEncoder::new(Vec::new(), level.gzip())),
            Coding::Brotli => StreamEncoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER_BYTES,
                level.brotli_quality(),
                BROTLI_WINDOW_LOG,
            ))),
        }
    }

    /// Encodes `chunk` and flushes: the bytes returned decode to all the input so far.
    fn push(&mut self, chunk: &[u8]) -> io::Result<Bytes> {
        let out = match self {
            StreamEncoder::Gzip(encoder) => {
                encoder.write_all(chunk)?;
                // flate2's `flush` is a sync flush: byte-aligned, the stream left open.
                encoder.flush()?;
                encoder.get_mut()
            }
            StreamEncoder::Brotli(encoder) => {
                encoder.write_all(chunk)?;
                encoder.flush()?;
                encoder.get_mut()
            }
        };
        // The output is only ever appended to, so taking it leaves the encoder intact.
        Ok(Bytes::from(std::mem::take(out)))
    }

    /// Ends the stream: what the encoder still held, and the coding's trailer.
    fn finish(self) -> io::Result<Bytes> {
        let rest = match self {
            StreamEncoder::Gzip(encoder) => encoder.finish()?,
            StreamEncoder::Brotli(encoder) => encoder.into_inner(),
        };
        Ok(Bytes::from(rest))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use futures_lite::{StreamExt, future, stream};

    use super::*;
    use crate::body::ResponseBody;

    fn preferences(header: &str) -> Preferences {
        Preferences::parse(std::iter::once(header.as_bytes()))
    }

    /// The coding chosen for `header` with both codings enabled.
    fn chosen(header: &str) -> Option<Coding> {
        preferences(header).choose(true, true)
    }

    #[test]
    fn weights_follow_the_qvalue_grammar() {
        for (text, weight) in [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.001", Some(1)),
            ("0.999", Some(999)),
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("1.001", None),
            ("1.0000", None),
            ("0.1234", None),
            ("2", None),
            (".5", None),
            ("", None),
            ("-0", None),
            ("0.5x", None),
            ("\"0.5\"", None),
            ("0x1", None),
        ] {
            assert_eq!(parse_weight(text.as_bytes()), weight, "{text:?}");
        }
    }

    #[test]
    fn the_highest_weight_wins_and_ties_prefer_brotli() {
        assert_eq!(chosen("gzip"), Some(Coding::Gzip));
        assert_eq!(chosen("br"), Some(Coding::Brotli));
        assert_eq!(chosen("gzip, deflate, br, zstd"), Some(Coding::Brotli));
        assert_eq!(chosen("br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip));
        assert_eq!(chosen("gzip;q=0.8, br;q=0.8"), Some(Coding::Brotli));
        assert_eq!(chosen("gzip;q=0.001, br;q=0"), Some(Coding::Gzip));
        assert_eq!(chosen("deflate, zstd"), None);
        // Only enabled codings are candidates.
        assert_eq!(
            preferences("br, gzip").choose(true, false),
            Some(Coding::Gzip)
        );
        assert_eq!(
            preferences("br, gzip").choose(false, true),
            Some(Coding::Brotli)
        );
        assert_eq!(preferences("br").choose(true, false), None);
    }

    #[test]
    fn q_zero_means_not_acceptable() {
        assert_eq!(chosen("gzip;q=0"), None);
        assert_eq!(chosen("br;q=0, gzip;q=0.0"), None);
        assert_eq!(chosen("br;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(chosen("identity;q=1, gzip;q=0"), None);
    }

    #[test]
    fn identity_wins_only_when_weighted_above_every_coding() {
        assert_eq!(chosen("identity"), None);
        assert_eq!(chosen(""), None);
        assert_eq!(chosen("identity;q=1, gzip;q=0.5"), None);
        assert_eq!(chosen("identity;q=0.5, gzip;q=0.5"), Some(Coding::Gzip));
        assert_eq!(chosen("identity;q=0, gzip"), Some(Coding::Gzip));
        // Not named: identity is the fallback, never preferred.
        assert_eq!(chosen("gzip;q=0.1"), Some(Coding::Gzip));
    }

    #[test]
    fn star_weighs_every_coding_not_named() {
        assert_eq!(chosen("*"), Some(Coding::Brotli));
        assert_eq!(chosen("*;q=0.5, br;q=0.2"), Some(Coding::Gzip));
        assert_eq!(chosen("*;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(chosen("*;q=0"), None);
        assert_eq!(chosen("br;q=0, *"), Some(Coding::Gzip));
        assert_eq!(chosen("identity, *;q=0"), None);
    }

    #[test]
    fn a_malformed_weight_makes_its_entry_unacceptable_and_only_it() {
        assert_eq!(chosen("br;q=2, gzip"), Some(Coding::Gzip));
        assert_eq!(chosen("br;q=high, gzip;q=0.1"), Some(Coding::Gzip));
        assert_eq!(chosen("br;q, gzip;q=0.1"), Some(Coding::Gzip));
        assert_eq!(chosen("br;q=, gzip;q=0.1"), Some(Coding::Gzip));
        assert_eq!(chosen("gzip;q=1.5"), None);
        assert_eq!(chosen("gzip;q=0.1234"), None);
        assert_eq!(chosen("*;q=x"), None);
        // Other parameters are not in the grammar; they change nothing.
        assert_eq!(chosen("gzip;level=9"), Some(Coding::Gzip));
        assert_eq!(chosen("gzip;level=9;q=0"), None);
        // Garbage does not fail the request, it is only not a coding.
        assert_eq!(chosen(";;,=,;q=1,\u{7f}"), None);
    }

    #[test]
    fn names_are_case_insensitive_and_whitespace_is_optional() {
        assert_eq!(chosen("GZIP"), Some(Coding::Gzip));
        assert_eq!(chosen("Br;Q=0.5"), Some(Coding::Brotli));
        assert_eq!(chosen("x-gzip"), Some(Coding::Gzip));
        assert_eq!(chosen("  br ; q = 0 ,\tgzip ;q=0.3  "), Some(Coding::Gzip));
        assert_eq!(chosen(",,, ,gzip,,"), Some(Coding::Gzip));
        assert_eq!(chosen("IDENTITY;q=1, gzip;q=0.5"), None);
    }

    #[test]
    fn the_first_entry_for_a_coding_counts() {
        assert_eq!(chosen("gzip;q=0, gzip"), None);
        assert_eq!(chosen("gzip, gzip;q=0"), Some(Coding::Gzip));
        assert_eq!(chosen("x-gzip;q=0, gzip"), None);
    }

    #[test]
    fn field_lines_are_one_list() {
        let lines = [&b"br;q=0"[..], &b"gzip"[..]];
        assert_eq!(
            Preferences::parse(lines.into_iter()).choose(true, true),
            Some(Coding::Gzip)
        );
        let request = Request::from_http1(
            &b"GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br;q=0\r\naccept-encoding: gzip\r\n\r\n"[..],
        )
        .unwrap();
        assert_eq!(
            Preferences::of(&request).choose(true, true),
            Some(Coding::Gzip)
        );
    }

    #[test]
    fn entries_beyond_the_limits_are_ignored() {
        // The entry limit: the coding after the filler entries is never read.
        let filler = "deflate, ".repeat(ACCEPT_ENCODING_ENTRIES_MAX);
        assert_eq!(chosen(&format!("{filler}gzip")), None);
        let filler = "deflate, ".repeat(ACCEPT_ENCODING_ENTRIES_MAX - 1);
        assert_eq!(chosen(&format!("{filler}gzip")), Some(Coding::Gzip));
        // The byte limit: an entry wholly inside it counts, one crossing it does not, even if
        // its first bytes would read as a coding (`gzip;q=1` cut to `gzip;q=0.`-like
        // prefixes must not be taken).
        let pad = |len: usize| format!("{},", "x".repeat(len - 1));
        let inside = format!("{}gzip", pad(ACCEPT_ENCODING_BYTES_MAX - 4));
        assert_eq!(inside.len(), ACCEPT_ENCODING_BYTES_MAX);
        assert_eq!(chosen(&inside), Some(Coding::Gzip));
        let crossing = format!("{}gzip;q=0.5", pad(ACCEPT_ENCODING_BYTES_MAX - 4));
        assert_eq!(chosen(&crossing), None);
        let comma_at_limit = format!("{}br,gzip", pad(ACCEPT_ENCODING_BYTES_MAX - 2));
        assert_eq!(comma_at_limit.as_bytes()[ACCEPT_ENCODING_BYTES_MAX], b',');
        assert_eq!(chosen(&comma_at_limit), Some(Coding::Brotli));
        // The limit covers all field lines together.
        let long = "x".repeat(ACCEPT_ENCODING_BYTES_MAX);
        let lines = [long.as_bytes(), &b"gzip"[..]];
        assert_eq!(
            Preferences::parse(lines.into_iter()).choose(true, true),
            None
        );
        // A megabyte of header is read no further than the limit.
        let huge = format!("{},gzip", "a".repeat(1 << 20));
        assert_eq!(chosen(&huge), None);
    }

    #[test]
    fn compressible_types() {
        for content_type in [
            "text/plain; charset=utf-8",
            "text/html",
            "TEXT/CSS",
            "text/event-stream",
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/javascript",
            "application/xml",
            "application/problem+json",
            "application/atom+xml",
            "image/svg+xml",
            "application/x-ndjson",
        ] {
            assert!(is_compressible(content_type.as_bytes()), "{content_type}");
        }
        for content_type in [
            "image/png",
            "image/jpeg",
            "video/mp4",
            "application/zip",
            "application/gzip",
            "application/octet-stream",
            "application/vnd.foo+zip",
            "application/+json",
            "textual/plain",
            "text",
            "",
        ] {
            assert!(!is_compressible(content_type.as_bytes()), "{content_type}");
        }
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    fn unbrotli(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::Decompressor::new(bytes, 4096)
            .read_to_end(&mut out)
            .expect("valid brotli");
        out
    }

    fn decode(coding: Coding, bytes: &[u8]) -> Vec<u8> {
        match coding {
            Coding::Gzip => gunzip(bytes),
            Coding::Brotli => unbrotli(bytes),
        }
    }

    fn report(bytes: usize) -> String {
        let mut text = "status=ok items=[1,2,3] ".repeat(bytes / 24 + 1);
        text.truncate(bytes);
        text
    }

    fn header<'a>(response: &'a Response, name: &header::HeaderName) -> Vec<&'a str> {
        response
            .headers()
            .filter(|(candidate, _)| *candidate == name)
            .map(|(_, value)| value.to_str().unwrap())
            .collect()
    }

    #[test]
    fn whole_bodies_round_trip_at_every_level() {
        let body = report(10_000);
        for level in [
            CompressionLevel::Fastest,
            CompressionLevel::Default,
            CompressionLevel::Best,
        ] {
            for coding in [Coding::Gzip, Coding::Brotli] {
                let encoded = encode_whole(coding, level, body.as_bytes()).unwrap();
                assert!(encoded.len() < body.len() / 4, "{coding:?} {level:?}");
                assert_eq!(decode(coding, &encoded), body.as_bytes());
            }
        }
    }

    #[test]
    fn a_compressed_response_gets_its_headers_changed() {
        let body = report(2000);
        let handler = || {
            Response::text(body.clone())
                .header(header::CONTENT_LENGTH, HeaderValue::from(2000))
                .header(header::ETAG, HeaderValue::from_static("\"v1\""))
                .header(header::VARY, HeaderValue::from_static("Origin"))
        };
        let compression = Compression::new();
        let response = compression.respond(handler(), Some(Coding::Gzip), false);
        assert_eq!(header(&response, &header::CONTENT_ENCODING), ["gzip"]);
        assert_eq!(
            header(&response, &header::VARY),
            ["Origin", "Accept-Encoding"]
        );
        assert_eq!(header(&response, &header::ETAG), ["W/\"v1\""]);
        assert!(header(&response, &header::CONTENT_LENGTH).is_empty());
        assert_eq!(gunzip(response.body_bytes().unwrap()), body.as_bytes());
        // Identity: Vary only, the rest as the handler set it.
        let response = compression.respond(handler(), None, false);
        assert!(header(&response, &header::CONTENT_ENCODING).is_empty());
        assert_eq!(
            header(&response, &header::VARY),
            ["Origin", "Accept-Encoding"]
        );
        assert_eq!(header(&response, &header::ETAG), ["\"v1\""]);
        assert_eq!(header(&response, &header::CONTENT_LENGTH), ["2000"]);
        assert_eq!(response.body_bytes().unwrap(), body.as_bytes());
    }

    #[test]
    fn what_is_left_alone() {
        let compression = Compression::new();
        let long = report(4000);
        let cases = [
            (
                "already encoded",
                Response::text(long.clone())
                    .header(header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
            ),
            (
                "no-transform",
                Response::text(long.clone()).header(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, No-Transform"),
                ),
            ),
            (
                "an image",
                Response::new(StatusCode::OK)
                    .header(header::CONTENT_TYPE, HeaderValue::from_static("image/png"))
                    .body(long.clone()),
            ),
            (
                "no content type",
                Response::new(StatusCode::OK).body(long.clone()),
            ),
            (
                "204",
                Response::text(long.clone()).with_status(StatusCode::NO_CONTENT),
            ),
            (
                "205",
                Response::text(long.clone()).with_status(StatusCode::RESET_CONTENT),
            ),
            (
                "206",
                Response::text(long.clone()).with_status(StatusCode::PARTIAL_CONTENT),
            ),
        ];
        for (case, response) in cases {
            let before: Vec<_> = response
                .headers()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            let after = compression.respond(response, Some(Coding::Brotli), false);
            let after_headers: Vec<_> = after
                .headers()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            assert_eq!(after_headers, before, "{case}");
            assert_eq!(after.body_bytes().unwrap(), long.as_bytes(), "{case}");
        }
    }

    #[test]
    fn eligible_but_not_compressed_still_varies() {
        let compression = Compression::new().min_bytes(100);
        let small = compression.respond(Response::text(report(99)), Some(Coding::Gzip), false);
        let empty =
            Compression::new()
                .min_bytes(0)
                .respond(Response::text(""), Some(Coding::Gzip), false);
        let head = compression.respond(Response::text(report(500)), Some(Coding::Gzip), true);
        // Random bytes (xorshift): gzip can only store them, adding its header and trailer.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let dense: Vec<u8> = (0..200)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        let incompressible =
            compression.respond(Response::text(dense.clone()), Some(Coding::Gzip), false);
        for (case, response, body) in [
            ("small", small, report(99).into_bytes()),
            ("empty", empty, Vec::new()),
            ("head", head, report(500).into_bytes()),
            ("incompressible", incompressible, dense),
        ] {
            assert!(
                header(&response, &header::CONTENT_ENCODING).is_empty(),
                "{case}"
            );
            assert_eq!(
                header(&response, &header::VARY),
                ["Accept-Encoding"],
                "{case}"
            );
            assert_eq!(response.body_bytes().unwrap(), &body, "{case}");
        }
    }

    #[test]
    fn a_handlers_own_vary_is_not_repeated() {
        let compression = Compression::new();
        for vary in ["accept-encoding", "Origin, Accept-Encoding", "*"] {
            let response =
                Response::text(report(2000)).header(header::VARY, HeaderValue::from_static(vary));
            let response = compression.respond(response, Some(Coding::Gzip), false);
            assert_eq!(header(&response, &header::VARY), [vary]);
            assert_eq!(header(&response, &header::CONTENT_ENCODING), ["gzip"]);
        }
    }

    #[test]
    fn a_not_modified_matches_what_a_compressed_ok_carried() {
        let compression = Compression::new();
        let not_modified = || {
            Response::new(StatusCode::NOT_MODIFIED)
                .header(header::ETAG, HeaderValue::from_static("\"v1\""))
                .header(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )
        };
        let negotiated = compression.respond(not_modified(), Some(Coding::Brotli), false);
        assert_eq!(header(&negotiated, &header::ETAG), ["W/\"v1\""]);
        assert_eq!(header(&negotiated, &header::VARY), ["Accept-Encoding"]);
        assert!(header(&negotiated, &header::CONTENT_ENCODING).is_empty());
        let identity = compression.respond(not_modified(), None, false);
        assert_eq!(header(&identity, &header::ETAG), ["\"v1\""]);
        assert!(header(&identity, &header::VARY).is_empty());
        // A 304 that does not say it stands for a compressible type is left alone.
        let untyped = Response::new(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, HeaderValue::from_static("\"v9\""));
        let untyped = compression.respond(untyped, Some(Coding::Gzip), false);
        assert_eq!(header(&untyped, &header::ETAG), ["\"v9\""]);
        assert!(header(&untyped, &header::VARY).is_empty());
        // A weak tag stays as it is.
        let weak =
            Response::text(report(2000)).header(header::ETAG, HeaderValue::from_static("W/\"v2\""));
        let weak = compression.respond(weak, Some(Coding::Gzip), false);
        assert_eq!(header(&weak, &header::ETAG), ["W/\"v2\""]);
    }

    /// The chunks a response's stream yields, each as produced.
    fn chunks(response: Response) -> Vec<Bytes> {
        let (_, _, body) = response.into_parts();
        let ResponseBody::Stream(stream) = body else {
            panic!("not a stream");
        };
        future::block_on(stream.map(|chunk| chunk.unwrap()).collect())
    }

    #[test]
    fn each_streamed_chunk_decodes_as_soon_as_it_is_sent() {
        let compression = Compression::new();
        let pieces = [
            "event one\n\n",
            "",
            "event two, longer than the first\n\n",
            "three\n\n",
        ];
        for coding in [Coding::Gzip, Coding::Brotli] {
            let handler = Response::stream(stream::iter(pieces.map(Ok::<_, io::Error>))).header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            let response = compression.respond(handler, Some(coding), false);
            assert_eq!(
                header(&response, &header::CONTENT_ENCODING),
                [coding.header_value().to_str().unwrap()]
            );
            let sent = chunks(response);
            // One chunk per non-empty piece, then the trailer.
            assert_eq!(sent.len(), 4, "{coding:?}");
            // Every prefix of the chunks decodes to the pieces sent so far: a streaming decoder
            // fed the first chunk alone yields the first event.
            let mut so_far = Vec::new();
            for (index, piece) in pieces.iter().filter(|piece| !piece.is_empty()).enumerate() {
                so_far.extend_from_slice(&sent[index]);
                let expected: String = pieces
                    .iter()
                    .filter(|p| !p.is_empty())
                    .take(index + 1)
                    .copied()
                    .collect();
                assert_eq!(
                    decode_prefix(coding, &so_far),
                    expected.as_bytes(),
                    "{coding:?} after {piece:?}"
                );
            }
            let whole: Vec<u8> = sent.concat();
            assert_eq!(
                decode(coding, &whole),
                pieces.concat().as_bytes(),
                "{coding:?}"
            );
        }
    }

    /// What a decoder yields from an unfinished stream: reads until it wants more input.
    fn decode_prefix(coding: Coding, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        match coding {
            Coding::Gzip => {
                let mut decoder = flate2::read::GzDecoder::new(bytes);
                while let Ok(read @ 1..) = decoder.read(&mut buf) {
                    out.extend_from_slice(&buf[..read]);
                }
            }
            Coding::Brotli => {
                let mut decoder = brotli::Decompressor::new(bytes, 4096);
                while let Ok(read @ 1..) = decoder.read(&mut buf) {
                    out.extend_from_slice(&buf[..read]);
                }
            }
        }
        out
    }

    #[test]
    fn an_empty_stream_still_ends_as_a_valid_encoding() {
        for coding in [Coding::Gzip, Coding::Brotli] {
            let handler = Response::stream(stream::empty::<Result<Bytes, io::Error>>())
                .header(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            let sent = chunks(Compression::new().respond(handler, Some(coding), false));
            assert_eq!(decode(coding, &sent.concat()), b"", "{coding:?}");
        }
    }
}
