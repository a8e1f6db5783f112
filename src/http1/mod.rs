//! The HTTP/1.1 codec: request heads in, body framing, responses out.
//!
//! Invariant: nothing here does socket I/O or knows about glommio. Every function works on
//! byte slices and buffers handed to it, so the codec is tested on literal bytes, split at
//! every offset, and reused unchanged by any transport.

pub mod body;
pub mod encode;
pub mod head;
pub mod host;
pub mod parse;
pub mod reject;
