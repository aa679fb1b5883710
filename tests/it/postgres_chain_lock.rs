//! A PostgreSQL writer whose batch finds the chain lock held by another
//! replica waits for it (its rows already locked), then runs on the head
//! it finds. Here the other replica is a connection of the test holding
//! the lock and appending an entry of its own, so the batch is certain to
//! wait; what it answers and stores must be what running under the lock
//! from the start would give.

use crate::common;
use countersign::server::store::ops::{AlertById, AuditAfter, ProposalById};

use common::store_suite::{self as suite, T0};
use common::{alert, proposal};
use countersign::audit::chain::{self, Head, NewEntry};
use countersign::domain::records::AuditEntry;
use countersign::domain::types::Verdict;
use countersign::server::store::postgres::{CHAIN_LOCK, PgStore};
use countersign::server::store::{
    AnnotateCommand, DecideCommand, SignedBlob, Store, StoreError, SubmitStatus,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A store on a fresh database, and the database's URL.
async fn fresh() -> Option<(Arc<dyn Store>, String)> {
    let url = common::pg_fresh_db(&common::pg_url()?).await;
    let store = PgStore::open(&url).await.expect("open");
    Some((Arc::new(store), url))
}

/// Holds the chain lock as a replica mid-transaction would.
async fn hold_lock(db: &tokio_postgres::Client) {
    db.batch_execute(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock({CHAIN_LOCK})"
    ))
    .await
    .expect("lock");
}

fn signed(nonce: &str) -> SignedBlob {
    SignedBlob {
        payload: format!("payload {nonce}"),
        signature: "not checked by the store".into(),
        nonce: nonce.into(),
    }
}

/// The stored entry at `seq`.
async fn stored(store: &dyn Store, seq: i64) -> AuditEntry {
    let mut entries = store
        .run(AuditAfter {
            after: seq - 1,
            limit: 1,
            alert_id: None,
        })
        .await
        .expect("audit");
    entries.pop().expect("entry stored")
}

fn waiting<T>(tasks: &[JoinHandle<T>]) -> bool {
    tasks.iter().all(|t| !t.is_finished())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waits_for_the_chain_lock_another_replica_holds() {
    let Some((store, url)) = fresh().await else {
        return;
    };
    let mut seeds = Vec::new();
    for i in 0..3 {
        let doc = alert(
            &format!("seed-{i}"),
            vec![proposal("isolate_host", "medium")],
        );
        seeds.push(suite::submit(&*store, "bot", doc, T0).await.expect("seed"));
    }
    let (first, second) = (
        common::pg_connect(&url).await,
        common::pg_connect(&url).await,
    );

    // The first holder has the lock: a pilot write waits for it, holding
    // the writer.
    hold_lock(&first).await;
    let s = store.clone();
    let pilot = tokio::spawn(async move {
        let doc = alert("pilot", vec![proposal("block_ip", "medium")]);
        suite::submit(&*s, "bot", doc, T0 + 1).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The second holder queues for the lock behind the writer: it takes it
    // as the pilot's batch commits, before the next batch asks.
    let second_holds = tokio::spawn(async move {
        hold_lock(&second).await;
        second
    });
    // The next batch, queued meanwhile: new alerts, the same new alert
    // twice, signed decisions, one refused, two on one proposal, a note.
    let mut submits = Vec::new();
    for name in ["late-0", "late-1", "late-2", "dup", "dup"] {
        let s = store.clone();
        submits.push(tokio::spawn(async move {
            let doc = alert(name, vec![proposal("isolate_host", "medium")]);
            suite::submit(&*s, "bot", doc, T0 + 2).await
        }));
    }
    let decision = |p: usize, who: &'static str, verdict, digest: Option<&str>, nonce: &str| {
        let s = store.clone();
        let p = seeds[p].proposals[0].clone();
        let cmd = DecideCommand {
            proposal_id: p.id.clone(),
            actor: common::person(who),
            verdict,
            reason: "seen".into(),
            digest: digest.unwrap_or(&p.digest).into(),
            policy: common::policy(),
            now: T0 + 3,
            signed: Some(signed(nonce)),
            group: None,
            amendment: None,
        };
        tokio::spawn(async move { s.run(cmd).await })
    };
    let approved = decision(0, "alice", Verdict::Approve, None, "n-1");
    let stale = decision(1, "alice", Verdict::Approve, Some("sha256:stale"), "n-2");
    let racing = vec![
        decision(2, "alice", Verdict::Approve, None, "n-3"),
        decision(2, "bob", Verdict::Reject, None, "n-4"),
    ];
    let alert0 = store
        .run(AlertById(String::from(&seeds[0].alert.id)))
        .await
        .expect("alert")
        .expect("seeded");
    let s = store.clone();
    let note = tokio::spawn(async move {
        let digest = countersign::domain::digest::alert_digest(&alert0.0.document).expect("digest");
        s.run(AnnotateCommand {
            alert_id: alert0.0.id.clone(),
            principal: "carol".into(),
            note: "seen before".into(),
            labels: Vec::new(),
            digest,
            now: T0 + 4,
            signed: signed("n-5"),
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pilot.is_finished() && waiting(&submits) && waiting(&racing));
    assert!(!approved.is_finished() && !stale.is_finished() && !note.is_finished());

    // The first holder lets go: the pilot commits; the batch runs its rules
    // while the second holder has the lock, and waits for it.
    first.batch_execute("COMMIT").await.expect("commit");
    let second = second_holds.await.expect("second holder");
    pilot.await.unwrap().expect("pilot written");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        waiting(&submits) && waiting(&racing),
        "the batch waits for the lock"
    );
    assert!(!approved.is_finished() && !stale.is_finished() && !note.is_finished());
    // The replica holding the lock appends an entry of its own: the batch
    // must link after it (on a head read after the lock, not before).
    let row = second
        .query_one("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
        .await
        .expect("head");
    let at = Head {
        seq: row.get(0),
        hash: row.get(1),
    };
    let theirs = chain::append(
        &at,
        &NewEntry {
            at: T0 + 5,
            kind: "noted",
            alert_id: None,
            proposal_id: None,
            actor: chain::actor_person("dave"),
            data: serde_json::json!({"by": "the other replica"}),
        },
    )
    .expect("entry");
    second
        .execute(
            "INSERT INTO audit (seq, at, kind, entry, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&theirs.seq, &(T0 + 5), &"noted", &theirs.entry, &theirs.prev_hash, &theirs.hash],
        )
        .await
        .expect("their entry");
    second.batch_execute("COMMIT").await.expect("commit");

    // What it answers: real sequence numbers and the entries stored.
    let mut created = 0;
    for t in submits {
        let o = t.await.unwrap().expect("submitted");
        created += usize::from(o.status == SubmitStatus::Created);
        for p in &o.proposals {
            let row = store
                .run(ProposalById(p.id.clone()))
                .await
                .unwrap()
                .expect("stored");
            assert_eq!(p.change_seq, row.change_seq, "answered as stored");
            stored(&*store, p.change_seq).await;
        }
    }
    assert_eq!(created, 4, "one of the two copies created the alert");
    let d = approved.await.unwrap().expect("decided");
    assert_eq!(d.audit, stored(&*store, d.audit.seq).await);
    assert_eq!(d.proposal.change_seq, d.audit.seq);
    assert!(matches!(
        stale.await.unwrap(),
        Err(StoreError::StaleDigest { .. })
    ));
    let mut wins = 0;
    for t in racing {
        if let Ok(d) = t.await.unwrap() {
            assert_eq!(d.audit, stored(&*store, d.audit.seq).await);
            wins += 1;
        }
    }
    assert_eq!(wins, 1, "one decision of the two on one proposal");
    let n = note.await.unwrap().expect("annotated");
    assert_eq!(n.audit, stored(&*store, n.audit.seq).await);
    assert_eq!(n.annotation.seq, n.audit.seq);

    // What it stores: one chain, nothing pointing past its head.
    let head = suite::chain_ok(&*store).await;
    assert_eq!(head, 3 + 1 + 1 + 4 + 2 + 1);
    assert_eq!(stored(&*store, theirs.seq).await, theirs);
    assert_eq!(
        store.write_stats().replays,
        0,
        "linked on the head, not replayed"
    );
    let db = common::pg_connect(&url).await;
    for table in ["proposals", "nonces", "annotations"] {
        let column = if table == "proposals" {
            "change_seq"
        } else {
            "seq"
        };
        let past: i64 = db
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE {column} > $1"),
                &[&head],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(past, 0, "{table}.{column} past the head");
    }
    // The pilot's batch and this one.
    assert_eq!(
        store.write_stats().lock_waits,
        2,
        "{:?}",
        store.write_stats()
    );
}

/// A batch replayed write by write whose last write is refused: the
/// others commit. (Its commit used to prepare `pg_notify` before rolling
/// the refused write back, in the failed transaction: every write of the
/// batch failed whenever the writer's connection had not prepared it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_whose_last_write_is_refused_commits_the_others() {
    let Some((store, url)) = fresh().await else {
        return;
    };
    let db = common::pg_connect(&url).await;
    common::pg_refuse_alert(&db).await;
    let submit = |name: &'static str| {
        let s = store.clone();
        tokio::spawn(async move {
            let doc = alert(name, vec![proposal("isolate_host", "medium")]);
            suite::submit(&*s, "bot", doc, T0).await
        })
    };
    // The lock held: a pilot holds the writer while two writes queue, in
    // order, for one batch.
    hold_lock(&db).await;
    let pilot = submit("pilot");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first = submit("first");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = submit("refused");
    tokio::time::sleep(Duration::from_millis(200)).await;
    db.batch_execute("COMMIT").await.expect("commit");
    pilot.await.unwrap().expect("pilot");
    first
        .await
        .unwrap()
        .expect("the write before the refused one commits");
    assert!(refused.await.unwrap().is_err());
    assert_eq!(store.write_stats().replays, 1, "{:?}", store.write_stats());
    assert_eq!(suite::chain_ok(&*store).await, 2);
}
