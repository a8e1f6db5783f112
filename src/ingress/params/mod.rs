//! Typed deserialization of flat name/value string pairs — path parameters, query parameters,
//! request headers — reporting FastAPI's (pydantic v2's) error types and locations.
//!
//! `from_pairs` reads any [`serde::Deserialize`] type from pairs whose values are already
//! percent-decoded, and answers a failure with one [`ErrorDetail`] whose `type`, `loc`, `msg`,
//! `input` and `ctx` are what FastAPI would answer for the same parameter:
//! `{"type":"int_parsing","loc":["query","limit"],"msg":"…","input":"ten"}`.
//!
//! It exists instead of serde_urlencoded's deserializer because that one reports a bad number as
//! a bare string message, with no expected type and no location, so the FastAPI error types
//! `int_parsing`, `bool_parsing` and `missing` could not be told apart. Splitting and decoding
//! the pairs stays with `form_urlencoded` (the parser under serde_urlencoded), elsewhere.
//!
//! # Shapes
//!
//! - **Struct or map**: one entry per distinct name, in first-appearance order. A scalar field
//!   given several times takes the last value of a query parameter and the first of a header
//!   (both as Starlette does); a sequence field (`Vec<T>`) takes every value in order. Unknown names are ignored unless the type denies them.
//!   Headers match case-insensitively, a field's `_` standing for the header name's `-`
//!   (`x_token` reads `X-Token`); a header whose own name holds `_` matches no field, so a
//!   proxy that vets `X-Token` cannot be bypassed with `X_Token`.
//! - **Scalar** (`i64`, `String`, an enum, …): exactly one pair, as for a path with one
//!   parameter.
//! - **Tuple or sequence**: the pairs' values in order, as for a path `/{a}/{b}`.
//!
//! Values hold no nesting: a struct, map or sequence inside one value is an error.
//! `#[serde(flatten)]` buffers values as plain strings, so typed fields belong outside it.
//!
//! # Locations
//!
//! An error's `loc` is built as it propagates outwards: the value deserializer names the error
//! and its input, a sequence adds the item's index (or, at the top level, its pair's name), a
//! struct or map adds the field's name, and `from_pairs` puts the [`Location`] first:
//! `["query","tags",1]`, `["header","x-token"]`, `["path","item_id"]`.
//!
//! # Layout
//!
//! - `grouping`: the pairs collected into one entry per field, each with every value given.
//! - `de`: the serde layers — all pairs, one field's values, one value — that read them.
//! - `scalars`: one value's text read as an integer, float, boolean or character.
//! - `error`: the error those layers pass outwards, and its `loc` as it is built.
//! - here: [`from_pairs`], which runs them and finishes the error as an [`ErrorDetail`].

mod de;
mod error;
mod grouping;
mod scalars;

use std::borrow::Cow;
use std::cell::Cell;

use serde::de::DeserializeOwned;
use smallvec::SmallVec;

use super::validation::{ErrorDetail, Location};
use de::Pairs;
use error::Step;

/// Pairs held inline before they spill to the heap: queries, headers, cookies and forms
/// rarely have more.
pub(crate) const PAIRS_INLINE: usize = 8;

/// Deserializes `T` from URL-encoded `name=value&…` bytes found at `location`: a query
/// string, or a form body.
#[allow(
    clippy::result_large_err,
    reason = "the signature answers an `ErrorDetail`, built once on the cold path"
)]
pub(crate) fn from_urlencoded<T: DeserializeOwned>(
    encoded: &[u8],
    location: Location,
) -> Result<T, ErrorDetail> {
    let decoded: SmallVec<[(Cow<'_, str>, Cow<'_, str>); PAIRS_INLINE]> =
        form_urlencoded::parse(encoded).collect();
    let pairs: SmallVec<[(&str, &str); PAIRS_INLINE]> = decoded
        .iter()
        .map(|(name, value)| (name.as_ref(), value.as_ref()))
        .collect();
    from_pairs(&pairs, location)
}

/// Deserializes `T` from name/value pairs found at `location` (values already percent-decoded).
#[allow(
    clippy::result_large_err,
    reason = "the signature answers an `ErrorDetail`, built once on the cold path"
)]
pub(crate) fn from_pairs<T: DeserializeOwned>(
    pairs: &[(&str, &str)],
    location: Location,
) -> Result<T, ErrorDetail> {
    let read_as_scalar = Cell::new(false);
    let pairs_deserializer = Pairs {
        pairs,
        location,
        read_as_scalar: &read_as_scalar,
    };
    T::deserialize(pairs_deserializer).map_err(|error| {
        // A type that read one pair's value may still refuse it after reading (`try_from`),
        // out of reach of the deserializer: locate such errors here.
        let error = match pairs {
            [(name, value)] if read_as_scalar.get() => {
                error.or_at(Step::name(name)).or_input(*value)
            }
            _ => error,
        };
        error.into_detail(location)
    })
}

/// What the tests of every layer share: `from_pairs` run for a value or for an error.
#[cfg(test)]
mod testing {
    use std::fmt;

    use serde::Deserialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::from_pairs;
    use crate::ingress::validation::Location;

    /// The error `from_pairs` gives for `T`, as FastAPI's JSON.
    pub(super) fn error<T: DeserializeOwned + fmt::Debug>(
        pairs: &[(&str, &str)],
        location: Location,
    ) -> Value {
        let detail = from_pairs::<T>(pairs, location).expect_err("expected an error");
        serde_json::to_value(detail).expect("a detail serializes")
    }

    pub(super) fn query<T: DeserializeOwned>(pairs: &[(&str, &str)]) -> T {
        from_pairs(pairs, Location::Query).expect("expected a value")
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    pub(super) struct Limit<N> {
        pub(super) limit: N,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    pub(super) enum Two {
        Alpha,
        Beta,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::testing::{Limit, error};
    use super::*;

    /// A type that refuses a value after reading it, as `#[serde(try_from = "…")]` does.
    #[derive(Debug, Deserialize)]
    #[serde(try_from = "i64")]
    struct Even(#[allow(dead_code)] i64);

    impl TryFrom<i64> for Even {
        type Error = String;

        fn try_from(n: i64) -> Result<Self, String> {
            if n % 2 == 0 {
                Ok(Even(n))
            } else {
                Err(format!("{n} is odd"))
            }
        }
    }

    #[test]
    fn errors_raised_after_reading_are_located() {
        let odd = |loc: Value, input: Value| json!({"type": "value_error", "loc": loc, "msg": "Value error, 3 is odd", "input": input});
        assert_eq!(
            error::<Even>(&[("n", "3")], Location::Path),
            odd(json!(["path", "n"]), json!("3"))
        );
        assert_eq!(
            error::<Limit<Even>>(&[("limit", "1"), ("limit", "3")], Location::Query),
            odd(json!(["query", "limit"]), json!("3"))
        );
        assert_eq!(
            error::<Limit<Vec<Even>>>(&[("limit", "2"), ("limit", "3")], Location::Query),
            odd(json!(["query", "limit", 1]), json!("3"))
        );

        /// A list that must not be empty or hold more than two.
        #[derive(Debug, Deserialize)]
        #[serde(try_from = "Vec<i64>")]
        struct Pair(#[allow(dead_code)] Vec<i64>);
        impl TryFrom<Vec<i64>> for Pair {
            type Error = &'static str;
            fn try_from(list: Vec<i64>) -> Result<Self, &'static str> {
                if list.len() == 2 {
                    Ok(Pair(list))
                } else {
                    Err("expected two")
                }
            }
        }
        assert_eq!(
            error::<Limit<Pair>>(&[("limit", "1")], Location::Query)["input"],
            json!(["1"])
        );
    }
}
