//! Statement shapes. The held writes of a batch go as one statement per
//! table: every write of a batch inserts into the same few tables with the
//! same statements, and sent one by one, PostgreSQL plans, starts and ends
//! each (most of its time per write). Each table's rows go as columns of
//! arrays through `unnest`, so the statement text does not depend on how
//! many rows there are (it stays prepared); `merge` then folds the tables'
//! statements into one.
//!
//! `INSERT INTO t (c1, …, ck) VALUES ($1, …, $k) tail` becomes
//! `INSERT INTO t (c1, …, ck) SELECT * FROM unnest($1::T1[], …) tail`, with
//! each `$n` of the tail (an upsert's `DO UPDATE SET c = $n`) read as
//! `EXCLUDED.cn`. An upsert keeps only the last row per id: a second row
//! for the same key in one statement is an error in PostgreSQL, and the
//! last version is what running them in order leaves (the columns an
//! upsert does not update are the record's identity, the same in every
//! version).

use crate::server::store::sql::{self, Param};
use bytes::BytesMut;
use std::error::Error;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// Tables in the order their rows must go (a row's foreign keys point to
/// tables before it).
pub(super) const ORDER: [&str; 8] = [
    sql::UPSERT_ALERT,
    sql::APPEND,
    sql::UPSERT_PROPOSAL,
    sql::ADD_PARTICIPANT,
    sql::ADD_OUTBOX,
    sql::ADD_DELIVERY,
    sql::ADD_ANNOTATION,
    sql::ADD_NONCE,
];

/// One column of a table's rows.
#[derive(Debug)]
pub enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

impl Column {
    fn of(first: &Param) -> Self {
        match first {
            Param::Text(_) | Param::OptText(_) => Column::Text(Vec::new()),
            Param::Int(_) | Param::OptInt(_) => Column::Int(Vec::new()),
            Param::Real(_) => Column::Real(Vec::new()),
            Param::Bool(_) => Column::Bool(Vec::new()),
        }
    }

    fn array_type(&self) -> &'static str {
        match self {
            Column::Text(_) => "text[]",
            Column::Int(_) => "int8[]",
            Column::Real(_) => "float8[]",
            Column::Bool(_) => "bool[]",
        }
    }

    /// Adds a value; `false` if it is not of this column's kind.
    fn push(&mut self, value: Param) -> bool {
        match (self, value) {
            (Column::Text(c), Param::Text(v)) => c.push(Some(v)),
            (Column::Text(c), Param::OptText(v)) => c.push(v),
            (Column::Int(c), Param::Int(v)) => c.push(Some(v)),
            (Column::Int(c), Param::OptInt(v)) => c.push(v),
            (Column::Real(c), Param::Real(v)) => c.push(Some(v)),
            (Column::Bool(c), Param::Bool(v)) => c.push(Some(v)),
            _ => return false,
        }
        true
    }
}

impl ToSql for Column {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Column::Text(v) => v.to_sql(ty, out),
            Column::Int(v) => v.to_sql(ty, out),
            Column::Real(v) => v.to_sql(ty, out),
            Column::Bool(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, which delegates to the vector.
        true
    }

    to_sql_checked!();
}

/// A statement ready to send: its values one per placeholder, one array
/// per column, or the values of statements folded into one, in order.
pub enum Bound {
    One(Vec<Param>),
    Many(Vec<Column>),
    All(Vec<Bound>),
}

impl Bound {
    pub fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut out = Vec::with_capacity(self.len());
        self.push_refs(&mut out);
        out
    }

    fn push_refs<'a>(&'a self, out: &mut Vec<&'a (dyn ToSql + Sync)>) {
        match self {
            Bound::One(values) => out.extend(values.iter().map(|p| p as &(dyn ToSql + Sync))),
            Bound::Many(columns) => out.extend(columns.iter().map(|c| c as &(dyn ToSql + Sync))),
            Bound::All(parts) => parts.iter().for_each(|b| b.push_refs(out)),
        }
    }

    /// How many placeholders it fills.
    pub(super) fn len(&self) -> usize {
        match self {
            Bound::One(values) => values.len(),
            Bound::Many(columns) => columns.len(),
            Bound::All(parts) => parts.iter().map(Bound::len).sum(),
        }
    }
}

/// The held statements as one per table when every one of them is a
/// known insert; otherwise as they are, in order.
pub fn per_table(held: Vec<(String, Vec<Param>)>) -> Vec<(String, Bound)> {
    let rank = |sql: &str| ORDER.iter().position(|s| *s == sql);
    if held.len() < 2 || held.iter().any(|(sql, _)| rank(sql).is_none()) {
        return as_they_are(held);
    }
    let mut tables: Vec<Vec<Vec<Param>>> = vec![Vec::new(); ORDER.len()];
    for (sql, values) in held {
        if let Some(at) = rank(&sql) {
            tables[at].push(values);
        }
    }
    let mut out = Vec::new();
    for (statement, rows) in ORDER.iter().zip(tables) {
        // Arrays for one row too: the statement a batch folds into then
        // depends only on which tables it writes, a handful of shapes.
        if rows.is_empty() {
            continue;
        }
        match many(statement, rows) {
            Ok(done) => out.push(done),
            Err(rows) => out.extend(
                rows.into_iter()
                    .map(|r| ((*statement).to_owned(), Bound::One(r))),
            ),
        }
    }
    out
}

fn as_they_are(held: Vec<(String, Vec<Param>)>) -> Vec<(String, Bound)> {
    held.into_iter().map(|(s, v)| (s, Bound::One(v))).collect()
}

/// `rows` of `statement` as one; the rows back if the statement is not of
/// the shape this rewrites or a value is not of its column's kind.
fn many(statement: &str, rows: Vec<Vec<Param>>) -> Result<(String, Bound), Vec<Vec<Param>>> {
    let Some((sql, columns)) = unnest_sql(statement, &rows[0]) else {
        return Err(rows);
    };
    let rows = if sql.contains(" DO UPDATE ") {
        last_per_key(rows)
    } else {
        rows
    };
    let mut columns = columns;
    for row in &rows {
        if row.len() != columns.len() {
            return Err(rows);
        }
    }
    for row in rows.iter().cloned() {
        for (column, value) in columns.iter_mut().zip(row) {
            if !column.push(value) {
                return Err(rows);
            }
        }
    }
    Ok((sql, Bound::Many(columns)))
}

/// The last row for each first value (the id), in first-seen order.
fn last_per_key(rows: Vec<Vec<Param>>) -> Vec<Vec<Param>> {
    // Ids are text; an alert of many proposals puts hundreds in a batch.
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out: Vec<Vec<Param>> = Vec::with_capacity(rows.len());
    for row in rows {
        let key = match row.first() {
            Some(Param::Text(id)) => id.clone(),
            other => format!("{other:?}"),
        };
        match at.get(&key) {
            Some(&i) => out[i] = row,
            None => {
                at.insert(key, out.len());
                out.push(row);
            }
        }
    }
    out
}

/// The `unnest` form of `INSERT INTO t (cols) VALUES ($1, …, $k) tail`,
/// typed by a first row, with empty columns for the values.
fn unnest_sql(statement: &str, first: &[Param]) -> Option<(String, Vec<Column>)> {
    let (head, rest) = statement.split_once(" VALUES (")?;
    let (values, tail) = rest.split_once(')')?;
    let names: Vec<&str> = head
        .split_once('(')?
        .1
        .trim_end()
        .strip_suffix(')')?
        .split(',')
        .map(str::trim)
        .collect();
    let in_order: Vec<String> = (1..=names.len()).map(|n| format!("${n}")).collect();
    let given: Vec<&str> = values.split(',').map(str::trim).collect();
    if given != in_order || first.len() != names.len() {
        return None;
    }
    let columns: Vec<Column> = first.iter().map(Column::of).collect();
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", i + 1, c.array_type()))
        .collect();
    let tail = excluded(tail, &names)?;
    Some((
        format!("{head} SELECT * FROM unnest({}){tail}", arrays.join(", ")),
        columns,
    ))
}

/// `$n` in an upsert's tail as `EXCLUDED.<column n>`.
fn excluded(tail: &str, names: &[&str]) -> Option<String> {
    let mut out = String::with_capacity(tail.len() + 64);
    let mut rest = tail;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: usize = rest[..digits].parse().ok()?;
        out.push_str("EXCLUDED.");
        out.push_str(names.get(n.checked_sub(1)?)?);
        rest = &rest[digits..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upsert_becomes_unnest_with_excluded() {
        let (sql, columns) = unnest_sql(
            "INSERT INTO t (id, a, n) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET a = $2, n = $3",
            &[Param::from("x"), Param::OptText(None), Param::Int(1)],
        )
        .unwrap();
        assert_eq!(
            sql,
            "INSERT INTO t (id, a, n) SELECT * FROM unnest($1::text[], $2::text[], $3::int8[]) \
             ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a, n = EXCLUDED.n"
        );
        assert_eq!(columns.len(), 3);
    }

    #[test]
    fn other_shapes_are_left_alone() {
        // A literal among the values, or placeholders out of order.
        assert!(unnest_sql("INSERT INTO d (a, b) VALUES ($1, 'x')", &[Param::Int(1)]).is_none());
        assert!(
            unnest_sql(
                "INSERT INTO d (a, b) VALUES ($2, $1)",
                &[Param::Int(1), Param::Int(2)]
            )
            .is_none()
        );
        let held = vec![
            ("UPDATE x SET a = $1".to_owned(), vec![Param::Int(1)]),
            (
                sql::ADD_NONCE.to_owned(),
                vec![Param::from("n"), Param::Int(1)],
            ),
        ];
        let out = per_table(held);
        assert_eq!(out.len(), 2, "not all known: sent as they are");
        assert_eq!(out[0].0, "UPDATE x SET a = $1");
    }

    #[test]
    fn rows_go_per_table_in_key_order_and_an_upsert_keeps_the_last() {
        let nonce = |n: &str, seq| {
            (
                sql::ADD_NONCE.to_owned(),
                vec![Param::from(n), Param::Int(seq)],
            )
        };
        let participant = |who: &str, p: &str| {
            (
                sql::ADD_PARTICIPANT.to_owned(),
                vec![Param::from(who), Param::from(p)],
            )
        };
        let held = vec![nonce("a", 1), participant("alice", "p1"), nonce("b", 2)];
        let out = per_table(held);
        assert_eq!(out.len(), 2);
        assert!(
            out[0].0.starts_with("INSERT INTO participants"),
            "{}",
            out[0].0
        );
        assert!(
            out[1].0.contains("unnest($1::text[], $2::int8[])"),
            "{}",
            out[1].0
        );
        let Bound::Many(columns) = &out[1].1 else {
            panic!("many")
        };
        let Column::Text(nonces) = &columns[0] else {
            panic!("text")
        };
        assert_eq!(nonces, &[Some("a".to_owned()), Some("b".to_owned())]);
        let rows = last_per_key(vec![
            vec![Param::from("p1"), Param::Int(1)],
            vec![Param::from("p2"), Param::Int(1)],
            vec![Param::from("p1"), Param::Int(2)],
        ]);
        assert_eq!(
            rows,
            vec![
                vec![Param::from("p1"), Param::Int(2)],
                vec![Param::from("p2"), Param::Int(1)]
            ]
        );
    }

    #[test]
    fn every_write_statement_of_a_batch_has_the_shape() {
        for statement in ORDER {
            let names = statement
                .split_once('(')
                .unwrap()
                .1
                .split_once(')')
                .unwrap()
                .0;
            let first: Vec<Param> = names.split(',').map(|_| Param::from("v")).collect();
            assert!(unnest_sql(statement, &first).is_some(), "{statement}");
        }
    }

    #[test]
    fn write_statements_hold_no_dollar_but_placeholders() {
        let fan_out = sql::mark_fanned_sql(sql::Dialect::Postgres);
        let others = [fan_out.as_str()];
        for statement in ORDER.into_iter().chain(others) {
            for (i, _) in statement.match_indices('$') {
                let next = statement[i + 1..].chars().next();
                assert!(next.is_some_and(|c| c.is_ascii_digit()), "{statement}");
            }
            let literals = statement.split('\'').skip(1).step_by(2);
            for literal in literals {
                assert!(!literal.contains('$'), "a literal holds a '$': {statement}");
            }
        }
    }
}
