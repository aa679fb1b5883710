//! SQLite's WAL is checkpointed beside the writer: while the store is open
//! and writing, committed pages reach the database file before the writer
//! would checkpoint itself, the WAL starts over instead of growing, and
//! readers see every commit.

use crate::common::{self, store_suite as suite};
use countersign::server::store::Store;
use countersign::server::store::ops::{AlertById, ProposalById};
use std::path::Path;
use std::time::{Duration, Instant};

/// SQLite's page size here (its default).
const PAGE: u64 = 4096;

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Submits `n` alerts (from number `from`), each its own commit, each
/// with `evidence` bytes of evidence; returns their proposals' ids.
async fn submit(store: &dyn Store, from: usize, n: usize, evidence: usize) -> Vec<String> {
    let body = "x".repeat(evidence);
    let mut ids = Vec::new();
    for i in from..from + n {
        let mut doc = common::alert(
            &format!("wal-{i}"),
            vec![common::proposal("isolate_host", "medium")],
        );
        doc["evidence"][0]["body"] = body.as_str().into();
        let out = suite::submit(store, "bot", doc, suite::T0 + i as i64)
            .await
            .unwrap();
        ids.push(out.proposals[0].id.clone());
    }
    ids
}

#[tokio::test]
async fn checkpointed_beside_the_writer_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::sqlite_store(&dir);
    let db = dir.path().join("countersign.db");
    let wal = dir.path().join("countersign.db-wal");
    let empty = size(&db);

    // About 1 MB of evidence in 60 commits: fewer pages of WAL than the
    // writer checkpoints at (4,000), so only the checkpointer copies them
    // into the database file while the store is open.
    let mut ids = submit(&*store, 0, 60, 16 * 1024).await;
    let copied = empty + 60 * 16 * 1024;
    let deadline = Instant::now() + Duration::from_secs(10);
    while size(&db) < copied && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        size(&db) >= copied,
        "the database file is {} bytes, short of the {copied} committed: not checkpointed",
        size(&db)
    );

    // 25 MB of evidence in 400 commits, each also rewriting the tables'
    // last pages and the indexes': more than 12,000 pages of WAL in all,
    // which starts over instead of holding them.
    ids.extend(submit(&*store, 60, 400, 64 * 1024).await);
    assert!(
        size(&wal) < 6_000 * PAGE,
        "the WAL is {} bytes ({} pages) after 400 commits: it did not start over",
        size(&wal),
        size(&wal) / PAGE
    );

    // Readers (the pool's own connections) see the first and last commits.
    for id in [&ids[0], &ids[ids.len() - 1]] {
        let p = store
            .run(ProposalById(id.to_owned()))
            .await
            .unwrap()
            .expect("committed proposal");
        let (alert, proposals) = store
            .run(AlertById(p.alert_id.clone()))
            .await
            .unwrap()
            .expect("committed alert");
        assert_eq!(proposals.len(), 1);
        assert!(
            alert.document["evidence"][0]["body"]
                .as_str()
                .is_some_and(|b| b.len() >= 16 * 1024)
        );
    }
}
