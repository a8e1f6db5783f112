//! Streamed responses over real loopback sockets: chunked framing, chunks sent as soon as the
//! stream yields them, backpressure, the stream dropped when the client leaves or the request
//! times out, HTTP/1.0 close-delimited bodies, HEAD and body-less statuses, a failing stream,
//! a real HTTP client's reading, `!Send` streams, server-sent events and the streaming example.
//! Responses are compared byte for byte, with only the `date` and generated `x-request-id`
//! values redacted; the server's side is observed through atomics its streams update.

mod common;

use std::cell::Cell;
use std::convert::Infallible;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread::sleep;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use ringserve::rt::stream::{self, Stream, StreamExt};
use ringserve::sse::Event;
use ringserve::{
    Application, Deployment, HeaderName, HeaderValue, HttpOptions, Request, Response, Serve,
    ServerHandle, StatusCode, header,
};

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

fn serve_with<F>(options: HttpOptions, handler: F) -> ServerHandle
where
    F: Fn(&Request) -> Response + Clone + Send + Sync + 'static,
{
    start(
        Serve::new()
            .options(options)
            .app(Application::new(move || Handler(handler.clone()))),
    )
}

fn serve<F>(handler: F) -> ServerHandle
where
    F: Fn(&Request) -> Response + Clone + Send + Sync + 'static,
{
    serve_with(short_grace_options(), handler)
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// What the test thread can see of the streams a server made: how often they were polled, how
/// many chunks they yielded, how many were dropped. Shared by every stream made with it.
#[derive(Clone, Default)]
struct Probes {
    polls: Arc<AtomicUsize>,
    items: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Probes {
    fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }

    fn items(&self) -> usize {
        self.items.load(Ordering::SeqCst)
    }

    fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    /// Wraps `inner` so that its polls, items and drop are counted.
    fn wrap<S: Stream>(&self, inner: S) -> Probed<S> {
        Probed {
            inner: Box::pin(inner),
            probes: self.clone(),
        }
    }

    /// Waits until `count` streams have been dropped, and returns how long that took.
    fn wait_for_drops(&self, count: usize, within: Duration) -> Duration {
        wait_until(&format!("{count} stream(s) dropped"), within, || {
            self.drops() >= count
        })
    }
}

/// A stream with a drop guard and counters.
struct Probed<S> {
    inner: Pin<Box<S>>,
    probes: Probes,
}

impl<S: Stream> Stream for Probed<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.probes.polls.fetch_add(1, Ordering::SeqCst);
        let polled = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(_)) = polled {
            self.probes.items.fetch_add(1, Ordering::SeqCst);
        }
        polled
    }
}

impl<S> Drop for Probed<S> {
    fn drop(&mut self) {
        self.probes.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// These chunks, then a wait that does not end within any test. The wait is a real timer,
/// not `std::future::pending()`: a task that nothing can ever wake may be dropped by glommio
/// on its own, which would drop the stream even if the engine forgot to watch the client.
fn then_forever(
    chunks: &'static [&'static str],
) -> impl Stream<Item = Result<&'static str, Infallible>> {
    ready(chunks).chain(paced(vec![(FOREVER, "never")]))
}

const FOREVER: Duration = Duration::from_secs(3600);

const BIG_CHUNK: usize = 64 * 1024;
const BIG_CHUNKS: usize = 1024;

/// The byte every position of chunk `index` of the big stream holds.
fn big_byte(index: usize) -> u8 {
    (index % 251) as u8
}

/// 64 MiB in 64 KiB chunks, each ready at once, chunk `i` filled with `big_byte(i)`.
fn big() -> impl Stream<Item = Result<Bytes, Infallible>> {
    stream::iter(0..BIG_CHUNKS).map(|index| Ok(Bytes::from(vec![big_byte(index); BIG_CHUNK])))
}

const ENDLESS_CHUNKS: usize = 512 * 1024;

/// Chunks of 1 KiB, ready at once, 512 MiB in all: far more than a client reads in the time
/// these tests wait (a bound, so that an engine that buffers without limit cannot eat all
/// memory).
fn endless() -> impl Stream<Item = Result<Bytes, Infallible>> {
    stream::repeat(Bytes::from(vec![b'x'; 1024]))
        .take(ENDLESS_CHUNKS)
        .map(Ok)
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// One client connection that reads responses piece by piece (head, then chunk by chunk),
/// keeping a transcript of the exact bytes it consumed.
struct Client {
    stream: TcpStream,
    /// Received and not yet consumed.
    buf: Vec<u8>,
    /// Consumed, for byte-exact comparison.
    transcript: Vec<u8>,
    /// Off for the large bodies, which are checked as they arrive instead.
    record: bool,
}

/// One piece of a chunked body, as the client read it.
#[derive(Debug, PartialEq, Eq)]
enum Chunk {
    Data(Vec<u8>),
    /// The last chunk (`0\r\n\r\n`): the body is complete.
    Last,
    /// The connection closed before a whole chunk arrived; these bytes of one had.
    Closed(Vec<u8>),
}

fn data(text: &str) -> Chunk {
    Chunk::Data(text.as_bytes().to_vec())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Client {
            stream: connect(addr),
            buf: Vec::new(),
            transcript: Vec::new(),
            record: true,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send a request");
    }

    fn get(&mut self, path: &str) {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
    }

    /// Reads what has arrived; false at end of stream (or a reset).
    fn fill(&mut self) -> bool {
        let mut piece = vec![0u8; 64 * 1024];
        match self.stream.read(&mut piece) {
            Ok(0) => false,
            Ok(read) => {
                self.buf.extend_from_slice(&piece[..read]);
                true
            }
            Err(error) if error.kind() == ErrorKind::ConnectionReset => false,
            Err(error) => panic!(
                "read failed ({error}) with {:?} unconsumed after {:?}",
                String::from_utf8_lossy(&self.buf),
                redact(&String::from_utf8_lossy(&self.transcript))
            ),
        }
    }

    fn take(&mut self, count: usize) -> Vec<u8> {
        let taken: Vec<u8> = self.buf.drain(..count).collect();
        if self.record {
            self.transcript.extend_from_slice(&taken);
        }
        taken
    }

    /// The consumed bytes so far, redacted, and a fresh transcript.
    fn transcript(&mut self) -> String {
        let text = redact(&String::from_utf8_lossy(&self.transcript));
        self.transcript.clear();
        text
    }

    /// Reads one response head, status line to empty line; returns it redacted.
    fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = self.take(end + 4);
                return redact(&String::from_utf8(head).expect("ascii head"));
            }
            assert!(
                self.fill(),
                "connection closed inside a head: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Reads one chunk of a chunked body.
    fn read_chunk(&mut self) -> Chunk {
        let line_end = loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                break end;
            }
            if !self.fill() {
                return self.closed();
            }
        };
        let size_text = std::str::from_utf8(&self.buf[..line_end]).expect("ascii chunk size");
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {size_text:?}"));
        let total = if size == 0 {
            // The last chunk, then an empty trailer section.
            line_end + 4
        } else {
            line_end + 2 + size + 2
        };
        while self.buf.len() < total {
            if !self.fill() {
                return self.closed();
            }
        }
        assert_eq!(
            &self.buf[total - 2..total],
            b"\r\n",
            "a chunk (or the trailer section) must end with CRLF"
        );
        let raw = self.take(total);
        if size == 0 {
            Chunk::Last
        } else {
            Chunk::Data(raw[line_end + 2..line_end + 2 + size].to_vec())
        }
    }

    fn closed(&mut self) -> Chunk {
        let rest = self.buf.len();
        Chunk::Closed(self.take(rest))
    }

    /// Reads a head and a whole chunked body; returns the redacted transcript of both.
    fn read_chunked_response(&mut self) -> String {
        let head = self.read_head();
        assert!(
            head.contains("\r\ntransfer-encoding: chunked\r\n"),
            "not chunked: {head:?}"
        );
        loop {
            match self.read_chunk() {
                Chunk::Data(_) => {}
                Chunk::Last => return self.transcript(),
                Chunk::Closed(partial) => panic!(
                    "connection closed inside a chunked body ({:?} of a chunk) after {:?}",
                    String::from_utf8_lossy(&partial),
                    self.transcript()
                ),
            }
        }
    }

    /// Reads everything until the server closes; returns the redacted transcript.
    fn read_to_close(&mut self) -> String {
        while self.fill() {}
        let rest = self.buf.len();
        self.take(rest);
        self.transcript()
    }
}

const ABC_BODY: &str = "1\r\na\r\n2\r\nbb\r\n3\r\nccc\r\n0\r\n\r\n";

// ---------------------------------------------------------------------------------------------
// 1. Framing
// ---------------------------------------------------------------------------------------------

#[test]
fn a_stream_is_sent_with_exact_chunked_framing() {
    let server = serve(|_: &Request| Response::stream(ready(&["a", "bb", "ccc"])));
    let mut client = Client::new(server.local_addr());
    client.get("/");
    assert_eq!(
        client.read_chunked_response(),
        format!("{}{ABC_BODY}", chunked_head(false, ""))
    );
}

#[test]
fn empty_chunks_are_skipped_never_sent_as_an_early_last_chunk() {
    let server = serve(|request: &Request| match request.route_path() {
        // Empty chunks that are ready at once, and ones that come after a wait.
        "/paced" => Response::stream(paced(vec![
            (Duration::ZERO, ""),
            (Duration::ZERO, "a"),
            (Duration::from_millis(20), ""),
            (Duration::from_millis(20), "bb"),
            (Duration::ZERO, ""),
            (Duration::ZERO, "ccc"),
            (Duration::from_millis(20), ""),
        ])),
        _ => Response::stream(ready(&["", "a", "", "", "bb", "", "ccc", ""])),
    });
    let mut client = Client::new(server.local_addr());
    for path in ["/", "/paced"] {
        client.get(path);
        assert_eq!(
            client.read_chunked_response(),
            format!("{}{ABC_BODY}", chunked_head(false, "")),
            "{path}"
        );
    }
    // Nothing after the real last chunk: the next response starts cleanly.
    client.get("/");
    assert_eq!(
        client.read_chunked_response(),
        format!("{}{ABC_BODY}", chunked_head(false, ""))
    );
}

#[test]
fn handler_headers_are_kept_and_its_framing_headers_ignored() {
    let server = serve(|_: &Request| {
        let long = "z".repeat(300);
        Response::stream(stream::iter(
            ["a".to_owned(), long].into_iter().map(Ok::<_, Infallible>),
        ))
        .with_header(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))
        .with_header(
            header::CONTENT_LENGTH,
            HeaderValue::from_static("not a length"),
        )
        .with_header(header::TRANSFER_ENCODING, HeaderValue::from_static("gzip"))
        .with_header(
            HeaderName::from_static("x-custom"),
            HeaderValue::from_static("kept"),
        )
    });
    let mut client = Client::new(server.local_addr());
    client.get("/");
    assert_eq!(
        client.read_chunked_response(),
        format!(
            "{}1\r\na\r\n12c\r\n{}\r\n0\r\n\r\n",
            chunked_head(false, "content-type: text/plain\r\nx-custom: kept\r\n"),
            "z".repeat(300)
        )
    );
}

/// A stream of known length, as a file or a proxied body is: `content-length` from the
/// handler, the bytes unchunked, and the connection kept; a stream that breaks its length is
/// cut there and the connection closed.
#[test]
fn a_stream_with_a_stated_length_is_sent_unchunked_and_held_to_it() {
    let server = serve(|request: &Request| {
        let chunks: &'static [&'static str] = match request.route_path() {
            "/short" => &["abc", "de"],
            "/long" => &["abcde", "fghij", "klm"],
            _ => &["abc", "defg", "hij"],
        };
        let response = match request.route_path() {
            // Every stated byte, then a stream that never ends: the body is whole anyway.
            "/lingering" => Response::stream(then_forever(&["abcdefghij"])),
            _ => Response::stream(ready(chunks)),
        };
        response.with_header(header::CONTENT_LENGTH, HeaderValue::from_static("10"))
    });
    let addr = server.local_addr();
    let mut stream = connect(addr);
    let exact = get_on(&mut stream, "/");
    assert_eq!(
        exact.redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 10\r\n\r\nabcdefghij"
    );
    // Kept alive: the length delimited the body.
    assert_eq!(get_on(&mut stream, "/").body_text(), "abcdefghij");
    assert_eq!(get_on(&mut stream, "/lingering").body_text(), "abcdefghij");
    assert_eq!(
        get_on(&mut stream, "/").body_text(),
        "abcdefghij",
        "not held by a stream that has said all it stated"
    );
    let head = request(addr, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.header("content-length"), Some("10"));
    assert!(head.body.is_empty());
    for (path, sent) in [("/short", "abcde"), ("/long", "abcdefghij")] {
        let answer = exchange_until_close(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("content-length: 10"), "{head}");
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert_eq!(body, sent, "{path}: what fits the length, then the close");
    }
}

#[test]
fn keep_alive_continues_after_a_chunked_response() {
    let server = serve(|request: &Request| match request.route_path() {
        "/second" => Response::stream(ready(&["second"])),
        _ => Response::stream(paced(vec![
            (Duration::ZERO, "a"),
            (Duration::from_millis(20), "bb"),
            (Duration::ZERO, "ccc"),
        ])),
    });
    let mut client = Client::new(server.local_addr());
    client.get("/");
    assert_eq!(
        client.read_chunked_response(),
        format!("{}{ABC_BODY}", chunked_head(false, ""))
    );
    client.get("/second");
    assert_eq!(
        client.read_chunked_response(),
        format!("{}6\r\nsecond\r\n0\r\n\r\n", chunked_head(false, ""))
    );
    // And a third, after both.
    client.get("/");
    assert_eq!(
        client.read_chunked_response(),
        format!("{}{ABC_BODY}", chunked_head(false, ""))
    );
}

#[test]
fn pipelined_streamed_requests_are_answered_in_order() {
    let server = serve(|request: &Request| match request.route_path() {
        // The first one waits between chunks while the second request sits in the buffer.
        "/slow" => Response::stream(paced(vec![
            (Duration::ZERO, "slow-1"),
            (Duration::from_millis(50), "slow-2"),
        ])),
        _ => Response::stream(ready(&["fast"])),
    });
    let mut client = Client::new(server.local_addr());
    client
        .send(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\nGET /fast HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        client.read_chunked_response(),
        format!(
            "{}6\r\nslow-1\r\n6\r\nslow-2\r\n0\r\n\r\n",
            chunked_head(false, "")
        )
    );
    assert_eq!(
        client.read_chunked_response(),
        format!("{}4\r\nfast\r\n0\r\n\r\n", chunked_head(false, ""))
    );
    // Pipelined the other way round too.
    client
        .send(b"GET /fast HTTP/1.1\r\nHost: test\r\n\r\nGET /slow HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        client.read_chunked_response(),
        format!("{}4\r\nfast\r\n0\r\n\r\n", chunked_head(false, ""))
    );
    assert_eq!(
        client.read_chunked_response(),
        format!(
            "{}6\r\nslow-1\r\n6\r\nslow-2\r\n0\r\n\r\n",
            chunked_head(false, "")
        )
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Each chunk goes out when the stream yields it
// ---------------------------------------------------------------------------------------------

#[test]
fn a_chunk_is_sent_before_the_stream_waits_for_the_next() {
    let server = serve(|_: &Request| {
        Response::stream(paced(vec![
            (Duration::ZERO, "first"),
            (Duration::from_secs(2), "second"),
        ]))
    });
    let mut client = Client::new(server.local_addr());
    let start = Instant::now();
    client.get("/");
    client.read_head();
    assert_eq!(client.read_chunk(), data("first"));
    let first_at = start.elapsed();
    assert!(
        first_at < Duration::from_millis(1500),
        "the first chunk took {first_at:?}: it waited for the second"
    );
    assert_eq!(client.read_chunk(), data("second"));
    let second_at = start.elapsed();
    assert!(
        second_at >= Duration::from_millis(1500),
        "the second chunk came after {second_at:?}, before its 2 s pause ended"
    );
    assert_eq!(client.read_chunk(), Chunk::Last);
    assert_eq!(
        client.transcript(),
        format!(
            "{}5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n",
            chunked_head(false, "")
        )
    );
}

#[test]
fn coalesced_ready_chunks_are_flushed_when_the_stream_waits() {
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve(move |_: &Request| Response::stream(probes.wrap(then_forever(&["a", "bb", "ccc"]))))
    };
    let mut client = Client::new(server.local_addr());
    let start = Instant::now();
    client.get("/");
    client.read_head();
    for chunk in ["a", "bb", "ccc"] {
        assert_eq!(client.read_chunk(), data(chunk));
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_millis(1500),
        "the ready chunks took {elapsed:?} to arrive"
    );
    assert_eq!(
        client.transcript(),
        format!(
            "{}1\r\na\r\n2\r\nbb\r\n3\r\nccc\r\n",
            chunked_head(false, "")
        )
    );
    assert_eq!(probes.drops(), 0, "the stream is still waiting");
    drop(client);
    probes.wait_for_drops(1, Duration::from_secs(2));
}

// ---------------------------------------------------------------------------------------------
// 3. Backpressure
// ---------------------------------------------------------------------------------------------

/// Reads the rest of the big body, checking every byte's value by its position; returns the
/// body's length and whether it ended with the last chunk.
fn read_big_body(client: &mut Client) -> (usize, bool) {
    client.record = false;
    let mut offset = 0usize;
    loop {
        match client.read_chunk() {
            Chunk::Data(bytes) => {
                let mut position = offset;
                for piece in bytes.chunks(BIG_CHUNK) {
                    // A piece may straddle two of the stream's chunks.
                    let split = (BIG_CHUNK - position % BIG_CHUNK).min(piece.len());
                    let (head, tail) = piece.split_at(split);
                    let expected = big_byte(position / BIG_CHUNK);
                    assert!(
                        head.iter().all(|&byte| byte == expected),
                        "wrong bytes near offset {position}"
                    );
                    if !tail.is_empty() {
                        let expected = big_byte(position / BIG_CHUNK + 1);
                        assert!(
                            tail.iter().all(|&byte| byte == expected),
                            "wrong bytes near offset {}",
                            position + split
                        );
                    }
                    position += piece.len();
                }
                offset = position;
            }
            Chunk::Last => return (offset, true),
            Chunk::Closed(_) => return (offset, false),
        }
    }
}

#[test]
fn a_client_that_stops_reading_stops_the_stream() {
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve(move |_: &Request| Response::stream(probes.wrap(big())))
    };
    let mut client = Client::new(server.local_addr());
    client.get("/");
    assert_eq!(client.read_head(), chunked_head(false, ""));
    sleep(Duration::from_secs(1));
    let produced = probes.items();
    assert!(produced >= 1, "the stream never started");
    assert!(
        produced < 400,
        "{produced} chunks of 64 KiB produced while the client read nothing: the stream is \
         polled faster than the client reads"
    );
    let (length, complete) = read_big_body(&mut client);
    assert!(complete, "the body ended without its last chunk");
    assert_eq!(length, BIG_CHUNK * BIG_CHUNKS);
    assert_eq!(probes.items(), BIG_CHUNKS);
    probes.wait_for_drops(1, Duration::from_secs(2));
    // The connection is still good.
    client.record = true;
    client.send(b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(client.read_head(), chunked_head(false, ""));
}

// ---------------------------------------------------------------------------------------------
// 4. The client going away drops the stream
// ---------------------------------------------------------------------------------------------

#[test]
fn a_client_that_leaves_while_the_stream_waits_drops_it() {
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve(move |_: &Request| Response::stream(probes.wrap(then_forever(&["first"]))))
    };
    let mut client = Client::new(server.local_addr());
    client.get("/");
    client.read_head();
    assert_eq!(client.read_chunk(), data("first"));
    assert_eq!(probes.drops(), 0);
    drop(client);
    probes.wait_for_drops(1, Duration::from_secs(2));
}

#[test]
fn a_client_that_leaves_during_a_pause_between_chunks_drops_the_stream() {
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve(move |_: &Request| {
            Response::stream(probes.wrap(paced(vec![
                (Duration::ZERO, "one"),
                (Duration::from_millis(10), "two"),
                (FOREVER, "three"),
                (Duration::ZERO, "four"),
            ])))
        })
    };
    let mut client = Client::new(server.local_addr());
    client.get("/");
    client.read_head();
    assert_eq!(client.read_chunk(), data("one"));
    assert_eq!(client.read_chunk(), data("two"));
    // Well inside the long pause.
    sleep(Duration::from_millis(100));
    drop(client);
    probes.wait_for_drops(1, Duration::from_secs(2));
    assert_eq!(
        probes.items(),
        2,
        "the stream went on after the client left"
    );
}

#[test]
fn a_client_that_leaves_while_the_server_is_blocked_writing_drops_the_stream() {
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve(move |_: &Request| Response::stream(probes.wrap(big())))
    };
    let mut client = Client::new(server.local_addr());
    client.get("/");
    client.read_head();
    // Let the socket buffers fill, so the server waits for the client to read.
    wait_until("the stream to start", Duration::from_secs(5), || {
        probes.items() > 0
    });
    sleep(Duration::from_millis(300));
    // Closing with unread bytes resets the connection.
    drop(client);
    probes.wait_for_drops(1, Duration::from_secs(2));
    assert!(probes.items() < BIG_CHUNKS);
}

// ---------------------------------------------------------------------------------------------
// 5. The request timeout drops the stream
// ---------------------------------------------------------------------------------------------

fn timeout_options() -> HttpOptions {
    short_grace_options().request_timeout(Duration::from_millis(300))
}

#[test]
fn the_request_timeout_cuts_a_waiting_stream() {
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve_with(timeout_options(), move |_: &Request| {
            Response::stream(probes.wrap(then_forever(&["first"])))
        })
    };
    let mut client = Client::new(server.local_addr());
    let start = Instant::now();
    client.get("/");
    let raw = client.read_to_close();
    let closed_at = start.elapsed();
    assert_eq!(
        raw,
        format!("{}5\r\nfirst\r\n", chunked_head(false, "")),
        "expected the first chunk and then a close without the last chunk"
    );
    assert!(
        closed_at >= Duration::from_millis(250),
        "closed after {closed_at:?}, before the 300 ms timeout"
    );
    assert!(
        closed_at < Duration::from_secs(5),
        "closed only after {closed_at:?}"
    );
    probes.wait_for_drops(1, Duration::from_secs(2));
}

#[test]
fn the_request_timeout_cuts_a_stream_that_never_waits() {
    // Every chunk is ready at once and the client reads them as fast as they come: the stream
    // never has to wait, and the timeout must still end it.
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve_with(timeout_options(), move |_: &Request| {
            Response::stream(probes.wrap(endless()))
        })
    };
    let mut client = Client::new(server.local_addr());
    let start = Instant::now();
    client.get("/");
    assert_eq!(client.read_head(), chunked_head(false, ""));
    client.record = false;
    loop {
        match client.read_chunk() {
            Chunk::Data(_) => {}
            Chunk::Last => panic!(
                "the stream ran to its end ({} chunks) after {:?}: the 300 ms request timeout \
                 never cut it",
                probes.items(),
                start.elapsed()
            ),
            Chunk::Closed(_) => break,
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still streaming {:?} after a 300 ms request timeout ({} chunks produced)",
            start.elapsed(),
            probes.items()
        );
    }
    let closed_at = start.elapsed();
    assert!(
        closed_at >= Duration::from_millis(250),
        "closed after {closed_at:?}, before the 300 ms timeout"
    );
    probes.wait_for_drops(1, Duration::from_secs(2));
}

#[test]
fn the_request_timeout_cuts_a_stream_whose_client_stopped_reading() {
    // The server is blocked writing to a client that reads nothing: the timeout must still
    // drop the stream (not only the 30 s send stall timeout).
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve_with(timeout_options(), move |_: &Request| {
            Response::stream(probes.wrap(big()))
        })
    };
    let mut client = Client::new(server.local_addr());
    let start = Instant::now();
    client.get("/");
    assert_eq!(client.read_head(), chunked_head(false, ""));
    wait_until(
        "the stream dropped by the 300 ms request timeout",
        Duration::from_secs(3),
        || probes.drops() >= 1,
    );
    let dropped_at = start.elapsed();
    assert!(
        dropped_at >= Duration::from_millis(250),
        "dropped after {dropped_at:?}, before the 300 ms timeout"
    );
    let (length, complete) = read_big_body(&mut client);
    assert!(!complete, "a cut body must not end with the last chunk");
    assert!(length < BIG_CHUNK * BIG_CHUNKS);
}

// ---------------------------------------------------------------------------------------------
// 6. HTTP/1.0
// ---------------------------------------------------------------------------------------------

#[test]
fn an_http10_client_gets_the_raw_body_delimited_by_the_close() {
    let server = serve(|_: &Request| {
        Response::stream(paced(vec![
            (Duration::ZERO, "a"),
            (Duration::ZERO, ""),
            (Duration::from_millis(20), "bb"),
            (Duration::ZERO, "ccc"),
        ]))
        .with_header(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))
    });
    let expected = "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\nconnection: close\r\n\
                    content-type: text/plain\r\n\r\nabbccc";
    for request in [
        &b"GET / HTTP/1.0\r\nHost: test\r\n\r\n"[..],
        // Asking for keep-alive changes nothing: only the close can end this body.
        b"GET / HTTP/1.0\r\nHost: test\r\nConnection: keep-alive\r\n\r\n",
    ] {
        let mut client = Client::new(server.local_addr());
        client.send(request);
        assert_eq!(
            client.read_to_close(),
            expected,
            "{:?}",
            String::from_utf8_lossy(request)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 7. HEAD
// ---------------------------------------------------------------------------------------------

#[test]
fn head_sends_the_head_only_and_never_polls_the_stream() {
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve(move |_: &Request| {
            Response::stream(probes.wrap(ready(&["a", "bb", "ccc"])))
                .with_header(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))
        })
    };
    let mut client = Client::new(server.local_addr());
    client.send(b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
    client.read_head();
    assert_eq!(
        client.transcript(),
        chunked_head(false, "content-type: text/plain\r\n")
    );
    probes.wait_for_drops(1, Duration::from_secs(2));
    assert_eq!(probes.polls(), 0, "a HEAD response's stream was polled");
    // The next request on the connection starts cleanly (no body bytes were sent).
    client.get("/");
    assert_eq!(
        client.read_chunked_response(),
        format!(
            "{}{ABC_BODY}",
            chunked_head(false, "content-type: text/plain\r\n")
        )
    );
    assert!(probes.polls() > 0);
}

// ---------------------------------------------------------------------------------------------
// 8. Statuses without content
// ---------------------------------------------------------------------------------------------

#[test]
fn bodyless_statuses_send_no_body_and_never_poll_the_stream() {
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve(move |request: &Request| {
            let status = match request.route_path() {
                "/204" => StatusCode::NO_CONTENT,
                "/304" => StatusCode::NOT_MODIFIED,
                "/205" => StatusCode::RESET_CONTENT,
                _ => StatusCode::OK,
            };
            Response::stream(probes.wrap(ready(&["a", "bb", "ccc"]))).with_status(status)
        })
    };
    let mut client = Client::new(server.local_addr());
    let cases = [
        (
            "/204",
            "HTTP/1.1 204 No Content\r\ndate: <date>\r\nx-request-id: <id>\r\n\r\n",
        ),
        (
            "/304",
            "HTTP/1.1 304 Not Modified\r\ndate: <date>\r\nx-request-id: <id>\r\n\r\n",
        ),
        (
            "/205",
            "HTTP/1.1 205 Reset Content\r\ndate: <date>\r\nx-request-id: <id>\r\n\
             content-length: 0\r\n\r\n",
        ),
    ];
    for (count, (path, expected)) in cases.into_iter().enumerate() {
        client.get(path);
        client.read_head();
        assert_eq!(client.transcript(), expected, "{path}");
        probes.wait_for_drops(count + 1, Duration::from_secs(2));
        assert_eq!(probes.polls(), 0, "{path}: the stream was polled");
    }
    // Nothing was sent after those heads: the next response starts cleanly.
    client.get("/");
    assert_eq!(
        client.read_chunked_response(),
        format!("{}{ABC_BODY}", chunked_head(false, ""))
    );
}

// ---------------------------------------------------------------------------------------------
// 9. A stream that fails
// ---------------------------------------------------------------------------------------------

/// `ok`, then (after `pause`) an error; anything polled after the error would be `never`.
fn failing(pause: Duration) -> impl Stream<Item = Result<&'static str, std::io::Error>> {
    stream::unfold(0, move |step| async move {
        match step {
            0 => Some((Ok("ok"), 1)),
            1 => {
                if !pause.is_zero() {
                    ringserve::rt::sleep(pause).await;
                }
                Some((Err(std::io::Error::other("boom")), 2))
            }
            _ => Some((Ok("never"), 3)),
        }
    })
}

#[test]
fn a_failing_stream_ends_the_response_without_the_last_chunk() {
    let probes = Probes::default();
    let server = {
        let probes = probes.clone();
        serve(move |request: &Request| match request.route_path() {
            "/at-once" => Response::stream(probes.wrap(failing(Duration::ZERO))),
            "/first" => Response::stream(
                probes.wrap(stream::once(Err::<&str, _>(std::io::Error::other("boom")))),
            ),
            _ => Response::stream(probes.wrap(failing(Duration::from_millis(50)))),
        })
    };
    for path in ["/at-once", "/after-a-wait"] {
        let mut client = Client::new(server.local_addr());
        // A pipelined request after it must not be answered: the connection is over.
        client.send(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\nGET /at-once HTTP/1.1\r\nHost: test\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(
            client.read_to_close(),
            format!("{}2\r\nok\r\n", chunked_head(false, "")),
            "{path}"
        );
    }
    let mut client = Client::new(server.local_addr());
    client.get("/first");
    assert_eq!(client.read_to_close(), chunked_head(false, ""));
    probes.wait_for_drops(3, Duration::from_secs(2));
    assert_eq!(
        probes.items(),
        2 + 2 + 1,
        "the streams were polled past their errors"
    );
}

/// Regression (review): a panic inside a streamed body used to escape the connection task and
/// kill the shard; it must cut only its own response.
#[test]
fn a_panicking_stream_cuts_its_response_and_the_shard_keeps_serving() {
    let server = serve(|request: &Request| match request.route_path() {
        "/panics-at-once" => Response::stream(
            stream::iter([Ok::<_, Infallible>("ok"), Ok("bad")]).map(|item| {
                if item == Ok("bad") {
                    panic!("stream panics on purpose");
                }
                item
            }),
        ),
        "/panics-after-a-wait" => Response::stream(stream::unfold(0, |step| async move {
            match step {
                0 => Some((Ok::<_, Infallible>("ok"), 1)),
                _ => {
                    ringserve::rt::sleep(Duration::from_millis(20)).await;
                    panic!("stream panics on purpose after a wait")
                }
            }
        })),
        _ => Response::text("alive"),
    });
    for path in ["/panics-at-once", "/panics-after-a-wait"] {
        let mut client = Client::new(server.local_addr());
        client.get(path);
        assert_eq!(
            client.read_to_close(),
            format!("{}2\r\nok\r\n", chunked_head(false, "")),
            "{path}"
        );
        let alive = get(server.local_addr(), "/");
        assert_eq!(alive.body_text(), "alive", "after {path}");
    }
}

// ---------------------------------------------------------------------------------------------
// 10. A real HTTP client agrees
// ---------------------------------------------------------------------------------------------

#[test]
fn ureq_reads_streamed_bodies_and_sees_a_cut_one_as_an_error() {
    let server = serve(|request: &Request| match request.route_path() {
        "/broken" => Response::stream(failing(Duration::from_millis(20))),
        "/big" => Response::stream(
            stream::iter(0..40)
                .map(|index| Ok::<_, Infallible>(format!("{index:04}").repeat(2000))),
        ),
        _ => Response::stream(paced(vec![
            (Duration::ZERO, "a"),
            (Duration::ZERO, ""),
            (Duration::from_millis(20), "bb"),
            (Duration::ZERO, "ccc"),
        ])),
    });
    let base = format!("http://{}", server.local_addr());
    let agent = ureq::Agent::new_with_defaults();
    for _ in 0..2 {
        let mut response = agent.get(&format!("{base}/")).call().expect("ureq request");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["transfer-encoding"], "chunked");
        assert!(!response.headers().contains_key("content-length"));
        assert_eq!(response.body_mut().read_to_string().unwrap(), "abbccc");
    }
    let mut response = agent
        .get(&format!("{base}/big"))
        .call()
        .expect("ureq request");
    let expected: String = (0..40)
        .map(|index| format!("{index:04}").repeat(2000))
        .collect();
    assert_eq!(response.body_mut().read_to_string().unwrap(), expected);

    let mut response = agent
        .get(&format!("{base}/broken"))
        .call()
        .expect("the head of the broken response arrives");
    assert_eq!(response.status(), 200);
    let read = response.body_mut().read_to_string();
    assert!(read.is_err(), "a body cut short read as complete: {read:?}");
}

// ---------------------------------------------------------------------------------------------
// 11. !Send streams
// ---------------------------------------------------------------------------------------------

/// Per-replica state no other core sees, shared with the streams through `Rc`.
struct Counter {
    count: Rc<Cell<u64>>,
}

impl Deployment for Counter {
    async fn call(&self, _request: Request) -> Response {
        let before = self.count.get();
        let count = self.count.clone();
        let chunks = stream::unfold((count, 0), |(count, made)| async move {
            if made == 3 {
                return None;
            }
            // Suspends while holding the `Rc`.
            ringserve::rt::sleep(Duration::from_millis(1)).await;
            count.set(count.get() + 1);
            let chunk = format!("{}\n", count.get());
            Some((Ok::<_, Infallible>(chunk), (count, made + 1)))
        });
        Response::stream(chunks).with_header(
            HeaderName::from_static("x-count-before"),
            HeaderValue::from(before),
        )
    }
}

#[test]
fn a_stream_that_is_not_send_shares_state_with_its_replica() {
    let server = start(
        Serve::new()
            .options(short_grace_options())
            .app(Application::new(|| Counter {
                count: Rc::new(Cell::new(0)),
            })),
    );
    let mut client = Client::new(server.local_addr());
    client.get("/");
    assert_eq!(
        client.read_chunked_response(),
        format!(
            "{}2\r\n1\n\r\n2\r\n2\n\r\n2\r\n3\n\r\n0\r\n\r\n",
            chunked_head(false, "x-count-before: 0\r\n")
        )
    );
    client.get("/");
    assert_eq!(
        client.read_chunked_response(),
        format!(
            "{}2\r\n4\n\r\n2\r\n5\n\r\n2\r\n6\n\r\n0\r\n\r\n",
            chunked_head(false, "x-count-before: 3\r\n")
        )
    );
    // Another connection, same shard, same replica.
    let mut other = Client::new(server.local_addr());
    other.get("/");
    assert_eq!(
        other.read_chunked_response(),
        format!(
            "{}2\r\n7\n\r\n2\r\n8\n\r\n2\r\n9\n\r\n0\r\n\r\n",
            chunked_head(false, "x-count-before: 6\r\n")
        )
    );
}

// ---------------------------------------------------------------------------------------------
// 12. Server-sent events
// ---------------------------------------------------------------------------------------------

#[test]
fn server_sent_events_are_framed_exactly() {
    let server = serve(|_: &Request| {
        let events = [
            Event::new().id("1").event("greeting").data("hello\nworld"),
            Event::new().data("second"),
            Event::new().comment("keep-alive"),
            Event::new().retry(Duration::from_secs(3)).data("x"),
        ];
        Response::sse(stream::iter(events.into_iter().map(Ok::<_, Infallible>)))
    });
    let mut client = Client::new(server.local_addr());
    client.get("/events");
    assert_eq!(
        client.read_chunked_response(),
        format!(
            "{}\
             2f\r\nid: 1\nevent: greeting\ndata: hello\ndata: world\n\n\r\n\
             e\r\ndata: second\n\n\r\n\
             e\r\n: keep-alive\n\n\r\n\
             15\r\nretry: 3000\ndata: x\n\n\r\n\
             0\r\n\r\n",
            chunked_head(
                false,
                "content-type: text/event-stream\r\ncache-control: no-cache\r\n"
            )
        )
    );
}

// ---------------------------------------------------------------------------------------------
// 13. The streaming example's deployment
// ---------------------------------------------------------------------------------------------

/// A copy of `examples/streaming.rs`'s deployment.
mod example {
    use super::*;

    /// Pause between chunks.
    pub const PAUSE: Duration = Duration::from_millis(100);

    pub struct Streamer {
        pub chunks_sent: Rc<Cell<u64>>,
    }

    /// `chunk 0\n` … `chunk 9\n`, one every `PAUSE`.
    fn chunks() -> impl Stream<Item = String> {
        stream::unfold(0, |i| async move {
            if i == 10 {
                return None;
            }
            if i > 0 {
                ringserve::rt::sleep(PAUSE).await;
            }
            Some((format!("chunk {i}\n"), i + 1))
        })
    }

    impl Deployment for Streamer {
        async fn call(&self, request: Request) -> Response {
            let chunks_sent = self.chunks_sent.clone();
            let count = move |chunk: String| {
                chunks_sent.set(chunks_sent.get() + 1);
                chunk
            };
            let response = match request.route_path() {
                "/events" => {
                    Response::sse(chunks().map(count).enumerate().map(|(index, chunk)| {
                        let event = Event::new().id(&index.to_string()).data(chunk.trim_end());
                        Ok::<_, Infallible>(event)
                    }))
                }
                _ => Response::stream(chunks().map(count).map(Ok::<_, Infallible>)),
            };
            let sent = HeaderValue::from(self.chunks_sent.get());
            response.with_header(HeaderName::from_static("x-chunks-sent-before"), sent)
        }
    }
}

#[test]
fn the_streaming_example_sends_ten_chunks_spread_over_time() {
    let server = start(
        Serve::new()
            .options(short_grace_options())
            .app(Application::new(|| example::Streamer {
                chunks_sent: Rc::new(Cell::new(0)),
            })),
    );
    let mut client = Client::new(server.local_addr());
    client.get("/");
    assert_eq!(
        client.read_head(),
        chunked_head(false, "x-chunks-sent-before: 0\r\n")
    );
    let mut arrivals = Vec::new();
    let mut expected = chunked_head(false, "x-chunks-sent-before: 0\r\n");
    for index in 0..10 {
        assert_eq!(client.read_chunk(), data(&format!("chunk {index}\n")));
        arrivals.push(Instant::now());
        expected.push_str(&format!("8\r\nchunk {index}\n\r\n"));
    }
    assert_eq!(client.read_chunk(), Chunk::Last);
    expected.push_str("0\r\n\r\n");
    assert_eq!(client.transcript(), expected);
    let spread = arrivals[9] - arrivals[0];
    assert!(
        spread >= Duration::from_millis(500),
        "the ten chunks arrived within {spread:?}: they were not sent as they were made"
    );

    client.get("/events");
    // `Response::sse`'s headers come first, then the one the example adds.
    expected = chunked_head(
        false,
        "content-type: text/event-stream\r\ncache-control: no-cache\r\n\
         x-chunks-sent-before: 10\r\n",
    );
    for index in 0..10 {
        expected.push_str(&format!("15\r\nid: {index}\ndata: chunk {index}\n\n\r\n"));
    }
    expected.push_str("0\r\n\r\n");
    assert_eq!(client.read_chunked_response(), expected);
}
