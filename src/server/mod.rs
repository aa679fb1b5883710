//! The backend queue server.

pub mod store;
