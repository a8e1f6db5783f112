//! Micro-benchmarks of the HTTP/1.1 codec, which runs on every request: head parsing (one
//! head, and a pipelined batch), chunked body decoding, response encoding, and chunk framing
//! for streamed bodies.
//!
//! `cargo bench --bench codec`. Each group states what one iteration does; compare runs with
//! criterion's `--save-baseline` / `--baseline`.

use std::hint::black_box;

use bytes::{BufMut, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringserve::Limits;
use ringserve::http1::body::ChunkedDecoder;
use ringserve::http1::encode::{
    EngineHeaders, LAST_CHUNK, Persistence, encode_chunk, encode_response,
};
use ringserve::http1::parse::parse_head;
use ringserve::{HeaderValue, StatusCode, header};

const SMALL_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost:8000\r\n\r\n";

const BROWSER_GET: &[u8] = b"GET /api/v1/items/42?expand=owner&fields=id,name HTTP/1.1\r\n\
Host: example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://example.com/items\r\n\
Connection: keep-alive\r\n\
Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; consent=yes\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-User: ?1\r\n\
Priority: u=0, i\r\n\
X-Request-Id: 7f3c2a1b-0000-4000-8000-123456789abc\r\n\r\n";

/// One iteration parses one complete head.
fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse_head");
    for (name, bytes) in [
        ("small_get", SMALL_GET),
        ("browser_get_15_headers", BROWSER_GET),
    ] {
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            b.iter(|| parse_head(black_box(bytes), &limits).unwrap().unwrap())
        });
    }
    // A pipelining client's batch: 16 small GETs in one buffer, parsed one after another as
    // the connection loop does. Throughput counts requests.
    let batch = SMALL_GET.repeat(16);
    group.throughput(Throughput::Elements(16));
    group.bench_function("pipelined_batch_of_16", |b| {
        b.iter(|| {
            let mut rest = black_box(&batch[..]);
            while !rest.is_empty() {
                let head = parse_head(rest, &limits).unwrap().unwrap();
                rest = &rest[head.head_len..];
            }
        })
    });
    group.finish();
}

/// One iteration decodes a whole chunked body of 1 MiB (throughput in body bytes).
fn decode_chunked(c: &mut Criterion) {
    let body = vec![7u8; 1 << 20];
    let mut group = c.benchmark_group("decode_chunked_1mib");
    group.throughput(Throughput::Bytes(body.len() as u64));
    for chunk_bytes in [16usize, 1024, 64 * 1024] {
        let mut encoded = BytesMut::with_capacity(2 << 20);
        for chunk in body.chunks(chunk_bytes) {
            encode_chunk(&mut encoded, chunk);
        }
        encoded.put_slice(LAST_CHUNK);
        let mut out = BytesMut::with_capacity(body.len());
        group.bench_function(format!("chunks_of_{chunk_bytes}"), |b| {
            b.iter(|| {
                out.clear();
                let mut decoder = ChunkedDecoder::new(2 << 20);
                let progress = decoder.decode(black_box(&encoded), &mut out).unwrap();
                assert!(progress.done);
            })
        });
    }
    group.finish();
}

/// One iteration encodes one `200 hello` response into a reused buffer.
fn encode(c: &mut Criterion) {
    let date = b"Fri, 27 Nov 2026 05:47:09 GMT";
    let headers = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    )];
    let engine = EngineHeaders {
        date,
        request_id: b"0c0351b6848627bc7256b8177b85e423",
        persistence: Persistence::KeepAlive,
    };
    let mut out = BytesMut::with_capacity(4096);
    c.bench_function("encode_response/static_hello", |b| {
        b.iter(|| {
            out.clear();
            encode_response(&mut out, StatusCode::OK, &headers, b"hello", true, &engine);
            black_box(out.len())
        })
    });
}

/// Chunk framing for streamed bodies: one iteration frames a whole 1 MiB body, cut into
/// chunks of the given size, into a reused buffer (throughput in body bytes).
fn chunks(c: &mut Criterion) {
    let body = vec![7u8; 1 << 20];
    let mut group = c.benchmark_group("encode_chunked_1mib");
    group.throughput(Throughput::Bytes(body.len() as u64));
    for chunk_bytes in [16usize, 1024, 64 * 1024] {
        let mut out = BytesMut::with_capacity(2 << 20);
        group.bench_function(format!("chunks_of_{chunk_bytes}"), |b| {
            b.iter(|| {
                out.clear();
                for chunk in body.chunks(chunk_bytes) {
                    encode_chunk(&mut out, chunk);
                }
                out.put_slice(LAST_CHUNK);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse, decode_chunked, encode, chunks);
criterion_main!(benches);
