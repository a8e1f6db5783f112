//! ringserve's own io_uring data path under the glommio shard: one ring per shard for the
//! listener and the connections, the executor's park hook: polled on every turn of glommio's
//! reactor and the one place the shard sleeps.
//!
//! - `ring`: the ring, its operations and the ownership of their buffers, and the park hook
//!   that submits and reaps once per turn and sleeps for glommio.
//! - `stream`: a connection's socket over the ring (the connection loop's `Transport`).
//! - `accept`: multishot accept on the shard's listener.
//! - `provided`: the buffer ring idle connections receive into, so they hold no buffer.

pub(crate) mod accept;
pub(crate) mod provided;
pub(crate) mod ring;
pub(crate) mod stream;
#[cfg(test)]
mod tests;
