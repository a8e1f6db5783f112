//! The cost of the ingress over a bare `Deployment`, per request, without sockets: each
//! iteration parses a literal request with `Request::from_http1` and runs a replica's `call`
//! to completion.
//!
//! - `parse_only`: the request construction every case below includes (the baseline to
//!   subtract);
//! - `bare/item`: a hand-written `Deployment` that matches the path by hand, parses the id and
//!   writes `{"item_id":5}` — what `examples/bench.rs` does;
//! - `ingress/item`: a `Router` of ten routes: matchit lookup, `Path<i64>` extraction,
//!   `Json<ItemId>` serialization;
//! - `ingress/item_422`: the same route with a bad id: the FastAPI-shaped 422;
//! - `ingress/create`: `POST /items/` with a JSON body into a typed struct and back.
//!
//! `cargo bench --bench ingress`.

use criterion::{Criterion, criterion_group, criterion_main};
use futures_lite::future::block_on;
use ringserve::ingress::{Ingress, Json, Path, Router, ToSchema};
use ringserve::{Deployment, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::hint::black_box;

const GET_ITEM: &[u8] = b"GET /items/5 HTTP/1.1\r\nHost: bench\r\nUser-Agent: criterion\r\n\r\n";
const GET_BAD_ITEM: &[u8] =
    b"GET /items/abc HTTP/1.1\r\nHost: bench\r\nUser-Agent: criterion\r\n\r\n";
const POST_ITEM: &[u8] =
    b"POST /items/ HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
Content-Length: 43\r\n\r\n{\"name\":\"Foo\",\"price\":35.4,\"tax\":1.5,\"n\":1}";

struct Bare;

impl Deployment for Bare {
    async fn call(&self, request: Request) -> Response {
        match request.route_path().strip_prefix("/items/") {
            Some(id) => match id.parse::<i64>() {
                Ok(id) => Response::json_bytes(format!("{{\"item_id\":{id}}}")),
                Err(_) => Response::new(StatusCode::UNPROCESSABLE_ENTITY),
            },
            None => Response::new(StatusCode::NOT_FOUND),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ItemId {
    item_id: i64,
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Item {
    name: String,
    price: f64,
    tax: Option<f64>,
}

async fn read_item(Path(item_id): Path<i64>) -> Json<ItemId> {
    Json(ItemId { item_id })
}

async fn create_item(Json(item): Json<Item>) -> Json<Item> {
    Json(item)
}

async fn other() -> &'static str {
    "other"
}

/// Ten routes, like a small service, with the benchmarked ones among them.
fn router() -> Ingress {
    Router::new()
        .get("/", other)
        .get("/health", other)
        .get("/users/{user_id}", other)
        .post("/users/", other)
        .get("/users/{user_id}/orders", other)
        .get("/orders/{order_id}", other)
        .delete("/orders/{order_id}", other)
        .get("/items/{item_id}", read_item)
        .post("/items/", create_item)
        .get("/static/{*path}", other)
        .build()
        .expect("routes are valid")
}

fn call(replica: &impl Deployment, raw: &'static [u8]) -> Response {
    let request = Request::from_http1(raw).expect("valid request");
    block_on(replica.call(request))
}

fn ingress(c: &mut Criterion) {
    let bare = Bare;
    let router = router();
    assert_eq!(
        call(&router, GET_ITEM).body_bytes().unwrap(),
        "{\"item_id\":5}"
    );
    assert_eq!(
        call(&router, GET_BAD_ITEM).status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(call(&router, POST_ITEM).status(), StatusCode::OK);

    let mut group = c.benchmark_group("ingress");
    group.bench_function("parse_only", |b| {
        b.iter(|| Request::from_http1(black_box(GET_ITEM)).expect("valid request"))
    });
    group.bench_function("bare/item", |b| b.iter(|| call(&bare, black_box(GET_ITEM))));
    group.bench_function("ingress/item", |b| {
        b.iter(|| call(&router, black_box(GET_ITEM)))
    });
    group.bench_function("ingress/item_422", |b| {
        b.iter(|| call(&router, black_box(GET_BAD_ITEM)))
    });
    group.bench_function("ingress/create", |b| {
        b.iter(|| call(&router, black_box(POST_ITEM)))
    });
    group.finish();
}

criterion_group!(benches, ingress);
criterion_main!(benches);
