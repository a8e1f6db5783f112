//! The shard's provided buffers: an io_uring buffer ring, from which the kernel picks a buffer
//! for a receive only when bytes arrive. An idle connection's receive waits holding no memory
//! of its own; the bytes are copied out of the picked buffer into the connection's read buffer
//! and the buffer goes straight back to the ring.
//!
//! Invariants: each buffer is either in the ring (the kernel may write it at any time) or lent
//! to the one completion that named it, until [`ProvidedBuffers::recycle`] puts it back; the
//! ring's memory and the buffers' are freed only once no receive can pick one (`Ring`'s drop
//! waits for every operation, and leaks them when it gives up). The tail is published with a release store, as
//! the kernel reads it with an acquire load: the one atomic access per buffer, the protocol's,
//! uncontended.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

use crate::limits::{PROVIDED_BUFFER_BYTES, PROVIDED_BUFFERS};

/// The buffer group the shard's receives select from (one per ring).
pub(crate) const GROUP: u16 = 0;

/// The kernel requires the ring of buffer descriptors to be page-aligned.
const PAGE_BYTES: usize = 4096;

/// The ring of buffer descriptors and the buffers it hands out.
pub(crate) struct ProvidedBuffers {
    entries: NonNull<BufRingEntry>,
    memory: NonNull<u8>,
    /// The tail the shard has published: buffers put back so far, wrapping.
    tail: u16,
}

impl ProvidedBuffers {
    /// The ring with every buffer in it, not yet registered.
    pub(crate) fn new() -> Self {
        const { assert!(PROVIDED_BUFFERS.is_power_of_two() && PROVIDED_BUFFERS <= 1 << 15) };
        // SAFETY: both layouts have a non-zero size.
        let (entries, memory) = unsafe {
            (
                alloc_zeroed(entries_layout()).cast::<BufRingEntry>(),
                alloc_zeroed(memory_layout()),
            )
        };
        let (Some(entries), Some(memory)) = (NonNull::new(entries), NonNull::new(memory)) else {
            std::alloc::handle_alloc_error(memory_layout())
        };
        let mut buffers = ProvidedBuffers {
            entries,
            memory,
            tail: 0,
        };
        for id in 0..PROVIDED_BUFFERS as u16 {
            buffers.recycle(id);
        }
        buffers
    }

    /// The first `len` bytes of buffer `id`, which a completion just lent out.
    pub(crate) fn received(&self, id: u16, len: usize) -> &[u8] {
        assert!(
            usize::from(id) < PROVIDED_BUFFERS && len <= PROVIDED_BUFFER_BYTES,
            "a completion names a buffer of the ring and fits it"
        );
        // SAFETY: in bounds (asserted); the buffer is lent to the caller until it is recycled,
        // so the kernel does not write it meanwhile, and it wrote these `len` bytes.
        unsafe {
            std::slice::from_raw_parts(
                self.memory
                    .as_ptr()
                    .add(usize::from(id) * PROVIDED_BUFFER_BYTES),
                len,
            )
        }
    }

    /// Puts buffer `id` back in the ring for the kernel to pick again.
    pub(crate) fn recycle(&mut self, id: u16) {
        debug_assert!(usize::from(id) < PROVIDED_BUFFERS, "a buffer of this ring");
        let slot = usize::from(self.tail) & (PROVIDED_BUFFERS - 1);
        // SAFETY: `slot` is in the ring; the kernel reads entries only up to the published
        // tail, and this one is past it.
        let entry = unsafe { &mut *self.entries.as_ptr().add(slot) };
        let address = self.memory.as_ptr() as usize + usize::from(id) * PROVIDED_BUFFER_BYTES;
        entry.set_addr(address as u64);
        entry.set_len(PROVIDED_BUFFER_BYTES as u32);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field lives in the first entry of the live, page-aligned ring, and
        // is only ever written here (the kernel reads it).
        let tail =
            unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.entries.as_ptr()).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for ProvidedBuffers {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with these layouts; the ring that used them is gone.
        unsafe {
            dealloc(self.entries.as_ptr().cast(), entries_layout());
            dealloc(self.memory.as_ptr(), memory_layout());
        }
    }
}

fn entries_layout() -> Layout {
    let bytes = (PROVIDED_BUFFERS * std::mem::size_of::<BufRingEntry>()).max(PAGE_BYTES);
    Layout::from_size_align(bytes, PAGE_BYTES).expect("a small page-aligned layout")
}

fn memory_layout() -> Layout {
    Layout::from_size_align(PROVIDED_BUFFERS * PROVIDED_BUFFER_BYTES, PAGE_BYTES)
        .expect("a small page-aligned layout")
}

/// Registers `buffers` with `uring` as [`GROUP`].
pub(crate) fn register(uring: &io_uring::IoUring, buffers: &ProvidedBuffers) -> io::Result<()> {
    let address = buffers.entries.as_ptr() as u64;
    // SAFETY: the memory is freed only once no receive can pick a buffer from it (see the
    // module's invariant).
    unsafe {
        uring
            .submitter()
            .register_buf_ring_with_flags(address, PROVIDED_BUFFERS as u16, GROUP, 0)
    }
}
