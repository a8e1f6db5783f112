//! The floor for ringserve's `GET /`: glommio 0.9 and httparse, no framework.
//!
//! Serves only ringserve's bench `GET /` → `hello`, with the same headers ringserve sends
//! (`date`, `content-length`, `content-type: text/plain; charset=utf-8`) except its
//! `x-request-id`; anything else is a 404 `Not Found` after which the connection closes, since
//! this loop reads no request bodies. Per core of `CORES` one pinned glommio executor with its
//! own listener (glommio sets `SO_REUSEPORT`); per connection: read into a buffer, parse every
//! complete request in it (pipelining), append one response per request to one output buffer,
//! write it with one call. Keep-alive as HTTP/1.1 and 1.0 define it. A malformed request (more
//! than 32 headers included), or a head over 8 KiB, closes the connection, after the answers to
//! the requests before it. Environment: `HOST` (default `127.0.0.1`), `PORT` (default `8000`),
//! `CORES` (`0`, `0,1`, `0-3`; default `0`).

use std::cell::RefCell;
use std::error::Error;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};

const BUFFER_BYTES: usize = 8 * 1024;

/// This executor's responses, rebuilt when the second in their `date` header changes.
struct Responses {
    second: u64,
    hello: Vec<u8>,
    not_found: Vec<u8>,
}

impl Responses {
    fn at(second: u64) -> Self {
        let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
        let response = |status: &str, extra: &str, body: &str| {
            format!(
                "HTTP/1.1 {status}\r\ndate: {date}\r\n{extra}content-length: {}\r\n\
                 content-type: text/plain; charset=utf-8\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        };
        Responses {
            second,
            hello: response("200 OK", "", "hello"),
            not_found: response("404 Not Found", "connection: close\r\n", "Not Found"),
        }
    }
}

thread_local! {
    static RESPONSES: RefCell<Responses> = RefCell::new(Responses::at(0));
}

/// Appends the response to `request` to `output`; false when the connection must close after.
fn respond(request: &httparse::Request, output: &mut Vec<u8>) -> bool {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value)
    };
    let connection = header("connection").unwrap_or_default();
    let keep_alive = match request.version {
        Some(1) => !connection.eq_ignore_ascii_case(b"close"),
        _ => connection.eq_ignore_ascii_case(b"keep-alive"),
    };
    // A body would have to be read past; this loop reads none, so such a request ends it.
    let bodyless = header("transfer-encoding").is_none()
        && header("content-length").is_none_or(|length| length == b"0");
    let hello = request.method == Some("GET") && request.path == Some("/") && bodyless;
    RESPONSES.with_borrow(|responses| {
        output.extend_from_slice(if hello {
            &responses.hello
        } else {
            &responses.not_found
        })
    });
    hello && keep_alive
}

async fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut input = vec![0; BUFFER_BYTES];
    let mut filled = 0;
    let mut output = Vec::with_capacity(BUFFER_BYTES);
    loop {
        match stream.read(&mut input[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(read) => filled += read,
        }
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |now| now.as_secs());
        RESPONSES.with_borrow_mut(|responses| {
            if responses.second != second {
                *responses = Responses::at(second);
            }
        });
        let mut parsed = 0;
        let mut open = true;
        while open {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&input[parsed..filled]) {
                Ok(httparse::Status::Complete(length)) => {
                    parsed += length;
                    open = respond(&request, &mut output);
                }
                Ok(httparse::Status::Partial) => break,
                // Answered requests before it still get their responses.
                Err(_) => open = false,
            }
        }
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        input.copy_within(parsed..filled, 0);
        filled -= parsed;
        if !open || filled == input.len() {
            return;
        }
    }
}

async fn accept_loop(address: SocketAddr) {
    let listener = match TcpListener::bind(address) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("binding {address}: {error}");
            std::process::exit(1);
        }
    };
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(serve(stream)).detach();
            }
            Err(error) => {
                // Out of descriptors, most likely: back off instead of spinning.
                eprintln!("accept: {error}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let address: SocketAddr = format!("{host}:{port}").parse()?;
    let cores = parse_cores(&std::env::var("CORES").unwrap_or_else(|_| "0".into()))?;

    let mut executors = Vec::new();
    for &core in &cores {
        executors.push(
            LocalExecutorBuilder::new(Placement::Fixed(core))
                .name(&format!("raw-core-{core}"))
                .spawn(move || accept_loop(address))?,
        );
    }
    eprintln!("glommio-raw peer on http://{address}, cores {cores:?}");
    for executor in executors {
        executor.join()?;
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
