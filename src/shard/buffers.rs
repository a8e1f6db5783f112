//! A shard's spare connection buffers: an idle connection holds no read or write buffer of
//! its own — it gives them back here when it goes idle and takes two when its next request
//! arrives — so ten thousand idle connections cost no buffer memory, and a busy shard reuses
//! the same few buffers without allocating.
//!
//! Invariant: every buffer in the pool is empty and has room for a read without an allocation
//! (at least [`READ_CHUNK_BYTES`], at most [`IDLE_BUFFER_BYTES_MAX`]); the pool holds at most
//! [`POOLED_CONNECTION_BUFFERS_MAX`] of them.

use std::cell::RefCell;

use bytes::BytesMut;

use crate::limits::{IDLE_BUFFER_BYTES_MAX, POOLED_CONNECTION_BUFFERS_MAX, READ_CHUNK_BYTES};

/// The shard's spare buffers.
#[derive(Default)]
pub(crate) struct BufferPool {
    spare: RefCell<Vec<BytesMut>>,
}

impl BufferPool {
    /// An empty buffer with room for a read: a spare one, else a new one.
    pub(crate) fn take(&self) -> BytesMut {
        self.spare
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(READ_CHUNK_BYTES))
    }

    /// Keeps `buffer` for the next [`BufferPool::take`] if there is room and it can be reused
    /// whole without an allocation; otherwise frees it.
    pub(crate) fn give(&self, mut buffer: BytesMut) {
        buffer.clear();
        // `capacity` is the room of this view, not the allocation behind it: a buffer that
        // can reach more than the bound (one a large body grew, whatever its view) is freed,
        // not kept. Then a buffer split by requests whose bytes are all dropped gets its room
        // back in place; one that cannot without allocating is freed too.
        if buffer.try_reclaim(IDLE_BUFFER_BYTES_MAX + 1) || !buffer.try_reclaim(READ_CHUNK_BYTES) {
            return;
        }
        let mut spare = self.spare.borrow_mut();
        if spare.len() < POOLED_CONNECTION_BUFFERS_MAX {
            debug_assert!(
                buffer.is_empty() && buffer.capacity() >= READ_CHUNK_BYTES,
                "a pooled buffer is empty and has room for a read"
            );
            spare.push(buffer);
        }
    }
}

#[cfg(test)]
impl BufferPool {
    /// Buffers in the pool now.
    pub(crate) fn spare_count(&self) -> usize {
        self.spare.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_without_allocating() {
        let pool = BufferPool::default();
        let mut buffer = pool.take();
        buffer.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let address = buffer.as_ptr() as usize;
        drop(buffer.split_to(buffer.len()));
        pool.give(buffer);
        let again = pool.take();
        assert_eq!(again.as_ptr() as usize, address);
        assert!(again.is_empty() && again.capacity() >= READ_CHUNK_BYTES);
    }

    #[test]
    fn a_buffer_still_shared_or_grown_large_is_not_kept() {
        let pool = BufferPool::default();
        let mut buffer = pool.take();
        buffer.extend_from_slice(b"held by a handler");
        let held = buffer.split().freeze();
        pool.give(buffer);
        assert!(pool.spare.borrow().is_empty());
        drop(held);
        pool.give(BytesMut::with_capacity(IDLE_BUFFER_BYTES_MAX * 2));
        assert!(pool.spare.borrow().is_empty());
    }

    #[test]
    fn the_pool_keeps_no_more_than_its_bound() {
        let pool = BufferPool::default();
        for _ in 0..POOLED_CONNECTION_BUFFERS_MAX + 3 {
            pool.give(BytesMut::with_capacity(READ_CHUNK_BYTES));
        }
        assert_eq!(pool.spare.borrow().len(), POOLED_CONNECTION_BUFFERS_MAX);
    }
}
