//! actix-web peer of ringserve's `examples/bench.rs`: the same endpoints, for side-by-side load
//! runs.
//!
//! - `GET /` → `hello` (`text/plain; charset=utf-8`)
//! - `GET /items/{id}` → `{"item_id":<id>}`, or 422 with FastAPI's `int_parsing` body when `id`
//!   is not an `i64`
//! - `GET /stream` → ten chunks `chunk 0\n` … `chunk 9\n`, chunked, no pauses
//! - `POST /echo` → the request body (`application/octet-stream`, at most 16 MiB as in ringserve)
//! - anything else, a known path with another method included → 404 `Not Found`
//!
//! `HttpServer` with one worker per core of `CORES`; the app factory, which actix runs once in
//! each worker thread, pins that thread to the next core. `TCP_NODELAY` on every connection, as
//! ringserve does. Environment: `HOST` (default `127.0.0.1`), `PORT` (default `8000`), `CORES`
//! (`0`, `0,1`, `0-3`; default `0`).

use std::cell::Cell;
use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use futures_util::stream;

const BODY_BYTES_MAX: usize = 16 * 1024 * 1024;

async fn hello() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("hello")
}

async fn item(id: web::Path<String>) -> HttpResponse {
    match id.parse::<i64>() {
        Ok(id) => HttpResponse::Ok()
            .content_type("application/json")
            .body(format!("{{\"item_id\":{id}}}")),
        Err(_) => HttpResponse::UnprocessableEntity()
            .content_type("application/json")
            .body(int_parsing(&id)),
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

async fn stream_chunks() -> HttpResponse {
    HttpResponse::Ok().streaming(stream::iter(
        (0..10).map(|i| Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n")))),
    ))
}

async fn echo(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(body)
}

async fn not_found() -> HttpResponse {
    HttpResponse::build(StatusCode::NOT_FOUND)
        .content_type("text/plain; charset=utf-8")
        .body("Not Found")
}

thread_local! {
    static PINNED: Cell<bool> = const { Cell::new(false) };
}

/// Pins the calling thread to the next core of `cores`, once per thread.
fn pin_once(cores: &[usize], next: &AtomicUsize) {
    if !PINNED.replace(true) {
        let core = cores[next.fetch_add(1, Ordering::Relaxed) % cores.len()];
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let address: SocketAddr = format!("{host}:{port}").parse()?;
    let cores = Arc::new(parse_cores(
        &std::env::var("CORES").unwrap_or_else(|_| "0".into()),
    )?);
    let next = Arc::new(AtomicUsize::new(0));
    let workers = cores.len();
    eprintln!("actix peer on http://{address}, cores {cores:?}");

    let server = HttpServer::new(move || {
        pin_once(&cores, &next);
        // A known path with another method is a 404, as in ringserve (actix would say 405).
        App::new()
            .app_data(web::PayloadConfig::new(BODY_BYTES_MAX))
            .service(
                web::resource("/")
                    .get(hello)
                    .default_service(web::to(not_found)),
            )
            .service(
                web::resource("/items/{id}")
                    .get(item)
                    .default_service(web::to(not_found)),
            )
            .service(
                web::resource("/stream")
                    .get(stream_chunks)
                    .default_service(web::to(not_found)),
            )
            .service(
                web::resource("/echo")
                    .post(echo)
                    .default_service(web::to(not_found)),
            )
            .default_service(web::to(not_found))
    })
    .workers(workers)
    .tcp_nodelay(true)
    .bind(address)?
    .run();
    actix_web::rt::System::new().block_on(server)?;
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
