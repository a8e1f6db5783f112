//! Cross-core forwarding: a request accepted on a shard without a replica of its application
//! (or, spilling over, without a free turn on its own) is served by a replica on another shard,
//! and the response — streamed ones included — comes back to the shard that owns the
//! connection.
//!
//! Invariant: shards talk only through single-producer single-consumer channels built before
//! any shard starts: no locks. What crosses is owned and `Send`; everything else — the waiting
//! calls, the calls being served, their wakers — stays on its own shard. A link's capacity
//! bounds what is in flight between two shards, and each streamed response has its own window
//! of chunk credits: a slow reader holds back only its own stream, never the link.
//!
//! Layout, lowest first:
//! - `protocol`: what travels over a link (`Message`, `Carried`).
//! - `links`: the link mesh, which pairs of shards get one, and this shard's sending ends.
//! - `choice`: the power of two choices between an application's hosts.
//! - `origin`: the shard that forwards a call and awaits its response.
//! - `serving`: the shard that runs the replica for another and answers it.
//! - `forwarder`: a generation's [`Forwarder`] on one shard, joining both sides, and its
//!   receive loops. Each generation (`shard::generation`) has its own links: a call sent for
//!   one is served by the same generation's replica on the other shard.

mod choice;
mod forwarder;
mod links;
mod origin;
mod protocol;
mod serving;

pub(crate) use forwarder::Forwarder;
pub(crate) use links::{Links, build_links, spills_over};
pub(crate) use protocol::Carried;
