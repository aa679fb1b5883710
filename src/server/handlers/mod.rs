//! One file per resource.

pub mod alerts;
pub mod audit;
pub mod ops;
pub mod proposals;
pub mod queue;
mod wait;
