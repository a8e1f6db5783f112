//! Deployments and applications: what users write and how it is bound to route prefixes.
//!
//! Invariant: an [`Application`] is shareable across threads only as a factory; each shard
//! calls the factory on its own core to build its own replica, which may then hold `Rc`/
//! `RefCell` state and is never touched by another core.

pub(crate) mod admission;
mod application;
pub(crate) mod handle;
pub(crate) mod health;
pub(crate) mod load;
pub(crate) mod pulse;

pub use admission::Overload;
pub use application::{Application, LocalReplica};
pub use handle::DeploymentHandle;
