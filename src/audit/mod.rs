//! The tamper-evident audit log.

pub mod chain;
pub mod checkpoint;
pub mod export;
pub mod requirements;
pub mod verify;
