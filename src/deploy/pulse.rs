//! Shard pulses: what each shard publishes for the stall watchdog, and what the watchdog
//! publishes back for `/-/healthz`. It lives in the shared `ServerConfig`, built before any
//! shard starts.
//!
//! A shard runs its connections on one thread and cannot be preempted: a handler that computes
//! without awaiting holds the whole shard. Nothing on the shard can notice that, so each shard
//! shows it is alive to a thread outside it: its sweeper (which runs every `SWEEP_INTERVAL`
//! whenever the shard turns) counts a beat, and each poll of a handler stores which
//! application it belongs to (`shard::running`). The watchdog (`shard::watchdog`) reads both;
//! it alone writes `stalled`, which every other shard's `/-/healthz` reads.
//!
//! Invariant: each cell has one writer — `beats` and `running` the shard itself, `stalled` the
//! watchdog — and all are `Relaxed`: each is a value standing alone, read a moment late at
//! worst. The per-request cost is one plain store (a `mov` on x86 and arm64) to a cache line
//! of the shard's own that no other thread reads while the shard turns (the watchdog reads it
//! only once the shard has stalled): no read-modify-write, no contention.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A value alone on its cache line (two lines: adjacent-line prefetch pairs them), so that a
/// shard's stores never contend with another core's reads of a neighbour.
#[repr(align(128))]
struct Padded<T>(T);

/// `running` when no handler has been polled since the last beat.
const NOT_IN_HANDLER: u32 = 0;
/// `stalled` when the shard is turning.
const NOT_STALLED: u32 = 0;
/// `stalled` when the shard stalled outside any handler.
const STALLED_ELSEWHERE: u32 = 1;
/// `beats` of a shard whose `run` has ended: never called stalled.
const STOPPED: u64 = u64::MAX;

/// One shard's cells.
struct ShardPulse {
    /// Beats so far, [`STOPPED`] once the shard's `run` has ended. Written by the shard's
    /// sweeper, read by the watchdog every check.
    beats: Padded<AtomicU64>,
    /// [`running_code`] of the application whose handler the shard polled last since its
    /// last beat, or [`NOT_IN_HANDLER`]. Written per handler poll; read only by the watchdog,
    /// once stalled.
    running: Padded<AtomicU32>,
    /// [`NOT_STALLED`], or what the watchdog found the shard running when it stalled
    /// ([`stall_code`]). Written by the watchdog, read by other shards' `/-/healthz`.
    stalled: Padded<AtomicU32>,
    /// How many times the watchdog has found the shard stalled. Written by the watchdog, read
    /// by scrapes.
    stalls: AtomicU64,
}

/// What a stalled shard was doing when the watchdog noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stall {
    /// Polling a handler of the application with this label (`ServerConfig::labels`).
    InApplication(usize),
    /// No handler was polled since its last beat: the engine, or a task a handler spawned.
    Elsewhere,
}

/// How a shard's `running` cell names application `app` (0 is no handler).
#[inline]
pub(crate) fn running_code(app: usize) -> u32 {
    debug_assert!(
        app < u32::MAX as usize - 1,
        "application indexes fit the cell"
    );
    app as u32 + 1
}

/// How a `stalled` cell says what the shard was running: one above its `running` code.
fn stall_code(stall: Option<Stall>) -> u32 {
    match stall {
        None => NOT_STALLED,
        Some(Stall::Elsewhere) => STALLED_ELSEWHERE,
        Some(Stall::InApplication(app)) => running_code(app) + 1,
    }
}

/// The reverse of [`stall_code`].
fn stall_of(code: u32) -> Option<Stall> {
    match code {
        NOT_STALLED => None,
        STALLED_ELSEWHERE => Some(Stall::Elsewhere),
        app_plus_two => Some(Stall::InApplication(app_plus_two as usize - 2)),
    }
}

/// Every shard's pulse, shared by the shards and the watchdog through `ServerConfig`.
pub(crate) struct PulseBoard {
    shards: Box<[ShardPulse]>,
}

impl PulseBoard {
    pub(crate) fn new(shards: usize) -> Self {
        PulseBoard {
            shards: (0..shards)
                .map(|_| ShardPulse {
                    beats: Padded(AtomicU64::new(0)),
                    running: Padded(AtomicU32::new(NOT_IN_HANDLER)),
                    stalled: Padded(AtomicU32::new(NOT_STALLED)),
                    stalls: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    pub(crate) fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The shard turned: called by its sweeper. What it ran before this beat is forgotten, so
    /// that a stall names only a handler polled since.
    pub(crate) fn beat(&self, shard: usize) {
        let pulse = &self.shards[shard];
        let beats = pulse.beats.0.load(Ordering::Relaxed);
        if beats == STOPPED {
            // A sweeper tick that ran after the shard's `run` ended: it stays stopped.
            return;
        }
        pulse
            .beats
            .0
            .store(beats.wrapping_add(1) % STOPPED, Ordering::Relaxed);
        pulse.running.0.store(NOT_IN_HANDLER, Ordering::Relaxed);
    }

    /// The shard's `run` has ended: the watchdog no longer watches it.
    pub(crate) fn stop(&self, shard: usize) {
        self.shards[shard].beats.0.store(STOPPED, Ordering::Relaxed);
    }

    /// The shard's beats so far, or `None` once it has stopped.
    pub(crate) fn beats(&self, shard: usize) -> Option<u64> {
        let beats = self.shards[shard].beats.0.load(Ordering::Relaxed);
        (beats != STOPPED).then_some(beats)
    }

    /// What the shard has been running since its last beat.
    pub(crate) fn running(&self, shard: usize) -> Stall {
        match self.shards[shard].running.0.load(Ordering::Relaxed) {
            NOT_IN_HANDLER => Stall::Elsewhere,
            app_plus_one => Stall::InApplication(app_plus_one as usize - 1),
        }
    }

    /// How many times `shard` has been found stalled.
    pub(crate) fn stalls(&self, shard: usize) -> u64 {
        self.shards
            .get(shard)
            .map_or(0, |pulse| pulse.stalls.load(Ordering::Relaxed))
    }

    /// Marks the shard stalled (`Some`, counted) or turning again (`None`): the watchdog's
    /// call.
    pub(crate) fn set_stalled(&self, shard: usize, stall: Option<Stall>) {
        if stall.is_some() {
            self.shards[shard].stalls.fetch_add(1, Ordering::Relaxed);
        }
        self.shards[shard]
            .stalled
            .0
            .store(stall_code(stall), Ordering::Relaxed);
    }

    /// Whether the watchdog last found `shard` stalled.
    pub(crate) fn is_stalled(&self, shard: usize) -> bool {
        self.shards
            .get(shard)
            .is_some_and(|pulse| stall_of(pulse.stalled.0.load(Ordering::Relaxed)).is_some())
    }

    /// The first stalled shard other than `asking`, and what it was running: for `/-/healthz`
    /// (a shard that answers is turning, whatever its flag still says).
    pub(crate) fn first_stalled_besides(&self, asking: usize) -> Option<(usize, Stall)> {
        self.shards
            .iter()
            .enumerate()
            .filter(|(shard, _)| *shard != asking)
            .find_map(|(shard, pulse)| {
                stall_of(pulse.stalled.0.load(Ordering::Relaxed)).map(|stall| (shard, stall))
            })
    }

    /// The cell `shard::running::mark` writes on `shard`'s thread: a [`running_code`].
    pub(crate) fn running_cell(&self, shard: usize) -> &AtomicU32 {
        &self.shards[shard].running.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_forgets_what_ran_before_it() {
        let board = PulseBoard::new(2);
        board
            .running_cell(1)
            .store(running_code(3), Ordering::Relaxed);
        assert_eq!(board.running(1), Stall::InApplication(3));
        assert_eq!(board.running(0), Stall::Elsewhere);
        board.beat(1);
        assert_eq!(board.running(1), Stall::Elsewhere);
        assert_eq!(board.beats(1), Some(1));
        board.stop(1);
        assert_eq!(board.beats(1), None, "a shard whose run ended is stopped");
        board.beat(1);
        assert_eq!(board.beats(1), None, "and stays stopped");
    }

    #[test]
    fn healthz_sees_other_shards_stalls_only() {
        let board = PulseBoard::new(3);
        assert_eq!(board.first_stalled_besides(0), None);
        board.set_stalled(1, Some(Stall::InApplication(0)));
        board.set_stalled(2, Some(Stall::Elsewhere));
        assert_eq!(
            board.first_stalled_besides(0),
            Some((1, Stall::InApplication(0)))
        );
        assert_eq!(board.first_stalled_besides(1), Some((2, Stall::Elsewhere)));
        board.set_stalled(1, None);
        board.set_stalled(2, None);
        assert_eq!(board.first_stalled_besides(0), None);
    }
}
