//! Loopback streaming: throughput of a streamed response in 64 KiB chunks, and time to first
//! byte of a streamed response, through a real server (one shard) and a blocking client.
//!
//! `cargo bench --bench streaming`. The server and the client share the machine: read the
//! throughput as "what one shard sustains while a client on another core drains it".

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringserve::rt::stream;
use ringserve::{Application, Cores, Deployment, HttpOptions, Request, Response, Serve};

const CHUNK_BYTES: usize = 64 * 1024;
const CHUNKS: usize = 256;
/// Body bytes per streamed response: 256 chunks of 64 KiB, 16 MiB.
const BODY_BYTES: usize = CHUNK_BYTES * CHUNKS;

/// `/big`: 16 MiB in 64 KiB chunks; `/tiny`: one short chunk.
struct Streamer {
    chunk: Bytes,
}

impl Deployment for Streamer {
    async fn call(&self, request: Request) -> Response {
        let count = if request.path() == "/big" { CHUNKS } else { 1 };
        let chunk = if count == 1 {
            Bytes::from_static(b"first byte\n")
        } else {
            self.chunk.clone()
        };
        Response::stream(stream::iter(
            std::iter::repeat_n(chunk, count).map(Ok::<_, Infallible>),
        ))
    }
}

/// Reads one chunked response whose body ends with `0\r\n\r\n`; returns the bytes read.
fn read_streamed_response(stream: &mut TcpStream, buffer: &mut [u8]) -> usize {
    let mut total = 0;
    let mut tail = [0u8; 5];
    loop {
        let read = stream.read(buffer).expect("read");
        assert!(read > 0, "server closed mid-response");
        total += read;
        if read >= 5 {
            tail.copy_from_slice(&buffer[read - 5..read]);
        } else {
            tail.rotate_left(read);
            tail[5 - read..].copy_from_slice(&buffer[..read]);
        }
        if &tail == b"0\r\n\r\n" {
            return total;
        }
    }
}

fn streaming(c: &mut Criterion) {
    let chunk = Bytes::from(vec![b'x'; CHUNK_BYTES]);
    let server = Serve::new()
        .options(
            HttpOptions::new()
                .host("127.0.0.1")
                .port(0)
                .cores(Cores::Count(1)),
        )
        .app(Application::new(move || Streamer {
            chunk: chunk.clone(),
        }))
        .start()
        .expect("server starts");
    let mut client = TcpStream::connect(server.local_addr()).expect("connect");
    client.set_nodelay(true).expect("nodelay");
    let mut buffer = vec![0u8; 256 * 1024];

    let mut group = c.benchmark_group("loopback_stream");
    group.throughput(Throughput::Bytes(BODY_BYTES as u64));
    group.sample_size(20);
    group.bench_function("16mib_in_64kib_chunks", |b| {
        b.iter(|| {
            client
                .write_all(b"GET /big HTTP/1.1\r\nHost: bench\r\n\r\n")
                .expect("write");
            read_streamed_response(&mut client, &mut buffer)
        })
    });
    group.finish();

    c.bench_function("loopback_stream/time_to_first_byte", |b| {
        b.iter_custom(|iterations| {
            let mut waited = Duration::ZERO;
            for _ in 0..iterations {
                let sent = Instant::now();
                client
                    .write_all(b"GET /tiny HTTP/1.1\r\nHost: bench\r\n\r\n")
                    .expect("write");
                let mut first = [0u8; 1];
                client.read_exact(&mut first).expect("first byte");
                waited += sent.elapsed();
                read_streamed_response(&mut client, &mut buffer);
            }
            waited
        })
    });
    server.shutdown();
}

criterion_group!(benches, streaming);
criterion_main!(benches);
