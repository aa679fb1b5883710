//! Our values as PostgreSQL parameters, and rows read by column name with
//! the fallible accessor, never `Row::get` (which panics on a type
//! mismatch).

use crate::server::store::StoreError;
use crate::server::store::sql::{Param, SqlRow, bad_column};
use bytes::BytesMut;
use std::error::Error;
use tokio_postgres::Row;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

type SqlResult = Result<IsNull, Box<dyn Error + Sync + Send>>;

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> SqlResult {
        match self {
            Param::Text(s) => s.to_sql(ty, out),
            Param::OptText(s) => s.to_sql(ty, out),
            Param::Int(v) => int_to_sql(*v, ty, out),
            Param::OptInt(Some(v)) => int_to_sql(*v, ty, out),
            Param::OptInt(None) => Ok(IsNull::Yes),
            Param::Real(v) => v.to_sql(ty, out),
            Param::Bool(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, which delegates to the inner type.
        true
    }

    to_sql_checked!();
}

/// Our integers are i64; the schema's INTEGER columns are int4.
fn int_to_sql(v: i64, ty: &Type, out: &mut BytesMut) -> SqlResult {
    if *ty == Type::INT4 {
        i32::try_from(v)?.to_sql(ty, out)
    } else {
        v.to_sql(ty, out)
    }
}

impl SqlRow for Row {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.try_get(col).map_err(|e| bad_column(col, e))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.try_get(col).map_err(|e| bad_column(col, e))
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        match self.try_get::<_, i64>(col) {
            Ok(v) => Ok(v),
            Err(_) => self
                .try_get::<_, i32>(col)
                .map(i64::from)
                .map_err(|e| bad_column(col, e)),
        }
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        match self.try_get::<_, Option<i64>>(col) {
            Ok(v) => Ok(v),
            Err(_) => self
                .try_get::<_, Option<i32>>(col)
                .map(|v| v.map(i64::from))
                .map_err(|e| bad_column(col, e)),
        }
    }
    fn real(&self, col: &str) -> Result<f64, StoreError> {
        self.try_get(col).map_err(|e| bad_column(col, e))
    }
    fn flag(&self, col: &str) -> Result<bool, StoreError> {
        self.try_get(col).map_err(|e| bad_column(col, e))
    }
}
