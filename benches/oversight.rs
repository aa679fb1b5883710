//! The lead's oversight query over a large signed record, printed as
//! figures: 100,000 human decisions (and their proposals) in a real SQLite
//! file, the oversight figures over the whole window, beside reading the
//! same audit log page by page as `audit export` does (the baseline: what
//! any report over the log must at least read).
//!
//! `cargo bench --bench oversight` (env: BENCH_DECISIONS).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops at a broken set-up"
)]

use countersign::domain::machine::Actor;
use countersign::domain::policy::Policy;
use countersign::domain::sample::Sampler;
use countersign::domain::submission;
use countersign::domain::time::now_millis;
use countersign::domain::types::{Role, Verdict};
use countersign::server::store::ops::{AuditAfter, AuditHead, OversightOver};
use countersign::server::store::sqlite::SqliteStore;
use countersign::server::store::{DecideCommand, SignedBlob, Store, SubmitCommand};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

mod common;
use common::env_num;

const PEOPLE: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_num("BENCH_DECISIONS", 100_000) as usize;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("countersign.db")).unwrap());
    let policy = Arc::new(Policy::builtin());
    let sampler = Arc::new(Sampler::seeded(1));
    println!("countersign oversight benchmark: {n} decisions, SQLite, 2 workers");

    // The history: n medium proposals, each decided by one of 8 people
    // with a signed-shaped payload (the store keeps it; the handler is what
    // verifies signatures, and is not measured here).
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..16 {
        let (store, policy, sampler) = (store.clone(), policy.clone(), sampler.clone());
        tasks.spawn(async move {
            for i in (w..n).step_by(16) {
                let doc = common::alert(&format!("ovs-{i}"), 1);
                let out = store
                    .run(SubmitCommand::new(
                        format!("bot-{}", i % 5),
                        submission::parse(doc).unwrap(),
                        policy.clone(),
                        now_millis(),
                        sampler.clone(),
                    ))
                    .await
                    .unwrap();
                let p = &out.proposals[0];
                let who = PEOPLE[i % PEOPLE.len()];
                let verdict = if i % 10 == 0 {
                    Verdict::Reject
                } else {
                    Verdict::Approve
                };
                let nonce = format!("{i:032x}");
                let payload = json!({
                    "v": 1, "kind": "decision", "proposal_id": p.id, "digest": p.digest,
                    "verdict": verdict, "reason": "bench", "labels": [], "principal": who,
                    "signed_at": "2026-11-23T00:00:00Z", "nonce": nonce,
                    "review": {"seconds": (i % 90) as f64, "panes": ["summary"]},
                })
                .to_string();
                store
                    .run(DecideCommand {
                        proposal_id: p.id.clone(),
                        actor: Actor::Person {
                            principal: who.into(),
                            role: Role::Analyst,
                            key: Some(format!("SHA256:{who}")),
                            hardware: false,
                        },
                        verdict,
                        reason: "bench".into(),
                        digest: p.digest.clone(),
                        policy: policy.clone(),
                        now: now_millis(),
                        signed: Some(SignedBlob {
                            payload,
                            signature: "-----BEGIN SSH SIGNATURE-----".into(),
                            nonce,
                        }),
                        group: None,
                        amendment: None,
                    })
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let head = store.run(AuditHead).await.unwrap();
    println!(
        "history written: {n} proposals + {n} decisions = {} audit entries in {:.1} s",
        head.seq,
        started.elapsed().as_secs_f64()
    );

    let (since, until) = (0, now_millis() + 1);
    let mut ours = Vec::new();
    let mut figures = None;
    for _ in 0..3 {
        let t = Instant::now();
        figures = Some(store.run(OversightOver { since, until }).await.unwrap());
        ours.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let o = figures.unwrap();
    let decided: u64 = o.analysts.iter().map(|a| a.decisions).sum();
    assert_eq!(decided as usize, n, "every decision counted");
    let mut base = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut after = 0;
        let mut read = 0usize;
        loop {
            let page = store
                .run(AuditAfter {
                    after,
                    limit: 5_000,
                    alert_id: None,
                })
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            read += page.len();
        }
        assert_eq!(read as i64, head.seq);
        base.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ours.sort_by(f64::total_cmp);
    base.sort_by(f64::total_cmp);
    println!(
        "oversight over {n} decisions ({} analysts, {} agents)   median {:>7.0} ms   (target <= 2,000 ms)",
        o.analysts.len(),
        o.agents.len(),
        ours[1]
    );
    println!(
        "baseline: read the whole audit log in pages of 5,000      median {:>7.0} ms   (oversight = {:.2}x)",
        base[1],
        ours[1] / base[1]
    );
}
