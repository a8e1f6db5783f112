//! A file upload, as FastAPI takes one (`file: UploadFile`): an image in, its name, content type
//! and size out. The file is read chunk by chunk as it arrives, never held whole.
//!
//! ```text
//! cargo run --release --example upload
//! curl -F 'file=@photo.jpg;type=image/jpeg' localhost:8000/upload/
//!     # {"filename":"photo.jpg","content_type":"image/jpeg","size":48213}
//! curl -X POST localhost:8000/upload/          # 422: the file is missing, FastAPI's body
//! ```
//!
//! The Python it mirrors:
//!
//! ```text
//! @app.post("/upload/")
//! async def upload(file: UploadFile):
//!     return {"filename": file.filename, "content_type": file.content_type, "size": file.size}
//! ```

use ringserve::Application;
use ringserve::ingress::{ErrorDetail, Json, Location, Multipart, Rejection, Router, ToSchema};
use serde::Serialize;

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
    filename: Option<String>,
    content_type: Option<String>,
    size: usize,
}

async fn upload(mut form: Multipart<UploadForm>) -> Result<Json<Uploaded>, Rejection> {
    while let Some(mut field) = form.next_field().await? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().map(str::to_owned);
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

fn main() -> Result<(), ringserve::Error> {
    let app = Application::try_new(|| {
        Router::new()
            .title("Uploads")
            .post("/upload/", upload)
            .build()
    })
    .name("upload");
    ringserve::run(app)
}
