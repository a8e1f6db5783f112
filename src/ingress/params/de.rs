//! The serde layers that read the grouped pairs, outermost first: [`Pairs`] (every pair at one
//! location: a struct, a map, a sequence or one scalar), `Fields` (a struct's fields, one per
//! group), `ValuesDeserializer` (one field's values, as a scalar or a sequence), `Items` (a
//! sequence's values) and `ValueDeserializer` (one string, as whatever scalar is asked for).
//!
//! Invariant: values hold no nesting — a struct, map or sequence asked of one value is an
//! error, never a guess — and each layer adds its own `loc` step to an error as it passes
//! outwards (the item's index or name, then the field's name), so the location is complete
//! when it leaves [`Pairs`].

use std::borrow::Cow;
use std::cell::Cell;

use serde::Deserializer;
use serde::de::value::CowStrDeserializer;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::error::{ParamError, Step};
use super::grouping::{Group, Groups, Values, group};
use super::scalars::{parse_bool, parse_char, parse_float, parse_int};
use crate::ingress::validation::Location;

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
pub(super) struct Pairs<'de> {
    pub(super) pairs: &'de [(&'de str, &'de str)],
    pub(super) location: Location,
    /// Set when the type reads the pairs as one scalar value, for [`from_pairs`] to locate
    /// errors raised after the read.
    pub(super) read_as_scalar: &'de Cell<bool>,
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

/// A struct's fields or a map's entries: one per distinct name.
struct Fields<'de> {
    groups: <Groups<'de> as IntoIterator>::IntoIter,
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
        let last = values.scalar();
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
        seed.deserialize(ValuesDeserializer(&values))
            .map_err(|error| error.at(Step::name(name)).or_input(values.input()))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.groups.len())
    }
}

/// One field's values, read as a scalar (one value) or as a sequence (all of them).
#[derive(Clone, Copy)]
struct ValuesDeserializer<'a, 'de>(&'a Values<'de>);

impl<'de> ValuesDeserializer<'_, 'de> {
    /// Reads the scalar value with `read` (`Fields` adds the input to errors).
    fn scalar<T>(
        self,
        read: impl FnOnce(ValueDeserializer<'de>) -> Result<T, ParamError>,
    ) -> Result<T, ParamError> {
        read(ValueDeserializer::new(self.0.scalar()))
    }

    /// Reads every value as a sequence, each located by its index (`Fields` adds the list as
    /// the input to errors of the whole sequence).
    fn sequence<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        self.0.mark_read_as_sequence();
        let items = self
            .0
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;
    use serde_json::{Value, json};

    use crate::ingress::params::from_pairs;
    use crate::ingress::params::testing::{Limit, Two, error, query};
    use crate::ingress::validation::Location;

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
    fn top_level_enum_is_one_path_parameter() {
        let model: Two = from_pairs(&[("model", "alpha")], Location::Path).unwrap();
        assert_eq!(model, Two::Alpha);
        assert_eq!(
            error::<Two>(&[("model", "x")], Location::Path)["loc"],
            json!(["path", "model"])
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
}
