//! CORS on the items application, as the FastAPI example wraps its app in
//! `CORSMiddleware(allow_origins=["*"])` — here also allowing `POST` with a JSON body, so that
//! a page on any origin can create items.
//!
//! ```text
//! cargo run --release --example cors
//! curl -i -X OPTIONS localhost:8000/items/ -H 'Origin: http://a.example' \
//!      -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type'
//! curl -i localhost:8000/items/5 -H 'Origin: http://a.example'
//! ```

use ringserve::ingress::{Json, Path, Router};
use ringserve::middleware::Cors;
use ringserve::{Application, Method};
use serde_json::{Value, json};

async fn read_item(Path(item_id): Path<i64>) -> Json<Value> {
    Json(json!({ "item_id": item_id }))
}

async fn create_item(Json(item): Json<Value>) -> Json<Value> {
    Json(json!({ "created": item }))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Checked here, before anything starts: a bad origin or a wildcard with credentials is an
    // error naming the value.
    let cors = Cors::builder()
        .allow_any_origin()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(["content-type"])
        .build()?;
    let app = Application::try_new(|| {
        Router::new()
            .title("Items with CORS")
            .get("/items/{item_id}", read_item)
            .post("/items/", create_item)
            .build()
    })
    .name("items")
    .layer(cors);
    ringserve::run(app)?;
    Ok(())
}
