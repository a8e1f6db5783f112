//! The endpoints every server in `perf/` serves, so load runs compare like with like:
//!
//! - `GET /` → `hello`
//! - `GET /items/{id}` → `{"item_id":<id>}`, or 422 with FastAPI's error body when `id` is not
//!   an integer — served by the ingress (`Router`, `Path<i64>`, `Json`), mounted at `/items`
//! - `GET /stream` → ten chunks `chunk 0\n` … `chunk 9\n`, chunked, no pauses
//! - `POST /echo` → the request body
//! - `GET /single/` → `hello` from a single replica (forwarded from the other shards)
//! - `GET /static/<file>` → the files below `BENCH_STATIC_ROOT` (`builtin::Files`), when set:
//!   `perf/compare.sh`'s `file-small` and `file-large` scenarios, beside nginx's `root`
//! - `GET /proxy/<path>` → `GET /<path>` at the upstream `BENCH_UPSTREAM` (`host:port`,
//!   `builtin::Upstreams` with keep-alive), when set: `perf/compare.sh`'s `proxy` scenario,
//!   beside nginx's `proxy_pass`
//!
//! ```text
//! RINGSERVE_CORES=0-0 cargo run --release --example bench
//! ```
//!
//! `BENCH_BUSY_POLL_US` sets [`HttpOptions::busy_poll`] in microseconds, for the perf runs
//! that measure it.

use std::convert::Infallible;
use std::time::Duration;

use ringserve::builtin::{Files, FilesArgs, UpstreamArgs, Upstreams};
use ringserve::ingress::{Json, Path, Router, ToSchema};
use ringserve::rt::stream;
use ringserve::{
    Application, Deployment, HttpOptions, Method, Request, Response, Serve, StatusCode,
};
use serde::Serialize;

struct Bench;

impl Deployment for Bench {
    async fn call(&self, mut request: Request) -> Response {
        let path = request.route_path();
        match (request.method(), path) {
            (&Method::GET, "/") => Response::text("hello"),
            (&Method::GET, "/stream") => Response::stream(stream::iter(
                (0..10).map(|i| Ok::<_, Infallible>(format!("chunk {i}\n"))),
            )),
            (&Method::POST, "/echo") => match request.body().await {
                Ok(body) => Response::new(StatusCode::OK)
                    .with_header(
                        ringserve::header::CONTENT_TYPE,
                        ringserve::HeaderValue::from_static("application/octet-stream"),
                    )
                    .with_body(body),
                Err(error) => {
                    Response::text(error.to_string()).with_status(StatusCode::BAD_REQUEST)
                }
            },
            _ => Response::text("Not Found").with_status(StatusCode::NOT_FOUND),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ItemId {
    item_id: i64,
}

async fn read_item(Path(item_id): Path<i64>) -> Json<ItemId> {
    Json(ItemId { item_id })
}

fn main() -> Result<(), ringserve::Error> {
    let items = Application::try_new(|| Router::new().get("/{item_id}", read_item).build())
        .name("items")
        .route_prefix("/items");
    // The same `hello` from a single replica: requests accepted on the other shards cross
    // cores to it (perf/forwarding.sh compares it with `GET /`).
    let single = Application::new(|| Bench)
        .name("single")
        .route_prefix("/single")
        .num_replicas(1);
    let busy_poll = std::env::var("BENCH_BUSY_POLL_US")
        .ok()
        .and_then(|micros| micros.parse().ok())
        .map_or(Duration::ZERO, Duration::from_micros);
    let mut serve = Serve::new()
        .options(HttpOptions::new().busy_poll(busy_poll))
        .app(Application::new(|| Bench).name("bench"))
        .app(items)
        .app(single);
    if let Some(root) = std::env::var_os("BENCH_STATIC_ROOT") {
        let files = Files::new(&FilesArgs {
            root: root.into(),
            index: None,
            precompressed: false,
            cache_control: None,
        })
        .map_err(ringserve::Error::Config)?;
        serve = serve.app(
            Application::new(move || files.clone())
                .name("static")
                .route_prefix("/static"),
        );
    }
    if let Ok(upstream) = std::env::var("BENCH_UPSTREAM") {
        let upstreams = Upstreams::new(&UpstreamArgs {
            upstreams: vec![upstream],
            connect_timeout_s: 5.0,
            header_timeout_s: 60.0,
            read_timeout_s: 60.0,
            idle_timeout_s: 60.0,
            idle_connections: 128,
            max_fails: 3,
            fail_timeout_s: 10.0,
            strip_prefix: true,
        })
        .map_err(ringserve::Error::Config)?;
        serve = serve.app(upstreams.application().name("proxy").route_prefix("/proxy"));
    }
    serve.run()
}
