//! FastAPI-shaped validation errors: what a failed extraction reports, and the `422` it becomes.
//!
//! Invariant: every detail carries the four fields FastAPI (pydantic v2) clients parse —
//! `type`, `loc`, `msg`, `input` — plus `ctx` when the error has parameters, so a client written
//! against FastAPI reads ringserve's errors unchanged:
//! `{"detail":[{"type":"int_parsing","loc":["path","item_id"],"msg":"…","input":"abc"}]}`.

use std::borrow::Cow;

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

use super::pydantic::{MISSING, Wording};
use crate::Response;

/// Where in the request a bad value was: the first element of `loc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// A path parameter.
    Path,
    /// A query parameter.
    Query,
    /// A request header.
    Header,
    /// The request body.
    Body,
    /// A request cookie.
    Cookie,
}

impl Location {
    /// The name FastAPI uses for it in `loc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
            Location::Body => "body",
            Location::Cookie => "cookie",
        }
    }
}

/// One step of a `loc`: a field name or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocItem {
    /// A parameter, header or object field name.
    Key(Cow<'static, str>),
    /// A position in a list (or, for malformed JSON, the byte offset of the error).
    Index(usize),
}

impl Serialize for LocItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            LocItem::Key(key) => serializer.serialize_str(key),
            LocItem::Index(index) => serializer.serialize_u64(*index as u64),
        }
    }
}

impl From<&'static str> for LocItem {
    fn from(key: &'static str) -> Self {
        LocItem::Key(Cow::Borrowed(key))
    }
}

impl From<String> for LocItem {
    fn from(key: String) -> Self {
        LocItem::Key(Cow::Owned(key))
    }
}

impl From<usize> for LocItem {
    fn from(index: usize) -> Self {
        LocItem::Index(index)
    }
}

/// One validation error, as one element of FastAPI's `detail` list.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorDetail {
    /// pydantic's error type, e.g. `missing`, `int_parsing`, `json_invalid`.
    pub kind: Cow<'static, str>,
    /// Where the bad value was: a [`Location`] name, then field names and list indices.
    pub loc: Vec<LocItem>,
    /// The human-readable message, e.g. `Field required`.
    pub msg: Cow<'static, str>,
    /// The value that was rejected (`null` when it was missing).
    pub input: Value,
    /// The error's parameters, e.g. `{"le": 127}`, when it has any.
    pub ctx: Option<Value>,
}

impl ErrorDetail {
    /// An error of `kind` at `location`, with no further `loc` steps, no input and no `ctx`.
    pub fn new(
        kind: impl Into<Cow<'static, str>>,
        location: Location,
        msg: impl Into<Cow<'static, str>>,
    ) -> Self {
        ErrorDetail {
            kind: kind.into(),
            loc: vec![LocItem::from(location.as_str())],
            msg: msg.into(),
            input: Value::Null,
            ctx: None,
        }
    }

    /// One of pydantic's errors with a fixed message, at `location`.
    pub(crate) fn of(wording: Wording, location: Location) -> Self {
        ErrorDetail::new(wording.kind, location, wording.msg)
    }

    /// pydantic's `missing` error: `Field required`, input `null`.
    pub fn missing(location: Location, name: impl Into<LocItem>) -> Self {
        ErrorDetail::of(MISSING, location).at(name)
    }

    /// Appends a step to `loc`.
    pub fn at(mut self, step: impl Into<LocItem>) -> Self {
        self.loc.push(step.into());
        self
    }

    /// Sets the rejected input.
    pub fn input(mut self, input: impl Into<Value>) -> Self {
        self.input = input.into();
        self
    }

    /// Sets the error's parameters.
    pub fn ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}

impl Serialize for ErrorDetail {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4 + usize::from(self.ctx.is_some())))?;
        map.serialize_entry("type", &self.kind)?;
        map.serialize_entry("loc", &self.loc)?;
        map.serialize_entry("msg", &self.msg)?;
        map.serialize_entry("input", &self.input)?;
        if let Some(ctx) = &self.ctx {
            map.serialize_entry("ctx", ctx)?;
        }
        map.end()
    }
}

/// Every validation error of one request, answered together as one `422`, as FastAPI does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ValidationErrors {
    details: Vec<ErrorDetail>,
}

impl ValidationErrors {
    /// No errors yet (allocates nothing).
    pub fn new() -> Self {
        ValidationErrors::default()
    }

    /// Adds one error.
    pub fn push(&mut self, detail: ErrorDetail) {
        self.details.push(detail);
    }

    /// Adds every error of `other`.
    pub fn extend(&mut self, other: ValidationErrors) {
        self.details.extend(other.details);
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.details.is_empty()
    }

    /// The errors, in the order they were found.
    pub fn details(&self) -> &[ErrorDetail] {
        &self.details
    }

    /// `422 Unprocessable Entity` with `{"detail":[…]}`.
    pub fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            detail: &'a [ErrorDetail],
        }
        // Serializing plain strings, numbers and `Value`s into a Vec cannot fail.
        let body = serde_json::to_vec(&Body {
            detail: &self.details,
        })
        .unwrap_or_default();
        Response::new(StatusCode::UNPROCESSABLE_ENTITY)
            .with_header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .with_body(body)
    }
}

impl From<ErrorDetail> for ValidationErrors {
    fn from(detail: ErrorDetail) -> Self {
        ValidationErrors {
            details: vec![detail],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fastapi_shape() {
        let errors = ValidationErrors::from(
            ErrorDetail::new(
                "int_parsing",
                Location::Path,
                "Input should be a valid integer, unable to parse string as an integer",
            )
            .at("item_id")
            .input("abc"),
        );
        let response = errors.into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            response.body_bytes().unwrap(),
            r#"{"detail":[{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#
        );
    }

    #[test]
    fn ctx_and_index_steps() {
        let detail = ErrorDetail::new(
            "less_than_equal",
            Location::Query,
            "Input should be less than or equal to 127",
        )
        .at("tags")
        .at(1)
        .input("300")
        .ctx(serde_json::json!({"le": 127}));
        assert_eq!(
            serde_json::to_string(&detail).unwrap(),
            r#"{"type":"less_than_equal","loc":["query","tags",1],"msg":"Input should be less than or equal to 127","input":"300","ctx":{"le":127}}"#
        );
    }
}
