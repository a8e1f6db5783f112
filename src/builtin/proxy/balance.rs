//! Which upstream a shard sends the next request to: power of two choices by requests in
//! flight, among the upstreams not yet tried for this request and not ejected — an upstream that
//! failed `max_fails` times in a row is skipped for `fail_timeout` (nginx's `max_fails` and
//! `fail_timeout`).
//!
//! Each shard keeps its own counts (no lock, no atomic): an upstream's failures are learned by
//! every shard on its own, and its load is this shard's share of it.
//!
//! Invariant: a choice is always an upstream not yet tried; when every untried upstream is
//! ejected, the one whose ejection ends first is tried anyway — a cluster that is down
//! entirely is probed at once and recovers with its first upstream back, rather than being
//! refused for a whole `fail_timeout`.

use std::time::{Duration, Instant};

/// The upstreams a request has been sent to: bit `i` for upstream `i` (at most
/// [`UPSTREAMS_MAX`]).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tried(u64);

/// The most upstreams one deployment may name (one bit each in [`Tried`]).
pub(crate) const UPSTREAMS_MAX: usize = 64;

impl Tried {
    pub(super) fn add(&mut self, peer: usize) {
        debug_assert!(peer < UPSTREAMS_MAX);
        self.0 |= 1 << peer;
    }

    fn contains(self, peer: usize) -> bool {
        self.0 & (1 << peer) != 0
    }
}

/// One upstream as this shard knows it.
#[derive(Debug, Default)]
struct Peer {
    /// Requests sent to it and not yet answered to the end.
    in_flight: u32,
    /// Failures since its last success.
    failures: u32,
    /// Skipped until then, after `max_fails` failures in a row.
    ejected_until: Option<Instant>,
}

/// The shard's view of its upstreams.
#[derive(Debug)]
pub(super) struct Balancer {
    peers: Vec<Peer>,
    max_fails: u32,
    fail_timeout: Duration,
    /// xorshift64 state, never zero.
    random: u64,
}

/// What a failure did to its upstream.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Counted; the upstream stays in use.
    Counted,
    /// This failure ejected it for `fail_timeout`.
    Ejected,
}

impl Balancer {
    pub(super) fn new(upstreams: usize, max_fails: u32, fail_timeout: Duration, seed: u64) -> Self {
        debug_assert!((1..=UPSTREAMS_MAX).contains(&upstreams));
        Balancer {
            peers: (0..upstreams).map(|_| Peer::default()).collect(),
            max_fails,
            fail_timeout,
            random: seed | 1,
        }
    }

    /// How many upstreams there are.
    pub(super) fn len(&self) -> usize {
        self.peers.len()
    }

    /// The upstream for the next try, or `None` when every upstream has been tried.
    pub(super) fn choose(&mut self, tried: Tried, now: Instant) -> Option<usize> {
        let available = |(index, peer): &(usize, &Peer)| {
            !tried.contains(*index) && peer.ejected_until.is_none_or(|until| until <= now)
        };
        let count = self.peers.iter().enumerate().filter(available).count();
        let chosen = match count {
            0 => self.first_back(tried),
            1 => self.nth_available(0, &available),
            _ => {
                let first = self.next_random() % count;
                // A second, different candidate: one of the other `count - 1`.
                let second = (first + 1 + self.next_random() % (count - 1)) % count;
                let (a, b) = (
                    self.nth_available(first, &available)?,
                    self.nth_available(second, &available)?,
                );
                Some(if self.peers[b].in_flight < self.peers[a].in_flight {
                    b
                } else {
                    a
                })
            }
        };
        debug_assert!(chosen.is_none_or(|peer| !tried.contains(peer)));
        chosen
    }

    fn nth_available(
        &self,
        n: usize,
        available: &impl Fn(&(usize, &Peer)) -> bool,
    ) -> Option<usize> {
        self.peers
            .iter()
            .enumerate()
            .filter(available)
            .nth(n)
            .map(|(index, _)| index)
    }

    /// The untried upstream whose ejection ends first.
    fn first_back(&self, tried: Tried) -> Option<usize> {
        self.peers
            .iter()
            .enumerate()
            .filter(|(index, _)| !tried.contains(*index))
            .min_by_key(|(_, peer)| peer.ejected_until)
            .map(|(index, _)| index)
    }

    fn next_random(&mut self) -> usize {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        // Truncation is fine: any bits of a random number are random.
        x as usize
    }

    pub(super) fn started(&mut self, peer: usize) {
        self.peers[peer].in_flight += 1;
    }

    pub(super) fn finished(&mut self, peer: usize) {
        debug_assert!(self.peers[peer].in_flight > 0, "finished more than started");
        self.peers[peer].in_flight = self.peers[peer].in_flight.saturating_sub(1);
    }

    /// The upstream answered: its run of failures ends, and so does any ejection.
    pub(super) fn succeeded(&mut self, peer: usize) {
        let peer = &mut self.peers[peer];
        peer.failures = 0;
        peer.ejected_until = None;
    }

    /// The upstream failed (could not be reached, or broke or timed out before its answer's
    /// head).
    pub(super) fn failed(&mut self, peer: usize, now: Instant) -> Verdict {
        let peer = &mut self.peers[peer];
        peer.failures += 1;
        if peer.failures < self.max_fails {
            return Verdict::Counted;
        }
        peer.failures = 0;
        peer.ejected_until = now.checked_add(self.fail_timeout);
        Verdict::Ejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(upstreams: usize) -> Balancer {
        Balancer::new(upstreams, 2, Duration::from_secs(10), 7)
    }

    #[test]
    fn each_try_goes_to_an_upstream_not_tried_yet_until_none_is_left() {
        let mut balancer = balancer(3);
        let now = Instant::now();
        let mut tried = Tried::default();
        let mut seen = Vec::new();
        while let Some(peer) = balancer.choose(tried, now) {
            tried.add(peer);
            seen.push(peer);
        }
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2]);
    }

    #[test]
    fn the_less_loaded_of_two_is_chosen() {
        let mut balancer = balancer(2);
        for _ in 0..5 {
            balancer.started(0);
        }
        let now = Instant::now();
        for _ in 0..20 {
            assert_eq!(balancer.choose(Tried::default(), now), Some(1));
        }
        for _ in 0..5 {
            balancer.finished(0);
        }
        balancer.started(1);
        assert_eq!(balancer.choose(Tried::default(), now), Some(0));
    }

    #[test]
    fn choices_spread_over_equally_loaded_upstreams() {
        let mut balancer = balancer(4);
        let now = Instant::now();
        let mut counts = [0; 4];
        for _ in 0..4000 {
            counts[balancer.choose(Tried::default(), now).unwrap()] += 1;
        }
        assert!(counts.iter().all(|&count| count > 600), "{counts:?}");
    }

    #[test]
    fn max_fails_in_a_row_eject_for_the_fail_timeout_and_a_success_resets_the_run() {
        let mut balancer = balancer(2);
        let now = Instant::now();
        assert_eq!(balancer.failed(0, now), Verdict::Counted);
        balancer.succeeded(0);
        assert_eq!(balancer.failed(0, now), Verdict::Counted);
        assert_eq!(balancer.failed(0, now), Verdict::Ejected);
        for _ in 0..20 {
            assert_eq!(balancer.choose(Tried::default(), now), Some(1));
        }
        let later = now + Duration::from_secs(10);
        let mut counts = [0; 2];
        for _ in 0..100 {
            counts[balancer.choose(Tried::default(), later).unwrap()] += 1;
        }
        assert!(counts[0] > 0, "back after the fail timeout: {counts:?}");
    }

    #[test]
    fn when_every_untried_upstream_is_ejected_the_first_back_is_tried() {
        let mut balancer = balancer(3);
        let now = Instant::now();
        for (peer, after) in [(0, 3), (1, 1), (2, 2)] {
            let at = now + Duration::from_secs(after);
            balancer.failed(peer, at);
            balancer.failed(peer, at);
        }
        assert_eq!(balancer.choose(Tried::default(), now), Some(1));
        let mut tried = Tried::default();
        tried.add(1);
        assert_eq!(balancer.choose(tried, now), Some(2));
    }
}
