//! The power of two choices: which hosting shard a call for an application goes to, by the
//! loads the hosts publish plus the calls this shard has sent them and not yet seen finished.
//!
//! Invariant: a choice is never the shard choosing (the caller excludes itself) and always one
//! of the application's hosts; of two or more candidates, two different ones are compared.
//! Its state — a small xorshift generator and the outstanding counts — is this shard's alone:
//! no shared randomness, no atomics but the published loads it reads.

use std::cell::{Cell, RefCell};

use crate::deploy::load::Load;

/// A shard's state for choosing where to forward.
pub(super) struct Choice {
    /// A small xorshift state for choosing between replicas: no shared randomness.
    random: Cell<u64>,
    /// Calls this shard has sent to each shard and not yet seen finished: added to the load a
    /// host published, which cannot count calls still on their way to it — without them, a
    /// burst from this shard would all pick the same host.
    outstanding: RefCell<Vec<usize>>,
}

impl Choice {
    /// Choosing for one of `shards` shards, from the random state `seed` (never zero: xorshift
    /// would stay at zero).
    pub(super) fn new(seed: u64, shards: usize) -> Self {
        debug_assert_ne!(seed, 0, "a xorshift state of zero never changes");
        Choice {
            random: Cell::new(seed),
            outstanding: RefCell::new(vec![0; shards]),
        }
    }

    /// A call was sent to `target`.
    pub(super) fn sent(&self, target: usize) {
        if let Some(count) = self.outstanding.borrow_mut().get_mut(target) {
            *count += 1;
        }
    }

    /// A call sent to `target` finished (answered or given up).
    pub(super) fn finished(&self, target: usize) {
        if let Some(count) = self.outstanding.borrow_mut().get_mut(target) {
            debug_assert!(*count > 0, "a call finished that was never sent");
            *count = count.saturating_sub(1);
        }
    }

    /// The shard to send a call for an application to, of its `hosts` other than `exclude`
    /// (this shard): of two picked at random, the less loaded (power of two choices); the
    /// only one when there is one. With its load as this shard sees it.
    pub(super) fn choose(
        &self,
        hosts: &[usize],
        loads: &[Load],
        exclude: usize,
    ) -> Option<(usize, usize)> {
        let candidates = || hosts.iter().copied().filter(move |&host| host != exclude);
        let outstanding = self.outstanding.borrow();
        let load = |shard: usize| {
            let published = loads.get(shard).map_or(usize::MAX, Load::read);
            published.saturating_add(outstanding.get(shard).copied().unwrap_or(0))
        };
        let count = candidates().count();
        let chosen = match count {
            0 => return None,
            1 => candidates().next()?,
            _ => {
                let first_index = self.next_random() % count;
                // A different second one: drawn from the others, skipping the first.
                let mut second_index = self.next_random() % (count - 1);
                if second_index >= first_index {
                    second_index += 1;
                }
                debug_assert!(first_index != second_index && second_index < count);
                let first = candidates().nth(first_index)?;
                let second = candidates().nth(second_index)?;
                if load(second) < load(first) {
                    second
                } else {
                    first
                }
            }
        };
        debug_assert!(chosen != exclude && hosts.contains(&chosen));
        Some((chosen, load(chosen)))
    }

    fn next_random(&self) -> usize {
        let mut x = self.random.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random.set(x);
        x as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::load::loads;

    #[test]
    fn of_two_hosts_the_less_loaded_counting_calls_on_their_way() {
        let choice = Choice::new(7, 3);
        let loads = loads(1, 3);
        let choose = |hosts: &[usize], exclude| {
            choice
                .choose(hosts, &loads[0], exclude)
                .map(|(host, _)| host)
        };
        assert_eq!(choose(&[], 0), None);
        assert_eq!(choose(&[2], 0), Some(2));
        // Never the excluded shard (the caller itself), even when it is the only host.
        assert_eq!(choose(&[2], 2), None);
        loads[0][1].publish(5);
        for _ in 0..10 {
            assert_eq!(choose(&[1, 2], 0), Some(2));
            assert_eq!(choose(&[0, 1, 2], 0), Some(2));
        }
        // Equal published loads: the host this shard already sent more to is avoided.
        loads[0][1].publish(0);
        choice.outstanding.borrow_mut()[2] = 3;
        for _ in 0..10 {
            assert_eq!(choose(&[1, 2], 0), Some(1));
        }
        assert_eq!(choice.choose(&[2], &loads[0], 0), Some((2, 3)));
    }
}
