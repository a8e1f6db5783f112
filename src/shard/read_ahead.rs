//! The shard's budget for request bodies read ahead of admission
//! (`Application::buffer_request_body`): how many body bytes its connections may hold whole
//! while their requests wait for a turn, so that fast uploaders cannot make the shard hold
//! `connections × body_bytes_max` bytes.
//!
//! Invariant: `reserved` is the sum of the live [`Reservation`]s, never more than the budget;
//! a request that finds too little left is not refused but streams its body to the handler
//! once it has its turn, as an application with `buffer_request_body(false)` does (bounded
//! then by its turns and by the minimum data rate). Per shard: a `Cell`, no atomics.

use std::cell::Cell;

/// The bytes reserved for bodies being read ahead or waiting, whole, for their turn.
pub(crate) struct ReadAhead {
    budget: usize,
    reserved: Cell<usize>,
}

/// A body's share of the budget, given back when the request ends.
pub(crate) struct Reservation<'a> {
    read_ahead: &'a ReadAhead,
    bytes: usize,
}

impl ReadAhead {
    pub(crate) fn new(budget: usize) -> Self {
        ReadAhead {
            budget,
            reserved: Cell::new(0),
        }
    }

    /// Room for a body of at most `bytes`, if the budget has it.
    pub(crate) fn reserve(&self, bytes: usize) -> Option<Reservation<'_>> {
        let reserved = self.reserved.get();
        let after = reserved.checked_add(bytes)?;
        if after > self.budget {
            return None;
        }
        self.reserved.set(after);
        Some(Reservation {
            read_ahead: self,
            bytes,
        })
    }

    #[cfg(test)]
    fn reserved(&self) -> usize {
        self.reserved.get()
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let reserved = self.read_ahead.reserved.get();
        debug_assert!(
            self.bytes <= reserved,
            "a reservation gives back what it took"
        );
        self.read_ahead.reserved.set(reserved - self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_budget_and_give_it_back() {
        let read_ahead = ReadAhead::new(100);
        let first = read_ahead.reserve(60).expect("room");
        assert!(read_ahead.reserve(41).is_none(), "past the budget");
        let second = read_ahead.reserve(40).expect("exactly the rest");
        assert_eq!(read_ahead.reserved(), 100);
        drop(first);
        assert_eq!(read_ahead.reserved(), 40);
        drop(second);
        assert_eq!(read_ahead.reserved(), 0);
        assert!(read_ahead.reserve(usize::MAX).is_none(), "never overflows");
    }
}
