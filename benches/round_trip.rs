//! One request/response round trip over loopback on a keep-alive connection to a one-shard
//! server: the whole engine (read, parse, route, handler, encode, write) plus the kernel's
//! loopback and a blocking client.
//!
//! `cargo bench --bench round_trip`. Latency here is dominated by the two context switches
//! between client and server; compare runs side by side, not against other machines.

use std::io::{Read, Write};
use std::net::TcpStream;

use criterion::{Criterion, criterion_group, criterion_main};
use ringserve::{Application, Cores, Deployment, HttpOptions, Request, Response, Serve};

struct Hello;

impl Deployment for Hello {
    async fn call(&self, _request: Request) -> Response {
        Response::text("hello")
    }
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

fn round_trip(c: &mut Criterion) {
    let server = Serve::new()
        .options(
            HttpOptions::new()
                .host("127.0.0.1")
                .port(0)
                .cores(Cores::Count(1)),
        )
        .app(Application::new(|| Hello))
        .start()
        .expect("server starts");
    let mut client = TcpStream::connect(server.local_addr()).expect("connect");
    client.set_nodelay(true).expect("nodelay");
    client.write_all(REQUEST).expect("write");
    let mut first = [0u8; 512];
    let response_len = client.read(&mut first).expect("read");
    assert!(first[..response_len].ends_with(b"hello"));
    let mut response = vec![0u8; response_len];

    c.bench_function("loopback_round_trip/get_hello", |b| {
        b.iter(|| {
            client.write_all(REQUEST).expect("write");
            client.read_exact(&mut response).expect("read");
        })
    });
    server.shutdown();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
