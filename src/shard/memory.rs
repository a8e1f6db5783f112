//! Memory given back after a crowd of connections leaves. Ten thousand connections free ten
//! thousand small allocations when they close, scattered between blocks that stay in use, and
//! glibc's allocator returns a thread's freed memory to the system only from the top of its
//! heap: the process would keep the crowd's peak for good. When a shard's open connections
//! fall to a quarter of their peak (a peak of at least [`MEMORY_TRIM_CONNECTIONS_MIN`]), it
//! asks the allocator to give back every free page (`malloc_trim`), once per such fall.
//!
//! Invariant: a trim runs only from the shard's sweeper, between turns — never on this
//! shard's requests' path, though `malloc_trim` locks every heap of the process for a moment,
//! so another shard allocating then waits for it; and once per fall: the peak restarts from
//! the count at the trim.

use std::cell::Cell;

use crate::limits::MEMORY_TRIM_CONNECTIONS_MIN;

/// The highest count of open connections since the last trim.
#[derive(Default)]
pub(crate) struct MemoryReturn {
    peak: Cell<usize>,
}

impl MemoryReturn {
    /// Notes the shard's open connections (on each sweep); whether they have just fallen to
    /// a quarter of their peak, when the caller frees what it can and calls [`trim`].
    pub(crate) fn fell(&self, open: usize) -> bool {
        let peak = self.peak.get().max(open);
        let fell = peak >= MEMORY_TRIM_CONNECTIONS_MIN && open <= peak / 4;
        self.peak.set(if fell { open } else { peak });
        fell
    }
}

/// Gives every free page of the allocator's heaps back to the system. glibc only; other C
/// libraries (musl) return memory on their own, and a program with its own global allocator
/// does not use these heaps for Rust's allocations at all (then this finds little to do).
pub(crate) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trim_follows_a_fall_to_a_quarter_of_a_large_peak_once() {
        let memory = MemoryReturn::default();
        assert!(!memory.fell(MEMORY_TRIM_CONNECTIONS_MIN));
        assert!(!memory.fell(MEMORY_TRIM_CONNECTIONS_MIN / 2));
        assert!(memory.fell(MEMORY_TRIM_CONNECTIONS_MIN / 4));
        // The peak restarts from the count at the trim: no second trim for the same fall.
        assert!(!memory.fell(0));
    }

    #[test]
    fn a_small_peak_never_trims() {
        let memory = MemoryReturn::default();
        assert!(!memory.fell(MEMORY_TRIM_CONNECTIONS_MIN - 1));
        assert!(!memory.fell(0));
    }
}
