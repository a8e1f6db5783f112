//! The shard's keep-alive connections to its upstreams, and the lease a request holds on its
//! upstream while it is answered.
//!
//! The most recently used idle connection is taken first (it is the least likely to have been
//! closed by the upstream), the oldest is closed when an upstream has `idle_max` waiting, and
//! one idle longer than `idle_timeout` is closed instead of used. A connection is checked with
//! one non-blocking peek before it carries a request that could not be sent again (one with a
//! body, or not idempotent), so one the upstream closed while it waited is never sent such a
//! request; a request that can be sent again saves the system call, and goes again on another
//! connection if the upstream had closed this one.
//!
//! Invariant: the pool and the balancer are the shard's own (`Rc<RefCell<_>>`, never borrowed
//! across an await); a [`Lease`] counts its request in flight from the moment its upstream is
//! chosen until the answer's body is read to its end or dropped.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::balance::Balancer;
use super::connection::UpstreamConnection;

/// What a shard knows of its upstreams: their load and failures, and its idle connections.
pub(super) struct ShardUpstreams {
    pub(super) balancer: Balancer,
    pool: Pool,
}

impl ShardUpstreams {
    pub(super) fn new(balancer: Balancer, idle_max: usize, idle_timeout: Duration) -> Self {
        let upstreams = balancer.len();
        ShardUpstreams {
            balancer,
            pool: Pool {
                idle: (0..upstreams).map(|_| VecDeque::new()).collect(),
                idle_max,
                idle_timeout,
            },
        }
    }

    /// An idle connection to `peer`, if there is one: checked with a peek first when
    /// `checked` (a request that could not be sent again if the upstream had closed it).
    pub(super) fn take_idle(
        &mut self,
        peer: usize,
        now: Instant,
        checked: bool,
    ) -> Option<UpstreamConnection> {
        self.pool.take(peer, now, checked)
    }
}

struct Pool {
    idle: Vec<VecDeque<Idle>>,
    idle_max: usize,
    idle_timeout: Duration,
}

struct Idle {
    connection: UpstreamConnection,
    since: Instant,
}

impl Pool {
    fn take(&mut self, peer: usize, now: Instant, checked: bool) -> Option<UpstreamConnection> {
        let idle = &mut self.idle[peer];
        while let Some(newest) = idle.pop_back() {
            if now.saturating_duration_since(newest.since) >= self.idle_timeout {
                // Every other one waited longer still.
                idle.clear();
                return None;
            }
            if !(checked && newest.connection.went_stale()) {
                let mut connection = newest.connection;
                connection.reused = true;
                return Some(connection);
            }
        }
        None
    }

    fn put(&mut self, peer: usize, connection: UpstreamConnection, now: Instant) {
        debug_assert!(
            connection.is_drained(),
            "a pooled connection has unread bytes"
        );
        if self.idle_max == 0 {
            return;
        }
        let idle = &mut self.idle[peer];
        while idle
            .front()
            .is_some_and(|oldest| now.saturating_duration_since(oldest.since) >= self.idle_timeout)
        {
            idle.pop_front();
        }
        if idle.len() == self.idle_max {
            idle.pop_front();
        }
        idle.push_back(Idle {
            connection,
            since: now,
        });
    }
}

/// A request's hold on the upstream it was sent to: counted in flight while it lives.
pub(super) struct Lease {
    upstreams: Rc<RefCell<ShardUpstreams>>,
    pub(super) peer: usize,
}

impl Lease {
    pub(super) fn new(upstreams: &Rc<RefCell<ShardUpstreams>>, peer: usize) -> Self {
        upstreams.borrow_mut().balancer.started(peer);
        Lease {
            upstreams: upstreams.clone(),
            peer,
        }
    }

    /// The answer was read to its end on a connection the upstream keeps open: it waits for
    /// the next request.
    pub(super) fn keep(&self, connection: UpstreamConnection) {
        if connection.is_drained() {
            self.upstreams
                .borrow_mut()
                .pool
                .put(self.peer, connection, Instant::now());
        }
    }

    /// The upstream answered (a whole head arrived).
    pub(super) fn succeeded(&self) {
        self.upstreams.borrow_mut().balancer.succeeded(self.peer);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.upstreams.borrow_mut().balancer.finished(self.peer);
    }
}
