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
//!
//! # Layout
//!
//! - `negotiation`: reading `Accept-Encoding` into the coding to use.
//! - `policy`: what may be compressed, and the headers that change with it.
//! - `encoders`: gzip and brotli, whole and streamed; [`CompressionLevel`].
//! - here: the [`Compression`] middleware, which puts the three together per response.

mod encoders;
pub(crate) mod negotiation;
mod policy;

use http::Method;

use super::{Middleware, Next};
use crate::{Request, Response};
use encoders::{StreamEncoder, encode_whole};
use negotiation::{Coding, Preferences};
use policy::{
    Eligibility, add_vary, eligibility, mark_encoded, varies_on_accept_encoding, weaken_etag,
    worth_compressing,
};

pub use crate::limits::{
    ACCEPT_ENCODING_BYTES_MAX, ACCEPT_ENCODING_ENTRIES_MAX, BROTLI_WINDOW_LOG,
    COMPRESSION_MIN_BYTES_DEFAULT as DEFAULT_MIN_BYTES,
};
pub use encoders::CompressionLevel;

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
                // Whatever happens next, the answer depended on `Accept-Encoding`.
                debug_assert!(varies_on_accept_encoding(&response));
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
        if !worth_compressing(body.len(), self.min_bytes) {
            return response;
        }
        match encode_whole(coding, self.level, body) {
            Ok(encoded) if encoded.len() < body.len() => {
                mark_encoded(response, coding).with_body(encoded)
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

#[cfg(test)]
mod tests {
    use std::io;

    use bytes::Bytes;
    use futures_lite::{StreamExt, future, stream};
    use http::{HeaderValue, StatusCode, header};

    use super::encoders::testing::{decode, decode_prefix, gunzip, report};
    use super::*;
    use crate::body::ResponseBody;

    fn header<'a>(response: &'a Response, name: &header::HeaderName) -> Vec<&'a str> {
        response
            .headers()
            .filter(|(candidate, _)| *candidate == name)
            .map(|(_, value)| value.to_str().unwrap())
            .collect()
    }

    #[test]
    fn a_compressed_response_gets_its_headers_changed() {
        let body = report(2000);
        let handler = || {
            Response::text(body.clone())
                .with_header(header::CONTENT_LENGTH, HeaderValue::from(2000))
                .with_header(header::ETAG, HeaderValue::from_static("\"v1\""))
                .with_header(header::VARY, HeaderValue::from_static("Origin"))
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
                    .with_header(header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
            ),
            (
                "no-transform",
                Response::text(long.clone()).with_header(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, No-Transform"),
                ),
            ),
            (
                "an image",
                Response::new(StatusCode::OK)
                    .with_header(header::CONTENT_TYPE, HeaderValue::from_static("image/png"))
                    .with_body(long.clone()),
            ),
            (
                "no content type",
                Response::new(StatusCode::OK).with_body(long.clone()),
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
            let response = Response::text(report(2000))
                .with_header(header::VARY, HeaderValue::from_static(vary));
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
                .with_header(header::ETAG, HeaderValue::from_static("\"v1\""))
                .with_header(
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
            .with_header(header::ETAG, HeaderValue::from_static("\"v9\""));
        let untyped = compression.respond(untyped, Some(Coding::Gzip), false);
        assert_eq!(header(&untyped, &header::ETAG), ["\"v9\""]);
        assert!(header(&untyped, &header::VARY).is_empty());
        // A weak tag stays as it is.
        let weak = Response::text(report(2000))
            .with_header(header::ETAG, HeaderValue::from_static("W/\"v2\""));
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
            let handler = Response::stream(stream::iter(pieces.map(Ok::<_, io::Error>)))
                .with_header(
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

    #[test]
    fn an_empty_stream_still_ends_as_a_valid_encoding() {
        for coding in [Coding::Gzip, Coding::Brotli] {
            let handler = Response::stream(stream::empty::<Result<Bytes, io::Error>>())
                .with_header(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            let sent = chunks(Compression::new().respond(handler, Some(coding), false));
            assert_eq!(decode(coding, &sent.concat()), b"", "{coding:?}");
        }
    }
}
