//! Global HTTP options — Ray Serve's `serve.start(http_options={...})` — set in code.
//!
//! ```text
//! cargo run --release --example http_options
//! curl -i localhost:8000/slow                              # → 408 after 1 s
//! curl -i -H 'x-request-timeout-seconds: 0' localhost:8000/slow   # → 200 after 2 s
//! curl -i localhost:8000/fast                              # → 200 fast
//! ```
//!
//! The root path is Ray Serve's: where a proxy in front mounts the server (`/serve`) and
//! removes it; requests arrive without it, and the handler reads it to say where it lives.
//!
//! Settings made in code win over `RINGSERVE_HOST`, `RINGSERVE_PORT` and `RINGSERVE_CORES`;
//! this example leaves host, port and cores to them (or their defaults).

use std::time::Duration;

use ringserve::{Application, Deployment, HttpOptions, Limits, Request, Response, Serve, rt};

/// Sleeps two seconds on `/slow`, answers at once elsewhere.
struct SometimesSlow;

impl Deployment for SometimesSlow {
    async fn call(&self, request: Request) -> Response {
        if request.route_path() == "/slow" {
            rt::sleep(Duration::from_secs(2)).await;
        }
        Response::text(format!(
            "done: {} (mounted at {})\n",
            request.route_path(),
            request.root_path()
        ))
    }
}

fn main() -> Result<(), ringserve::Error> {
    let options = HttpOptions::new()
        .request_timeout(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(30))
        .root_path("/serve")
        .limits(Limits {
            body_bytes_max: 1024 * 1024,
            header_read_timeout: Duration::from_secs(5),
            ..Limits::default()
        });
    Serve::new()
        .options(options)
        .app(Application::new(|| SometimesSlow))
        .run()
}
