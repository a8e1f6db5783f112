//! `Extensions`: typed values a middleware attaches to a request for the handler (the
//! authenticated user, a tenant, a trace context).
//!
//! Invariant: empty costs nothing — no allocation until the first value is inserted — and
//! values need not be `Send`: a request never leaves its shard. At most one value per type.

use std::any::{Any, TypeId};
use std::fmt;

/// A map from type to one value of that type.
///
/// ```
/// use ringserve::Extensions;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct User(String);
///
/// let mut extensions = Extensions::default();
/// extensions.insert(User("ada".to_owned()));
/// assert_eq!(extensions.get::<User>(), Some(&User("ada".to_owned())));
/// ```
#[derive(Default)]
pub struct Extensions {
    /// Few values per request, so a scan beats hashing.
    entries: Vec<(TypeId, Box<dyn Any>)>,
}

impl Extensions {
    /// Stores `value`, returning the value of the same type it replaces.
    pub fn insert<T: 'static>(&mut self, value: T) -> Option<T> {
        let previous = self.remove::<T>();
        self.entries.push((TypeId::of::<T>(), Box::new(value)));
        previous
    }

    /// The value of type `T`, if one was inserted.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.entries
            .iter()
            .find(|(id, _)| *id == TypeId::of::<T>())
            .and_then(|(_, value)| value.downcast_ref())
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.entries
            .iter_mut()
            .find(|(id, _)| *id == TypeId::of::<T>())
            .and_then(|(_, value)| value.downcast_mut())
    }

    /// Takes the value of type `T` out.
    pub fn remove<T: 'static>(&mut self) -> Option<T> {
        let index = self
            .entries
            .iter()
            .position(|(id, _)| *id == TypeId::of::<T>())?;
        self.entries
            .swap_remove(index)
            .1
            .downcast()
            .ok()
            .map(|value| *value)
    }

    /// Whether no value was inserted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Extensions({} values)", self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn one_value_per_type_and_not_send_values() {
        let mut extensions = Extensions::default();
        assert!(extensions.is_empty());
        assert_eq!(extensions.insert(5u32), None);
        assert_eq!(extensions.insert(7u32), Some(5));
        extensions.insert(Rc::new("shard-local"));
        *extensions.get_mut::<u32>().unwrap() += 1;
        assert_eq!(extensions.get::<u32>(), Some(&8));
        assert_eq!(
            extensions.get::<Rc<&str>>().map(|value| **value),
            Some("shard-local")
        );
        assert_eq!(extensions.remove::<u32>(), Some(8));
        assert_eq!(extensions.get::<u32>(), None);
        assert_eq!(extensions.get::<i64>(), None);
    }
}
