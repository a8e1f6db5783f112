//! The seed's default example: a deployment that answers `hello`.
//!
//! ```text
//! cargo run --release --example hello
//! curl -i localhost:8000/
//! ```
//!
//! Host, port and cores come from `RINGSERVE_HOST`, `RINGSERVE_PORT` and `RINGSERVE_CORES`
//! when set (defaults: 127.0.0.1, 8000, every core).

use ringserve::{Application, Deployment, Request, Response};

struct Hello;

impl Deployment for Hello {
    async fn call(&self, _request: Request) -> Response {
        Response::text("hello")
    }
}

fn main() -> Result<(), ringserve::Error> {
    ringserve::run(Application::new(|| Hello))
}
