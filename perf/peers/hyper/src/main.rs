//! hyper peer of ringserve's `examples/bench.rs`: the same endpoints, for side-by-side load runs.
//!
//! - `GET /` → `hello` (`text/plain; charset=utf-8`)
//! - `GET /items/{id}` → `{"item_id":<id>}`, or 422 with FastAPI's `int_parsing` body when `id`
//!   is not an `i64` (the raw path segment, as ringserve matches it)
//! - `GET /stream` → ten chunks `chunk 0\n` … `chunk 9\n`, chunked, no pauses
//! - `POST /echo` → the request body (`application/octet-stream`, at most 16 MiB as in ringserve)
//! - anything else → 404 `Not Found`
//!
//! The closest tokio shape to ringserve's: one thread per core of `CORES`, pinned, each running
//! a current-thread runtime with its own `SO_REUSEPORT` listener on the same port, and each
//! connection served by hyper's HTTP/1 `serve_connection` (keep-alive) on that thread's
//! `LocalSet`. `TCP_NODELAY` on every connection, as ringserve does. Environment: `HOST`
//! (default `127.0.0.1`), `PORT` (default `8000`), `CORES` (`0`, `0,1`, `0-3`; default `0`).

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;
use std::{io, thread};

use futures_util::stream;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::task::LocalSet;

type Body = BoxBody<Bytes, Infallible>;

const BODY_BYTES_MAX: usize = 16 * 1024 * 1024;

async fn handle(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path();
    Ok(match (request.method(), path) {
        (&Method::GET, "/") => full(StatusCode::OK, "text/plain; charset=utf-8", "hello"),
        (&Method::GET, "/stream") => Response::new(BodyExt::boxed(StreamBody::new(stream::iter(
            (0..10).map(|i| Ok(Frame::data(Bytes::from(format!("chunk {i}\n"))))),
        )))),
        (&Method::GET, _) if path.starts_with("/items/") => item(&path["/items/".len()..]),
        (&Method::POST, "/echo") => echo(request.into_body()).await,
        _ => full(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "Not Found",
        ),
    })
}

fn item(id: &str) -> Response<Body> {
    match id.parse::<i64>() {
        Ok(id) => full(
            StatusCode::OK,
            "application/json",
            format!("{{\"item_id\":{id}}}"),
        ),
        Err(_) => full(
            StatusCode::UNPROCESSABLE_ENTITY,
            "application/json",
            int_parsing(id),
        ),
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

async fn echo(body: Incoming) -> Response<Body> {
    match Limited::new(body, BODY_BYTES_MAX).collect().await {
        Ok(collected) => full(
            StatusCode::OK,
            "application/octet-stream",
            collected.to_bytes(),
        ),
        Err(error) if error.is::<LengthLimitError>() => full(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain; charset=utf-8",
            "",
        ),
        Err(error) => full(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            error.to_string(),
        ),
    }
}

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(BodyExt::boxed(Full::new(body.into())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// One pinned thread: a current-thread runtime accepting on its own listener.
fn serve(core: usize, listener: std::net::TcpListener) -> io::Result<()> {
    core_affinity::set_for_current(core_affinity::CoreId { id: core });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    LocalSet::new().block_on(&runtime, async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let mut http = http1::Builder::new();
        http.keep_alive(true);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, most likely: back off instead of spinning.
                    eprintln!("accept on core {core}: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let connection = http.serve_connection(TokioIo::new(stream), service_fn(handle));
            tokio::task::spawn_local(async move {
                let _ = connection.await;
            });
        }
    })
}

/// A non-blocking listener with `SO_REUSEPORT`: one per core, all on the same port.
fn bind(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn main() -> Result<(), Box<dyn Error>> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let address: SocketAddr = format!("{host}:{port}").parse()?;
    let cores = parse_cores(&std::env::var("CORES").unwrap_or_else(|_| "0".into()))?;

    let mut threads = Vec::new();
    for &core in &cores {
        let listener = bind(address)?;
        threads.push(
            thread::Builder::new()
                .name(format!("hyper-core-{core}"))
                .spawn(move || serve(core, listener))?,
        );
    }
    eprintln!("hyper peer on http://{address}, cores {cores:?}");
    for thread in threads {
        match thread.join() {
            Ok(result) => result?,
            Err(_) => return Err("a server thread panicked".into()),
        }
    }
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
