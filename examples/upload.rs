//! Forms and files, as FastAPI takes them: a file upload (`file: UploadFile`) — an image in,
//! its name, content type and size out, read chunk by chunk as it arrives, never held whole —
//! and a login form (`username: str = Form()`).
//!
//! ```text
//! cargo run --release --example upload
//! curl -F 'file=@photo.jpg;type=image/jpeg' localhost:8000/upload/
//!     # {"filename":"photo.jpg","content_type":"image/jpeg","size":48213}
//! curl -X POST localhost:8000/upload/          # 422: the file is missing, FastAPI's body
//! curl -d 'username=ann&password=secret' localhost:8000/login/   # {"username":"ann"}
//! ```
//!
//! The Python it mirrors:
//!
//! ```text
//! @app.post("/upload/")
//! async def upload(file: UploadFile):
//!     return {"filename": file.filename, "content_type": file.content_type, "size": file.size}
//!
//! @app.post("/login/", responses={401: {"description": "Incorrect username or password"}})
//! async def login(username: str = Form(), password: str = Form()):
//!     if password != "secret":
//!         raise HTTPException(401, "Incorrect username or password")
//!     return {"username": username}
//! ```

use ringserve::ingress::{
    ErrorDetail, Form, HttpError, Json, Location, Multipart, Rejection, Router, ToSchema,
};
use ringserve::{Application, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The form the route takes, for its OpenAPI document: one file field.
#[derive(ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// What the route answers.
#[derive(Serialize, ToSchema)]
struct Uploaded {
    filename: String,
    content_type: Option<String>,
    size: usize,
}

async fn upload(mut form: Multipart<UploadForm>) -> Result<Json<Uploaded>, Rejection> {
    while let Some(mut field) = form.next_field().await? {
        if field.name() != Some("file") {
            continue;
        }
        // A plain text field where a file belongs: FastAPI's answer for `UploadFile`.
        let Some(filename) = field.file_name().map(str::to_owned) else {
            let text = field.text().await?;
            return Err(ErrorDetail::new(
                "value_error",
                Location::Body,
                "Value error, Expected UploadFile, received: <class 'str'>",
            )
            .at("file")
            .input(text)
            .ctx(json!({ "error": {} }))
            .into());
        };
        let content_type = field.content_type().map(str::to_owned);
        let mut size = 0;
        while let Some(chunk) = field.chunk().await? {
            size += chunk.len();
        }
        return Ok(Json(Uploaded {
            filename,
            content_type,
            size,
        }));
    }
    Err(ErrorDetail::missing(Location::Body, "file").into())
}

/// The login form's fields.
#[derive(Deserialize, ToSchema)]
struct Login {
    username: String,
    password: String,
}

/// Who signed in.
#[derive(Serialize, ToSchema)]
struct SignedIn {
    username: String,
}

async fn login(Form(login): Form<Login>) -> Result<Json<SignedIn>, HttpError> {
    // A real application checks a password hash; the example knows one password.
    if login.password != "secret" {
        return Err(HttpError::new(
            StatusCode::UNAUTHORIZED,
            "Incorrect username or password",
        ));
    }
    Ok(Json(SignedIn {
        username: login.username,
    }))
}

fn main() -> Result<(), ringserve::Error> {
    let app = Application::try_new(|| {
        Router::new()
            .title("Uploads")
            .post("/upload/", upload)
            .post("/login/", login)
            .responds_with(StatusCode::UNAUTHORIZED, "Incorrect username or password")
            .build()
    })
    // Uploads stream from the socket through the handler instead of being read ahead whole.
    .buffer_request_body(false)
    .name("upload");
    ringserve::run(app)
}
