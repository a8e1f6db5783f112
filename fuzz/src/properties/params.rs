//! Target `params`: the ingress's path, query and header deserializer answers any request
//! with 200 or a FastAPI-style 404 or 422 (or FastAPI's 307 to the path with its trailing
//! slash toggled), never a panic or a 500, and within [`super::ingress_allowance`].
//!
//! The input is lines: the first is the request target (path and query), each other one a
//! header field line, sent as `GET <target> HTTP/1.1` with a `Host`. The routes take integers,
//! strings, booleans, floats, optional, defaulted and repeated fields, a catch-all path, and
//! headers; the checks that a 200 echoes what was asked are in the ingress's own tests.

use ringserve::ingress::{Header, Ingress, Json, Path, Query, Router, ToSchema};
use serde::{Deserialize, Serialize};

use super::{allocated_by, answer, assert_fastapi_refusal, bounded, ingress_allowance};

fn default_limit() -> i64 {
    10
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Search {
    q: String,
    #[serde(default = "default_limit")]
    limit: i64,
    sort: Option<String>,
    #[serde(default)]
    tag: Vec<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Scalars {
    small: Option<u8>,
    ratio: Option<f64>,
    on: Option<bool>,
    letter: Option<char>,
}

#[derive(Deserialize, ToSchema)]
struct ScalarIds {
    id: u16,
    flag: bool,
}

#[derive(Deserialize, ToSchema)]
struct TokenHeaders {
    x_token: String,
    x_trace: Option<String>,
    x_count: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
struct Page {
    #[serde(default)]
    limit: i64,
}

async fn user_items(
    Path(user_id): Path<i64>,
    Query(page): Query<Page>,
    Header(headers): Header<TokenHeaders>,
) -> String {
    format!(
        "{user_id} {} {} {:?} {:?}",
        page.limit, headers.x_token, headers.x_trace, headers.x_count
    )
}

async fn search(Query(search): Query<Search>) -> Json<Search> {
    Json(search)
}

async fn scalars(Path(ids): Path<ScalarIds>, Query(query): Query<Scalars>) -> String {
    let query = serde_json::to_string(&query).unwrap_or_default();
    format!("{} {} {query}", ids.id, ids.flag)
}

async fn file(Path(rest): Path<String>) -> String {
    rest
}

fn ingress() -> Ingress<()> {
    Router::new()
        .get("/users/{user_id}/items", user_items)
        .get("/search", search)
        .get("/scalars/{id}/{flag}", scalars)
        .get("/files/{*rest}", file)
        .build()
        .expect("the fuzz routes are valid")
}

thread_local! {
    static INGRESS: Ingress<()> = ingress();
}

/// Checks the property on `data`.
pub fn check(data: &[u8]) {
    let data = bounded(data);
    let mut lines = data.split(|&byte| byte == b'\n');
    let target = lines.next().unwrap_or_default();
    let mut raw = b"GET ".to_vec();
    raw.extend_from_slice(target);
    raw.extend_from_slice(b" HTTP/1.1\r\nHost: fuzz\r\n");
    for line in lines {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    INGRESS.with(|ingress| {
        let (response, bytes) = allocated_by(|| answer(ingress, raw));
        assert!(
            bytes <= ingress_allowance(data.len()),
            "answering {} bytes allocated {bytes}",
            data.len()
        );
        let Some(response) = response else {
            return;
        };
        match response.status().as_u16() {
            200 => {}
            307 => assert!(
                response.header("location").is_some(),
                "307 without location"
            ),
            _ => assert_fastapi_refusal(&response, &["path", "query", "header"]),
        }
    });
}
