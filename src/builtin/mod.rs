//! Deployments that come with ringserve, for the edge server's config files
//! (`import_path: ringserve.respond:Respond`, `ringserve.static:Files`,
//! `ringserve.proxy:Upstream`) and for library users alike.
//!
//! Invariant: each is an ordinary [`Deployment`](crate::Deployment) built from plain,
//! validated arguments: whatever could be wrong with its arguments is an error when it is
//! built, before the server starts, never an answer a client sees.

pub mod files;
pub mod proxy;
pub mod respond;

pub use files::{Files, FilesArgs};
pub use proxy::{Upstream, UpstreamArgs, Upstreams};
pub use respond::{Respond, RespondArgs};
