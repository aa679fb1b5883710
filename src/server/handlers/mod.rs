//! One file per resource.

pub mod alerts;
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
