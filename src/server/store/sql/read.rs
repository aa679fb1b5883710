//! A read a write starts with, as a batching writer runs it ahead.

use super::Param;

/// A query a write starts with. Each write names its reads ([`reads_of`])
/// and runs exactly those, so a writer may run the reads of many writes
/// in one flight ahead of them and hand each its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub sql: String,
    pub params: Vec<Param>,
    /// The same read for many keys in one statement, where the backend
    /// has one (PostgreSQL: its parameters as arrays).
    pub many: Option<Many>,
}

/// A read's form for many keys: its SQL takes one array per parameter of
/// the read, and each row it returns names, in the `keys` columns, the
/// parameters (text) of the read it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Many {
    pub sql: String,
    pub keys: &'static [&'static str],
}
