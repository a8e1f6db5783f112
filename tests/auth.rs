//! The authentication helpers over loopback: as a middleware around a whole application and as
//! a guard on ingress routes, with the exact 401s, and their security schemes in OpenAPI.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use ringserve::ingress::Router;
use ringserve::middleware::auth::{ApiKeyAuth, BearerAuth};
use ringserve::{Application, Deployment, Request, Response};

/// Counts the requests that reach it.
struct Counted(Rc<Cell<u32>>);

impl Deployment for Counted {
    async fn call(&self, _request: Request) -> Response {
        self.0.set(self.0.get() + 1);
        Response::text(format!("handled {}", self.0.get()))
    }
}

const JSON: &str = "content-type: application/json\r\n";

#[test]
fn bearer_middleware_guards_a_whole_application() {
    let auth = BearerAuth::new(["t0ken", "other"]).expect("valid tokens");
    let server = common::start_app(Application::new(|| Counted(Rc::default())).layer(auth));
    let addr = server.local_addr();
    assert_eq!(
        common::get_with(addr, "/", "").redacted(),
        format!(
            "HTTP/1.1 401 Unauthorized\r\ndate: <date>\r\nx-request-id: <id>\r\n\
             content-length: 30\r\n{JSON}www-authenticate: Bearer\r\n\r\n\
             {{\"detail\":\"Not authenticated\"}}"
        )
    );
    assert_eq!(
        common::get_with(addr, "/", "Authorization: Bearer wrong\r\n").redacted(),
        format!(
            "HTTP/1.1 401 Unauthorized\r\ndate: <date>\r\nx-request-id: <id>\r\n\
             content-length: 26\r\n{JSON}www-authenticate: Bearer error=\"invalid_token\"\r\n\
             \r\n{{\"detail\":\"Invalid token\"}}"
        )
    );
    // Refused requests never reached the handler: the first accepted one is its first.
    assert_eq!(
        common::get_with(addr, "/", "Authorization: Bearer t0ken\r\n").body_text(),
        "handled 1"
    );
    assert_eq!(
        common::get_with(addr, "/any/path", "authorization: BEARER other\r\n").body_text(),
        "handled 2"
    );
    server.shutdown();
}

async fn open() -> &'static str {
    "open"
}

async fn secret() -> &'static str {
    "secret"
}

#[test]
fn api_key_guard_protects_a_group_of_routes_and_documents_it() {
    let auth = ApiKeyAuth::new(["k-1"])
        .expect("valid keys")
        .header_name("x-key")
        .expect("valid header name");
    let app = Application::try_new(move || {
        let guarded = Router::new().guard(auth.clone()).get("/secret", secret);
        Router::new().get("/open", open).merge(guarded).build()
    });
    let server = common::start_app(app);
    let addr = server.local_addr();
    assert_eq!(common::get_with(addr, "/open", "").body_text(), "open");
    let refused = common::get_with(addr, "/secret", "x-key: k-2\r\n");
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.header("www-authenticate"), Some("ApiKey"));
    assert_eq!(refused.body_text(), r#"{"detail":"Not authenticated"}"#);
    assert_eq!(
        common::get_with(addr, "/secret", "X-Key: k-1\r\n").body_text(),
        "secret"
    );

    let document: serde_json::Value =
        serde_json::from_str(&common::get_with(addr, "/openapi.json", "").body_text())
            .expect("JSON");
    assert_eq!(
        document["components"]["securitySchemes"]["apiKeyAuth"],
        serde_json::json!({"type": "apiKey", "in": "header", "name": "x-key"})
    );
    assert_eq!(
        document["paths"]["/secret"]["get"]["security"],
        serde_json::json!([{"apiKeyAuth": []}])
    );
    assert!(document["paths"]["/open"]["get"].get("security").is_none());
    server.shutdown();
}

#[test]
fn bearer_guard_on_a_router_answers_before_validation() {
    let auth = BearerAuth::new(["t"]).expect("valid tokens");
    let app = Application::try_new(move || {
        Router::new()
            .guard(auth.clone())
            .get("/items/{id}", common::item)
            .build()
    });
    let server = common::start_app(app);
    let addr = server.local_addr();
    // A bad id from an unauthenticated client: the 401, not the 422.
    assert_eq!(common::get_with(addr, "/items/abc", "").status(), 401);
    assert_eq!(
        common::get_with(addr, "/items/abc", "Authorization: Bearer t\r\n").status(),
        422
    );
    assert_eq!(
        common::get_with(addr, "/items/5", "Authorization: Bearer t\r\n").body_text(),
        "item 5"
    );
    server.shutdown();
}
