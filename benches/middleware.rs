//! The cost of middleware per request, without sockets: each iteration parses a literal
//! `GET /` (with an `Origin` header) with `Request::from_http1` and runs an application's
//! replica — built by `Application::build_local`, inside its layers — to completion.
//!
//! - `no_layers`: the handler alone (an application without layers calls it directly);
//! - `one_pass_through`: one middleware that only calls `next` — the cost of a layer;
//! - `cors_simple_get`: CORS with a listed origin on a simple GET: judge the origin, add
//!   `access-control-allow-origin` and `vary`;
//! - `cors_preflight`: CORS answering a preflight itself (the handler is not called);
//! - `access_log_disabled`: `AccessLog` with no subscriber listening: the level check only;
//! - `gzip_4k` / `brotli_4k` / `compression_skipped_4k`: `Compression` (default level) on a
//!   4 KiB JSON-like text body, and the same request without `Accept-Encoding`.
//!
//! `cargo bench --bench middleware`.

use criterion::{Criterion, criterion_group, criterion_main};
use futures_lite::future::block_on;
use ringserve::middleware::{AccessLog, Compression, Cors, Middleware, Next};
use ringserve::{Application, Deployment, LocalReplica, Method, Request, Response};
use std::hint::black_box;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nOrigin: https://app.example\r\n\r\n";
const PREFLIGHT: &[u8] = b"OPTIONS / HTTP/1.1\r\nHost: bench\r\nOrigin: https://app.example\r\n\
Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n";

struct Hello;

/// About 4 KiB of JSON-like text, as a typical API answer that compression is for.
struct Large(bytes::Bytes);

impl Deployment for Large {
    async fn call(&self, _request: Request) -> Response {
        Response::json_bytes(self.0.clone())
    }
}

fn large_body() -> bytes::Bytes {
    let items: Vec<String> = (0..100)
        .map(|i| format!("{{\"id\":{i},\"name\":\"item {i}\",\"price\":{}.5}}", i * 3))
        .collect();
    bytes::Bytes::from(format!("[{}]", items.join(",")))
}

const GET_GZIP: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: gzip\r\n\r\n";
const GET_BROTLI: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: br\r\n\r\n";
const GET_PLAIN: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

impl Deployment for Hello {
    async fn call(&self, _request: Request) -> Response {
        Response::text("hello")
    }
}

#[derive(Clone)]
struct PassThrough;

impl Middleware for PassThrough {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        next.run(request).await
    }
}

fn call(replica: &LocalReplica, raw: &'static [u8]) -> Response {
    let request = Request::from_http1(raw).expect("valid request");
    block_on(replica.call(request))
}

fn middleware(c: &mut Criterion) {
    let cors = Cors::builder()
        .allow_origins(["https://app.example", "https://other.example"])
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(["content-type"])
        .build()
        .expect("valid rules");
    let bare = Application::new(|| Hello).build_local().expect("builds");
    let layered = Application::new(|| Hello)
        .layer(PassThrough)
        .build_local()
        .expect("builds");
    let with_cors = Application::new(|| Hello)
        .layer(cors)
        .build_local()
        .expect("builds");
    assert_eq!(
        call(&with_cors, GET)
            .header(&ringserve::header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .expect("granted"),
        "https://app.example"
    );
    assert_eq!(call(&with_cors, PREFLIGHT).status(), 200);

    let logged = Application::new(|| Hello)
        .layer(AccessLog::new())
        .build_local()
        .expect("builds");
    let body = large_body();
    assert!(body.len() >= 4000, "{}", body.len());
    let compressed = Application::new(move || Large(body.clone()))
        .layer(Compression::new())
        .build_local()
        .expect("builds");
    assert_eq!(
        call(&compressed, GET_GZIP)
            .header(&ringserve::header::CONTENT_ENCODING)
            .expect("compressed"),
        "gzip"
    );

    let mut group = c.benchmark_group("middleware");
    group.bench_function("no_layers", |b| b.iter(|| call(&bare, black_box(GET))));
    group.bench_function("one_pass_through", |b| {
        b.iter(|| call(&layered, black_box(GET)))
    });
    group.bench_function("cors_simple_get", |b| {
        b.iter(|| call(&with_cors, black_box(GET)))
    });
    group.bench_function("cors_preflight", |b| {
        b.iter(|| call(&with_cors, black_box(PREFLIGHT)))
    });
    group.bench_function("access_log_disabled", |b| {
        b.iter(|| call(&logged, black_box(GET)))
    });
    group.bench_function("gzip_4k", |b| {
        b.iter(|| call(&compressed, black_box(GET_GZIP)))
    });
    group.bench_function("brotli_4k", |b| {
        b.iter(|| call(&compressed, black_box(GET_BROTLI)))
    });
    group.bench_function("compression_skipped_4k", |b| {
        b.iter(|| call(&compressed, black_box(GET_PLAIN)))
    });
    group.finish();
}

criterion_group!(benches, middleware);
criterion_main!(benches);
