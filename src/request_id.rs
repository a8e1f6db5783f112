//! Request ids for requests that arrive without an `x-request-id`.
//!
//! Invariant: ids are unique per process without any cross-core coordination: each shard mixes
//! its own random seed with its own counter, so no two shards (or restarts) repeat an id, and
//! making one costs a multiply and a hex encode on the stack.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

/// 32 lowercase hex digits, like a UUID without dashes.
pub(crate) const REQUEST_ID_BYTES: usize = 32;

/// One shard's id source.
pub(crate) struct RequestIdGenerator {
    seed: u64,
    counter: Cell<u64>,
}

impl RequestIdGenerator {
    pub(crate) fn new(shard: usize) -> Self {
        // std's RandomState is seeded from the OS once per process and varies per instance.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(shard);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos()),
        );
        RequestIdGenerator {
            seed: hasher.finish(),
            counter: Cell::new(0),
        }
    }

    /// The next id: the shard's seed, then a bijective mix of the counter (so ids look random
    /// but never repeat within a shard).
    pub(crate) fn next(&self) -> [u8; REQUEST_ID_BYTES] {
        let count = self.counter.get().wrapping_add(1);
        self.counter.set(count);
        let mut out = [0u8; REQUEST_ID_BYTES];
        write_hex(&mut out[..16], self.seed);
        write_hex(
            &mut out[16..],
            splitmix64(count ^ self.seed.rotate_left(17)),
        );
        out
    }
}

thread_local! {
    /// Ids for requests made in code (`Request::builder`) on any thread: seeded apart from
    /// every shard's own generator, so they never repeat one of its ids.
    static BUILT: RequestIdGenerator = RequestIdGenerator::new(usize::MAX);
}

/// A fresh id for a request made on this thread.
pub(crate) fn generate_here() -> [u8; REQUEST_ID_BYTES] {
    BUILT.with(RequestIdGenerator::next)
}

/// SplitMix64's finaliser: a bijection on u64 with good bit mixing.
fn splitmix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

fn write_hex(out: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (index, slot) in out.iter_mut().enumerate() {
        let shift = 60 - 4 * index;
        *slot = DIGITS[((value >> shift) & 0xf) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_hex_and_distinct() {
        let first = RequestIdGenerator::new(0);
        let second = RequestIdGenerator::new(1);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            for generator in [&first, &second] {
                let id = generator.next();
                assert!(id.iter().all(|byte| byte.is_ascii_hexdigit()));
                assert!(seen.insert(id), "repeated id");
            }
        }
    }
}
