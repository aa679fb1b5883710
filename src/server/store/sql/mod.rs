//! The SQL both backends run, written once.
//!
//! Placeholders are `$1`, `$2`, … in order of first appearance: PostgreSQL
//! reads them natively and SQLite as named parameters numbered in that same
//! order, so one text serves both. Values always travel as [`Param`]s;
//! `format!` only splices the constant column lists below. Rows are read by
//! column name through [`SqlRow`], never by position.

use crate::server::store::StoreError;
use std::str::FromStr;

mod access;
mod journal;
mod outbox;
mod read;
mod records;

pub use access::*;
pub use journal::*;
pub use outbox::*;
pub use read::{Many, Read};
pub use records::*;

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    OptText(Option<String>),
    /// Bound as `INTEGER` in SQLite, as `int4` or `int8` (whichever the
    /// column is) in PostgreSQL.
    Int(i64),
    OptInt(Option<i64>),
    Real(f64),
    Bool(bool),
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Text(s.to_owned())
    }
}

impl From<String> for Param {
    fn from(s: String) -> Self {
        Param::Text(s)
    }
}

impl From<&String> for Param {
    fn from(s: &String) -> Self {
        Param::Text(s.clone())
    }
}

impl From<Option<String>> for Param {
    fn from(s: Option<String>) -> Self {
        Param::OptText(s)
    }
}

impl From<&Option<String>> for Param {
    fn from(s: &Option<String>) -> Self {
        Param::OptText(s.clone())
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<u32> for Param {
    fn from(v: u32) -> Self {
        Param::Int(i64::from(v))
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Param::OptInt(v)
    }
}

impl From<f64> for Param {
    fn from(v: f64) -> Self {
        Param::Real(v)
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

/// A parameter list: `params![a, b, c]` without the macro.
pub fn params<const N: usize>(values: [Param; N]) -> Vec<Param> {
    values.into()
}

/// A result row of either backend, read by column name.
pub trait SqlRow {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn real(&self, col: &str) -> Result<f64, StoreError>;
    fn flag(&self, col: &str) -> Result<bool, StoreError>;
}

/// A stored value that does not read back: the database was changed by
/// something other than this program.
pub fn bad_column(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("column {col}: {e}"))
}

fn parsed<T: FromStr>(r: &dyn SqlRow, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    T::from_str(&r.text(col)?).map_err(|e| bad_column(col, e))
}

fn json<T: serde::de::DeserializeOwned>(r: &dyn SqlRow, col: &str) -> Result<T, StoreError> {
    serde_json::from_str(&r.text(col)?).map_err(|e| bad_column(col, e))
}

fn opt_json<T: serde::de::DeserializeOwned>(
    r: &dyn SqlRow,
    col: &str,
) -> Result<Option<T>, StoreError> {
    r.opt_text(col)?
        .map(|t| serde_json::from_str(&t).map_err(|e| bad_column(col, e)))
        .transpose()
}

fn small(r: &dyn SqlRow, col: &str) -> Result<u32, StoreError> {
    u32::try_from(r.int(col)?).map_err(|e| bad_column(col, e))
}

fn to_json(v: &impl serde::Serialize) -> Result<Param, StoreError> {
    Ok(Param::Text(serde_json::to_string(v)?))
}

/// Where the two databases' SQL differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Row locks: PostgreSQL's replicas need them; SQLite has one writer.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// The strings of the JSON array bound to `placeholder`, as rows
    /// (for `IN (…)`): one statement for a list of any length.
    pub fn json_texts(self, placeholder: &str) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value FROM json_each({placeholder})"),
            Dialect::Postgres => {
                // Bound as text, then parsed: a parameter typed jsonb
                // would want jsonb's binary format.
                format!(
                    "SELECT jsonb_array_elements_text(CAST(CAST({placeholder} AS text) AS jsonb))"
                )
            }
        }
    }

    /// SQLite plans without statistics and prefers an equality on `status`
    /// (most rows) to a range on a deadline (few): where that matters the
    /// index is named. PostgreSQL plans by its statistics.
    pub fn indexed_by(self, index: &str) -> String {
        match self {
            Dialect::Sqlite => format!(" INDEXED BY {index}"),
            Dialect::Postgres => String::new(),
        }
    }

    /// Rows another replica's dispatcher holds are skipped, not waited for.
    pub fn skip_locked(self, of: &str) -> String {
        match self {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres if of.is_empty() => " FOR UPDATE SKIP LOCKED".into(),
            Dialect::Postgres => format!(" FOR UPDATE OF {of} SKIP LOCKED"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite numbers `$N` parameters in order of first appearance, so one
    /// text serves both databases only if `$1, $2, …` first appear in order.
    fn first_appearances_in_order(sql: &str) -> bool {
        let mut next = 1;
        let bytes = sql.as_bytes();
        for (i, _) in sql.match_indices('$') {
            let digits: String = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|&b| b as char)
                .collect();
            let Ok(n) = digits.parse::<usize>() else {
                continue;
            };
            if n == next {
                next += 1;
            } else if n > next {
                return false;
            }
        }
        true
    }

    #[test]
    fn every_statement_numbers_its_parameters_in_order() {
        let lock = Dialect::Postgres.for_update();
        let all = [
            UPSERT_ALERT.to_owned(),
            alert_by_id_sql(),
            alert_by_external_sql(lock),
            UPSERT_PROPOSAL.to_owned(),
            proposal_by_id_sql(lock),
            proposals_of_sql(),
            proposals_by_external_sql(),
            ADD_PARTICIPANT.to_owned(),
            due_sql(Dialect::Sqlite),
            due_sql(Dialect::Postgres),
            queue_sql(Dialect::Sqlite),
            queue_sql(Dialect::Postgres),
            APPEND.to_owned(),
            AUDIT_AFTER.to_owned(),
            oversight_sql(),
            PROPOSALS_BY_AGENT.to_owned(),
            NONCE_SEEN.to_owned(),
            NONCES_SEEN.to_owned(),
            alerts_by_ids_sql(),
            alerts_by_externals_sql(lock),
            proposals_by_ids_sql(lock),
            proposals_by_externals_sql(),
            ADD_NONCE.to_owned(),
            ADD_ANNOTATION.to_owned(),
            annotations_of_sql(),
            ADD_TOKEN.to_owned(),
            token_by_hash_sql(),
            REVOKE_TOKEN.to_owned(),
            EXPIRE_TOKEN_BY.to_owned(),
            TOUCH_TOKEN.to_owned(),
            SWEEP_CHALLENGES.to_owned(),
            ADD_CHALLENGE.to_owned(),
            TAKE_CHALLENGE.to_owned(),
            SWEEP_SESSIONS.to_owned(),
            ADD_SESSION.to_owned(),
            SESSION_PRINCIPAL.to_owned(),
            ADD_OUTBOX.to_owned(),
            outbox_unfanned_sql(""),
            mark_fanned_sql(Dialect::Sqlite),
            mark_fanned_sql(Dialect::Postgres),
            ADD_DELIVERY.to_owned(),
            deliveries_due_sql(""),
            LEASE_DELIVERY.to_owned(),
            FINISH_DELIVERY.to_owned(),
            DISABLE_SINK.to_owned(),
            expiring_sql(Dialect::Sqlite, PROPOSAL_COLS),
            expiring_sql(Dialect::Postgres, PROPOSAL_COLS),
            PRUNE_DELIVERIES.to_owned(),
            PRUNE_OUTBOX.to_owned(),
        ];
        for sql in all {
            assert!(first_appearances_in_order(&sql), "{sql}");
        }
        assert!(!first_appearances_in_order("SET a = $2 WHERE b = $1"));
    }
}
