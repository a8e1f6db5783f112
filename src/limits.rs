//! Every limit the engine keeps — on clients, on configuration, between shards — with its unit,
//! its default and why.
//!
//! Invariant: every loop over client input and every buffer that grows with it is bounded by one
//! of these numbers. The defaults can be overridden through [`crate::HttpOptions::limits`]; the
//! ceilings are fixed by the codec's representation and checked when the server is built.

use std::time::Duration;

/// Header offsets are kept as `u16` ranges into the head, so a head can be at most 64 KiB.
pub const HEAD_BYTES_CEILING: usize = u16::MAX as usize;

/// The parser's header array lives on the stack; this is its length.
pub const HEADERS_COUNT_CEILING: usize = 128;

/// Bytes of request body discarded while lingering before a close, so that the client reads
/// our error response instead of a reset (nginx's `lingering_close`).
pub const LINGER_BYTES_MAX: usize = 64 * 1024;

/// How long a closing connection keeps discarding what the client still sends.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(1);

/// Responses of pipelined requests are gathered into one write until the buffer holds this
/// many bytes; then it is flushed before the next request is handled.
pub const WRITE_FLUSH_BYTES: usize = 64 * 1024;

/// A piece of a streamed body at least this large is written from its own memory (after what
/// is buffered) instead of being copied into the write buffer first: a file's 256 KiB reads,
/// a proxied body's large pieces. Smaller ones are gathered, as one write costs more than
/// their copy.
pub const DIRECT_WRITE_BYTES_MIN: usize = 32 * 1024;

/// The read buffer's initial capacity and the least spare room given to each read.
pub const READ_CHUNK_BYTES: usize = 8 * 1024;

/// A connection going idle with a read or write buffer larger than this (grown by a large body
/// or response) swaps it for a fresh small one, so idle connections do not keep peak memory.
pub const IDLE_BUFFER_BYTES_MAX: usize = 64 * 1024;

/// Free memory a shard keeps per size class of the blocks it boxes per-request futures in
/// (`pooled`): enough for the answers in progress of a few hundred connections at once, so a
/// busy shard boxes without allocating, and a bound on what a burst leaves behind.
pub const POOLED_BYTES_PER_CLASS_MAX: usize = 1024 * 1024;

/// Spare read and write buffers a shard keeps for its connections: an idle connection gives
/// its buffers back and takes two again when its next request arrives, so a busy shard reuses
/// them instead of allocating, and memory after a burst is bounded (each pooled buffer can
/// reach at most `IDLE_BUFFER_BYTES_MAX`; most are 8 KiB).
pub const POOLED_CONNECTION_BUFFERS_MAX: usize = 128;

/// A shard whose open connections reached this many and then fell to a quarter of it gives
/// its free heap memory back to the system (`shard::memory`). Below it, what the connections
/// leave is too little to be worth a pass over the heap.
pub const MEMORY_TRIM_CONNECTIONS_MIN: usize = 1024;

/// The smallest `head_bytes_max` accepted: a request line and a `Host` header must fit.
pub const HEAD_BYTES_FLOOR: usize = 64;

/// The deepest pipeline `pipeline_depth_max` may allow before a flush.
pub const PIPELINE_DEPTH_CEILING: usize = 1024;

/// `connections_per_shard_max`'s default, before the descriptor limit lowers it.
pub const CONNECTIONS_PER_SHARD_DEFAULT: usize = 16 * 1024;

/// The most connections `connections_per_shard_max` may allow on one shard.
pub const CONNECTIONS_PER_SHARD_CEILING: usize = 1 << 20;

/// A client-supplied `x-request-id` longer than this is replaced by a generated one, so that an
/// id never makes a response head grow without bound.
pub const REQUEST_ID_BYTES_MAX: usize = 128;

// HTTP/1 codec.

/// Most bytes of one chunk-size line: the size digits and any chunk extensions, without the
/// CRLF. Extensions carry nothing this server uses; the bound only stops a client from making
/// the decoder scan an endless line. RFC 9112 §7.1.1: "A server ought to limit the total length
/// of chunk extensions received in a request to an amount reasonable for the services provided
/// [...] and generate an appropriate 4xx (Client Error) response if that amount is exceeded."
pub const CHUNK_LINE_BYTES_MAX: usize = 1024;

/// Most bytes of the trailer section: every field line with its CRLF, and the final empty line.
/// Trailers are discarded (RFC 9112 §7.1.2: "A recipient that removes the chunked coding from a
/// message MAY selectively retain or discard the received trailer fields."), so the bound only
/// limits the work a client can make the decoder do to skip them.
pub const TRAILER_BYTES_MAX: usize = 8 * 1024;

/// Bytes a request line may hold beyond `uri_bytes_max` (method, spaces and `HTTP/1.1\r\n`
/// around the target) before the target is known to be too long: a partial request line
/// longer than both is refused with 414 without waiting for its end.
pub const REQUEST_LINE_OVERHEAD_BYTES: usize = 64;

/// Longest `x-request-timeout-seconds` accepted, in seconds, so a huge value cannot overflow a
/// `Duration`.
pub const TIMEOUT_OVERRIDE_SECONDS_MAX: f64 = 1e9;

/// Header fields of one request kept inline, without allocating: a browser sends about
/// fifteen, so the common request allocates nothing for them (`parse_head`'s invariant).
pub const HEADER_SPANS_INLINE: usize = 16;

/// Decimal digits of the longest `u64` (`18446744073709551615`): the stack buffer a
/// `content-length` value is rendered into.
pub const U64_DECIMAL_DIGITS_MAX: usize = 20;

// Connections and the shard's I/O.

/// Bytes of a `Date` header value: an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) is always
/// 29 bytes, so the shard's cached date is a fixed array, copied per response.
pub const DATE_BYTES: usize = 29;

/// The longest a shard waits for the other shards' links when a reload connects them (and
/// `start_timeout` is longer): a timer that far out cannot overflow the clock.
pub const LINK_WAIT_MAX: Duration = Duration::from_secs(24 * 3600);

/// How often a draining shard checks whether its last connection has closed. Short, so a
/// drain ends soon after the last connection; each check is one counter read.
pub const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// After `accept` fails for want of descriptors or memory, wait this long before the next, so
/// a full file table does not turn the accept loop into a busy loop.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Descriptors set aside for each shard's own use, not for connections: its listener, its
/// rings (glommio's and ringserve's own), their eventfds, and the stall watchdog's copy of
/// its listener. A shard used 5 of them on glommio's streams and 6 on ringserve's ring before
/// the watchdog's copy (`tests/descriptors.rs` counts them and fails past this reserve); the
/// rest is headroom for what a later version adds.
pub const DESCRIPTORS_PER_SHARD_RESERVED: usize = 32;

/// Descriptors set aside for the whole process, not for connections: what handlers open
/// (files, outbound sockets), logging, a later reload.
pub const DESCRIPTORS_SPARE: usize = 64;

/// How often a shard logs that `accept` fails for want of descriptors or memory: the first
/// failure at once, then at most one line per interval, which says how many failed since the
/// last. A full file table costs a log line every 10 s, not one per attempt.
pub const ACCEPT_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How long a stopping shard waits for its ring's last operations (cancellations) to complete
/// before it stops anyway.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(1);

/// How often the shard looks for connections whose read deadline has passed: a read timeout
/// fires at most this much late (and never early), for one timer per shard instead of one per
/// read.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(50);

/// Submission queue entries of a shard's io_uring; the completion queue gets twice as many. A
/// full submission queue is submitted at once, so this bounds the entries per system call,
/// not the operations in flight.
pub const RING_ENTRIES: u32 = 1024;

/// The longest `HttpOptions::busy_poll` accepted: a window this long already keeps a shard
/// spinning through most pauses of an interactive client; longer ones only burn CPU.
pub const BUSY_POLL_MAX: Duration = Duration::from_millis(10);

/// Buffers in a shard's provided-buffer ring, from which an idle connection's receive takes
/// one only when bytes arrive (and gives it back once they are copied out): as many requests
/// as may land in one turn of the shard before it copies them. Past that, a receive fails
/// with `ENOBUFS` and is made again into the connection's own buffer. A power of two.
pub const PROVIDED_BUFFERS: usize = 128;

/// Bytes of one provided buffer: a request head of this size arrives in one receive; the rest
/// of a larger one is read into the connection's own buffer.
pub const PROVIDED_BUFFER_BYTES: usize = 4096;

/// Operation slots a shard's ring makes up front: as many as a shard's connections typically
/// have in flight, so the slab rarely grows under load.
pub const RING_INITIAL_SLOTS: usize = 256;

/// Tries at submitting what is queued before a descriptor is closed, before giving up: the
/// kernel takes fewer entries only when it is short of memory for them.
pub const RING_SUBMIT_TRIES_MAX: usize = 16;

/// The longest sleep in the ring; longer timeouts are cut to this (the wait then ends early,
/// harmlessly): a timer centuries away must not overflow the kernel's arithmetic.
pub const RING_WAIT_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// Rounds of waiting, each up to [`RING_DROP_WAIT`], for the kernel to answer the
/// cancellations of a ring being dropped, before giving up (a kernel that never answers: the
/// buffers are leaked rather than freed under it).
pub const RING_DROP_WAIT_ROUNDS: usize = 20;

/// One round of [`RING_DROP_WAIT_ROUNDS`]: one second in all.
pub const RING_DROP_WAIT: Duration = Duration::from_millis(50);

/// The longest linked timeout a send gets (a stall timeout above it is waited this long): the
/// kernel's timespec holds signed seconds, and a longer wait would be no wait at all.
pub const LINKED_TIMEOUT_MAX: Duration = Duration::from_secs(u32::MAX as u64);

// Server start-up and configuration.

/// Pending connections the kernel queues per shard listener before refusing more (the
/// `listen` backlog, nginx's default on Linux is 511; a burst of new connections at start or
/// after a restart should queue, not be refused).
pub const LISTEN_BACKLOG: i32 = 1024;

/// The longest application name, in bytes, so `/-/routes` and log lines stay bounded.
pub const APP_NAME_BYTES_MAX: usize = 256;

/// The longest route prefix accepted, in bytes; it bounds the trie's depth and the work of
/// validation.
pub const PREFIX_BYTES_MAX: usize = 1024;

/// The widest core id `RINGSERVE_CORES` may name (`0-4095`), so that a typo cannot make a
/// list of millions.
pub const CORE_RANGE_MAX: usize = 4096;

/// How often `Serve::run` checks that every shard is still running: a shard that died is
/// noticed within this time, and the check costs one channel poll.
pub const SHARD_WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// How long a failed `Serve::start` waits for its shards to stop before it returns, leaving a
/// shard that has not stopped running, detached (one stuck in a replica's factory cannot be
/// stopped). Stopping a shard that waits for its links or its start takes milliseconds; 2 s
/// allows for a loaded machine.
pub const SHARD_STOP_WAIT: Duration = Duration::from_secs(2);

// Forwarding between shards.

/// Messages, of any kind, one link between two shards holds at most: past it, the sender waits
/// (backpressure between shards). It bounds what is in flight from one shard to another — and,
/// since a call's request and body are boxed in one message, the memory a burst of forwarded
/// calls takes in the channel. 256: enough that a burst rarely waits, few enough that a stalled
/// peer holds little (chosen, not measured: no benchmark has tuned it yet).
pub const LINK_CAPACITY: usize = 256;

/// Chunks of one forwarded stream the serving shard may send before the origin's client has
/// read them: the most the origin ever buffers for one call, so a slow reader holds back only
/// its own stream, never the link it shares with other calls.
pub const CHUNK_CREDITS: usize = 16;

/// Read chunks the origin returns as credits in one message: half the window, so the serving
/// shard never runs dry while a reader keeps up, and credits cost one message per this many
/// chunks instead of one each.
pub const CREDIT_BATCH: usize = CHUNK_CREDITS / 2;

// A batch of none would never return a credit, one over the window never fill: either stalls
// every stream for good.
const _: () = assert!(CREDIT_BATCH >= 1 && CREDIT_BATCH <= CHUNK_CREDITS);

/// The longest latency a histogram tells apart, in microseconds (one hour): a longer one is
/// recorded as this. Ray Serve's largest bucket is 600,000 ms.
pub const LATENCY_MICROS_MAX: u64 = 3_600 * 1_000_000;

/// Significant decimal digits a latency histogram keeps: values within 1% share a count, so a
/// histogram takes about 24 KiB whatever it records (hdrhistogram's own bound).
pub const LATENCY_SIGNIFICANT_DIGITS: u8 = 2;

/// How long a scrape waits for each shard's snapshot: a shard that does not answer in time
/// (stalled in a handler, or stopped) is reported as down instead of waited on.
pub const SCRAPE_WAIT: Duration = Duration::from_secs(1);

/// How long the metrics listener waits for a scraper to send its request, and to take the
/// answer: one slow scraper cannot hold the listener, which serves one at a time.
pub const METRICS_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest request head the metrics listener reads: a scrape is one short `GET`.
pub const METRICS_REQUEST_BYTES_MAX: usize = 8 * 1024;

/// How long a request may wait for a replica's turn unless its application says otherwise
/// (`Application::max_queue_wait`); past it, `503`. Ray Serve bounds the wait only by the
/// request timeout, which is off by default; a queue that does not move (a stuck replica)
/// must still end in an answer, and a minute outlasts any client still waiting for a
/// latency-critical one.
pub const MAX_QUEUE_WAIT_DEFAULT: Duration = Duration::from_secs(60);

/// The minimum data rate of a request body, in bytes per second, by default: Kestrel's
/// `MinRequestBodyDataRate` (240 bytes/s), slow enough for any real client on any link.
pub const BODY_MIN_BYTES_PER_SECOND_DEFAULT: usize = 240;

/// How long a body may take before its minimum data rate applies, by default: Kestrel's grace
/// period, long enough for TCP slow start and a client that reads its file as it sends.
pub const BODY_MIN_RATE_GRACE_DEFAULT: Duration = Duration::from_secs(5);

/// The bytes of bodies read ahead of admission a shard holds at most, by default (64 MiB).
pub const BODY_READ_AHEAD_BYTES_PER_SHARD_DEFAULT: usize = 64 * 1024 * 1024;

/// The limits a shard enforces on each client. All sizes in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus header fields. Over it: 431. Default 16 KiB (nginx allows 8 KiB per
    /// line, hyper ~400 KiB in all; 16 KiB fits every browser and most proxies' cookies).
    pub head_bytes_max: usize,
    /// The request target. Over it: 414. Default 8 KiB, as nginx and most CDNs.
    pub uri_bytes_max: usize,
    /// Header fields in one request. Over it: 431. Default 100 (hyper's default).
    pub headers_count_max: usize,
    /// A request body, however framed. Over it: 413. Default 16 MiB; streamed bodies are a
    /// later addition.
    pub body_bytes_max: usize,
    /// Pipelined requests answered before the responses are flushed. Default 32.
    pub pipeline_depth_max: usize,
    /// Open connections per shard; an accept past it is answered 503 and closed. Default 16,384,
    /// or what the descriptor limit leaves each shard when that is less: at start the soft
    /// `RLIMIT_NOFILE` is raised to the hard one, and each shard may hold
    /// `(limit - descriptors open - DESCRIPTORS_SPARE) / shards - DESCRIPTORS_PER_SHARD_RESERVED`
    /// connections (at least 1), so that clients past it get the 503 rather than an accept
    /// that fails. A value set above that is lowered to it, with a warning.
    pub connections_per_shard_max: usize,
    /// Time a client has to send a complete head once it has started one. Over it: 408 and
    /// close. Default 10 s (nginx's `client_header_timeout` is 60 s; hyper's 30 s).
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body. Over it: 408 and close. Default 30 s.
    pub body_read_timeout: Duration,
    /// The slowest a request body may arrive once [`body_min_rate_grace`](Self::body_min_rate_grace)
    /// has passed, in bytes per second: a body that has waited `grace + received / rate` in
    /// all for its bytes gets 408 and close. Only time spent waiting for the client counts, not
    /// time a streaming handler spends between reads. `0` turns the check off. Default 240
    /// (Kestrel's `MinRequestBodyDataRate`): the per-piece timeout alone lets a client hold a
    /// connection — and, for a streaming handler, a replica's turn — for ever with one byte
    /// every 29 s.
    pub body_min_bytes_per_second: usize,
    /// How long a request body may take before its minimum data rate is enforced. Default
    /// 5 s (Kestrel's grace period): a slow start (TCP slow start, a client reading its file)
    /// is not a slow client.
    pub body_min_rate_grace: Duration,
    /// How many body bytes a shard's connections may hold in all for requests whose bodies are
    /// read whole before admission (`Application::buffer_request_body`), counting each body
    /// at its `Content-Length` (or `body_bytes_max` when chunked) from the start of its read
    /// until its request ends. A request that finds too little left is not refused: its body
    /// is streamed to the handler once the request has its turn, as with
    /// `buffer_request_body(false)`. Default 64 MiB (four bodies of the default
    /// `body_bytes_max`, thousands of ordinary JSON bodies): without it, fast uploaders could
    /// make a shard hold `connections × body_bytes_max` bytes. nginx spills to disk past its
    /// `client_body_buffer_size` instead; a latency engine keeps no temporary files.
    pub body_read_ahead_bytes_per_shard_max: usize,
    /// Longest wait for the client to accept response bytes. Over it: the connection is closed.
    /// Default 30 s.
    pub send_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            head_bytes_max: 16 * 1024,
            uri_bytes_max: 8 * 1024,
            headers_count_max: 100,
            body_bytes_max: 16 * 1024 * 1024,
            pipeline_depth_max: 32,
            connections_per_shard_max: CONNECTIONS_PER_SHARD_DEFAULT,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            body_min_bytes_per_second: BODY_MIN_BYTES_PER_SECOND_DEFAULT,
            body_min_rate_grace: BODY_MIN_RATE_GRACE_DEFAULT,
            body_read_ahead_bytes_per_shard_max: BODY_READ_AHEAD_BYTES_PER_SHARD_DEFAULT,
            send_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Checks that every limit is usable; the error names the field and its value.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let sizes = [
            (
                "head_bytes_max",
                self.head_bytes_max,
                64,
                HEAD_BYTES_CEILING,
            ),
            ("uri_bytes_max", self.uri_bytes_max, 1, self.head_bytes_max),
            (
                "headers_count_max",
                self.headers_count_max,
                1,
                HEADERS_COUNT_CEILING,
            ),
            ("body_bytes_max", self.body_bytes_max, 0, usize::MAX),
            ("pipeline_depth_max", self.pipeline_depth_max, 1, 1024),
            (
                "connections_per_shard_max",
                self.connections_per_shard_max,
                1,
                1 << 20,
            ),
        ];
        for (name, value, least, most) in sizes {
            if value < least || value > most {
                return Err(format!(
                    "limits.{name} = {value} is out of range ({least}..={most})"
                ));
            }
        }
        let timeouts = [
            ("header_read_timeout", self.header_read_timeout),
            ("body_read_timeout", self.body_read_timeout),
            ("body_min_rate_grace", self.body_min_rate_grace),
            ("send_timeout", self.send_timeout),
        ];
        for (name, value) in timeouts {
            if value.is_zero() {
                return Err(format!(
                    "limits.{name} = {value:?} must be longer than zero"
                ));
            }
        }
        Ok(())
    }
}

// Ingress and middleware.
//
// Bounded elsewhere, so without a constant of their own: the query and path pairs an ingress
// extractor reads, by `uri_bytes_max`; the header pairs, by `headers_count_max`; a JSON body's
// nesting, by serde_json's recursion limit (128 levels, its default).

/// Whole response bodies shorter than this, in bytes, are sent uncompressed unless
/// [`Compression::min_bytes`](crate::middleware::Compression::min_bytes) says otherwise: below about a kilobyte the saving is a fraction of
/// one TCP segment and does not pay for the encoder's setup (~300 KiB of state for gzip,
/// ~1 MiB for brotli).
pub const COMPRESSION_MIN_BYTES_DEFAULT: usize = 1024;

/// How much of a request's `Accept-Encoding` (all its field lines together) is read, in bytes;
/// entries beyond it are ignored, so a huge header costs no more to negotiate than a short one.
/// Browsers send under 40 (`gzip, deflate, br, zstd`).
pub const ACCEPT_ENCODING_BYTES_MAX: usize = 1024;

/// How many entries of `Accept-Encoding` are read; the rest are ignored. No client lists more
/// than a handful of codings.
pub const ACCEPT_ENCODING_ENTRIES_MAX: usize = 16;

/// Brotli's window, as log2 of its bytes (256 KiB). It bounds the memory of an encoder, which
/// for a stream lives as long as the stream: at
/// [`CompressionLevel::Default`](crate::middleware::CompressionLevel::Default) an open stream holds
/// 1–1.7 MiB, a 1 MiB whole body 4.7 MiB while it is encoded. Brotli's own default, 22
/// (4 MiB), made 1 MiB of JSON 10% smaller for three times the memory.
pub const BROTLI_WINDOW_LOG: u32 = 18;

/// Bytes of brotli's internal output buffer, drained into the output after each flush: the
/// most a brotli encoder holds back between its own writes.
pub const BROTLI_BUFFER_BYTES: usize = 4096;

/// Longest credential (bearer token or API key) accepted, in bytes: longer configured ones are
/// refused when the check is built, longer presented ones are refused without comparing, so a
/// client cannot make the constant-time comparison run long.
pub const CREDENTIAL_BYTES_MAX: usize = 4096;

/// Longest list of request headers a CORS preflight may name
/// (`Access-Control-Request-Headers`), in bytes, before it is refused: each one is compared
/// against the allowed list.
pub const CORS_REQUEST_HEADERS_BYTES_MAX: usize = 4096;

/// How long a browser may cache a CORS preflight unless configured otherwise: Starlette's
/// default `max_age`, 600 s.
pub const CORS_MAX_AGE_DEFAULT: Duration = Duration::from_secs(600);

/// Largest JSON body, in bytes, whose rejected part is echoed back as a 422's `input` (and so
/// parsed a second time): above it `input` is `null` (or, for a body that is not JSON, cut to
/// this length), so a large bad body costs no more to refuse than a small one.
pub const JSON_ERROR_INPUT_BYTES_MAX: usize = 16 * 1024;

/// Bytes of the stack buffer a JSON response is serialized into before it is copied into its
/// exactly-sized body: most JSON answers of a latency-critical handler fit, so they are written
/// without reallocating; larger ones go to a growing `Vec`.
pub const JSON_RESPONSE_STACK_BYTES: usize = 128;

/// How often a handler's panics at one source location, in one application, are logged: the
/// first at once (with its backtrace when `RUST_BACKTRACE` asks for one), then at most one line
/// per interval, which says how many were not logged since the last.
pub const PANIC_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Most (application, source location) pairs whose panics are rate-limited. Past it, panics at
/// new pairs are each logged: a bound on the log's memory, never a reason to hide a panic.
pub const PANIC_SITES_MAX: usize = 1024;

// The stall watchdog.

/// The shortest `shard_stall_threshold` accepted: four of the sweeper's beats
/// ([`SWEEP_INTERVAL`]), so that a shard merely late by a beat or two on a loaded machine is
/// not called stalled.
pub const SHARD_STALL_THRESHOLD_MIN: Duration = Duration::from_millis(200);

/// How often the watchdog thread reads every shard's pulse: a stall is noticed at most this
/// long after the threshold passed, and a shard that turns again is restored within it. Each
/// check is one relaxed load per shard.
pub const STALL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The kernel's bound on a classic BPF program (`BPF_MAXINSNS`). The program that steers new
/// connections away from stalled shards takes three instructions plus two per stalled shard;
/// with more stalled shards than fit, connections are not steered (and the log says so).
pub const STEERING_INSTRUCTIONS_MAX: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Limits::default().validate(), Ok(()));
    }

    #[test]
    fn an_out_of_range_limit_is_named_with_its_value() {
        let limits = Limits {
            head_bytes_max: 100_000,
            ..Limits::default()
        };
        let error = limits.validate().unwrap_err();
        assert!(error.contains("head_bytes_max = 100000"), "{error}");

        let limits = Limits {
            uri_bytes_max: 20_000,
            ..Limits::default()
        };
        assert!(
            limits
                .validate()
                .unwrap_err()
                .contains("uri_bytes_max = 20000")
        );

        let limits = Limits {
            send_timeout: Duration::ZERO,
            ..Limits::default()
        };
        assert!(limits.validate().unwrap_err().contains("send_timeout"));
    }
}
