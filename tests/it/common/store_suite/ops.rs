//! An operation written outside the store runs on either backend, in the
//! lane it names: nothing in a backend or in the `Store` trait knows it.

use super::{T0, alert, proposal, submit};
use countersign::domain::records::ProposalRecord;
use countersign::domain::types::TokenRole;
use countersign::server::store::ops::{ListTokens, reads_of};
use countersign::server::store::sql::{self, Dialect, Read};
use countersign::server::store::tx::Tx;
use countersign::server::store::{Lane, NewToken, Op, Store, StoreError};
use std::sync::Arc;

/// How many alerts an agent has (a read).
struct AlertsOf(String);

impl Op for AlertsOf {
    type Out = i64;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<i64, StoreError> {
        let n = tx
            .query(
                "SELECT count(*) AS n FROM alerts WHERE agent = $1",
                &[(&self.0).into()],
                |r| r.int("n"),
            )
            .await?;
        Ok(n.into_iter().next().unwrap_or(0))
    }
}

/// Revokes every active token at once (a write off the chain), unless
/// fewer than `at_least` were active: then it refuses, and what it wrote
/// is rolled back.
struct RevokeAll {
    at: i64,
    at_least: u64,
}

impl Op for RevokeAll {
    type Out = u64;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<u64, StoreError> {
        let n = tx
            .execute(
                "UPDATE tokens SET revoked_at = $1 WHERE revoked_at IS NULL",
                &[self.at.into()],
            )
            .await?;
        if n < self.at_least {
            return Err(StoreError::NotFound(format!("only {n} active tokens")));
        }
        Ok(n)
    }
}

/// A proposal read as a chained write reads it (locked, read ahead by a
/// batching writer), changing nothing.
struct Locked(String);

impl Op for Locked {
    type Out = Option<ProposalRecord>;
    const LANE: Lane = Lane::Chain;
    fn reads(&self, d: Dialect) -> Vec<Read> {
        vec![reads_of::proposal(d, &self.0)]
    }
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        let read = reads_of::proposal(tx.dialect(), &self.0);
        let rows = tx.query(&read.sql, &read.params, sql::proposal_row).await?;
        Ok(rows.into_iter().next())
    }
}

pub async fn operations_written_outside_the_store(store: Arc<dyn Store>) {
    let doc = alert("x-1", vec![proposal("isolate_host", "low")]);
    let out = submit(&*store, "bot", doc, T0).await.unwrap();
    assert_eq!(store.run(AlertsOf("bot".into())).await.unwrap(), 1);
    assert_eq!(store.run(AlertsOf("other".into())).await.unwrap(), 0);

    let id = out.proposals[0].id.clone();
    let locked = store.run(Locked(id.clone())).await.unwrap();
    assert_eq!(locked.map(|p| p.id), Some(id));
    assert_eq!(store.run(Locked("nope".into())).await.unwrap(), None);

    for name in ["a", "b"] {
        let new = NewToken::unlimited(name, TokenRole::Agent, format!("hash-{name}"), T0);
        store.run(new).await.unwrap();
    }
    let refused = store
        .run(RevokeAll {
            at: T0 + 1,
            at_least: 3,
        })
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
    let tokens = store.run(ListTokens).await.unwrap();
    assert!(tokens.iter().all(|t| t.revoked_at.is_none()), "{tokens:?}");
    let revoked = store
        .run(RevokeAll {
            at: T0 + 2,
            at_least: 2,
        })
        .await;
    assert_eq!(revoked.unwrap(), 2);
    let tokens = store.run(ListTokens).await.unwrap();
    assert!(
        tokens.iter().all(|t| t.revoked_at == Some(T0 + 2)),
        "{tokens:?}"
    );

    // Refusals among other writes arriving together (SQLite's writer
    // takes them in one batch, run first without a savepoint per write):
    // each refusal is rolled back alone, every other write is kept.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                if i % 4 == 3 {
                    let all = RevokeAll {
                        at: T0 + 3,
                        at_least: 1_000,
                    };
                    matches!(s.run(all).await, Err(StoreError::NotFound(_)))
                } else {
                    let name = format!("t{i}");
                    let new =
                        NewToken::unlimited(&name, TokenRole::Agent, format!("hash-{name}"), T0);
                    s.run(new).await.is_ok()
                }
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap());
    }
    let tokens = store.run(ListTokens).await.unwrap();
    assert_eq!(tokens.len(), 2 + 30);
    assert!(
        tokens.iter().all(|t| t.revoked_at != Some(T0 + 3)),
        "{tokens:?}"
    );
}
