//! A batch's statements as one: data-modifying CTEs (`WITH w0 AS (…), …
//! last`), each statement's placeholders moved past those before it.

use super::unnest::{Bound, ORDER};
use crate::server::store::sql::Param;

/// `statements` (inserts) and then `main` as one statement: `WITH w0 AS
/// (s0), … main`. PostgreSQL parses, binds, starts and answers a batch's
/// writes once instead of once per table: that per-statement cost is
/// paid per transaction, and two replicas on one database make more,
/// smaller transactions. Anything but inserts before `main` is left as it
/// is (a data-modifying CTE runs whether or not it is read; a plain
/// `SELECT` one would not).
pub fn fold(
    mut statements: Vec<(String, Bound)>,
    main: Option<(String, Bound)>,
) -> Vec<(String, Bound)> {
    let inserts = statements.iter().all(|(sql, _)| sql.starts_with("INSERT "));
    statements.extend(main);
    if statements.len() < 2 || statements.len() > MERGE_MAX || !inserts {
        return statements;
    }
    let shapes = statements.iter().map(|(sql, b)| (sql.as_str(), b.len()));
    let text = with_ctes(shapes);
    let bounds = statements.into_iter().map(|(_, b)| b).collect();
    vec![(text, Bound::All(bounds))]
}

/// Most statements merged into one (and so the most shapes kept prepared
/// per connection: writes come in a handful of shapes this small). A batch
/// writes at most every table of [`ORDER`] and notifies.
pub const MERGE_MAX: usize = ORDER.len() + 1;

/// `WITH w0 AS (s0), w1 AS (s1), … sN`, each statement's `$n` moved past
/// the parameters of the ones before it. Data-modifying CTEs all run, in
/// one snapshot: fine for these inserts, none of which reads what another
/// writes (foreign keys are checked at the end of the statement).
pub fn merged(batch: &[(&str, Vec<Param>)]) -> (String, Vec<Param>) {
    let text = with_ctes(batch.iter().map(|(sql, values)| (*sql, values.len())));
    let params = batch.iter().flat_map(|(_, v)| v.iter().cloned()).collect();
    (text, params)
}

/// `WITH w0 AS (s0), … sN` from statements and how many placeholders
/// each has.
fn with_ctes<'a>(statements: impl Iterator<Item = (&'a str, usize)>) -> String {
    let mut parts = Vec::new();
    let mut before = 0;
    for (statement, placeholders) in statements {
        parts.push(shift_placeholders(statement, before));
        before += placeholders;
    }
    let last = parts.pop().unwrap_or_default();
    let ctes: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| format!("w{i} AS ({part})"))
        .collect();
    format!("WITH {} {last}", ctes.join(", "))
}

/// `$n` becomes `$(n + by)`. Our statements hold no `$` but placeholders
/// (checked by a test over every write statement).
fn shift_placeholders(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::postgres::unnest::per_table;
    use crate::server::store::sql;

    #[test]
    fn a_batch_folds_into_one_statement_its_notification_last() {
        let held = vec![
            (
                sql::ADD_NONCE.to_owned(),
                vec![Param::from("n"), Param::Int(1)],
            ),
            (
                sql::ADD_PARTICIPANT.to_owned(),
                vec![Param::from("alice"), Param::from("p1")],
            ),
        ];
        let notify = (
            "SELECT pg_notify($1, $2)".to_owned(),
            Bound::One(vec![Param::from("c"), Param::from("7;p1")]),
        );
        let out = fold(per_table(held), Some(notify));
        assert_eq!(out.len(), 1);
        let (text, bound) = &out[0];
        assert_eq!(
            text,
            "WITH w0 AS (INSERT INTO participants (principal, proposal_id) \
             SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING), \
             w1 AS (INSERT INTO nonces (nonce, seq) SELECT * FROM unnest($3::text[], $4::int8[])) \
             SELECT pg_notify($5, $6)"
        );
        assert_eq!(bound.refs().len(), 6);
        // Not inserts: left as they are.
        let update = (
            "UPDATE x SET a = $1".to_owned(),
            Bound::One(vec![Param::Int(1)]),
        );
        let nonce = (
            sql::ADD_NONCE.to_owned(),
            Bound::One(vec![Param::from("n"), Param::Int(1)]),
        );
        assert_eq!(fold(vec![update, nonce], None).len(), 2);
    }

    #[test]
    fn placeholders_move_past_the_statements_before() {
        assert_eq!(
            shift_placeholders("VALUES ($1, $2) ON CONFLICT DO UPDATE SET a = $2", 10),
            "VALUES ($11, $12) ON CONFLICT DO UPDATE SET a = $12"
        );
        assert_eq!(shift_placeholders("no params", 3), "no params");
        let batch = [
            (
                "INSERT INTO a (x, y) VALUES ($1, $2)",
                vec![Param::from("n"), Param::Int(1)],
            ),
            ("INSERT INTO b (z) VALUES ($1)", vec![Param::Int(2)]),
            (
                "INSERT INTO c (u, v) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                vec![Param::from("p"), Param::from("id")],
            ),
        ];
        let (text, params) = merged(&batch);
        assert_eq!(params.len(), 5);
        assert_eq!(
            text,
            "WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2)), \
             w1 AS (INSERT INTO b (z) VALUES ($3)) \
             INSERT INTO c (u, v) VALUES ($4, $5) ON CONFLICT DO NOTHING"
        );
    }
}
