//! Several applications side by side, each at its own route prefix — Ray Serve's
//! `serve.run(app, name=..., route_prefix=...)` called twice.
//!
//! ```text
//! cargo run --release --example prefixes
//! curl localhost:8000/api/v1/hello     # → hello from api-v1 (route path /hello)
//! curl localhost:8000/greet            # → greetings! (#1 on this core): a count per replica
//! curl localhost:8000/-/routes         # → {"/api/v1":"api-v1","/greet":"greeter"}
//! ```

use std::cell::Cell;

use ringserve::{Application, Deployment, HttpOptions, Request, Response, Serve};

/// Says which application answered and what path it saw after its prefix.
struct Api;

impl Deployment for Api {
    async fn call(&self, request: Request) -> Response {
        Response::text(format!(
            "hello from {} (route path {})\n",
            request.app_name(),
            request.route_path()
        ))
    }
}

/// Keeps per-replica state: a plain `Cell`, since a replica never leaves its core.
struct Greeter {
    greeted: Cell<u64>,
}

impl Deployment for Greeter {
    async fn call(&self, _request: Request) -> Response {
        self.greeted.set(self.greeted.get() + 1);
        Response::text(format!(
            "greetings! (#{} on this core)\n",
            self.greeted.get()
        ))
    }
}

fn main() -> Result<(), ringserve::Error> {
    Serve::new()
        .options(HttpOptions::new())
        .app(
            Application::new(|| Api)
                .name("api-v1")
                .route_prefix("/api/v1"),
        )
        .app(
            Application::new(|| Greeter {
                greeted: Cell::new(0),
            })
            .name("greeter")
            .route_prefix("/greet"),
        )
        .run()
}
