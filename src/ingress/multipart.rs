//! `Multipart`: a `multipart/form-data` body — file uploads, FastAPI's `File()` and
//! `UploadFile` — read field by field, and each field chunk by chunk, as the body arrives.
//!
//! Parsing is `multer`'s (well kept, used by axum; it needs no tokio runtime). It wants its
//! input stream to be `Send`, and the request body is the shard's own (`Rc`): the body stream
//! is handed to it in [`ShardLocal`], which claims `Send` on the strength of one rule kept
//! here — nothing multer makes is ever reachable from a `Send` value: [`Multipart`] and
//! [`Field`] hold it and are themselves `!Send`, so neither the body nor multer's state (its
//! spin lock included, taken on this thread only) can leave the shard's thread.
//!
//! Invariant: this module never holds the body whole: a field is read as the handler pulls
//! its chunks, within the request's own limits (`body_bytes_max`, its read timeout: a body
//! past them fails the read with the engine's status, `413`, `408`). Whether the body reaches
//! it as it arrives is the application's choice: by default the engine reads a request body
//! ahead, whole, before the handler's turn (`Application::buffer_request_body`), and multer
//! then copies what it has not yet parsed; an application that takes large uploads sets
//! `buffer_request_body(false)`, and the upload streams from the socket through the handler.
//! A body that is not `multipart/form-data` has no fields, as FastAPI reads it — a required
//! upload is then `missing`; one that is malformed, or has no boundary, is FastAPI's `400`
//! `There was an error parsing the body`.

use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_lite::Stream;
use http::StatusCode;
use utoipa::ToSchema;

use super::body::media_type_is;
use super::extract::{FromRequest, PathParams, Rejection};
use super::http_error::HttpError;
use super::openapi::OperationDoc;
use crate::Request;
use crate::request_body::{BodyError, BodyStream};

/// The content type of a form with files.
pub(crate) const MULTIPART_FORM_DATA: &str = "multipart/form-data";

/// FastAPI's `detail` for a form body it could not parse.
const BODY_NOT_PARSED: &str = "There was an error parsing the body";

/// A `multipart/form-data` body, field by field: take it as a handler's last argument. `T`
/// only documents the form in the OpenAPI document (a struct whose fields are the form's; a
/// file field is `#[schema(value_type = String, format = Binary)]`); `()` documents none.
///
/// ```
/// use ringserve::ingress::{HttpError, Json, Multipart};
/// use serde_json::{Value, json};
///
/// /// The size of the field named `file`, read chunk by chunk.
/// async fn upload(mut form: Multipart) -> Result<Json<Value>, HttpError> {
///     while let Some(mut field) = form.next_field().await? {
///         if field.name() == Some("file") {
///             let mut size = 0;
///             while let Some(chunk) = field.chunk().await? {
///                 size += chunk.len();
///             }
///             return Ok(Json(json!({ "size": size })));
///         }
///     }
///     Ok(Json(json!({ "size": null })))
/// }
/// # let _ = upload;
/// ```
///
/// Neither it nor a [`Field`] may leave the shard's thread (the safety of handing multer the
/// request body rests on it):
///
/// ```compile_fail
/// fn sendable<T: Send>() {}
/// sendable::<ringserve::ingress::Multipart>();
/// ```
///
/// ```compile_fail
/// fn shareable<T: Sync>() {}
/// shareable::<ringserve::ingress::Multipart>();
/// ```
///
/// ```compile_fail
/// fn sendable<T: Send>() {}
/// sendable::<ringserve::ingress::Field<'static>>();
/// ```
///
/// ```compile_fail
/// fn shareable<T: Sync>() {}
/// shareable::<ringserve::ingress::Field<'static>>();
/// ```
pub struct Multipart<T = ()> {
    /// `None` when the body is not `multipart/form-data`: no fields.
    fields: Option<multer::Multipart<'static>>,
    /// Keeps this `!Send` (see the module's doc).
    _shard_local: PhantomData<Rc<()>>,
    /// The documented shape; no value of it is held.
    _documents: PhantomData<fn() -> T>,
}

/// One field of a [`Multipart`] body: a form value, or an uploaded file. It borrows the body:
/// the next field can be asked for only once this one is dropped (multer reads one at a time).
pub struct Field<'m> {
    inner: multer::Field<'static>,
    _shard_local: PhantomData<Rc<()>>,
    _body: PhantomData<&'m mut ()>,
}

/// The request body, handed to multer as the `Send` stream it asks for.
struct ShardLocal(BodyStream);

// SAFETY: a `ShardLocal` is moved into multer's state when a `Multipart` is made, and that
// state is reachable only through `Multipart` and `Field`, which are `!Send`: it is created,
// polled and dropped on the shard's thread, never sent anywhere.
unsafe impl Send for ShardLocal {}

impl Stream for ShardLocal {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx)
    }
}

impl<T> Multipart<T> {
    /// The next field, in the order sent; `None` after the last.
    pub async fn next_field(&mut self) -> Result<Option<Field<'_>>, HttpError> {
        let Some(fields) = &mut self.fields else {
            return Ok(None);
        };
        let field = fields.next_field().await.map_err(refusal)?;
        Ok(field.map(|inner| Field {
            inner,
            _shard_local: PhantomData,
            _body: PhantomData,
        }))
    }
}

impl Field<'_> {
    /// The field's name (`name=` of its `Content-Disposition`).
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// The uploaded file's name (`filename=`), for a file field.
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// The field's `Content-Type`, as sent (a file field's, usually).
    pub fn content_type(&self) -> Option<&str> {
        self.inner
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
    }

    /// The field's next chunk, read from the body as it arrives; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        self.inner.chunk().await.map_err(refusal)
    }

    /// The rest of the field, whole.
    pub async fn bytes(self) -> Result<Bytes, HttpError> {
        self.inner.bytes().await.map_err(refusal)
    }

    /// The rest of the field as text (its charset, UTF-8 by default).
    pub async fn text(self) -> Result<String, HttpError> {
        self.inner.text().await.map_err(refusal)
    }
}

/// The text fields of a `multipart/form-data` body — those that are not files — as name and
/// value, for `Form<T>` (FastAPI's `Form()` reads them from either kind of form body).
pub(crate) async fn text_fields(request: Request) -> Result<Vec<(String, String)>, Rejection> {
    let mut form =
        <Multipart as FromRequest<()>>::from_request(request, &PathParams::default(), &()).await?;
    let mut fields = Vec::new();
    while let Some(field) = form.next_field().await? {
        if field.file_name().is_some() {
            continue;
        }
        let name = field.name().unwrap_or_default().to_owned();
        fields.push((name, field.text().await?));
    }
    Ok(fields)
}

/// The answer to a body that failed while read: the engine's own status where the body itself
/// failed (too large, too slow, cut), FastAPI's `400` where its multipart framing is wrong.
fn refusal(error: multer::Error) -> HttpError {
    if let multer::Error::StreamReadFailed(source) = &error
        && let Some(body_error) = source.downcast_ref::<BodyError>()
    {
        return HttpError::new(body_error.status(), body_error.to_string());
    }
    HttpError::new(StatusCode::BAD_REQUEST, BODY_NOT_PARSED)
}

impl<S, T: ToSchema + 'static> FromRequest<S> for Multipart<T> {
    async fn from_request(
        mut request: Request,
        _params: &PathParams<'_>,
        _state: &S,
    ) -> Result<Self, Rejection> {
        let content_type = request
            .header("content-type")
            .and_then(|value| std::str::from_utf8(value).ok())
            .filter(|value| media_type_is(value.as_bytes(), MULTIPART_FORM_DATA));
        let fields = match content_type.map(multer::parse_boundary) {
            None => None,
            Some(Ok(boundary)) => Some(multer::Multipart::new(
                ShardLocal(request.body_stream()),
                boundary,
            )),
            // Multipart without a boundary cannot be split: Starlette's 400.
            Some(Err(_)) => {
                return Err(HttpError::new(StatusCode::BAD_REQUEST, BODY_NOT_PARSED).into());
            }
        };
        Ok(Multipart {
            fields,
            _shard_local: PhantomData,
            _documents: PhantomData,
        })
    }

    fn describe(operation: &mut OperationDoc) {
        let schema = operation.schema_of::<T>();
        operation.required_body(MULTIPART_FORM_DATA, schema);
    }
}
