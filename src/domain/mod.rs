//! Pure types and rules shared by client and server. No IO here.

pub mod digest;
pub mod machine;
pub mod policy;
pub mod submission;
pub mod types;
