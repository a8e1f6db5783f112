//! Target `json`: the `Json` extractor answers 200 exactly when serde_json accepts the body
//! as the handler's type, and otherwise a FastAPI-style 422 (located in the body); a 200
//! echoes the value serde_json read. A body that is not UTF-8 is FastAPI's 400 `There was an
//! error parsing the body` instead, whatever serde_json makes of it. Each input is sent as the body of two routes: one typed (a struct
//! with strings, numbers, options, lists and a map) and one that takes any JSON value.

use std::collections::BTreeMap;

use ringserve::ingress::{Ingress, Json, Router, ToSchema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{allocated_by, answer, assert_fastapi_refusal, bounded, ingress_allowance};

#[derive(Debug, Deserialize, Serialize, ToSchema)]
struct Item {
    name: String,
    price: f64,
    quantity: Option<u32>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    attributes: BTreeMap<String, i64>,
}

async fn item(Json(item): Json<Item>) -> Json<Item> {
    Json(item)
}

async fn any(Json(value): Json<Value>) -> Json<Value> {
    Json(value)
}

fn ingress() -> Ingress<()> {
    Router::new()
        .post("/items", item)
        .post("/any", any)
        .build()
        .expect("the fuzz routes are valid")
}

thread_local! {
    static INGRESS: Ingress<()> = ingress();
}

/// Checks the property on `data`.
pub fn check(data: &[u8]) {
    let body = bounded(data);
    // Python (so FastAPI) reads UTF-8 bytes without a leading byte order mark, and so does the
    // extractor: serde sees what follows it.
    let decoded = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let item = serde_json::from_slice::<Item>(decoded).map(|item| serde_json::to_vec(&item));
    post(
        "/items",
        body,
        item.ok().map(|echo| echo.expect("an Item serializes")),
    );
    let value = serde_json::from_slice::<Value>(decoded).map(|value| serde_json::to_vec(&value));
    post(
        "/any",
        body,
        value.ok().map(|echo| echo.expect("a Value serializes")),
    );
}

/// Posts `body` to `path` and checks the answer against `echo`: what serde_json read from the
/// body, written back, or `None` when it refused the body.
fn post(path: &str, body: &[u8], echo: Option<Vec<u8>>) {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    INGRESS.with(|ingress| {
        let (response, bytes) = allocated_by(|| answer(ingress, raw));
        assert!(
            bytes <= ingress_allowance(body.len()),
            "answering {} bytes allocated {bytes}",
            body.len()
        );
        let response = response.expect("a well-formed request");
        if std::str::from_utf8(body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)).is_err() {
            assert_eq!(
                response.status().as_u16(),
                400,
                "a body that is not UTF-8, {:?}, for {path}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(
                response.body_bytes().expect("a plain body").as_ref(),
                br#"{"detail":"There was an error parsing the body"}"#
            );
            return;
        }
        match echo {
            Some(echo) => {
                assert_eq!(
                    response.status().as_u16(),
                    200,
                    "serde_json accepts {:?} for {path}",
                    String::from_utf8_lossy(body)
                );
                let answered = response.body_bytes().expect("a plain body");
                assert_eq!(
                    String::from_utf8_lossy(answered),
                    String::from_utf8_lossy(&echo),
                    "the echo of {:?}",
                    String::from_utf8_lossy(body)
                );
            }
            None => {
                assert_eq!(
                    response.status().as_u16(),
                    422,
                    "serde_json refuses {:?} for {path}",
                    String::from_utf8_lossy(body)
                );
                assert_fastapi_refusal(&response, &["body"]);
            }
        }
    });
}
