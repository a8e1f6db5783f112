//! One parameter value's text read as a scalar, with pydantic's error for text that is not
//! one: `int_parsing`, `float_parsing`, `bool_parsing`, and an integer past its type's range as
//! `greater_than_equal` / `less_than_equal` with the bound in `ctx`.
//!
//! Invariant: an integer is accepted only as an optional sign and ASCII digits, so an error
//! from the type's own parser can only mean out of range (or `-0` for an unsigned type, which
//! is zero); booleans are pydantic's words, case-insensitively, and nothing else.

use std::fmt::Display;
use std::str::FromStr;

use serde::Serialize;

use super::error::ParamError;
use crate::ingress::pydantic::{BOOL_PARSING, FLOAT_PARSING, RangeEnd};

/// An integer: an optional sign and ASCII digits, within `min..=max`.
pub(super) fn parse_int<N>(raw: &str, min: N, max: N) -> Result<N, ParamError>
where
    N: FromStr + Display + Serialize,
{
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParamError::int_parsing(raw));
    }
    // The text is an integer, so the type's parser fails only out of range — or on `-0` for an
    // unsigned type, which is zero.
    match raw.parse() {
        Ok(n) => Ok(n),
        Err(_) if negative && digits.bytes().all(|b| b == b'0') => {
            digits.parse().map_err(|_| ParamError::int_parsing(raw))
        }
        Err(_) if negative => Err(ParamError::out_of_range(RangeEnd::Min, min, raw)),
        Err(_) => Err(ParamError::out_of_range(RangeEnd::Max, max, raw)),
    }
}

/// A float, as Rust spells one (including `inf` and `nan`, which pydantic also accepts).
pub(super) fn parse_float<N: FromStr>(raw: &str) -> Result<N, ParamError> {
    raw.parse()
        .map_err(|_| ParamError::of(FLOAT_PARSING).input(raw))
}

/// A boolean, from pydantic's words, case-insensitively.
pub(super) fn parse_bool(raw: &str) -> Result<bool, ParamError> {
    const TRUE: [&str; 6] = ["1", "on", "t", "true", "y", "yes"];
    const FALSE: [&str; 6] = ["0", "off", "f", "false", "n", "no"];
    let is = |words: &[&str]| words.iter().any(|word| raw.eq_ignore_ascii_case(word));
    if is(&TRUE) {
        Ok(true)
    } else if is(&FALSE) {
        Ok(false)
    } else {
        Err(ParamError::of(BOOL_PARSING).input(raw))
    }
}

/// Exactly one character.
pub(super) fn parse_char(raw: &str) -> Result<char, ParamError> {
    let mut chars = raw.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(ParamError::value_error("expected a single character").input(raw)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::ingress::params::testing::{Limit, error, query};
    use crate::ingress::validation::Location;

    #[test]
    fn int_parsing() {
        for bad in [
            "ten", "", "-", "+", "1.0", " 1", "1_000", "--1", "+-1", "0x10",
        ] {
            assert_eq!(
                error::<Limit<i64>>(&[("limit", bad)], Location::Query),
                json!({
                    "type": "int_parsing",
                    "loc": ["query", "limit"],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "input": bad,
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn integers_out_of_range() {
        assert_eq!(
            error::<Limit<i8>>(&[("limit", "300")], Location::Query),
            json!({
                "type": "less_than_equal",
                "loc": ["query", "limit"],
                "msg": "Input should be less than or equal to 127",
                "input": "300",
                "ctx": {"le": 127},
            })
        );
        assert_eq!(
            error::<Limit<u8>>(&[("limit", "-1")], Location::Query),
            json!({
                "type": "greater_than_equal",
                "loc": ["query", "limit"],
                "msg": "Input should be greater than or equal to 0",
                "input": "-1",
                "ctx": {"ge": 0},
            })
        );
        assert_eq!(
            error::<Limit<i64>>(&[("limit", "-9223372036854775809")], Location::Query)["ctx"],
            json!({"ge": i64::MIN})
        );
        let huge = "1".repeat(60);
        assert_eq!(
            error::<Limit<u128>>(&[("limit", &huge)], Location::Query)["ctx"],
            json!({"le": u128::MAX.to_string()})
        );
    }

    #[test]
    fn integer_edges() {
        assert_eq!(query::<Limit<u8>>(&[("limit", "-0")]).limit, 0);
        assert_eq!(query::<Limit<u8>>(&[("limit", "255")]).limit, 255);
        assert_eq!(query::<Limit<i8>>(&[("limit", "-128")]).limit, -128);
        assert_eq!(query::<Limit<i16>>(&[("limit", "007")]).limit, 7);
        assert_eq!(
            query::<Limit<i128>>(&[("limit", &i128::MIN.to_string())]).limit,
            i128::MIN
        );
    }

    #[test]
    fn booleans() {
        for word in ["1", "on", "T", "true", "Y", "YES", "True"] {
            assert!(query::<Limit<bool>>(&[("limit", word)]).limit, "{word}");
        }
        for word in ["0", "OFF", "f", "False", "n", "No"] {
            assert!(!query::<Limit<bool>>(&[("limit", word)]).limit, "{word}");
        }
        assert_eq!(
            error::<Limit<bool>>(&[("limit", "maybe")], Location::Query),
            json!({
                "type": "bool_parsing",
                "loc": ["query", "limit"],
                "msg": "Input should be a valid boolean, unable to interpret input",
                "input": "maybe",
            })
        );
    }

    #[test]
    fn float_parsing() {
        assert_eq!(query::<Limit<f32>>(&[("limit", "-2.5")]).limit, -2.5);
        assert_eq!(
            error::<Limit<f64>>(&[("limit", "1.2.3")], Location::Query),
            json!({
                "type": "float_parsing",
                "loc": ["query", "limit"],
                "msg": "Input should be a valid number, unable to parse string as a number",
                "input": "1.2.3",
            })
        );
    }

    #[test]
    fn chars() {
        assert_eq!(query::<Limit<char>>(&[("limit", "é")]).limit, 'é');
        assert_eq!(
            error::<Limit<char>>(&[("limit", "ab")], Location::Query),
            json!({
                "type": "value_error",
                "loc": ["query", "limit"],
                "msg": "Value error, expected a single character",
                "input": "ab",
            })
        );
    }
}
