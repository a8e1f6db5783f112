//! pydantic's wording, shared by the path/query/header deserializer (`params`) and the JSON
//! body reader (`json`): the texts and parameters of the errors both report, so the two never
//! word the same error differently.
//!
//! Invariant: what is produced here matches pydantic v2's messages byte for byte
//! (`Input should be less than or equal to 127`, `Input should be 'a', 'b' or 'c'`).

use std::fmt::Display;

use serde::Serialize;
use serde_json::{Value, json};

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
pub(crate) fn choices(options: &[&str]) -> String {
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
    }
}
