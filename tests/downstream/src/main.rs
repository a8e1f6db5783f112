//! A user's binary: the README's Hello at `/`, a stream paced by `ringserve::rt` at
//! `/stream`, and an ingress with `Path` and `Json` under `/api`. Host, port and cores come
//! from `RINGSERVE_HOST`, `RINGSERVE_PORT` and `RINGSERVE_CORES`; it serves until SIGTERM.

use std::convert::Infallible;
use std::time::Duration;

use ringserve::ingress::{Json, Path, Router, ToSchema};
use ringserve::rt::{self, stream};
use ringserve::{Application, Deployment, Request, Response, Serve};
use serde::{Deserialize, Serialize};

struct Hello;

impl Deployment for Hello {
    async fn call(&self, _request: Request) -> Response {
        Response::text("hello")
    }
}

/// Three chunks, one every 10 ms: each is written when the stream yields it.
struct Paced;

impl Deployment for Paced {
    async fn call(&self, _request: Request) -> Response {
        let chunks = stream::unfold(0, |i| async move {
            if i == 3 {
                return None;
            }
            rt::sleep(Duration::from_millis(10)).await;
            Some((Ok::<_, Infallible>(format!("tick {i}\n")), i + 1))
        });
        Response::stream(chunks)
    }
}

#[derive(Deserialize, ToSchema)]
struct Order {
    qty: u32,
}

#[derive(Serialize, ToSchema)]
struct Priced {
    item_id: i64,
    qty: u32,
    total_cents: u64,
}

async fn price(Path(item_id): Path<i64>, Json(order): Json<Order>) -> Json<Priced> {
    Json(Priced {
        item_id,
        qty: order.qty,
        total_cents: u64::from(order.qty) * 250,
    })
}

fn main() -> Result<(), ringserve::Error> {
    let api = Application::try_new(|| Router::new().post("/items/{item_id}", price).build())
        .name("api")
        .route_prefix("/api");
    Serve::new()
        .app(Application::new(|| Hello).name("hello"))
        .app(Application::new(|| Paced).name("paced").route_prefix("/stream"))
        .app(api)
        .run()
}
