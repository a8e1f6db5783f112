//! pydantic's wording: every error `type` and `msg` the ingress reports — from the
//! path/query/header deserializer (`params`), the JSON body reader (`json`), the raw body
//! extractors (`body`) and the validation errors themselves (`validation`) — so no two places
//! word the same error differently, and a change of pydantic's wording is made here once.
//!
//! Invariant: what is produced here matches pydantic v2's messages byte for byte
//! (`Field required`, `Input should be less than or equal to 127`,
//! `Input should be 'a', 'b' or 'c'`); no code outside this file spells one (tests do, to
//! check the bytes sent).

use std::fmt::Display;

use serde::Serialize;
use serde_json::{Value, json};

/// One of pydantic's errors whose message is fixed: its `type` and its `msg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wording {
    /// The error's `type`.
    pub(crate) kind: &'static str,
    /// The error's `msg`.
    pub(crate) msg: &'static str,
}

const fn wording(kind: &'static str, msg: &'static str) -> Wording {
    Wording { kind, msg }
}

/// A required field, parameter or body that was not given.
pub(crate) const MISSING: Wording = wording("missing", "Field required");
/// A field the type does not know, where it denies unknown fields.
pub(crate) const EXTRA_FORBIDDEN: Wording =
    wording("extra_forbidden", "Extra inputs are not permitted");

// Lax mode: a parameter's text read as a scalar.

/// Text that is not an integer.
pub(crate) const INT_PARSING: Wording = wording(
    "int_parsing",
    "Input should be a valid integer, unable to parse string as an integer",
);
/// Text that is not a number.
pub(crate) const FLOAT_PARSING: Wording = wording(
    "float_parsing",
    "Input should be a valid number, unable to parse string as a number",
);
/// Text that is none of pydantic's boolean words.
pub(crate) const BOOL_PARSING: Wording = wording(
    "bool_parsing",
    "Input should be a valid boolean, unable to interpret input",
);
/// Bytes that are not UTF-8, where a string is wanted.
pub(crate) const STRING_UNICODE: Wording = wording(
    "string_unicode",
    "Input should be a valid string, unable to parse raw data as a unicode string",
);

// Strict mode: a JSON value of the wrong type.

/// Not an integer (a string, a float).
pub(crate) const INT_TYPE: Wording = wording("int_type", "Input should be a valid integer");
/// Not a number.
pub(crate) const FLOAT_TYPE: Wording = wording("float_type", "Input should be a valid number");
/// Not a string.
pub(crate) const STRING_TYPE: Wording = wording("string_type", "Input should be a valid string");
/// Not a boolean.
pub(crate) const BOOL_TYPE: Wording = wording("bool_type", "Input should be a valid boolean");
/// Not an array.
pub(crate) const LIST_TYPE: Wording = wording("list_type", "Input should be a valid list");
/// Not an object, where a map is wanted.
pub(crate) const DICT_TYPE: Wording = wording("dict_type", "Input should be a valid dictionary");
/// Not an array, where a tuple is wanted.
pub(crate) const TUPLE_TYPE: Wording = wording("tuple_type", "Input should be a valid tuple");
/// Not an object, where a model (a struct) is wanted.
pub(crate) const MODEL_ATTRIBUTES_TYPE: Wording = wording(
    "model_attributes_type",
    "Input should be a valid dictionary or object to extract fields from",
);
/// A body that is not JSON at all.
pub(crate) const JSON_INVALID: Wording = wording("json_invalid", "JSON decode error");

/// The type and message of pydantic's `value_error`: what a type itself refused, `message`
/// saying why.
pub(crate) fn value_error(message: impl Display) -> (&'static str, String) {
    ("value_error", format!("Value error, {message}"))
}

/// The type, message and `ctx` of pydantic's error for a value that is none of `options`.
pub(crate) fn enum_error(options: &[&str]) -> (&'static str, String, Value) {
    let expected = choices(options);
    (
        "enum",
        format!("Input should be {expected}"),
        json!({ "expected": expected }),
    )
}

/// Which end of an integer range a value passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeEnd {
    Min,
    Max,
}

/// The type, message and `ctx` of pydantic's error for an integer past `limit`.
pub(crate) fn range_error<N: Serialize + Display>(
    end: RangeEnd,
    limit: N,
) -> (&'static str, String, Value) {
    let (kind, relation, key) = match end {
        RangeEnd::Min => ("greater_than_equal", "greater than or equal to", "ge"),
        RangeEnd::Max => ("less_than_equal", "less than or equal to", "le"),
    };
    (
        kind,
        format!("Input should be {relation} {limit}"),
        json!({ key: json_number(limit) }),
    )
}

/// A number as JSON, or as a string when JSON cannot hold it exactly (beyond 64 bits).
pub(crate) fn json_number<N: Serialize + Display>(n: N) -> Value {
    match serde_json::to_value(&n) {
        Ok(value @ Value::Number(_)) => value,
        _ => Value::String(n.to_string()),
    }
}

/// pydantic's list of allowed values: `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`.
fn choices(options: &[&str]) -> String {
    match options {
        [] => String::new(),
        [only] => format!("'{only}'"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|option| format!("'{option}'")).collect();
            format!("{} or '{last}'", init.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording() {
        assert_eq!(choices(&["a"]), "'a'");
        assert_eq!(choices(&["a", "b"]), "'a' or 'b'");
        assert_eq!(choices(&["a", "b", "c"]), "'a', 'b' or 'c'");
        assert_eq!(
            range_error(RangeEnd::Max, 127),
            (
                "less_than_equal",
                "Input should be less than or equal to 127".to_owned(),
                json!({"le": 127})
            )
        );
        assert_eq!(json_number(i128::MIN), Value::String(i128::MIN.to_string()));
        assert_eq!(json_number(u64::MAX), json!(u64::MAX));
        assert_eq!(
            enum_error(&["a", "b"]),
            (
                "enum",
                "Input should be 'a' or 'b'".to_owned(),
                json!({"expected": "'a' or 'b'"})
            )
        );
        assert_eq!(
            value_error("odd"),
            ("value_error", "Value error, odd".to_owned())
        );
    }
}
