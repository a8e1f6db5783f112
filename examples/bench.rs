//! The endpoints every server in `perf/` serves, so load runs compare like with like:
//!
//! - `GET /` → `hello`
//! - `GET /items/{id}` → `{"item_id":<id>}`, or 422 with FastAPI's error body when `id` is not
//!   an integer
//! - `GET /stream` → ten chunks `chunk 0\n` … `chunk 9\n`, chunked, no pauses
//! - `POST /echo` → the request body
//!
//! ```text
//! RINGSERVE_CORES=0-0 cargo run --release --example bench
//! ```

use std::convert::Infallible;

use futures_lite::stream;
use ringserve::{Application, Deployment, Method, Request, Response, StatusCode};

struct Bench;

impl Deployment for Bench {
    async fn call(&self, mut request: Request) -> Response {
        let path = request.route_path();
        match (request.method(), path) {
            (&Method::GET, "/") => Response::text("hello"),
            (&Method::GET, "/stream") => Response::stream(stream::iter(
                (0..10).map(|i| Ok::<_, Infallible>(format!("chunk {i}\n"))),
            )),
            (&Method::GET, _) if path.starts_with("/items/") => item(&path["/items/".len()..]),
            (&Method::POST, "/echo") => match request.body().await {
                Ok(body) => Response::new(StatusCode::OK)
                    .header(
                        ringserve::header::CONTENT_TYPE,
                        ringserve::HeaderValue::from_static("application/octet-stream"),
                    )
                    .body(body),
                Err(error) => {
                    Response::text(error.to_string()).with_status(StatusCode::BAD_REQUEST)
                }
            },
            _ => Response::text("Not Found").with_status(StatusCode::NOT_FOUND),
        }
    }
}

/// `{"item_id":5}`, or FastAPI's 422 for a path parameter that is not an integer.
fn item(id: &str) -> Response {
    match id.parse::<i64>() {
        Ok(id) => Response::json_bytes(format!("{{\"item_id\":{id}}}")),
        Err(_) => {
            let input = serde_json::Value::String(id.to_owned());
            Response::json_bytes(format!(
                "{{\"detail\":[{{\"type\":\"int_parsing\",\"loc\":[\"path\",\"item_id\"],\
                 \"msg\":\"Input should be a valid integer, unable to parse string as an integer\",\
                 \"input\":{input}}}]}}"
            ))
            .with_status(StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

fn main() -> Result<(), ringserve::Error> {
    ringserve::run(Application::new(|| Bench))
}
