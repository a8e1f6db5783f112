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

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::{self, Display};
use std::str::FromStr;

use serde::de::value::CowStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserializer, Serialize};
use serde_json::{Value, json};
use smallvec::SmallVec;

use super::pydantic::{RangeEnd, choices, range_error};
use super::validation::{ErrorDetail, LocItem, Location};

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

/// Implements each named `deserialize_*` method by reading one value with [`ValueDeserializer`],
/// chosen and located by the method `$via`.
macro_rules! forward_to_value {
    ($via:ident: $($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
                self.$via(|value| value.$method(visitor))
            }
        )*
    };
}

/// Implements each named integer method by parsing the value as `$ty`.
macro_rules! deserialize_ints {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
                visitor.$visit(parse_int(&self.0, <$ty>::MIN, <$ty>::MAX)?)
            }
        )*
    };
}

/// The top level: every pair at one location.
struct Pairs<'de> {
    pairs: &'de [(&'de str, &'de str)],
    location: Location,
    /// Set when the type reads the pairs as one scalar value, for [`from_pairs`] to locate
    /// errors raised after the read.
    read_as_scalar: &'de Cell<bool>,
}

impl<'de> Pairs<'de> {
    /// Reads the only pair's value with `read`; zero pairs are `missing`, several a programming
    /// error (a scalar can hold one value only).
    fn single<T>(
        self,
        read: impl FnOnce(ValueDeserializer<'de>) -> Result<T, ParamError>,
    ) -> Result<T, ParamError> {
        self.read_as_scalar.set(true);
        match self.pairs {
            // `from_pairs` adds the name and input, as for errors raised after the read.
            [(_, value)] => read(ValueDeserializer::new(value)),
            [] => Err(ParamError::missing()),
            several => Err(ParamError::value_error(format_args!(
                "expected exactly one parameter, found {}: reading several needs a struct or a \
                 tuple (a programming error in the handler, not in the request)",
                several.len()
            ))),
        }
    }

    /// Reads the pairs' values in order, each located by its pair's name.
    fn sequence<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        let items = self
            .pairs
            .iter()
            .map(|&(name, value)| (Label::Name(name), value));
        Items::new(items).read(visitor)
    }
}

impl<'de> Deserializer<'de> for Pairs<'de> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_map(Fields::new(self.pairs, self.location))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.sequence(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.sequence(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.sequence(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_unit()
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.single(|value| value.deserialize_enum(name, variants, visitor))
    }

    forward_to_value! {
        single: deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_identifier
    }
}

/// The pairs sharing one name: the struct field or map entry they fill.
struct Group<'de> {
    /// The name the visitor matches: the pair's name, or for a header its field form.
    key: Cow<'de, str>,
    /// The name as first given, for `loc`.
    name: &'de str,
    /// Where the name first appeared among the pairs.
    order: usize,
    values: Values<'de>,
}

/// Distinct names kept inline before spilling to the heap: a typical query or set of headers.
const GROUPS_INLINE: usize = 8;

type Groups<'de> = SmallVec<[Group<'de>; GROUPS_INLINE]>;

/// Groups the pairs by name, in first-appearance order, each group's values in pair order.
///
/// Sorting keeps this `O(n log n)` however many distinct names a request sends.
fn group<'de>(pairs: &'de [(&'de str, &'de str)], location: Location) -> Groups<'de> {
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
            Some(group) if group.key == key => group.values.rest.push(value),
            _ => groups.push(Group {
                key,
                name,
                order,
                values: Values::new(value, location == Location::Header),
            }),
        }
    }
    groups.sort_unstable_by_key(|group| group.order);
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

/// A struct's fields or a map's entries: one per distinct name.
struct Fields<'de> {
    groups: smallvec::IntoIter<[Group<'de>; GROUPS_INLINE]>,
    /// The name and values of the key last read, waiting for `next_value_seed`.
    pending: Option<(&'de str, Values<'de>)>,
}

impl<'de> Fields<'de> {
    fn new(pairs: &'de [(&'de str, &'de str)], location: Location) -> Self {
        Fields {
            groups: group(pairs, location).into_iter(),
            pending: None,
        }
    }
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = ParamError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ParamError> {
        let Some(Group {
            key, name, values, ..
        }) = self.groups.next()
        else {
            return Ok(None);
        };
        let last = values.last();
        self.pending = Some((name, values));
        seed.deserialize(ValueDeserializer(key))
            .map(Some)
            // `unknown_field` has located itself already; the input is the field's value.
            .map_err(|error| error.or_at(Step::name(name)).or_input(last))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ParamError> {
        let (name, values) = self
            .pending
            .take()
            .ok_or_else(|| ParamError::value_error("a value was read before its key"))?;
        // Including errors a type raises after reading (`try_from`), out of reach of the
        // deserializer.
        seed.deserialize(values.deserializer())
            .map_err(|error| error.at(Step::name(name)).or_input(values.input()))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.groups.len())
    }
}

/// Every value given for one name, in order: never empty.
struct Values<'de> {
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

    fn last(&self) -> &'de str {
        self.deserializer().last()
    }

    /// What an error reports as the input: the list of values if the type read a sequence,
    /// else the value read.
    fn input(&self) -> Value {
        if self.read_as_sequence.get() {
            Value::from(self.deserializer().iter().collect::<Vec<_>>())
        } else {
            Value::from(self.last())
        }
    }

    fn deserializer(&self) -> ValuesDeserializer<'_, 'de> {
        ValuesDeserializer {
            first: self.first,
            rest: &self.rest,
            first_wins: self.first_wins,
            read_as_sequence: &self.read_as_sequence,
        }
    }
}

/// One field's values, read as a scalar (one value) or as a sequence (all of them).
#[derive(Clone, Copy)]
struct ValuesDeserializer<'a, 'de> {
    first: &'de str,
    rest: &'a [&'de str],
    first_wins: bool,
    read_as_sequence: &'a Cell<bool>,
}

impl<'de> ValuesDeserializer<'_, 'de> {
    /// The value a scalar takes: the first for headers, the last otherwise.
    fn last(self) -> &'de str {
        if self.first_wins {
            return self.first;
        }
        self.rest.last().copied().unwrap_or(self.first)
    }

    /// Every value, in order.
    fn iter(self) -> impl Iterator<Item = &'de str> {
        std::iter::once(self.first).chain(self.rest.iter().copied())
    }

    /// Reads the scalar value with `read` (`Fields` adds the input to errors).
    fn scalar<T>(
        self,
        read: impl FnOnce(ValueDeserializer<'de>) -> Result<T, ParamError>,
    ) -> Result<T, ParamError> {
        read(ValueDeserializer::new(self.last()))
    }

    /// Reads every value as a sequence, each located by its index (`Fields` adds the list as
    /// the input to errors of the whole sequence).
    fn sequence<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.read_as_sequence.set(true);
        let items = self
            .iter()
            .enumerate()
            .map(|(index, value)| (Label::Index(index), value));
        Items::new(items).read(visitor)
    }
}

impl<'de> Deserializer<'de> for ValuesDeserializer<'_, 'de> {
    type Error = ParamError;

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.sequence(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.sequence(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.sequence(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.scalar(|value| value.deserialize_unit_struct(name, visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.scalar(|value| value.deserialize_struct(name, fields, visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.scalar(|value| value.deserialize_enum(name, variants, visitor))
    }

    forward_to_value! {
        scalar: deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_map deserialize_identifier deserialize_ignored_any
    }
}

/// What names a sequence item in `loc`.
#[derive(Clone, Copy)]
enum Label<'de> {
    /// A top-level pair, named by its name.
    Name(&'de str),
    /// A field's value, named by its position.
    Index(usize),
}

impl Label<'_> {
    fn step(self) -> Step {
        match self {
            Label::Name(name) => Step::name(name),
            Label::Index(index) => Step::Index(index),
        }
    }
}

/// The items of a sequence, each a value with its label.
struct Items<I> {
    items: I,
    read: usize,
}

impl<'de, I: Iterator<Item = (Label<'de>, &'de str)>> Items<I> {
    fn new(items: I) -> Self {
        Items { items, read: 0 }
    }

    /// Visits the items, then refuses any the visitor left unread (a tuple too short).
    fn read<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, ParamError> {
        let value = visitor.visit_seq(&mut self)?;
        let unread = self.items.count();
        if unread > 0 {
            return Err(ParamError::value_error(format_args!(
                "too many values: {} given, {} read",
                self.read + unread,
                self.read
            )));
        }
        Ok(value)
    }
}

impl<'de, I: Iterator<Item = (Label<'de>, &'de str)>> SeqAccess<'de> for Items<I> {
    type Error = ParamError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ParamError> {
        let Some((label, value)) = self.items.next() else {
            return Ok(None);
        };
        self.read += 1;
        seed.deserialize(ValueDeserializer::new(value))
            .map(Some)
            .map_err(|error| error.at(label.step()).or_input(value))
    }

    fn size_hint(&self) -> Option<usize> {
        match self.items.size_hint() {
            (lower, Some(upper)) if lower == upper => Some(lower),
            _ => None,
        }
    }
}

/// One string value (or a map key), read as whatever scalar the visitor asks for.
struct ValueDeserializer<'de>(Cow<'de, str>);

impl<'de> ValueDeserializer<'de> {
    fn new(value: &'de str) -> Self {
        ValueDeserializer(Cow::Borrowed(value))
    }
}

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.0 {
            Cow::Borrowed(value) => visitor.visit_borrowed_str(value),
            Cow::Owned(value) => visitor.visit_string(value),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.0 {
            Cow::Borrowed(value) => visitor.visit_borrowed_bytes(value.as_bytes()),
            Cow::Owned(value) => visitor.visit_byte_buf(value.into_bytes()),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_bool(parse_bool(&self.0)?)
    }

    deserialize_ints! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_f32(parse_float(&self.0)?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_f64(parse_float(&self.0)?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_char(parse_char(&self.0)?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_enum(CowStrDeserializer::new(self.0))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ParamError> {
        Err(ParamError::nested("a sequence"))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, ParamError> {
        Err(ParamError::nested("a tuple"))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, ParamError> {
        Err(ParamError::nested("a tuple"))
    }

    fn deserialize_map<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ParamError> {
        Err(ParamError::nested("a map"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ParamError> {
        Err(ParamError::nested("a struct"))
    }
}

/// An integer: an optional sign and ASCII digits, within `min..=max`.
fn parse_int<N>(raw: &str, min: N, max: N) -> Result<N, ParamError>
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
fn parse_float<N: FromStr>(raw: &str) -> Result<N, ParamError> {
    raw.parse().map_err(|_| {
        ParamError::new(
            "float_parsing",
            "Input should be a valid number, unable to parse string as a number",
        )
        .input(raw)
    })
}

/// A boolean, from pydantic's words, case-insensitively.
fn parse_bool(raw: &str) -> Result<bool, ParamError> {
    const TRUE: [&str; 6] = ["1", "on", "t", "true", "y", "yes"];
    const FALSE: [&str; 6] = ["0", "off", "f", "false", "n", "no"];
    let is = |words: &[&str]| words.iter().any(|word| raw.eq_ignore_ascii_case(word));
    if is(&TRUE) {
        Ok(true)
    } else if is(&FALSE) {
        Ok(false)
    } else {
        Err(ParamError::new(
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
        )
        .input(raw))
    }
}

/// Exactly one character.
fn parse_char(raw: &str) -> Result<char, ParamError> {
    let mut chars = raw.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(ParamError::value_error("expected a single character").input(raw)),
    }
}

/// One `loc` step below the location.
#[derive(Debug)]
enum Step {
    /// A name as the request gave it (lower-cased for headers when the detail is made).
    Name(String),
    /// A Rust field name (`_` becomes `-` for headers when the detail is made).
    Field(Cow<'static, str>),
    /// A position in a field's values.
    Index(usize),
}

impl Step {
    fn name(name: &str) -> Step {
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
struct ParamError(Box<ErrorParts>);

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
    fn new(kind: &'static str, msg: impl Into<Cow<'static, str>>) -> Self {
        ParamError(Box::new(ErrorParts {
            kind,
            msg: msg.into(),
            ctx: None,
            input: None,
            steps: Vec::new(),
        }))
    }

    /// pydantic's `missing`: `Field required`, input `null`.
    fn missing() -> Self {
        ParamError::new("missing", "Field required")
    }

    /// pydantic's `value_error`, for what a type itself refused.
    fn value_error(message: impl Display) -> Self {
        ParamError::new("value_error", format!("Value error, {message}"))
    }

    fn int_parsing(raw: &str) -> Self {
        ParamError::new(
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        )
        .input(raw)
    }

    /// An integer past its type's `end`, whose value is `limit`.
    fn out_of_range<N: Serialize + Display>(end: RangeEnd, limit: N, raw: &str) -> Self {
        let (kind, msg, ctx) = range_error(end, limit);
        ParamError::new(kind, msg).input(raw).ctx(ctx)
    }

    /// A value asked to hold `what`, which one string cannot.
    fn nested(what: &str) -> Self {
        ParamError::value_error(format_args!(
            "{what} cannot be read from a single parameter value (nested structures are not \
             supported)"
        ))
    }

    /// Adds the next step outwards.
    fn at(mut self, step: Step) -> Self {
        self.0.steps.push(step);
        self
    }

    /// Adds `step` unless the error has located itself.
    fn or_at(self, step: Step) -> Self {
        if self.0.steps.is_empty() {
            self.at(step)
        } else {
            self
        }
    }

    fn input(mut self, input: impl Into<Value>) -> Self {
        self.0.input = Some(input.into());
        self
    }

    /// Sets the input unless a deeper layer already has.
    fn or_input(self, input: impl Into<Value>) -> Self {
        if self.0.input.is_some() {
            self
        } else {
            self.input(input)
        }
    }

    fn ctx(mut self, ctx: Value) -> Self {
        self.0.ctx = Some(ctx);
        self
    }

    /// The finished detail, its `loc` starting at `location`.
    fn into_detail(self, location: Location) -> ErrorDetail {
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
        ParamError::new("extra_forbidden", "Extra inputs are not permitted")
            .at(Step::Field(Cow::Owned(field.to_owned())))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        if expected.is_empty() {
            return ParamError::value_error(format_args!(
                "unknown variant `{variant}`, there are no variants"
            ))
            .input(variant);
        }
        let expected = choices(expected);
        ParamError::new("enum", format!("Input should be {expected}"))
            .input(variant)
            .ctx(json!({ "expected": expected }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    /// The error `from_pairs` gives for `T`, as FastAPI's JSON.
    fn error<T: DeserializeOwned + fmt::Debug>(
        pairs: &[(&str, &str)],
        location: Location,
    ) -> Value {
        let detail = from_pairs::<T>(pairs, location).expect_err("expected an error");
        serde_json::to_value(detail).expect("a detail serializes")
    }

    fn query<T: DeserializeOwned>(pairs: &[(&str, &str)]) -> T {
        from_pairs(pairs, Location::Query).expect("expected a value")
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Search {
        limit: i64,
        q: String,
        exact: bool,
        score: f64,
        page: Option<u32>,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        offset: u64,
    }

    #[test]
    fn struct_from_query_pairs() {
        let search: Search = query(&[
            ("q", "rust serde"),
            ("limit", "10"),
            ("tags", "a"),
            ("exact", "yes"),
            ("score", "0.5"),
            ("tags", "b"),
            ("unknown", "ignored"),
        ]);
        assert_eq!(
            search,
            Search {
                limit: 10,
                q: "rust serde".into(),
                exact: true,
                score: 0.5,
                page: None,
                tags: vec!["a".into(), "b".into()],
                offset: 0,
            }
        );
        let search: Search = query(&[
            ("limit", "-3"),
            ("q", ""),
            ("exact", "0"),
            ("score", "1e3"),
            ("page", "+2"),
            ("offset", "7"),
        ]);
        assert_eq!((search.limit, search.page, search.offset), (-3, Some(2), 7));
        assert!(search.tags.is_empty());
    }

    #[test]
    fn missing_required_field() {
        assert_eq!(
            error::<Search>(
                &[("q", "x"), ("exact", "1"), ("score", "1")],
                Location::Query
            ),
            json!({"type": "missing", "loc": ["query", "limit"], "msg": "Field required", "input": null})
        );
    }

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

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Limit<N> {
        limit: N,
    }

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

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum One {
        Alpha,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Two {
        Alpha,
        Beta,
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
    fn top_level_enum_is_one_path_parameter() {
        let model: Two = from_pairs(&[("model", "alpha")], Location::Path).unwrap();
        assert_eq!(model, Two::Alpha);
        assert_eq!(
            error::<Two>(&[("model", "x")], Location::Path)["loc"],
            json!(["path", "model"])
        );
    }

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
    fn top_level_scalar_is_one_path_parameter() {
        let id: i64 = from_pairs(&[("item_id", "42")], Location::Path).unwrap();
        assert_eq!(id, 42);
        assert_eq!(
            error::<i64>(&[("item_id", "abc")], Location::Path),
            json!({
                "type": "int_parsing",
                "loc": ["path", "item_id"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": "abc",
            })
        );
        assert_eq!(
            error::<i64>(&[], Location::Path),
            json!({"type": "missing", "loc": ["path"], "msg": "Field required", "input": null})
        );
        let several = error::<i64>(&[("a", "1"), ("b", "2")], Location::Path);
        assert_eq!(several["type"], "value_error");
        assert_eq!(several["loc"], json!(["path"]));
        let msg = several["msg"].as_str().unwrap();
        assert!(
            msg.contains("found 2") && msg.contains("programming error"),
            "{msg}"
        );
    }

    #[test]
    fn top_level_tuple_from_path_parameters() {
        let pair: (i64, String) =
            from_pairs(&[("user_id", "7"), ("name", "ann")], Location::Path).unwrap();
        assert_eq!(pair, (7, "ann".into()));
        assert_eq!(
            error::<(String, i64)>(&[("name", "ann"), ("user_id", "x")], Location::Path),
            json!({
                "type": "int_parsing",
                "loc": ["path", "user_id"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": "x",
            })
        );
        assert_eq!(
            error::<(i64, i64)>(&[("a", "1")], Location::Path),
            json!({
                "type": "value_error",
                "loc": ["path"],
                "msg": "Value error, invalid length 1, expected a tuple of size 2",
                "input": null,
            })
        );
        assert_eq!(
            error::<(i64,)>(&[("a", "1"), ("b", "2")], Location::Path)["msg"],
            "Value error, too many values: 2 given, 1 read"
        );
    }

    #[test]
    fn sequence_item_error_has_its_index() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Ids {
            ids: Vec<i8>,
        }
        assert_eq!(
            error::<Ids>(
                &[("ids", "1"), ("other", "x"), ("ids", "300")],
                Location::Query
            ),
            json!({
                "type": "less_than_equal",
                "loc": ["query", "ids", 1],
                "msg": "Input should be less than or equal to 127",
                "input": "300",
                "ctx": {"le": 127},
            })
        );
        let pairs: (i64, i64) = query::<Limit<(i64, i64)>>(&[("limit", "1"), ("limit", "2")]).limit;
        assert_eq!(pairs, (1, 2));
        assert_eq!(
            error::<Limit<(i64, i64)>>(&[("limit", "1")], Location::Query)["input"],
            json!(["1"])
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
    fn json_value_field_gets_a_string() {
        let value: Limit<Value> = query(&[("limit", "10")]);
        assert_eq!(value.limit, json!("10"));
    }

    #[test]
    fn maps_newtypes_and_units() {
        let map: HashMap<String, String> = query(&[("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(map.len(), 2);
        assert_eq!(map["a"], "3");
        let numbered: HashMap<u8, Vec<i32>> = query(&[("1", "-1"), ("2", "5"), ("1", "6")]);
        assert_eq!(numbered[&1], [-1, 6]);
        #[derive(Debug, Deserialize, PartialEq)]
        struct Tags(Vec<String>);
        assert_eq!(
            query::<Limit<Tags>>(&[("limit", "x"), ("limit", "y")]).limit,
            Tags(vec!["x".into(), "y".into()])
        );
        assert_eq!(query::<Limit<Option<()>>>(&[("limit", "")]).limit, Some(()));
    }

    #[test]
    fn nested_structures_are_refused() {
        let detail = error::<Limit<Limit<i64>>>(&[("limit", "1")], Location::Query);
        assert_eq!(detail["type"], "value_error");
        assert_eq!(detail["input"], "1");
        let msg = detail["msg"].as_str().unwrap();
        assert!(msg.contains("nested structures are not supported"), "{msg}");
        assert_eq!(
            error::<Limit<Vec<Vec<i64>>>>(&[("limit", "1")], Location::Query)["loc"],
            json!(["query", "limit", 0])
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
