//! ringserve's own io_uring data path under the glommio shard: one ring per shard for the
//! listener and the connections, driven by a glommio task.
//!
//! - `ring`: the ring, its operations and the ownership of their buffers, and the driver that
//!   submits and reaps once per turn and parks through glommio.
//! - `stream`: a connection's socket over the ring (the connection loop's `Transport`).
//! - `accept`: multishot accept on the shard's listener.

pub(crate) mod accept;
pub(crate) mod ring;
pub(crate) mod stream;
#[cfg(test)]
mod tests;
