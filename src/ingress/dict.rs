//! `Dict`: a JSON object with any keys and any values — FastAPI's `item: dict` — for a body
//! (or a field of one) whose shape the application does not fix.
//!
//! Why a type of its own: the body extractor needs the type's OpenAPI schema, and neither
//! `HashMap<String, serde_json::Value>` nor `serde_json::Map` has one in utoipa (and Rust lets
//! neither crate's trait be implemented here for the other's type).
//!
//! Invariant: a `Dict` holds only what a JSON object holds; anything else sent where one is
//! expected (an array, a string, a number) is pydantic's `dict_type`
//! (`Input should be a valid dictionary`), as serde reports "expected a map" for it.
//!
//! Its schema is utoipa's for a map of strings to any value: `{"type": "object",
//! "additionalProperties": {}, "propertyNames": {"type": "string"}}` — what FastAPI documents
//! for `dict` (`"additionalProperties": true`) in JSON Schema's other spelling (the empty
//! schema admits every value, as `true` does), described as "Any JSON object." (utoipa would
//! otherwise copy this type's Rust documentation into the document). It is derived, not written by hand, so that a
//! `Vec<Dict>` or an `Option<Dict>` has a schema too: utoipa composes those only from derived
//! schemas.

use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A JSON object of any shape: `Json<Dict>` takes any object as the body (and refuses an
/// array or a scalar with FastAPI's `dict_type`), as `item: dict` does in FastAPI. It reads
/// and writes as the [`serde_json::Map`] it wraps.
///
/// ```
/// use ringserve::ingress::{Dict, Json};
/// use serde_json::{Value, json};
///
/// async fn create_item(Json(item): Json<Dict>) -> Json<Value> {
///     Json(json!({ "created": item }))
/// }
/// # let _ = create_item;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, ToSchema)]
#[schema(value_type = std::collections::HashMap<String, serde_json::Value>, description = "Any JSON object.")]
pub struct Dict(pub Map<String, Value>);

impl Deref for Dict {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Dict {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<Map<String, Value>> for Dict {
    fn from(map: Map<String, Value>) -> Self {
        Dict(map)
    }
}

impl From<Dict> for Map<String, Value> {
    fn from(dict: Dict) -> Self {
        dict.0
    }
}

impl From<Dict> for Value {
    fn from(dict: Dict) -> Self {
        Value::Object(dict.0)
    }
}

impl Serialize for Dict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Dict {
    /// An object only: `serde_json::Map` asks for a map, so anything else is "expected a map",
    /// which the body reader reports as `dict_type`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(Dict)
    }
}
