//! `Json<T>`: a JSON request body validated into `T`, or a JSON response from `T`.
//!
//! Invariant: a body that fails to become `T` answers 422 with the error's location inside the
//! body (`["body","items",0,"price"]`, found by `serde_path_to_error`) and pydantic's error type
//! for it; the error path parses the body a second time, into a `serde_json::Value`, only to
//! report the rejected `input`, so the success path pays for one UTF-8 check and one parse.

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{Content, Required, ResponseBuilder};

use super::body::read_body;
use super::extract::{FromRequest, PathParams, Rejection};
use super::http_error::HttpError;
use super::openapi::OperationDoc;
use super::pydantic::{
    BOOL_TYPE, DICT_TYPE, EXTRA_FORBIDDEN, FLOAT_TYPE, INT_TYPE, JSON_INVALID, LIST_TYPE, MISSING,
    MODEL_ATTRIBUTES_TYPE, RangeEnd, STRING_TYPE, TUPLE_TYPE, Wording, enum_error, range_error,
    value_error,
};
use super::python_json;
use super::respond::IntoResponse;
use super::validation::{ErrorDetail, LocItem, Location};
use crate::limits::{JSON_ERROR_INPUT_BYTES_MAX, JSON_RESPONSE_STACK_BYTES};
use crate::{Request, Response};

/// The byte order mark Python's `json.loads` skips at the start of UTF-8 bytes (`utf-8-sig`).
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// FastAPI's `detail` for a body its JSON decoder could not even read as text.
const BODY_NOT_DECODED: &str = "There was an error parsing the body";

/// A JSON body: extracted from the request (`T: Deserialize`), or sent as the response
/// (`T: Serialize`). Its schema (`T: ToSchema`) documents the route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<S, T: DeserializeOwned + ToSchema> FromRequest<S> for Json<T> {
    async fn from_request(
        mut request: Request,
        _params: &PathParams<'_>,
        _state: &S,
    ) -> Result<Self, Rejection> {
        let is_json = request
            .header("content-type")
            .is_some_and(is_json_content_type);
        let body = read_body(&mut request).await?;
        if body.is_empty() {
            return Err(ErrorDetail::of(MISSING, Location::Body).into());
        }
        if !is_json {
            return Err(not_json(&body).into());
        }
        // Python decodes the bytes as text before its `json` reads them — UTF-8, without the
        // byte order mark a body may start with — so FastAPI answers a body that is not UTF-8
        // with a 400, even one whose bad bytes serde would skip (a string in a field the type
        // ignores).
        let body = if body.starts_with(UTF8_BOM) {
            body.slice(UTF8_BOM.len()..)
        } else {
            body
        };
        let Ok(text) = std::str::from_utf8(&body) else {
            return Err(HttpError::new(StatusCode::BAD_REQUEST, BODY_NOT_DECODED).into());
        };
        parse(text).map(Json).map_err(Rejection::from)
    }

    fn describe(operation: &mut OperationDoc) {
        let schema = operation.schema_of::<T>();
        operation.validates_input();
        operation.required_body("application/json", schema);
    }
}

/// An optional JSON body: `None` when the request has none (empty), otherwise validated as
/// `Json<T>` is — a body that is present but invalid is still a 422.
impl<S, T: DeserializeOwned + ToSchema> FromRequest<S> for Option<Json<T>> {
    async fn from_request(
        mut request: Request,
        params: &PathParams<'_>,
        state: &S,
    ) -> Result<Self, Rejection> {
        let body = read_body(&mut request).await?;
        if body.is_empty() {
            return Ok(None);
        }
        Json::from_request(request, params, state).await.map(Some)
    }

    fn describe(operation: &mut OperationDoc) {
        let schema = operation.schema_of::<T>();
        operation.validates_input();
        operation.request_body(
            RequestBodyBuilder::new()
                .content("application/json", Content::new(Some(schema)))
                .required(Some(Required::False))
                .build(),
        );
    }
}

impl<T: Serialize + ToSchema> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        // Written into a stack array, then copied once into an exactly-sized buffer: one
        // allocation, no shared header (as a partly-used `BytesMut` would need), and plain
        // copies for serde_json's many small writes (a `SmallVec` extends byte by byte: a
        // third of the route's instructions in callgrind). Larger bodies go to a `Vec`.
        let mut stack = [0u8; JSON_RESPONSE_STACK_BYTES];
        let mut cursor = std::io::Cursor::new(&mut stack[..]);
        let written = match serde_json::to_writer(&mut cursor, &self.0) {
            Ok(()) => {
                let length = usize::try_from(cursor.position()).unwrap_or(0);
                Ok(Bytes::copy_from_slice(&stack[..length]))
            }
            Err(error) if error.is_io() => serde_json::to_vec(&self.0).map(Bytes::from),
            Err(error) => Err(error),
        };
        match written {
            Ok(body) => Response::json_bytes(body),
            // Only a `Serialize` impl that itself fails (a map with non-string keys, a custom
            // error) gets here: the handler's bug, reported as the server's error.
            Err(error) => Response::text(format!("failed to serialize the response: {error}"))
                .with_status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    fn describe(operation: &mut OperationDoc) {
        let schema = operation.schema_of::<T>();
        operation.response(
            "200",
            ResponseBuilder::new()
                .description("Successful Response")
                .content("application/json", Content::new(Some(schema)))
                .build(),
        );
    }
}

/// `application/json` or any `application/*+json`, parameters ignored.
fn is_json_content_type(value: &[u8]) -> bool {
    let essence = value.split(|&byte| byte == b';').next().unwrap_or_default();
    let essence = essence.trim_ascii();
    let Some(subtype) = essence
        .get(..12)
        .filter(|kind| kind.eq_ignore_ascii_case(b"application/"))
        .and_then(|_| essence.get(12..))
    else {
        return false;
    };
    subtype.eq_ignore_ascii_case(b"json")
        || (subtype.len() > 5
            && subtype
                .get(subtype.len() - 5..)
                .is_some_and(|suffix| suffix.eq_ignore_ascii_case(b"+json")))
}

/// What FastAPI answers when a JSON body arrives with another content type: the body is
/// taken as a plain string, which is not an object.
fn not_json(body: &Bytes) -> ErrorDetail {
    ErrorDetail::of(MODEL_ATTRIBUTES_TYPE, Location::Body).input(
        String::from_utf8_lossy(&body[..body.len().min(JSON_ERROR_INPUT_BYTES_MAX)]).into_owned(),
    )
}

/// Deserializes `T`, or reports the first error FastAPI-style.
#[allow(
    clippy::result_large_err,
    reason = "the error is an `ErrorDetail`, built once on the cold path"
)]
pub(crate) fn parse<T: DeserializeOwned>(body: &str) -> Result<T, ErrorDetail> {
    // The fast path borrows keys from the body; only a failure pays for a second pass that
    // tracks where it failed (serde_path_to_error copies every key it passes). The body is
    // text already (checked once by the caller), so serde reads it without checking again.
    let mut deserializer = serde_json::Deserializer::from_str(body);
    if let Ok(value) = T::deserialize(ObjectsOnly(&mut deserializer))
        && deserializer.end().is_ok()
    {
        return Ok(value);
    }
    // FastAPI decodes the JSON before validating it: a body that is not JSON (trailing data
    // after a value that would not validate either) is `json_invalid`, not a field error.
    if let Err(error) = serde_json::from_str::<de::IgnoredAny>(body) {
        return Err(json_invalid(body, &error));
    }
    let mut deserializer = serde_json::Deserializer::from_str(body);
    match serde_path_to_error::deserialize::<_, T>(ObjectsOnly(&mut deserializer)) {
        // Unreachable: the same input failed above. Said plainly rather than panicking.
        Ok(_) => Err(body_value_error("the body did not validate")),
        Err(error) => Err(describe_error(body, &error)),
    }
}

/// FastAPI's answer to a body that is not JSON at all: where Python's `json` stops on it, and
/// what it says there (`python_json`). Where Python would decode it (`NaN`, nesting deeper
/// than serde's limit), serde's position is kept, with Python's most general message.
fn json_invalid(body: &str, error: &serde_json::Error) -> ErrorDetail {
    let decode_error = python_json::first_error(body).unwrap_or(python_json::DecodeError {
        msg: python_json::EXPECTING_VALUE,
        pos: error_position(body.as_bytes(), error),
    });
    ErrorDetail::of(JSON_INVALID, Location::Body)
        .at(decode_error.pos)
        .input(Value::Object(serde_json::Map::new()))
        .ctx(serde_json::json!({ "error": decode_error.msg }))
}

/// Where serde_json stopped, as an index in characters: the offending character — or the
/// body's length when it ended too soon. serde_json gives a 1-based line and column whose
/// column, at the end of input, is the last byte's.
fn error_position(body: &[u8], error: &serde_json::Error) -> usize {
    let line_start = body
        .split_inclusive(|&byte| byte == b'\n')
        .take(error.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum::<usize>();
    let column = if error.is_eof() {
        error.column()
    } else {
        error.column().saturating_sub(1)
    };
    let byte_offset = (line_start + column).min(body.len());
    let prefix = body.get(..byte_offset).unwrap_or(body);
    String::from_utf8_lossy(prefix).chars().count()
}

/// Refuses a JSON array where the body's top-level struct is expected: serde's derive would
/// fill the fields from it by position, where FastAPI (pydantic) wants an object. Structs
/// nested inside the body keep serde's leniency.
struct ObjectsOnly<D>(D);

/// A struct's visitor that accepts only a map.
struct MapOnly<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for MapOnly<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.0.expecting(formatter)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::invalid_type(de::Unexpected::Seq, &self))
    }
}

/// Forwards `deserialize_*` methods of `ObjectsOnly` to the wrapped deserializer.
macro_rules! forward_deserialize {
    ($($method:ident($($argument:ident: $kind:ty),*)),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($argument: $kind,)* visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method($($argument,)* visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectsOnly<D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, MapOnly(visitor))
    }

    forward_deserialize! {
        deserialize_any(), deserialize_bool(), deserialize_i8(), deserialize_i16(),
        deserialize_i32(), deserialize_i64(), deserialize_i128(), deserialize_u8(),
        deserialize_u16(), deserialize_u32(), deserialize_u64(), deserialize_u128(),
        deserialize_f32(), deserialize_f64(), deserialize_char(), deserialize_str(),
        deserialize_string(), deserialize_bytes(), deserialize_byte_buf(),
        deserialize_option(), deserialize_unit(), deserialize_seq(), deserialize_map(),
        deserialize_identifier(), deserialize_ignored_any(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(length: usize),
        deserialize_tuple_struct(name: &'static str, length: usize),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
    }
}

fn describe_error(
    body: &str,
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> ErrorDetail {
    let inner = error.inner();
    if inner.is_syntax() || inner.is_eof() {
        return json_invalid(body, inner);
    }
    let mut loc = vec![LocItem::from(Location::Body.as_str())];
    for segment in error.path().iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => loc.push(LocItem::Index(*index)),
            serde_path_to_error::Segment::Map { key } => loc.push(LocItem::from(key.clone())),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
        }
    }
    // The rejected input is echoed back only from a body small enough to parse again.
    let document: Value = if body.len() <= JSON_ERROR_INPUT_BYTES_MAX {
        serde_json::from_str(body).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let input = value_at(&document, &loc[1..])
        .cloned()
        .unwrap_or(Value::Null);
    let (mut detail, field) = classify(&message_of(inner), input);
    if let Some(field) = field {
        // A missing field is named only by the message; an unexpected or repeated key is
        // already the last step of the path (its exact text, whatever the message quotes).
        let missing = detail.kind == MISSING.kind;
        if missing || loc.len() == 1 {
            loc.push(LocItem::from(field));
        }
        if !missing {
            detail.input = value_at(&document, &loc[1..])
                .cloned()
                .unwrap_or(Value::Null);
        }
    }
    detail.loc = loc;
    debug_assert_eq!(
        detail.loc.first(),
        Some(&LocItem::from(Location::Body.as_str())),
        "a body error is located inside the body"
    );
    detail
}

/// serde_json's message without its ` at line L column C` suffix.
fn message_of(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(position) => message[..position].to_owned(),
        None => message,
    }
}

fn value_at<'v>(document: &'v Value, path: &[LocItem]) -> Option<&'v Value> {
    path.iter().try_fold(document, |value, step| match step {
        LocItem::Key(key) => value.get(key.as_ref()),
        LocItem::Index(index) => value.get(index),
    })
}

/// pydantic's type and message for a serde data error, with the field to append to the error's
/// path when serde names it only in the message (a missing or unexpected field).
fn classify(message: &str, input: Value) -> (ErrorDetail, Option<String>) {
    if let Some(field) = between(message, "missing field `", "`") {
        let missing = ErrorDetail::of(MISSING, Location::Body).input(input);
        return (missing, Some(field.to_owned()));
    }
    if let Some(field) = between(message, "unknown field `", "`") {
        let extra = ErrorDetail::of(EXTRA_FORBIDDEN, Location::Body);
        return (extra, Some(field.to_owned()));
    }
    if let Some(field) = between(message, "duplicate field `", "`") {
        // Refused rather than "last one wins": two JSON parsers that pick different
        // duplicates are how bodies get smuggled past a check (RFC 8259 §4 leaves it open).
        let duplicate = body_value_error(format_args!("duplicate field '{field}'"));
        return (duplicate, Some(field.to_owned()));
    }
    if message.starts_with("unknown variant `") {
        // serde: "unknown variant `x`, expected one of `a`, `b`" or "expected `a` or `b`".
        // The client's value comes first and may itself hold ", expected ": split at the last.
        let expected = message
            .rsplit_once(", expected ")
            .map(|(_, expected)| expected)
            .unwrap_or_default();
        let options: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let (kind, msg, ctx) = enum_error(&options);
        let detail = ErrorDetail::new(kind, Location::Body, msg)
            .input(input)
            .ctx(ctx);
        return (detail, None);
    }
    (classify_type(message, input), None)
}

/// pydantic's type and message for a value of the wrong type or out of range.
fn classify_type(message: &str, input: Value) -> ErrorDetail {
    let detail = |wording: Wording| ErrorDetail::of(wording, Location::Body).input(input.clone());
    let Some((_, expected)) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "))
    else {
        return body_value_error(message).input(input);
    };
    // JSON bodies are read strictly, as pydantic's strict mode reads them: a string is not a
    // number and a float is not an integer; the error types are strict mode's.
    if let Some(bounds) = integer_bounds(expected) {
        return out_of_range(&input, bounds).unwrap_or_else(|| detail(INT_TYPE));
    }
    match expected {
        "f32" | "f64" => detail(FLOAT_TYPE),
        "a string" | "a borrowed string" | "a character" | "a char" => detail(STRING_TYPE),
        "a boolean" => detail(BOOL_TYPE),
        "a sequence" => detail(LIST_TYPE),
        "a map" => detail(DICT_TYPE),
        _ if expected.starts_with("struct ") => detail(MODEL_ATTRIBUTES_TYPE),
        _ if expected.starts_with("a tuple") || expected.starts_with("tuple") => detail(TUPLE_TYPE),
        _ => body_value_error(message).input(input),
    }
}

/// pydantic's `value_error` in the body, `message` saying what was refused.
fn body_value_error(message: impl std::fmt::Display) -> ErrorDetail {
    let (kind, msg) = value_error(message);
    ErrorDetail::new(kind, Location::Body, msg)
}

/// The text between `start` and the next `end` after it, when `message` begins with `start`.
fn between<'m>(message: &'m str, start: &str, end: &str) -> Option<&'m str> {
    message
        .strip_prefix(start)
        .and_then(|rest| rest.split_once(end))
        .map(|(inside, _)| inside)
}

/// The range of serde's name for an integer type.
fn integer_bounds(expected: &str) -> Option<(i128, i128)> {
    Some(match expected {
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        "i128" => (i128::MIN, i128::MAX),
        "u128" => (0, i128::MAX),
        _ => return None,
    })
}

/// pydantic's bound error for an integer outside the Rust type's range.
fn out_of_range(input: &Value, (min, max): (i128, i128)) -> Option<ErrorDetail> {
    let value = input
        .as_i64()
        .map(i128::from)
        .or_else(|| input.as_u64().map(i128::from))
        .or_else(|| {
            // A whole number too large for 64 bits arrives as a float: only its sign matters.
            let float = input.as_f64().filter(|float| float.fract() == 0.0)?;
            Some(if float < 0.0 { i128::MIN } else { i128::MAX })
        })?;
    let (end, limit) = if value < min {
        (RangeEnd::Min, min)
    } else if value > max {
        (RangeEnd::Max, max)
    } else {
        return None;
    };
    let (kind, msg, ctx) = range_error(end, limit);
    Some(
        ErrorDetail::new(kind, Location::Body, msg)
            .input(input.clone())
            .ctx(ctx),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        name: String,
        price: f64,
        count: u8,
        tags: Option<Vec<String>>,
    }

    fn error_json(body: &str) -> String {
        serde_json::to_string(&parse::<Item>(body).unwrap_err()).unwrap()
    }

    #[test]
    fn an_optional_body_is_none_when_empty_and_validated_when_present() {
        use futures_lite::future::block_on;
        let extract = |raw: &'static [u8]| {
            let request = Request::from_http1(raw).unwrap();
            block_on(<Option<Json<Value>> as FromRequest<()>>::from_request(
                request,
                &PathParams::default(),
                &(),
            ))
        };
        assert!(matches!(
            extract(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
            Ok(None)
        ));
        assert!(matches!(
            extract(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
            Ok(Some(Json(Value::Object(_))))
        ));
        assert!(matches!(
            extract(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n{"),
            Err(Rejection::Invalid(_))
        ));
    }

    #[test]
    fn responses_small_and_large_serialize_whole() {
        let small = Json(serde_json::json!({"item_id": 5})).into_response();
        assert_eq!(small.body_bytes().unwrap(), r#"{"item_id":5}"#);
        let long = "x".repeat(JSON_RESPONSE_STACK_BYTES * 3);
        let large = Json(serde_json::json!({ "text": long })).into_response();
        assert_eq!(
            large.body_bytes().unwrap().len(),
            long.len() + r#"{"text":""}"#.len()
        );
    }

    #[test]
    fn content_types() {
        assert!(is_json_content_type(b"application/json"));
        assert!(is_json_content_type(b"Application/JSON; charset=utf-8"));
        assert!(is_json_content_type(b"application/problem+json"));
        assert!(!is_json_content_type(b"text/plain"));
        assert!(!is_json_content_type(b"application/jsonx"));
        assert!(!is_json_content_type(b"application/+json"));
        assert!(!is_json_content_type(b""));
    }

    #[test]
    fn malformed_json_reports_position() {
        assert_eq!(
            error_json("{\"name\": }"),
            r#"{"type":"json_invalid","loc":["body",9],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting value"}}"#
        );
        assert_eq!(
            error_json("{\n \"a\":1,\n x"),
            r#"{"type":"json_invalid","loc":["body",11],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting property name enclosed in double quotes"}}"#
        );
    }

    #[test]
    fn missing_field_names_the_field_and_shows_the_object() {
        assert_eq!(
            error_json(r#"{"name":"a","price":1}"#),
            r#"{"type":"missing","loc":["body","count"],"msg":"Field required","input":{"name":"a","price":1}}"#
        );
    }

    #[test]
    fn wrong_types() {
        assert_eq!(
            error_json(r#"{"name":"a","price":"x","count":1}"#),
            r#"{"type":"float_type","loc":["body","price"],"msg":"Input should be a valid number","input":"x"}"#
        );
        assert_eq!(
            error_json(r#"{"name":5,"price":1,"count":1}"#),
            r#"{"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string","input":5}"#
        );
        assert_eq!(
            error_json(r#"{"name":"a","price":1,"count":1,"tags":["x",2]}"#),
            r#"{"type":"string_type","loc":["body","tags",1],"msg":"Input should be a valid string","input":2}"#
        );
        assert_eq!(
            error_json("5"),
            r#"{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":5}"#
        );
    }

    #[test]
    fn integers_out_of_range_and_fractional() {
        assert_eq!(
            error_json(r#"{"name":"a","price":1,"count":300}"#),
            r#"{"type":"less_than_equal","loc":["body","count"],"msg":"Input should be less than or equal to 255","input":300,"ctx":{"le":255}}"#
        );
        assert_eq!(
            error_json(r#"{"name":"a","price":1,"count":-1}"#),
            r#"{"type":"greater_than_equal","loc":["body","count"],"msg":"Input should be greater than or equal to 0","input":-1,"ctx":{"ge":0}}"#
        );
        assert_eq!(
            error_json(r#"{"name":"a","price":1,"count":1.5}"#),
            r#"{"type":"int_type","loc":["body","count"],"msg":"Input should be a valid integer","input":1.5}"#
        );
    }

    #[test]
    fn unknown_variant_and_field() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Choice {
            size: Size,
        }
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Size {
            Small,
            Medium,
            Large,
        }
        let detail = parse::<Choice>(r#"{"size":"huge"}"#).unwrap_err();
        assert_eq!(
            serde_json::to_string(&detail).unwrap(),
            r#"{"type":"enum","loc":["body","size"],"msg":"Input should be 'small', 'medium' or 'large'","input":"huge","ctx":{"expected":"'small', 'medium' or 'large'"}}"#
        );
        let detail = parse::<Choice>(r#"{"size":"small","color":"red"}"#).unwrap_err();
        assert_eq!(
            serde_json::to_string(&detail).unwrap(),
            r#"{"type":"extra_forbidden","loc":["body","color"],"msg":"Extra inputs are not permitted","input":"red"}"#
        );
    }

    #[test]
    fn enum_choices_come_from_serde_not_from_the_clients_value() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Choice {
            size: Size,
        }
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Size {
            Small,
            Large,
        }
        let detail = parse::<Choice>(r#"{"size":"x`, expected one of `evil"}"#).unwrap_err();
        assert_eq!(detail.msg, "Input should be 'small' or 'large'");
        assert_eq!(detail.input, "x`, expected one of `evil");
    }

    #[test]
    fn an_unexpected_key_is_located_by_its_exact_text() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            a: u8,
        }
        let detail = parse::<Strict>(r#"{"a":1,"x`y":2}"#).unwrap_err();
        assert_eq!(detail.kind, "extra_forbidden");
        assert_eq!(
            detail.loc,
            vec![LocItem::from("body"), LocItem::from("x`y".to_owned())]
        );
        assert_eq!(detail.input, 2);
    }

    #[test]
    fn a_large_bad_body_is_not_echoed() {
        let body = format!(r#"{{"x":[{}0]}}"#, "0,".repeat(JSON_ERROR_INPUT_BYTES_MAX));
        let detail = parse::<Item>(&body).unwrap_err();
        assert_eq!(detail.kind, "missing");
        assert_eq!(detail.input, Value::Null);
        let not_json = not_json(&Bytes::from(vec![b'a'; JSON_ERROR_INPUT_BYTES_MAX * 2]));
        assert_eq!(
            not_json.input.as_str().map(str::len),
            Some(JSON_ERROR_INPUT_BYTES_MAX)
        );
    }

    #[test]
    fn trailing_characters_are_malformed() {
        let detail = parse::<Value>("{} x").unwrap_err();
        assert_eq!(detail.kind, "json_invalid");
        assert_eq!(detail.loc, vec![LocItem::from("body"), LocItem::Index(3)]);
    }
}
