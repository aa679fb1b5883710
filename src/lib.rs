//! countersign: a human approval gate for AI-proposed security actions.
//!
//! The crate is one binary (`src/main.rs`) and this library, so tests and
//! benchmarks reach every part.

pub mod api;
pub mod audit;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod domain;
pub mod mcp;
pub mod server;
pub mod signing;
pub mod tui;
