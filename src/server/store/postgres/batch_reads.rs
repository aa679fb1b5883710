//! A batch's reads in few statements. The writes of a batch mostly start
//! with the same reads for different keys (a decision: its nonce and its
//! proposal); sent one by one, PostgreSQL starts and ends a statement per
//! write for a row or none. Reads of one shape with a form for many keys
//! ([`Many`]) go as one statement over arrays of their keys, and each row
//! goes back to the read whose key it names.
//!
//! Two reads of one key: the first is answered, the second is not read
//! ahead (`None`), so it runs when its write asks, after the writes before
//! it. (Its write shares that key with an earlier one anyway, and reads
//! again.)

use super::unnest::{Bound, Column};
use crate::server::store::StoreError;
use crate::server::store::sql::{Many, Param, Read};
use std::collections::HashMap;
use tokio_postgres::Row;

/// The statements for a batch's reads, and which reads each answers.
pub struct Gathered {
    pub statements: Vec<(String, Bound)>,
    answers: Vec<Answers>,
    reads: usize,
}

enum Answers {
    /// Every row, to this read.
    One(usize),
    /// Each row to the read whose key it names, by key columns.
    Many {
        keys: &'static [&'static str],
        first: HashMap<Vec<String>, usize>,
    },
}

/// The reads' statements: a shape read for two keys or more as one.
pub fn gather(reads: &[Read]) -> Gathered {
    // Shapes in the order first seen, each with its reads.
    let mut shapes: Vec<(&Many, Vec<usize>)> = Vec::new();
    let mut alone = Vec::new();
    for (i, read) in reads.iter().enumerate() {
        let all_text = read.params.iter().all(|p| matches!(p, Param::Text(_)));
        match &read.many {
            Some(many) if all_text => match shapes.iter_mut().find(|(m, _)| m.sql == many.sql) {
                Some((_, members)) => members.push(i),
                None => shapes.push((many, vec![i])),
            },
            _ => alone.push(i),
        }
    }
    let mut out = Gathered {
        statements: Vec::new(),
        answers: Vec::new(),
        reads: reads.len(),
    };
    let one = |out: &mut Gathered, i: usize| {
        let read = &reads[i];
        out.statements
            .push((read.sql.clone(), Bound::One(read.params.clone())));
        out.answers.push(Answers::One(i));
    };
    for i in alone {
        one(&mut out, i);
    }
    for (many, members) in shapes {
        if members.len() < 2 {
            members.into_iter().for_each(|i| one(&mut out, i));
            continue;
        }
        let width = reads[members[0]].params.len();
        let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); width];
        let mut first = HashMap::new();
        for i in members {
            let Some(key) = texts(&reads[i].params) else {
                continue;
            };
            if key.len() == width && !first.contains_key(&key) {
                first.insert(key, i);
            }
        }
        // Keys in order: the rows are locked in the order of the array.
        let mut keys: Vec<&Vec<String>> = first.keys().collect();
        keys.sort();
        for key in keys {
            for (column, value) in columns.iter_mut().zip(key) {
                column.push(Some(value.clone()));
            }
        }
        let columns = columns.into_iter().map(Column::Text).collect();
        out.statements
            .push((many.sql.clone(), Bound::Many(columns)));
        out.answers.push(Answers::Many {
            keys: many.keys,
            first,
        });
    }
    in_one_order(out)
}

/// The statements in one order whatever the batch (by their text): every
/// writer locks the rows it reads `FOR UPDATE` table by table in the same
/// order (and within a statement for many keys, in index order), so two
/// writers never each hold a row the other waits for.
fn in_one_order(g: Gathered) -> Gathered {
    let mut pairs: Vec<_> = g.statements.into_iter().zip(g.answers).collect();
    pairs.sort_by(|a, b| a.0.0.cmp(&b.0.0));
    let (statements, answers) = pairs.into_iter().unzip();
    Gathered {
        statements,
        answers,
        reads: g.reads,
    }
}

/// Each read's rows, in the reads' order, from each statement's rows in
/// the statements' order; `None` for a read not read ahead.
pub fn scatter(
    gathered: Gathered,
    results: Vec<Vec<Row>>,
) -> Result<Vec<Option<Vec<Row>>>, StoreError> {
    let mut out: Vec<Option<Vec<Row>>> = (0..gathered.reads).map(|_| None).collect();
    for (answers, rows) in gathered.answers.into_iter().zip(results) {
        match answers {
            Answers::One(i) => out[i] = Some(rows),
            Answers::Many { keys, first } => {
                for &i in first.values() {
                    out[i] = Some(Vec::new());
                }
                for row in rows {
                    let key = keys
                        .iter()
                        .map(|col| row.try_get::<_, String>(*col))
                        .collect::<Result<Vec<String>, _>>()
                        .map_err(|e| StoreError::Internal(format!("a read's key column: {e}")))?;
                    let Some(rows) = first.get(&key).and_then(|&i| out[i].as_mut()) else {
                        return Err(StoreError::Internal(
                            "a read for many keys returned a row for none of them".into(),
                        ));
                    };
                    rows.push(row);
                }
            }
        }
    }
    Ok(out)
}

/// The parameters as text, if every one is.
fn texts(params: &[Param]) -> Option<Vec<String>> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::ops::reads_of;
    use crate::server::store::sql::Dialect;

    fn sqls(g: &Gathered) -> Vec<&str> {
        g.statements.iter().map(|(s, _)| s.as_str()).collect()
    }

    #[test]
    fn a_shape_read_for_many_keys_is_one_statement_each_key_once() {
        let pg = Dialect::Postgres;
        let reads = vec![
            reads_of::head(),
            reads_of::proposal(pg, "p3"),
            reads_of::proposal(pg, "p1"),
            reads_of::proposal(pg, "p2"),
            reads_of::proposal(pg, "p3"),
        ];
        let g = gather(&reads);
        let many = reads[1].many.as_ref().map(|m| m.sql.as_str());
        // In the order of their text, whatever the batch's.
        assert_eq!(sqls(&g), vec![many.unwrap_or(""), reads[0].sql.as_str()]);
        let Bound::Many(columns) = &g.statements[0].1 else {
            panic!("not as arrays");
        };
        let [Column::Text(ids)] = columns.as_slice() else {
            panic!("one text column");
        };
        let ids: Vec<_> = ids.iter().flatten().map(String::as_str).collect();
        // In key order: the order their rows are locked in.
        assert_eq!(ids, ["p1", "p2", "p3"]);
        // The second read of p3 is not read ahead.
        let Answers::Many { first, .. } = &g.answers[0] else {
            panic!("answered by key");
        };
        assert_eq!(first.get(&vec!["p3".to_owned()]), Some(&1));
        assert!(!first.values().any(|&i| i == 4));
    }

    #[test]
    fn a_shape_read_once_stays_as_it_is() {
        let reads = vec![reads_of::proposal(Dialect::Postgres, "p1")];
        let g = gather(&reads);
        assert_eq!(sqls(&g), vec![reads[0].sql.as_str()]);
        assert!(matches!(g.statements[0].1, Bound::One(_)));
        // SQLite has no form for many.
        assert!(reads_of::proposal(Dialect::Sqlite, "p1").many.is_none());
    }
}
