//! Small handlers and body streams several test files serve.

use std::convert::Infallible;
use std::time::Duration;

use ringserve::ingress::{Json, Path};
use ringserve::rt::stream::{self, Stream};
use ringserve::{Deployment, Request, Response};
use serde_json::{Value, json};

/// A deployment that answers with whatever the closure makes of the request.
pub struct Handler<F>(pub F);

impl<F> Deployment for Handler<F>
where
    F: Fn(&Request) -> Response + 'static,
{
    async fn call(&self, request: Request) -> Response {
        (self.0)(&request)
    }
}

/// `GET /items/{item_id}`: `{"item_id": <id>}`.
pub async fn read_item(Path(item_id): Path<i64>) -> Json<Value> {
    Json(json!({ "item_id": item_id }))
}

/// `POST /items/`: the item sent, under `created`.
pub async fn create_item(Json(item): Json<Value>) -> Json<Value> {
    Json(json!({ "created": item }))
}

/// `GET /items/{id}` as text: `item <id>`. (The OpenAPI operation id comes from the handler's
/// name, so it keeps the name the tests' documents expect.)
pub async fn item(Path(id): Path<i64>) -> String {
    format!("item {id}")
}

/// These chunks, all ready at once.
pub fn ready(
    chunks: &'static [&'static str],
) -> impl Stream<Item = Result<&'static str, Infallible>> {
    stream::iter(chunks.iter().copied().map(Ok))
}

/// Each item after its pause, on a glommio timer on the server's core (no pause when zero).
pub fn paced<T: 'static>(steps: Vec<(Duration, T)>) -> impl Stream<Item = Result<T, Infallible>> {
    stream::unfold(steps.into_iter(), |mut steps| async move {
        let (pause, item) = steps.next()?;
        if !pause.is_zero() {
            ringserve::rt::sleep(pause).await;
        }
        Some((Ok(item), steps))
    })
}
