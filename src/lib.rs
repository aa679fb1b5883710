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
pub mod gateway;
pub mod mcp;
pub mod receipt;
pub mod server;
pub mod signing;
pub mod tui;
pub mod workflow;

/// Every binary that links this library (the server, tests, benchmarks)
/// allocates with mimalloc: under load glibc's allocator took about a third
/// of the PostgreSQL writer's time (measured with perf, `cargo bench
/// --bench replicas`), on the path every write waits behind.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
