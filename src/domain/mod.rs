//! Pure types and rules shared by client and server. No IO here.

pub mod amend;
pub mod digest;
pub mod freeze;
pub mod json;
pub mod limits;
pub mod machine;
pub mod oversight;
pub mod permissions;
pub mod policy;
pub mod records;
pub mod revert;
pub mod revision;
pub mod risk;
pub mod sample;
pub mod schema;
pub mod scope;
pub mod submission;
pub mod text;
pub mod time;
pub mod types;
