//! The integration tests, one crate: each module is one suite (`api`,
//! `decisions`, `audit`, …), all sharing `common` — a real SQLite file or
//! PostgreSQL server, real HTTP on loopback, real OpenSSH keys, the real
//! binary. One crate links the library once instead of once per suite.
//!
//! Run one suite with a filter: `cargo test --test it -- decisions::`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test stops at what it did not expect"
)]

mod common;

mod amendments;
mod api;
mod audit;
mod bounded;
mod canonical;
mod certificates;
mod cli;
mod cli_errors;
mod connections;
mod console;
mod console_amend;
mod console_extend;
mod console_freeze;
mod console_revert;
mod containment;
mod crash;
mod decisions;
mod demo;
mod docs;
mod exec;
mod executors;
mod freezes;
mod gateway;
mod hardware_keys;
mod hooks;
mod judged;
mod layers;
mod mcp;
mod notify;
mod ocsf;
mod oidc;
mod openapi;
mod oversight;
mod postgres_chain_lock;
mod receipts;
mod replicas;
mod reverts;
mod risk;
mod sessions;
mod soak;
mod store_postgres;
mod store_sqlite;
mod tls;
mod tokens;
mod trust;
mod wal_checkpoints;
