//! [`Tx`] over a rusqlite connection: cached prepared statements, rows read
//! by column name.

use crate::server::store::SinkRoute;
use crate::server::store::StoreError;
use crate::server::store::sql::{Dialect, Param, SqlRow, bad_column};
use crate::server::store::tx::{RowMap, Tx};
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, Row, ToSql};
use std::sync::Arc;

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Text(s) => ToSqlOutput::from(s.as_str()),
            Param::OptText(s) => match s {
                Some(s) => ToSqlOutput::from(s.as_str()),
                None => ToSqlOutput::Owned(Value::Null),
            },
            Param::Int(v) => ToSqlOutput::from(*v),
            Param::OptInt(v) => ToSqlOutput::Owned(v.map_or(Value::Null, Value::Integer)),
            Param::Real(v) => ToSqlOutput::from(*v),
            Param::Bool(v) => ToSqlOutput::from(*v),
        })
    }
}

impl SqlRow for Row<'_> {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.get(col).map_err(|e| bad_column(col, e))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.get(col).map_err(|e| bad_column(col, e))
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.get(col).map_err(|e| bad_column(col, e))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.get(col).map_err(|e| bad_column(col, e))
    }
    fn real(&self, col: &str) -> Result<f64, StoreError> {
        self.get(col).map_err(|e| bad_column(col, e))
    }
    fn flag(&self, col: &str) -> Result<bool, StoreError> {
        self.get(col).map_err(|e| bad_column(col, e))
    }
}

/// A connection inside the writer's transaction, or a reader's. Held
/// mutably, so that it is `Send` as [`Tx`] asks (a connection is not
/// `Sync`); its futures never wait and run where they are made.
pub struct SqliteTx<'c> {
    conn: &'c mut Connection,
    /// Where this transaction's events go ([`Tx::routes`]).
    routes: Option<Arc<Vec<SinkRoute>>>,
}

impl<'c> SqliteTx<'c> {
    pub fn new(conn: &'c mut Connection) -> Self {
        SqliteTx { conn, routes: None }
    }

    /// A write handing its events to the sinks of `routes`.
    pub fn routing(conn: &'c mut Connection, routes: Option<Arc<Vec<SinkRoute>>>) -> Self {
        SqliteTx { conn, routes }
    }
}

impl Tx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn routes(&self) -> Option<&[SinkRoute]> {
        self.routes.as_deref().map(Vec::as_slice)
    }

    async fn query<T>(
        &mut self,
        sql: &str,
        params: &[Param],
        map: RowMap<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(map(r)?);
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        let n = self
            .conn
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(params))?;
        Ok(n as u64)
    }
}
