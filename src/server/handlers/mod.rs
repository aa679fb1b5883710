//! One file per resource.

pub mod alerts;
mod amend;
pub mod audit;
pub mod decisions;
pub mod freezes;
pub mod ops;
pub mod oversight;
pub mod proposals;
pub mod queue;
pub mod revert;
pub mod session;
mod wait;
