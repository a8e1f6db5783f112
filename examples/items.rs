//! The FastAPI ingress example, in Rust: typed routes, a JSON body, per-replica state.
//!
//! ```text
//! cargo run --release --example items
//! curl localhost:8000/items/5                  # {"item_id":5}
//! curl localhost:8000/items/abc                # 422, FastAPI's body
//! curl -X POST localhost:8000/items/ -H 'content-type: application/json' \
//!      -d '{"name":"apple"}'                   # {"created":{"name":"apple"}}
//! curl 'localhost:8000/items/?limit=1'         # what this replica has stored
//! curl -X POST localhost:8000/typed-items/ -H 'content-type: application/json' \
//!      -d '{"name":"Foo","price":35.4}'        # a model: {"created":{"name":"Foo",...}}
//! open http://localhost:8000/docs              # Swagger UI over /openapi.json
//! ```
//!
//! The Python it mirrors (the seed's `create_item` takes a `dict`: any JSON object; the
//! typed model of FastAPI's tutorial is the second route):
//!
//! ```text
//! app = FastAPI()
//!
//! @serve.deployment
//! @serve.ingress(app)
//! class Items:
//!     @app.get("/items/{item_id}")
//!     def read_item(self, item_id: int): return {"item_id": item_id}
//!
//!     @app.post("/items/")
//!     def create_item(self, item: dict): return {"created": item}
//!
//!     @app.post("/typed-items/")
//!     def create_typed_item(self, item: Item): return {"created": item}
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use ringserve::Application;
use ringserve::ingress::{Dict, Json, Path, Query, Router, State, ToSchema};
use serde::{Deserialize, Serialize};

/// An item, as FastAPI's tutorial defines it.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
struct Item {
    name: String,
    description: Option<String>,
    price: f64,
    tax: Option<f64>,
}

#[derive(Serialize, ToSchema)]
struct ItemId {
    item_id: i64,
}

/// What `POST /items/` answers: the object it was sent.
#[derive(Serialize, ToSchema)]
struct Created {
    created: Dict,
}

/// What `POST /typed-items/` answers: the item it was sent.
#[derive(Serialize, ToSchema)]
struct CreatedItem {
    created: Item,
}

/// `?skip=0&limit=10`, both optional.
#[derive(Deserialize, ToSchema)]
struct Page {
    #[serde(default)]
    skip: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    10
}

/// The replica's own state — the `self` of the Python class: the items it was sent. Each
/// shard builds its own, so it is a plain `Rc<RefCell<…>>`: no locks, no `Send`.
type Store = Rc<RefCell<Vec<Dict>>>;

async fn read_item(Path(item_id): Path<i64>) -> Json<ItemId> {
    Json(ItemId { item_id })
}

async fn create_item(State(store): State<Store>, Json(item): Json<Dict>) -> Json<Created> {
    store.borrow_mut().push(item.clone());
    Json(Created { created: item })
}

async fn create_typed_item(Json(item): Json<Item>) -> Json<CreatedItem> {
    Json(CreatedItem { created: item })
}

async fn list_items(State(store): State<Store>, Query(page): Query<Page>) -> Json<Vec<Dict>> {
    let items = store.borrow();
    Json(
        items
            .iter()
            .skip(page.skip)
            .take(page.limit)
            .cloned()
            .collect(),
    )
}

fn main() -> Result<(), ringserve::Error> {
    let app = Application::try_new(|| {
        Router::new()
            .title("Items")
            .get("/items/{item_id}", read_item)
            .post("/items/", create_item)
            .get("/items/", list_items)
            .post("/typed-items/", create_typed_item)
            .build_with_state(Store::default())
    })
    .name("items");
    ringserve::run(app)
}
