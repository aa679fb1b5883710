//! The backend queue server: axum over a [`store::Store`].

pub mod auth;
pub mod body;
pub mod caller;
pub mod conn;
pub mod error;
pub mod execute;
pub mod freezes;
pub mod handlers;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod openapi;
pub mod policy;
pub mod receipts;
mod reload;
pub mod router;
pub mod serve;
pub mod server_key;
pub mod session_keys;
pub mod state;
pub mod store;
pub mod swap;
pub mod tls;
pub mod token_use;

pub use router::router;
pub use state::AppState;
