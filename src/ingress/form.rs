//! `Form<T>`: an HTML form's fields read into `T` — FastAPI's `Form()` parameters — from
//! either kind of form body: `application/x-www-form-urlencoded`, or the text fields of a
//! `multipart/form-data` one (a browser form with files, `curl -F`).
//!
//! Invariant: the fields are read by the same typed deserializer as `Query<T>` (`params`), so
//! a field gets exactly the errors a query parameter would, located in the body
//! (`loc: ["body", "<field>"]`), and the body is read once, bounded by `body_bytes_max`. A
//! multipart field that is a file is not a form value (take the body as `Multipart` for
//! files). A body of another content type has no form fields for FastAPI — every required
//! field is then `missing` — and so here.

use smallvec::SmallVec;
use utoipa::ToSchema;

use super::body::{media_type_is, read_body};
use super::extract::{FromRequest, PathParams, Rejection};
use super::multipart::{MULTIPART_FORM_DATA, text_fields};
use super::openapi::OperationDoc;
use super::params::{PAIRS_INLINE, from_pairs, from_urlencoded};
use super::validation::Location;
use crate::Request;

/// The content type of an HTML form's fields.
const FORM_URLENCODED: &str = "application/x-www-form-urlencoded";

/// Form fields read into `T`: `Form(login): Form<Login>` takes `username=ann&password=…`.
/// Each field of `T` is one form field (a `Vec` field takes every repetition; an `Option` may
/// be absent); a missing or malformed one is FastAPI's 422, located in the body.
///
/// ```
/// use ringserve::ingress::{Form, ToSchema};
/// use serde::Deserialize;
///
/// #[derive(Deserialize, ToSchema)]
/// struct Login { username: String, password: String }
///
/// async fn login(Form(login): Form<Login>) -> String {
///     format!("hello {}", login.username)
/// }
/// # let _ = login;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Form<T>(pub T);

impl<S, T: serde::de::DeserializeOwned + ToSchema> FromRequest<S> for Form<T> {
    async fn from_request(
        mut request: Request,
        _params: &PathParams<'_>,
        _state: &S,
    ) -> Result<Self, Rejection> {
        let content_type = request.header("content-type").unwrap_or_default();
        if media_type_is(content_type, MULTIPART_FORM_DATA) {
            let fields = text_fields(request).await?;
            let pairs: SmallVec<[(&str, &str); PAIRS_INLINE]> = fields
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            return from_pairs(&pairs, Location::Body)
                .map(Form)
                .map_err(Rejection::from);
        }
        let is_form = media_type_is(content_type, FORM_URLENCODED);
        let body = read_body(&mut request).await?;
        let fields = if is_form { &body[..] } else { &[] };
        from_urlencoded(fields, Location::Body)
            .map(Form)
            .map_err(Rejection::from)
    }

    fn describe(operation: &mut OperationDoc) {
        let schema = operation.schema_of::<T>();
        operation.validates_input();
        operation.required_body(FORM_URLENCODED, schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(media_type_is(
            b"application/x-www-form-urlencoded",
            FORM_URLENCODED
        ));
        assert!(media_type_is(
            b"Application/X-WWW-Form-Urlencoded; charset=utf-8",
            FORM_URLENCODED
        ));
        assert!(!media_type_is(
            b"multipart/form-data; boundary=x",
            FORM_URLENCODED
        ));
        assert!(!media_type_is(b"application/json", FORM_URLENCODED));
        assert!(!media_type_is(b"", FORM_URLENCODED));
    }
}
