//! The pairs at one location collected per field: one [`Group`] per distinct name, in the
//! order names first appear, holding every value given for it in the order given.
//!
//! Invariant: groups are in first-appearance order and no two share a key; a header's key is
//! its name lower-cased with `_` for `-`, and a header whose own name holds `_` fills no field,
//! so a proxy that vets `X-Token` cannot be bypassed with `X_Token`. Grouping sorts, so it is
//! `O(n log n)` however many distinct names a request sends.

use std::borrow::Cow;
use std::cell::Cell;

use serde_json::Value;
use smallvec::SmallVec;

use crate::ingress::validation::Location;

/// The pairs sharing one name: the struct field or map entry they fill.
pub(super) struct Group<'de> {
    /// The name the visitor matches: the pair's name, or for a header its field form.
    pub(super) key: Cow<'de, str>,
    /// The name as first given, for `loc`.
    pub(super) name: &'de str,
    /// Where the name first appeared among the pairs.
    order: usize,
    pub(super) values: Values<'de>,
}

/// Distinct names kept inline before spilling to the heap: a typical query or set of headers.
const GROUPS_INLINE: usize = 8;

pub(super) type Groups<'de> = SmallVec<[Group<'de>; GROUPS_INLINE]>;
/// Groups the pairs by name, in first-appearance order, each group's values in pair order.
///
/// Sorting keeps this `O(n log n)` however many distinct names a request sends.
pub(super) fn group<'de>(pairs: &'de [(&'de str, &'de str)], location: Location) -> Groups<'de> {
    let mut keyed: SmallVec<[_; GROUPS_INLINE]> = pairs
        .iter()
        .enumerate()
        .filter_map(|(order, &(name, value))| {
            Some((field_key(location, name)?, order, name, value))
        })
        .collect();
    // Within one name the values keep the order they were given (the tie-break); an
    // unstable sort needs no scratch buffer.
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut groups = Groups::new();
    for (key, order, name, value) in keyed {
        match groups.last_mut() {
            Some(group) if group.key == key => group.values.push(value),
            _ => groups.push(Group {
                key,
                name,
                order,
                values: Values::new(value, location == Location::Header),
            }),
        }
    }
    debug_assert!(
        groups.windows(2).all(|pair| pair[0].key < pair[1].key),
        "two groups share a key"
    );
    groups.sort_unstable_by_key(|group| group.order);
    debug_assert!(
        groups.windows(2).all(|pair| pair[0].order < pair[1].order),
        "groups out of first-appearance order"
    );
    debug_assert!(
        location != Location::Header || groups.iter().all(|group| !group.name.contains('_')),
        "a header named with `_` fills a field"
    );
    groups
}

/// The field name a pair's name fills: itself, or for a header its lower-case form with `_`
/// for `-`. A header whose name holds `_` fills no field (`None`).
fn field_key(location: Location, name: &str) -> Option<Cow<'_, str>> {
    if location != Location::Header {
        return Some(Cow::Borrowed(name));
    }
    if name.contains('_') {
        return None;
    }
    if !name.bytes().any(|b| b.is_ascii_uppercase() || b == b'-') {
        return Some(Cow::Borrowed(name));
    }
    let key = name
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    Some(Cow::Owned(key))
}

/// Every value given for one name, in order: never empty.
pub(super) struct Values<'de> {
    first: &'de str,
    rest: Vec<&'de str>,
    /// A scalar takes the first value (headers, as Starlette's `Headers` does — so a handler
    /// and a proxy that checks the first `Authorization` agree) rather than the last (query
    /// parameters).
    first_wins: bool,
    /// Set when the type reads the values as a sequence rather than one scalar.
    read_as_sequence: Cell<bool>,
}

impl<'de> Values<'de> {
    fn new(first: &'de str, first_wins: bool) -> Self {
        Values {
            first,
            rest: Vec::new(),
            first_wins,
            read_as_sequence: Cell::new(false),
        }
    }

    fn push(&mut self, value: &'de str) {
        self.rest.push(value);
    }

    /// The value a scalar takes: the first for headers, the last otherwise.
    pub(super) fn scalar(&self) -> &'de str {
        if self.first_wins {
            return self.first;
        }
        self.rest.last().copied().unwrap_or(self.first)
    }

    /// Every value, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &'de str> + '_ {
        std::iter::once(self.first).chain(self.rest.iter().copied())
    }

    /// Records that the type reads the values as a sequence, for [`Values::input`].
    pub(super) fn mark_read_as_sequence(&self) {
        self.read_as_sequence.set(true);
    }

    /// What an error reports as the input: the list of values if the type read a sequence,
    /// else the value read.
    pub(super) fn input(&self) -> Value {
        if self.read_as_sequence.get() {
            Value::from(self.iter().collect::<Vec<_>>())
        } else {
            Value::from(self.scalar())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::ingress::params::from_pairs;
    use crate::ingress::params::testing::{Limit, error, query};

    #[derive(Debug, Deserialize, PartialEq)]
    struct Headers {
        x_token: String,
        user_agent: Option<String>,
        #[serde(default)]
        x_count: Option<u8>,
    }

    #[test]
    fn headers_match_case_insensitively_with_hyphens() {
        let headers: Headers = from_pairs(
            &[
                ("User-Agent", "curl"),
                ("X-TOKEN", "secret"),
                ("x-count", "3"),
            ],
            Location::Header,
        )
        .unwrap();
        assert_eq!(
            headers,
            Headers {
                x_token: "secret".into(),
                user_agent: Some("curl".into()),
                x_count: Some(3),
            }
        );
        assert_eq!(
            error::<Headers>(&[("X-Token", "a"), ("X-Count", "many")], Location::Header),
            json!({
                "type": "int_parsing",
                "loc": ["header", "x-count"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": "many",
            })
        );
    }

    #[test]
    fn missing_header_is_hyphenated() {
        assert_eq!(
            error::<Headers>(&[("user-agent", "curl")], Location::Header),
            json!({"type": "missing", "loc": ["header", "x-token"], "msg": "Field required", "input": null})
        );
    }

    #[test]
    fn header_names_with_underscores_fill_no_field() {
        assert_eq!(
            error::<Headers>(&[("x_token", "smuggled")], Location::Header)["loc"],
            json!(["header", "x-token"])
        );
    }

    #[test]
    fn repeated_scalar_takes_the_last_value() {
        assert_eq!(
            query::<Limit<i64>>(&[("limit", "1"), ("limit", "2"), ("limit", "3")]).limit,
            3
        );
        assert_eq!(
            error::<Limit<i64>>(&[("limit", "x"), ("limit", "y")], Location::Query)["input"],
            "y"
        );
    }
}
