//! axum peer of ringserve's `examples/bench.rs`: the same endpoints, for side-by-side load runs.
//!
//! - `GET /` → `hello` (`text/plain; charset=utf-8`)
//! - `GET /items/{id}` → `{"item_id":<id>}`, or 422 with FastAPI's `int_parsing` body when `id`
//!   is not an `i64` (axum's `Path` extractor, its rejection turned into that body)
//! - `GET /stream` → ten chunks `chunk 0\n` … `chunk 9\n`, chunked, no pauses
//! - `POST /echo` → the request body (`application/octet-stream`, at most 16 MiB as in ringserve)
//! - anything else, a known path with another method included → 404 `Not Found`
//!
//! A tokio multi-thread runtime with one worker per core of `CORES`, each worker pinned to its
//! core; `TCP_NODELAY` on every connection, as ringserve does. Environment: `HOST` (default
//! `127.0.0.1`), `PORT` (default `8000`), `CORES` (`0`, `0,1`, `0-3`; default `0`).

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use futures_util::stream;

const BODY_BYTES_MAX: usize = 16 * 1024 * 1024;
const JSON: [(axum::http::HeaderName, &str); 1] = [(CONTENT_TYPE, "application/json")];

async fn hello() -> &'static str {
    "hello"
}

async fn item(id: Result<Path<i64>, PathRejection>) -> Response {
    match id {
        Ok(Path(id)) => (JSON, format!("{{\"item_id\":{id}}}")).into_response(),
        Err(PathRejection::FailedToDeserializePathParams(error)) => match error.into_kind() {
            ErrorKind::ParseErrorAtKey { value, .. } | ErrorKind::ParseError { value, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, JSON, int_parsing(&value)).into_response()
            }
            other => (StatusCode::BAD_REQUEST, other.to_string()).into_response(),
        },
        Err(rejection) => rejection.into_response(),
    }
}

/// FastAPI's 422 body for a path parameter that is not an integer; `input` JSON-escaped.
fn int_parsing(input: &str) -> String {
    let input = serde_json::Value::from(input);
    format!(
        "{{\"detail\":[{{\"type\":\"int_parsing\",\"loc\":[\"path\",\"item_id\"],\
         \"msg\":\"Input should be a valid integer, unable to parse string as an integer\",\
         \"input\":{input}}}]}}"
    )
}

async fn stream_chunks() -> Body {
    Body::from_stream(stream::iter(
        (0..10).map(|i| Ok::<_, Infallible>(format!("chunk {i}\n"))),
    ))
}

async fn echo(body: Bytes) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/octet-stream")], body)
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "Not Found")
}

fn main() -> Result<(), Box<dyn Error>> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let address: SocketAddr = format!("{host}:{port}").parse()?;
    let cores = parse_cores(&std::env::var("CORES").unwrap_or_else(|_| "0".into()))?;

    // Workers start first and take the cores in order; any later runtime thread (the
    // blocking pool, unused here) goes on round-robin.
    let next = AtomicUsize::new(0);
    let pinned = cores.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.len())
        .enable_all()
        .on_thread_start(move || {
            let core = pinned[next.fetch_add(1, Ordering::Relaxed) % pinned.len()];
            core_affinity::set_for_current(core_affinity::CoreId { id: core });
        })
        .build()?;

    let app = Router::new()
        .route("/", get(hello))
        .route("/items/{id}", get(item))
        .route("/stream", get(stream_chunks))
        .route("/echo", post(echo))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found);

    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    eprintln!("axum peer on http://{address}, cores {cores:?}");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        // The accept loop runs on a pinned worker, not on this (unpinned) main thread.
        tokio::spawn(async move { axum::serve(listener, app).await }).await?
    })?;
    Ok(())
}

/// `0`, `0,1`, `0-3`, `0,2-3` → the listed core ids, in order.
fn parse_cores(spec: &str) -> Result<Vec<usize>, String> {
    let mut cores = Vec::new();
    for part in spec.split(',').map(str::trim) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let parse = |n: &str| {
            n.trim()
                .parse::<usize>()
                .map_err(|_| format!("CORES: bad core list {spec:?}"))
        };
        cores.extend(parse(first)?..=parse(last)?);
    }
    if cores.is_empty() {
        return Err(format!("CORES: no cores in {spec:?}"));
    }
    Ok(cores)
}
