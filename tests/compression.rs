//! Response compression end to end over loopback sockets: the coding chosen from
//! `Accept-Encoding` and its weights, what is left alone (small bodies, encoded bodies, images,
//! `HEAD`, 204, clients that ask for nothing), streamed bodies and server-sent events decoded
//! chunk by chunk as they arrive, a mebibyte both ways, and `ureq` as a second client. Heads
//! are compared byte for byte with only `date` and `x-request-id` redacted; compressed bodies
//! are decoded with flate2 and brotli and compared with what the handler sent.

mod common;

use std::convert::Infallible;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use ringserve::middleware::compression::Compression;
use ringserve::rt::stream;
use ringserve::sse::Event;
use ringserve::{
    Application, Deployment, HeaderValue, Request, Response, Serve, ServerHandle, StatusCode,
    header,
};

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

/// `bytes` bytes of words drawn from a small vocabulary by a fixed xorshift sequence: text
/// that compresses about as well as JSON or HTML does, the same on the server and here.
fn words(bytes: usize) -> String {
    const VOCABULARY: [&str; 16] = [
        "item", "price", "name", "status", "ok", "pending", "id", "tags", "alpha", "beta", "gamma",
        "delta", "{", "}", "\"", "42",
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push_str(VOCABULARY[(state % 16) as usize]);
        text.push(if state & 0x100 == 0 { ' ' } else { ',' });
    }
    text.truncate(bytes);
    text
}

/// The size a request asks for with `?bytes=<n>` (4000 without one).
fn requested_bytes(request: &Request) -> usize {
    request
        .query()
        .and_then(|query| query.strip_prefix("bytes="))
        .and_then(|bytes| bytes.parse().ok())
        .unwrap_or(4000)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A whole body decoded; fails the test on a corrupt or truncated one.
fn decode(coding: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("a whole gzip stream"),
        "br" => brotli::Decompressor::new(bytes, 4096)
            .read_to_end(&mut out)
            .expect("a whole brotli stream"),
        other => panic!("unexpected coding {other:?}"),
    };
    out
}

/// A decoder fed a body piece by piece, as a browser's is: each piece yields what it encodes.
enum StreamDecoder {
    Gzip(Box<flate2::write::GzDecoder<Vec<u8>>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
}

impl StreamDecoder {
    fn new(coding: &str) -> Self {
        match coding {
            "gzip" => StreamDecoder::Gzip(Box::new(flate2::write::GzDecoder::new(Vec::new()))),
            "br" => {
                StreamDecoder::Brotli(Box::new(brotli::DecompressorWriter::new(Vec::new(), 4096)))
            }
            other => panic!("unexpected coding {other:?}"),
        }
    }

    /// What `piece` decodes to, given everything fed before it.
    fn feed(&mut self, piece: &[u8]) -> Vec<u8> {
        let out = match self {
            StreamDecoder::Gzip(decoder) => {
                decoder.write_all(piece).expect("valid gzip");
                decoder.flush().unwrap();
                decoder.get_mut()
            }
            StreamDecoder::Brotli(decoder) => {
                decoder.write_all(piece).expect("valid brotli");
                decoder.flush().unwrap();
                decoder.get_mut()
            }
        };
        std::mem::take(out)
    }

    /// Asserts the encoded stream ended properly (gzip: its CRC and length checked).
    fn finish(self) {
        match self {
            StreamDecoder::Gzip(decoder) => {
                decoder.finish().expect("the gzip trailer, matching");
            }
            StreamDecoder::Brotli(decoder) => {
                assert!(decoder.into_inner().is_ok(), "the brotli stream's end");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

const PAUSE: Duration = Duration::from_millis(1500);

/// The pieces `/paced` streams, the second after [`PAUSE`].
const PACED: [&str; 3] = [
    "first piece, sent at once\n",
    "second piece, after a pause\n",
    "third\n",
];

fn sse_events() -> [Event; 3] {
    [
        Event::new().event("tick").id("1").data("one"),
        Event::new().data("two\nlines"),
        Event::new().comment("keep-alive"),
    ]
}

/// What `/encoded-stream` yields: `words(4000)` gzipped by the handler, cut in two chunks.
fn encoded_stream_pieces() -> [Bytes; 2] {
    let encoded = Bytes::from(gzip(words(4000).as_bytes()));
    let half = encoded.len() / 2;
    [encoded.slice(..half), encoded.slice(half..)]
}

const MEBIBYTE: usize = 1 << 20;
const BIG_CHUNK: usize = 64 * 1024;

fn text_plain() -> HeaderValue {
    HeaderValue::from_static("text/plain; charset=utf-8")
}

/// Answers by path; see each arm.
struct Routes;

impl Deployment for Routes {
    async fn call(&self, request: Request) -> Response {
        let bytes = requested_bytes(&request);
        match request.route_path() {
            "/text" => Response::text(words(bytes)),
            "/json" => Response::json_bytes(format!("{{\"text\":\"{}\"}}", words(bytes))),
            "/png" => Response::new(StatusCode::OK)
                .with_header(header::CONTENT_TYPE, HeaderValue::from_static("image/png"))
                .with_body(words(bytes)),
            "/encoded" => Response::text(gzip(words(bytes).as_bytes()))
                .with_header(header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
            "/encoded-stream" => {
                let [first, second] = encoded_stream_pieces();
                Response::stream(stream::iter([Ok::<_, Infallible>(first), Ok(second)]))
                    .with_header(header::CONTENT_TYPE, text_plain())
                    .with_header(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))
            }
            "/no-content" => Response::text(words(bytes)).with_status(StatusCode::NO_CONTENT),
            "/etag" => Response::text(words(bytes))
                .with_header(header::ETAG, HeaderValue::from_static("\"v1\""))
                .with_header(header::CONTENT_LENGTH, HeaderValue::from(bytes)),
            "/not-modified" => Response::new(StatusCode::NOT_MODIFIED)
                .with_header(header::ETAG, HeaderValue::from_static("\"v1\""))
                .with_header(header::CONTENT_TYPE, HeaderValue::from_static("text/plain")),
            "/not-modified-untyped" => Response::new(StatusCode::NOT_MODIFIED)
                .with_header(header::ETAG, HeaderValue::from_static("\"v1\"")),
            "/paced" => Response::stream(paced(vec![
                (Duration::ZERO, PACED[0]),
                (PAUSE, PACED[1]),
                (Duration::ZERO, PACED[2]),
            ]))
            .with_header(header::CONTENT_TYPE, text_plain()),
            "/sse" => {
                let [first, second, third] = sse_events();
                Response::sse(paced(vec![
                    (Duration::ZERO, first),
                    (Duration::from_millis(300), second),
                    (Duration::from_millis(300), third),
                ]))
            }
            "/big-stream" => {
                let body = Bytes::from(words(MEBIBYTE));
                let chunks = (0..MEBIBYTE / BIG_CHUNK).map(move |index| {
                    Ok::<_, Infallible>(body.slice(index * BIG_CHUNK..(index + 1) * BIG_CHUNK))
                });
                Response::stream(stream::iter(chunks))
                    .with_header(header::CONTENT_TYPE, text_plain())
            }
            _ => Response::text("unknown").with_status(StatusCode::NOT_FOUND),
        }
    }
}

/// `Routes` behind the default compression, again at `/gzip-only` with brotli off, and at
/// `/off` with both codings off.
fn server() -> ServerHandle {
    start(
        Serve::new()
            .options(test_options().shutdown_grace(Duration::from_secs(1)))
            .app(
                Application::new(|| Routes)
                    .name("all")
                    .layer(Compression::new()),
            )
            .app(
                Application::new(|| Routes)
                    .name("gzip-only")
                    .route_prefix("/gzip-only")
                    .layer(Compression::new().brotli(false)),
            )
            .app(
                Application::new(|| Routes)
                    .name("off")
                    .route_prefix("/off")
                    .layer(Compression::new().gzip(false).brotli(false)),
            ),
    )
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// `method path` with an `Accept-Encoding` (none when `None`) on a new connection.
fn fetch(addr: SocketAddr, method: &str, path: &str, accept: Option<&str>) -> RawResponse {
    let mut stream = connect(addr);
    fetch_on(&mut stream, method, path, accept)
}

fn fetch_on(stream: &mut TcpStream, method: &str, path: &str, accept: Option<&str>) -> RawResponse {
    stream
        .write_all(request_bytes(method, path, accept).as_bytes())
        .unwrap();
    read_response(stream, method == "HEAD")
}

fn request_bytes(method: &str, path: &str, accept: Option<&str>) -> String {
    let accept = accept
        .map(|accept| format!("Accept-Encoding: {accept}\r\n"))
        .unwrap_or_default();
    format!("{method} {path} HTTP/1.1\r\nHost: test\r\n{accept}\r\n")
}

/// The response's head, redacted (the body may be binary).
fn head(response: &RawResponse) -> String {
    let end = response.raw.find("\r\n\r\n").expect("a head") + 4;
    redact(&response.raw[..end])
}

/// The redacted head of a `200` with a whole body of `length` bytes and `headers` (each line
/// ending in CRLF) after the engine's own.
fn whole_head(length: usize, headers: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: {length}\r\n\
         {headers}\r\n"
    )
}

const VARY: &str = "vary: Accept-Encoding\r\n";

/// Asserts `response` is `body` compressed with `coding` under `headers` (its content type and
/// anything before `vary`), and smaller than `body`.
fn assert_compressed(response: &RawResponse, coding: &str, headers: &str, body: &[u8]) {
    assert_eq!(
        head(response),
        whole_head(
            response.body.len(),
            &format!("{headers}{VARY}content-encoding: {coding}\r\n")
        )
    );
    assert!(
        response.body.len() < body.len(),
        "{coding}: {} bytes for {}",
        response.body.len(),
        body.len()
    );
    assert_eq!(decode(coding, &response.body), body, "{coding}");
}

/// A socket reading a chunked body one chunk at a time.
struct ChunkReader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl ChunkReader {
    fn get(addr: SocketAddr, path: &str, accept: &str) -> Self {
        let mut stream = connect(addr);
        stream
            .write_all(request_bytes("GET", path, Some(accept)).as_bytes())
            .unwrap();
        ChunkReader {
            stream,
            buf: Vec::new(),
        }
    }

    fn fill(&mut self) {
        let mut piece = [0u8; 16 * 1024];
        match self.stream.read(&mut piece) {
            Ok(0) => panic!("closed with {} bytes unread", self.buf.len()),
            Ok(read) => self.buf.extend_from_slice(&piece[..read]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => panic!("reset"),
            Err(error) => panic!("read failed: {error}"),
        }
    }

    fn position(&self, needle: &[u8]) -> Option<usize> {
        self.buf
            .windows(needle.len())
            .position(|window| window == needle)
    }

    /// The head, redacted.
    fn head(&mut self) -> String {
        loop {
            if let Some(end) = self.position(b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return redact(&String::from_utf8(head).expect("ascii head"));
            }
            self.fill();
        }
    }

    /// The next chunk's data, `None` for the last chunk.
    fn chunk(&mut self) -> Option<Vec<u8>> {
        let line_end = loop {
            match self.position(b"\r\n") {
                Some(end) => break end,
                None => self.fill(),
            }
        };
        let size_text = std::str::from_utf8(&self.buf[..line_end]).expect("ascii size");
        let size = usize::from_str_radix(size_text, 16).expect("hex size");
        let total = if size == 0 {
            line_end + 4
        } else {
            line_end + 2 + size + 2
        };
        while self.buf.len() < total {
            self.fill();
        }
        assert_eq!(&self.buf[total - 2..total], b"\r\n");
        let raw: Vec<u8> = self.buf.drain(..total).collect();
        (size > 0).then(|| raw[line_end + 2..line_end + 2 + size].to_vec())
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Negotiation
// ---------------------------------------------------------------------------------------------

#[test]
fn the_coding_follows_accept_encoding_and_its_weights() {
    let server = server();
    let addr = server.local_addr();
    let body = words(4000);
    for (accept, coding) in [
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, deflate, br, zstd", "br"),
        ("gzip;q=1.0, br;q=0.9", "gzip"),
        ("br;q=0.5, gzip;q=0.5", "br"),
        ("deflate, GZIP;q=0.2", "gzip"),
        ("*", "br"),
        ("br;q=0, *;q=0.1", "gzip"),
        ("br;q=1.5, gzip;q=0.1", "gzip"),
    ] {
        let response = fetch(addr, "GET", "/text", Some(accept));
        assert_eq!(
            response.header("content-encoding"),
            Some(coding),
            "{accept}"
        );
        assert_compressed(&response, coding, TEXT_PLAIN, body.as_bytes());
    }
    // A JSON body, the other common case.
    let json = format!("{{\"text\":\"{}\"}}", words(4000));
    let response = fetch(addr, "GET", "/json", Some("br"));
    assert_compressed(
        &response,
        "br",
        "content-type: application/json\r\n",
        json.as_bytes(),
    );
    // With brotli off, a client preferring it gets gzip, and one accepting only it, identity.
    let response = fetch(addr, "GET", "/gzip-only/text", Some("br, gzip;q=0.5"));
    assert_compressed(&response, "gzip", TEXT_PLAIN, body.as_bytes());
    let response = fetch(addr, "GET", "/gzip-only/text", Some("br"));
    assert_eq!(
        response.redacted(),
        format!("{}{body}", whole_head(4000, &format!("{TEXT_PLAIN}{VARY}")))
    );
    // Both off: the layer passes the response through untouched, without Vary.
    let response = fetch(addr, "GET", "/off/text", Some("br, gzip"));
    assert_eq!(
        response.redacted(),
        format!("{}{body}", whole_head(4000, TEXT_PLAIN))
    );
}

#[test]
fn a_client_that_asks_for_nothing_gets_identity_and_vary() {
    let server = server();
    let addr = server.local_addr();
    let body = words(4000);
    let identity = format!("{}{body}", whole_head(4000, &format!("{TEXT_PLAIN}{VARY}")));
    for accept in [
        None,
        Some(""),
        Some("identity"),
        Some("identity;q=1, gzip;q=0"),
        Some("gzip;q=0, br;q=0"),
        Some("deflate, zstd"),
        Some("gzip;q=high"),
    ] {
        let response = fetch(addr, "GET", "/text", accept);
        assert_eq!(response.redacted(), identity, "{accept:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. What is left alone
// ---------------------------------------------------------------------------------------------

#[test]
fn a_body_below_the_threshold_is_sent_as_it_is_with_vary() {
    let server = server();
    let addr = server.local_addr();
    let small = words(1023);
    assert_eq!(
        fetch(addr, "GET", "/text?bytes=1023", Some("gzip, br")).redacted(),
        format!(
            "{}{small}",
            whole_head(1023, &format!("{TEXT_PLAIN}{VARY}"))
        )
    );
    // At the threshold it is compressed.
    let response = fetch(addr, "GET", "/text?bytes=1024", Some("gzip, br"));
    assert_compressed(&response, "br", TEXT_PLAIN, words(1024).as_bytes());
}

#[test]
fn an_encoded_body_an_image_and_a_204_are_left_alone() {
    let server = server();
    let addr = server.local_addr();
    let body = words(4000);
    // Already gzip: not encoded twice, and no Vary — the answer does not depend on the header.
    let encoded = gzip(body.as_bytes());
    let response = fetch(addr, "GET", "/encoded", Some("br, gzip"));
    assert_eq!(
        head(&response),
        whole_head(
            encoded.len(),
            &format!("{TEXT_PLAIN}content-encoding: gzip\r\n")
        )
    );
    assert_eq!(response.body, encoded);
    assert_eq!(
        fetch(addr, "GET", "/png", Some("br, gzip")).redacted(),
        format!("{}{body}", whole_head(4000, "content-type: image/png\r\n"))
    );
    assert_eq!(
        fetch(addr, "GET", "/no-content", Some("br, gzip")).redacted(),
        format!(
            "HTTP/1.1 204 No Content\r\ndate: <date>\r\nx-request-id: <id>\r\n{TEXT_PLAIN}\r\n"
        )
    );
}

#[test]
fn an_encoded_stream_is_left_alone() {
    let server = server();
    let addr = server.local_addr();
    for accept in ["gzip", "br, gzip"] {
        let mut reader = ChunkReader::get(addr, "/encoded-stream", accept);
        // No second coding and no Vary, as for a whole encoded body.
        assert_eq!(
            reader.head(),
            chunked_head(false, &format!("{TEXT_PLAIN}content-encoding: gzip\r\n")),
            "{accept}"
        );
        // Each chunk the handler's bytes exactly, one gzip layer over the text.
        let [first, second] = encoded_stream_pieces();
        assert_eq!(reader.chunk().as_deref(), Some(&first[..]), "{accept}");
        assert_eq!(reader.chunk().as_deref(), Some(&second[..]), "{accept}");
        assert_eq!(reader.chunk(), None, "{accept}");
        assert_eq!(
            decode("gzip", &[first, second].concat()),
            words(4000).as_bytes()
        );
    }
}

#[test]
fn head_is_never_compressed_and_states_the_get_framing() {
    let server = server();
    let addr = server.local_addr();
    let mut stream = connect(addr);
    // The engine's HEAD answer (the GET's length, no body) with the Vary a GET would carry.
    let response = fetch_on(&mut stream, "HEAD", "/text", Some("gzip, br"));
    assert_eq!(
        response.redacted(),
        whole_head(4000, &format!("{TEXT_PLAIN}{VARY}"))
    );
    // A streamed body: the head only, the stream never polled — and, since its GET is always
    // encoded, the same Content-Encoding the GET would carry.
    let response = fetch_on(&mut stream, "HEAD", "/paced", Some("gzip, br"));
    assert_eq!(
        response.redacted(),
        chunked_head(
            false,
            &format!("{TEXT_PLAIN}{VARY}content-encoding: br\r\n")
        )
    );
    // The connection is still framed right: the next GET on it is compressed.
    let response = fetch_on(&mut stream, "GET", "/text", Some("gzip"));
    assert_compressed(&response, "gzip", TEXT_PLAIN, words(4000).as_bytes());
}

// ---------------------------------------------------------------------------------------------
// 3. Validators
// ---------------------------------------------------------------------------------------------

#[test]
fn a_strong_etag_is_weakened_and_the_handlers_length_dropped() {
    let server = server();
    let addr = server.local_addr();
    let body = words(4000);
    let response = fetch(addr, "GET", "/etag", Some("gzip"));
    assert_eq!(
        head(&response),
        whole_head(
            response.body.len(),
            &format!("{TEXT_PLAIN}{VARY}etag: W/\"v1\"\r\ncontent-encoding: gzip\r\n")
        )
    );
    assert_eq!(decode("gzip", &response.body), body.as_bytes());
    // Not compressed: the tag stays strong.
    assert_eq!(
        fetch(addr, "GET", "/etag", None).redacted(),
        format!(
            "{}{body}",
            whole_head(4000, &format!("{TEXT_PLAIN}etag: \"v1\"\r\n{VARY}"))
        )
    );
    // A 304 for a compressible type, to a client that negotiated a coding, matches the
    // compressed 200's tag; one that does not say its type is left alone (it may stand for
    // a video whose strong tag a range request needs).
    assert_eq!(
        fetch(addr, "GET", "/not-modified", Some("gzip")).redacted(),
        format!(
            "HTTP/1.1 304 Not Modified\r\ndate: <date>\r\nx-request-id: <id>\r\n\
             content-type: text/plain\r\n{VARY}etag: W/\"v1\"\r\n\r\n"
        )
    );
    assert_eq!(
        fetch(addr, "GET", "/not-modified-untyped", Some("gzip")).redacted(),
        "HTTP/1.1 304 Not Modified\r\ndate: <date>\r\nx-request-id: <id>\r\n\
         etag: \"v1\"\r\n\r\n"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Streams
// ---------------------------------------------------------------------------------------------

#[test]
fn each_streamed_chunk_arrives_compressed_as_soon_as_it_is_produced() {
    let server = server();
    let addr = server.local_addr();
    for coding in ["gzip", "br"] {
        let start = Instant::now();
        let mut reader = ChunkReader::get(addr, "/paced", coding);
        assert_eq!(
            reader.head(),
            chunked_head(
                false,
                &format!("{TEXT_PLAIN}{VARY}content-encoding: {coding}\r\n")
            )
        );
        let mut decoder = StreamDecoder::new(coding);
        let first = reader.chunk().expect("the first chunk");
        assert_eq!(decoder.feed(&first), PACED[0].as_bytes(), "{coding}");
        let first_at = start.elapsed();
        assert!(
            first_at < PAUSE / 2,
            "{coding}: the first piece took {first_at:?}: it waited for the second"
        );
        let second = reader.chunk().expect("the second chunk");
        assert!(start.elapsed() >= PAUSE * 2 / 3, "{coding}: no pause");
        assert_eq!(decoder.feed(&second), PACED[1].as_bytes(), "{coding}");
        let third = reader.chunk().expect("the third chunk");
        assert_eq!(decoder.feed(&third), PACED[2].as_bytes(), "{coding}");
        // The coding's end, in a chunk of its own, decodes to nothing more.
        let end = reader.chunk().expect("the trailer chunk");
        assert_eq!(decoder.feed(&end), b"", "{coding}");
        assert_eq!(reader.chunk(), None, "{coding}: the last chunk");
        decoder.finish();
    }
}

#[test]
fn server_sent_events_decode_event_by_event() {
    let server = server();
    let addr = server.local_addr();
    for coding in ["br", "gzip"] {
        let mut reader = ChunkReader::get(addr, "/sse", &format!("{coding}, identity;q=0.5"));
        assert_eq!(
            reader.head(),
            chunked_head(
                false,
                &format!(
                    "content-type: text/event-stream\r\ncache-control: no-cache\r\n{VARY}\
                 content-encoding: {coding}\r\n"
                )
            )
        );
        let mut decoder = StreamDecoder::new(coding);
        for event in sse_events() {
            let chunk = reader.chunk().expect("an event's chunk");
            assert_eq!(
                String::from_utf8(decoder.feed(&chunk)).unwrap(),
                event.to_string(),
                "{coding}"
            );
        }
        let end = reader.chunk().expect("the trailer chunk");
        assert_eq!(decoder.feed(&end), b"");
        assert_eq!(reader.chunk(), None);
        decoder.finish();
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Size
// ---------------------------------------------------------------------------------------------

#[test]
fn a_mebibyte_round_trips_whole_and_streamed() {
    let server = server();
    let addr = server.local_addr();
    let body = words(MEBIBYTE);
    for coding in ["gzip", "br"] {
        let response = fetch(
            addr,
            "GET",
            &format!("/text?bytes={MEBIBYTE}"),
            Some(coding),
        );
        assert_compressed(&response, coding, TEXT_PLAIN, body.as_bytes());
        // Streamed in 64 KiB chunks: one compressed chunk for each, decoding to it.
        let mut reader = ChunkReader::get(addr, "/big-stream", coding);
        assert_eq!(
            reader.head(),
            chunked_head(
                false,
                &format!("{TEXT_PLAIN}{VARY}content-encoding: {coding}\r\n")
            )
        );
        let mut decoder = StreamDecoder::new(coding);
        let mut decoded = Vec::new();
        let mut encoded = 0;
        while let Some(chunk) = reader.chunk() {
            encoded += chunk.len();
            decoded.extend(decoder.feed(&chunk));
        }
        decoder.finish();
        assert_eq!(decoded.len(), MEBIBYTE, "{coding}");
        assert!(
            decoded == body.as_bytes(),
            "{coding}: the stream decodes to the body"
        );
        assert!(encoded < MEBIBYTE / 2, "{coding}: {encoded} bytes");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. A real client
// ---------------------------------------------------------------------------------------------

/// ureq is built without its `gzip` feature here (`default-features = false`), so it neither
/// asks for nor decodes a coding: it gets identity unless told to ask, and then the raw gzip.
#[test]
fn ureq_gets_identity_by_default_and_gzip_when_it_asks() {
    let server = server();
    let url = format!("http://{}/text", server.local_addr());
    let agent = ureq::Agent::new_with_defaults();
    let body = words(4000);

    let mut response = agent.get(&url).call().expect("ureq request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("content-encoding"), None);
    assert_eq!(response.headers()["vary"], "Accept-Encoding");
    assert_eq!(response.body_mut().read_to_string().unwrap(), body);

    let mut response = agent
        .get(&url)
        .header("accept-encoding", "gzip")
        .call()
        .expect("ureq request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["vary"], "Accept-Encoding");
    let encoded = response.body_mut().read_to_vec().unwrap();
    assert_eq!(
        response.headers()["content-length"],
        encoded.len().to_string().as_str()
    );
    assert_eq!(decode("gzip", &encoded), body.as_bytes());
}
