//! Authentication through a dependency, as FastAPI's `Depends`: a reusable extractor checks
//! `Authorization: Bearer <token>` and the handler runs only when it passes.
//!
//! ```text
//! cargo run --release --example auth
//! curl -i localhost:8000/items/                                   # 422: header missing
//! curl -i localhost:8000/items/ -H 'authorization: Bearer wrong'  # 401, WWW-Authenticate
//! curl -i localhost:8000/items/ -H 'authorization: Bearer secret' # 200
//! curl -i localhost:8000/public                                   # 200, no token needed
//! ```
//!
//! The dependency is written out here to show how one is made; `ringserve::middleware::auth`
//! has ready-made bearer-token and API-key checks (`Router::guard(BearerAuth::new([..])?)`).
//!
//! The Python it mirrors:
//!
//! ```text
//! async def verify_token(authorization: str = Header()):
//!     if authorization != "Bearer secret":
//!         raise HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"})
//!
//! @app.get("/items/", dependencies=[Depends(verify_token)])
//! ```

use ringserve::ingress::utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use ringserve::ingress::{
    FromRequestParts, Header, HttpError, Json, OperationDoc, Rejection, RequestParts, Router,
    ToSchema,
};
use ringserve::middleware::auth::constant_time_eq;
use ringserve::{Application, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

/// The token this example accepts; a real service would look it up.
const TOKEN: &str = "secret";

/// The `Authorization` header, required: a request without it is a 422, as FastAPI's
/// `authorization: str = Header()` makes it.
#[derive(Deserialize, ToSchema)]
struct AuthorizationHeader {
    authorization: String,
}

/// A caller who presented the right bearer token. As a dependency it composes another
/// extractor (`Header<AuthorizationHeader>`) and rejects with 401.
struct Authenticated;

impl<S> FromRequestParts<S> for Authenticated {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        let Header(header) = Header::<AuthorizationHeader>::from_request_parts(parts).await?;
        match header.authorization.strip_prefix("Bearer ") {
            Some(token) if constant_time_eq(token.as_bytes(), TOKEN.as_bytes()) => {
                Ok(Authenticated)
            }
            _ => Err(HttpError::new(StatusCode::UNAUTHORIZED, "Invalid token")
                .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
                .into()),
        }
    }

    fn describe(operation: &mut OperationDoc) {
        <Header<AuthorizationHeader> as FromRequestParts<S>>::describe(operation);
        operation.security_scheme(
            "bearerAuth",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(Serialize, ToSchema)]
struct Items {
    items: Vec<String>,
}

async fn read_items() -> Json<Items> {
    Json(Items {
        items: vec!["Foo".to_owned(), "Bar".to_owned()],
    })
}

/// Takes the dependency as an argument: the route requires it on its own.
async fn read_me(_caller: Authenticated) -> &'static str {
    "you are authenticated"
}

async fn public() -> &'static str {
    "anyone may read this"
}

fn main() -> Result<(), ringserve::Error> {
    let app = Application::try_new(|| {
        let protected = Router::new()
            .depends_on::<Authenticated>()
            .get("/items/", read_items);
        Router::new()
            .title("Auth")
            .get("/public", public)
            .get("/me", read_me)
            .merge(protected)
            .build()
    })
    .name("auth");
    ringserve::run(app)
}
