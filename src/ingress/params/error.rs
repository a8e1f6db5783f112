//! The error the deserializer layers pass outwards: a pydantic error (`type`, `msg`, `input`,
//! `ctx`) whose `loc` is still being built, one step per layer it leaves.
//!
//! Invariant: steps are only ever added outwards, so the innermost is first until
//! [`ParamError::into_detail`] reverses them behind the location; a step or an input set by a
//! deeper layer is never overwritten by an outer one (`or_at`, `or_input`).

use std::borrow::Cow;
use std::fmt::{self, Display};

use serde::Serialize;
use serde::de;
use serde_json::Value;

use crate::ingress::pydantic::{
    EXTRA_FORBIDDEN, INT_PARSING, MISSING, RangeEnd, Wording, enum_error, range_error, value_error,
};
use crate::ingress::validation::{ErrorDetail, LocItem, Location};

/// One `loc` step below the location.
#[derive(Debug)]
pub(super) enum Step {
    /// A name as the request gave it (lower-cased for headers when the detail is made).
    Name(String),
    /// A Rust field name (`_` becomes `-` for headers when the detail is made).
    Field(Cow<'static, str>),
    /// A position in a field's values.
    Index(usize),
}

impl Step {
    pub(super) fn name(name: &str) -> Step {
        Step::Name(name.to_owned())
    }

    fn into_loc(self, location: Location) -> LocItem {
        let header = location == Location::Header;
        match self {
            Step::Name(name) if header => LocItem::from(name.to_ascii_lowercase()),
            Step::Name(name) => LocItem::from(name),
            Step::Field(field) if header => LocItem::from(field.replace('_', "-")),
            Step::Field(field) => LocItem::Key(field),
            Step::Index(index) => LocItem::Index(index),
        }
    }
}

/// This module's serde error: an [`ErrorDetail`] still missing its location. Boxed, so the
/// `Result`s passed through every visitor stay small.
#[derive(Debug)]
pub(super) struct ParamError(Box<ErrorParts>);

/// A [`ParamError`]'s contents.
#[derive(Debug)]
struct ErrorParts {
    kind: &'static str,
    msg: Cow<'static, str>,
    ctx: Option<Value>,
    input: Option<Value>,
    /// The `loc` steps below the location so far, innermost first.
    steps: Vec<Step>,
}

impl ParamError {
    pub(super) fn new(kind: &'static str, msg: impl Into<Cow<'static, str>>) -> Self {
        ParamError(Box::new(ErrorParts {
            kind,
            msg: msg.into(),
            ctx: None,
            input: None,
            steps: Vec::new(),
        }))
    }

    /// One of pydantic's errors with a fixed message.
    pub(super) fn of(wording: Wording) -> Self {
        ParamError::new(wording.kind, wording.msg)
    }

    /// pydantic's `missing`: `Field required`, input `null`.
    pub(super) fn missing() -> Self {
        ParamError::of(MISSING)
    }

    /// pydantic's `value_error`, for what a type itself refused.
    pub(super) fn value_error(message: impl Display) -> Self {
        let (kind, msg) = value_error(message);
        ParamError::new(kind, msg)
    }

    pub(super) fn int_parsing(raw: &str) -> Self {
        ParamError::of(INT_PARSING).input(raw)
    }

    /// An integer past its type's `end`, whose value is `limit`.
    pub(super) fn out_of_range<N: Serialize + Display>(end: RangeEnd, limit: N, raw: &str) -> Self {
        let (kind, msg, ctx) = range_error(end, limit);
        ParamError::new(kind, msg).input(raw).ctx(ctx)
    }

    /// A value asked to hold `what`, which one string cannot.
    pub(super) fn nested(what: &str) -> Self {
        ParamError::value_error(format_args!(
            "{what} cannot be read from a single parameter value (nested structures are not \
             supported)"
        ))
    }

    /// Adds the next step outwards.
    pub(super) fn at(mut self, step: Step) -> Self {
        self.0.steps.push(step);
        self
    }

    /// Adds `step` unless the error has located itself.
    pub(super) fn or_at(self, step: Step) -> Self {
        if self.0.steps.is_empty() {
            self.at(step)
        } else {
            self
        }
    }

    pub(super) fn input(mut self, input: impl Into<Value>) -> Self {
        self.0.input = Some(input.into());
        self
    }

    /// Sets the input unless a deeper layer already has.
    pub(super) fn or_input(self, input: impl Into<Value>) -> Self {
        if self.0.input.is_some() {
            self
        } else {
            self.input(input)
        }
    }

    pub(super) fn ctx(mut self, ctx: Value) -> Self {
        self.0.ctx = Some(ctx);
        self
    }

    /// The finished detail, its `loc` starting at `location`.
    pub(super) fn into_detail(self, location: Location) -> ErrorDetail {
        let ErrorParts {
            kind,
            msg,
            ctx,
            input,
            steps,
        } = *self.0;
        let mut detail = ErrorDetail::new(kind, location, msg);
        for step in steps.into_iter().rev() {
            detail = detail.at(step.into_loc(location));
        }
        detail.input = input.unwrap_or(Value::Null);
        detail.ctx = ctx;
        detail
    }
}

impl Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.msg)
    }
}

impl std::error::Error for ParamError {}

impl de::Error for ParamError {
    fn custom<T: Display>(msg: T) -> Self {
        ParamError::value_error(msg)
    }

    fn missing_field(field: &'static str) -> Self {
        ParamError::missing().at(Step::Field(Cow::Borrowed(field)))
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        ParamError::of(EXTRA_FORBIDDEN).at(Step::Field(Cow::Owned(field.to_owned())))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        if expected.is_empty() {
            return ParamError::value_error(format_args!(
                "unknown variant `{variant}`, there are no variants"
            ))
            .input(variant);
        }
        let (kind, msg, ctx) = enum_error(expected);
        ParamError::new(kind, msg).input(variant).ctx(ctx)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::ingress::params::from_pairs;
    use crate::ingress::params::testing::{Limit, Two, error, query};

    #[test]
    fn detail_values_are_complete() {
        let detail = from_pairs::<Limit<i8>>(&[("limit", "300")], Location::Query).unwrap_err();
        assert_eq!(
            detail,
            ErrorDetail::new(
                "less_than_equal",
                Location::Query,
                "Input should be less than or equal to 127"
            )
            .at("limit")
            .input("300")
            .ctx(json!({"le": 127}))
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum One {
        Alpha,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Three {
        Alpha,
        Beta,
        Gamma,
    }

    #[test]
    fn enums() {
        assert_eq!(
            query::<Limit<Three>>(&[("limit", "beta")]).limit,
            Three::Beta
        );
        let expect = |expected: &str| {
            json!({
                "type": "enum",
                "loc": ["query", "limit"],
                "msg": format!("Input should be {expected}"),
                "input": "delta",
                "ctx": {"expected": expected},
            })
        };
        let pairs = [("limit", "delta")];
        assert_eq!(
            error::<Limit<One>>(&pairs, Location::Query),
            expect("'alpha'")
        );
        assert_eq!(
            error::<Limit<Two>>(&pairs, Location::Query),
            expect("'alpha' or 'beta'")
        );
        assert_eq!(
            error::<Limit<Three>>(&pairs, Location::Query),
            expect("'alpha', 'beta' or 'gamma'")
        );
    }

    #[test]
    fn deny_unknown_fields_is_extra_forbidden() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            q: String,
        }
        assert_eq!(
            error::<Strict>(&[("q", "a"), ("debug", "1")], Location::Query),
            json!({
                "type": "extra_forbidden",
                "loc": ["query", "debug"],
                "msg": "Extra inputs are not permitted",
                "input": "1",
            })
        );
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct StrictHeaders {
            x_token: String,
        }
        assert_eq!(
            error::<StrictHeaders>(
                &[("X-Token", "a"), ("X-Debug-Mode", "on")],
                Location::Header
            )["loc"],
            json!(["header", "x-debug-mode"])
        );
    }

    #[test]
    fn type_errors_are_value_errors() {
        /// Any word but `no`, refused by its own `Deserialize`.
        #[derive(Debug)]
        struct NotNo;
        impl<'de> Deserialize<'de> for NotNo {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let word = <&str>::deserialize(d)?;
                if word == "no" {
                    Err(de::Error::invalid_value(
                        de::Unexpected::Str(word),
                        &"not no",
                    ))
                } else {
                    Ok(NotNo)
                }
            }
        }
        assert_eq!(
            error::<Limit<NotNo>>(&[("limit", "no")], Location::Query),
            json!({
                "type": "value_error",
                "loc": ["query", "limit"],
                "msg": "Value error, invalid value: string \"no\", expected not no",
                "input": "no",
            })
        );
    }
}
