//! The store test suite. Every backend runs all of it (tests/store_*.rs).

use super::{alert, decide, policy, proposal};
use countersign::audit::chain::{Head, verify_links};
use countersign::domain::submission;
use countersign::domain::types::{ProposalStatus, TokenRole, Verdict};
use countersign::server::store::{
    ExecutionCommand, ExecutionReport, QueueQuery, Store, StoreError, SubmitCommand, SubmitOutcome,
    SubmitStatus, View,
};
use serde_json::Value;
use std::sync::Arc;

pub const T0: i64 = 1_800_000_000_000;

pub async fn submit(
    store: &dyn Store,
    agent: &str,
    doc: Value,
    now: i64,
) -> Result<SubmitOutcome, StoreError> {
    store
        .submit(SubmitCommand {
            agent: agent.into(),
            submission: submission::parse(doc).expect("valid submission"),
            policy: policy(),
            now,
        })
        .await
}

async fn chain_ok(store: &dyn Store) -> i64 {
    let entries = store.audit_after(0, 100_000, None).await.expect("audit");
    let head = verify_links(&Head::genesis(), &entries).expect("chain intact");
    assert_eq!(head, store.audit_head().await.expect("head"));
    head.seq
}

pub async fn idempotent_and_revisions(store: Arc<dyn Store>) {
    let s = &*store;
    let doc = alert(
        "edr-1",
        vec![
            proposal("isolate_host", "high"),
            proposal("disable_account", "medium"),
        ],
    );
    let first = submit(s, "bot", doc.clone(), T0).await.unwrap();
    assert_eq!(first.status, SubmitStatus::Created);
    let again = submit(s, "bot", doc.clone(), T0 + 5).await.unwrap();
    assert_eq!(again.status, SubmitStatus::Unchanged);
    let ids = |o: &SubmitOutcome| o.proposals.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&again));
    // Another agent's same external id is a different alert.
    let other = submit(s, "other", doc.clone(), T0).await.unwrap();
    assert_eq!(other.status, SubmitStatus::Created);
    assert_ne!(other.alert.id, first.alert.id);

    // alice approves the high-risk proposal: awaiting a second (lead).
    let p0 = &first.proposals[0];
    let out = decide(
        s,
        &p0.id,
        &p0.digest,
        "alice",
        Verdict::Approve,
        "",
        T0 + 10,
    )
    .await
    .unwrap();
    assert_eq!(out.proposal.status, ProposalStatus::AwaitingSecond);

    // The agent revises proposal 0: approval dismissed, new digest.
    let mut revised = doc.clone();
    revised["proposals"][0]["rationale"] = "updated after new telemetry".into();
    let rev = submit(s, "bot", revised.clone(), T0 + 20).await.unwrap();
    assert_eq!(rev.status, SubmitStatus::Revised);
    assert_eq!(rev.alert.revision, 2);
    assert_eq!(ids(&rev), ids(&first));
    let np0 = &rev.proposals[0];
    assert_ne!(np0.digest, p0.digest);
    assert_eq!(np0.status, ProposalStatus::Pending);
    assert!(np0.approvals.is_empty());
    assert_eq!(np0.document["rationale"], "updated after new telemetry");
    // A decision over the old digest is stale and names the current one.
    match decide(
        s,
        &p0.id,
        &p0.digest,
        "carol",
        Verdict::Approve,
        "",
        T0 + 30,
    )
    .await
    {
        Err(StoreError::StaleDigest { current }) => assert_eq!(current, np0.digest),
        other => panic!("expected stale digest, got {other:?}"),
    }
    // Decide proposal 1, then a revision that touches it is refused whole.
    let p1 = &rev.proposals[1];
    decide(
        s,
        &p1.id,
        &p1.digest,
        "bob",
        Verdict::Reject,
        "benign admin tool",
        T0 + 40,
    )
    .await
    .unwrap();
    let mut touch = revised.clone();
    touch["title"] = "retitled".into();
    let before = chain_ok(s).await;
    match submit(s, "bot", touch, T0 + 50).await {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("never revised"), "{msg}"),
        other => panic!("expected conflict, got {other:?}"),
    }
    // Withdrawing proposals is refused too.
    let mut fewer = revised.clone();
    fewer["proposals"].as_array_mut().unwrap().pop();
    assert!(matches!(
        submit(s, "bot", fewer, T0 + 60).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(chain_ok(s).await, before, "refused revisions write nothing");
    // Adding a proposal is a revision that keeps the decided one.
    let mut more = revised;
    more["proposals"]
        .as_array_mut()
        .unwrap()
        .push(proposal("block_indicator", "low"));
    let added = submit(s, "bot", more, T0 + 70).await.unwrap();
    assert_eq!(added.proposals.len(), 3);
    assert_eq!(added.proposals[1].status, ProposalStatus::Rejected);
    assert_eq!(
        added.proposals[2].status,
        ProposalStatus::Approved,
        "auto rule"
    );
    chain_ok(s).await;
}

pub async fn decisions_follow_the_rules(store: Arc<dyn Store>) {
    let s = &*store;
    let o = submit(
        s,
        "bot",
        alert("edr-2", vec![proposal("isolate_host", "high")]),
        T0,
    )
    .await
    .unwrap();
    let p = &o.proposals[0];
    let d = |who: &'static str, v: Verdict, reason: &'static str, at: i64| {
        let (id, digest) = (p.id.clone(), p.digest.clone());
        async move { decide(s, &id, &digest, who, v, reason, at).await }
    };
    d("alice", Verdict::Approve, "", T0 + 1).await.unwrap();
    assert!(matches!(
        d("alice", Verdict::Approve, "", T0 + 2).await,
        Err(StoreError::Refused(_))
    ));
    assert!(
        matches!(
            d("bob", Verdict::Approve, "", T0 + 2).await,
            Err(StoreError::Refused(_))
        ),
        "needs a lead"
    );
    assert!(
        matches!(
            d("bob", Verdict::Reject, "x", T0 + 2).await,
            Err(StoreError::Refused(_))
        ),
        "reason"
    );
    let ok = d("carol", Verdict::Approve, "", T0 + 3).await.unwrap();
    assert_eq!(ok.proposal.status, ProposalStatus::Approved);
    assert_eq!(ok.audit.seq, ok.proposal.change_seq);
    assert_eq!(ok.proposal.approvals.len(), 2);
    // Reject after approval is refused; halt with a reason works.
    assert!(matches!(
        d("bob", Verdict::Reject, "too late", T0 + 4).await,
        Err(StoreError::Refused(_))
    ));
    let h = d("bob", Verdict::Halt, "wrong host", T0 + 5).await.unwrap();
    assert_eq!(h.proposal.status, ProposalStatus::Halted);
    // Final stays final.
    assert!(matches!(
        d("dave", Verdict::Approve, "", T0 + 6).await,
        Err(StoreError::Refused(_))
    ));
    // The agent's start is refused on a halted proposal.
    let r = s
        .report_execution(ExecutionCommand {
            proposal_id: p.id.clone(),
            agent: "bot".into(),
            report: ExecutionReport::Started,
            now: T0 + 7,
        })
        .await;
    assert!(matches!(r, Err(StoreError::Refused(_))), "{r:?}");
    // Unknown proposal.
    assert!(matches!(
        decide(s, "nope", &p.digest, "carol", Verdict::Approve, "", T0).await,
        Err(StoreError::NotFound(_))
    ));
    chain_ok(s).await;
}

pub async fn deadlines_and_execution(store: Arc<dyn Store>) {
    let s = &*store;
    let mut short = proposal("isolate_host", "medium");
    short["expires_in_secs"] = 60.into();
    let o = submit(
        s,
        "bot",
        alert(
            "edr-3",
            vec![
                short,
                proposal("disable_account", "medium"),
                proposal("revoke_token", "medium"),
            ],
        ),
        T0,
    )
    .await
    .unwrap();
    let [a, b, c] = [&o.proposals[0], &o.proposals[1], &o.proposals[2]];
    assert_eq!(a.expires_at, T0 + 60_000);
    // b: approved, then run to completion.
    decide(s, &b.id, &b.digest, "alice", Verdict::Approve, "", T0 + 1)
        .await
        .unwrap();
    // c: approved but never started: lapses after the 600 s window.
    decide(s, &c.id, &c.digest, "alice", Verdict::Approve, "", T0 + 1)
        .await
        .unwrap();
    let exec = |id: &str, report: ExecutionReport, agent: &str, now: i64| {
        s.report_execution(ExecutionCommand {
            proposal_id: id.into(),
            agent: agent.into(),
            report,
            now,
        })
    };
    assert!(matches!(
        exec(&b.id, ExecutionReport::Started, "other", T0 + 2).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        exec(&b.id, ExecutionReport::Started, "bot", T0 + 2)
            .await
            .unwrap()
            .status,
        ProposalStatus::Executing
    );
    let done = exec(
        &b.id,
        ExecutionReport::Failed {
            detail: "EDR API 500".into(),
        },
        "bot",
        T0 + 3,
    )
    .await
    .unwrap();
    assert_eq!(done.status, ProposalStatus::Failed);
    // Expiry: a is never executable, and a late approval is refused.
    assert_eq!(s.run_deadlines(T0 + 59_999).await.unwrap(), 0);
    assert_eq!(s.run_deadlines(T0 + 60_000).await.unwrap(), 1);
    let a_now = s.proposal(&a.id).await.unwrap().unwrap();
    assert_eq!(a_now.status, ProposalStatus::Expired);
    assert!(matches!(
        decide(
            s,
            &a.id,
            &a.digest,
            "alice",
            Verdict::Approve,
            "",
            T0 + 61_000
        )
        .await,
        Err(StoreError::Refused(_))
    ));
    assert!(
        exec(&a.id, ExecutionReport::Started, "bot", T0 + 61_000)
            .await
            .is_err()
    );
    // Lapse, even before the sweep runs: start is refused past the window.
    assert!(
        exec(&c.id, ExecutionReport::Started, "bot", T0 + 1 + 600_000)
            .await
            .is_err()
    );
    assert_eq!(s.run_deadlines(T0 + 1 + 600_000).await.unwrap(), 1);
    assert_eq!(
        s.proposal(&c.id).await.unwrap().unwrap().status,
        ProposalStatus::Lapsed
    );
    chain_ok(s).await;
}

pub async fn auto_escalation(store: Arc<dyn Store>) {
    let s = &*store;
    let o = submit(
        s,
        "bot",
        alert("edr-4", vec![proposal("isolate_host", "medium")]),
        T0,
    )
    .await
    .unwrap();
    let p = &o.proposals[0];
    assert_eq!(s.run_deadlines(T0 + 1_800_000).await.unwrap(), 1);
    let now = s.proposal(&p.id).await.unwrap().unwrap();
    assert_eq!(now.status, ProposalStatus::Escalated);
    // An analyst cannot decide an escalated proposal; a lead can.
    assert!(
        decide(
            s,
            &p.id,
            &p.digest,
            "alice",
            Verdict::Approve,
            "",
            T0 + 1_800_001
        )
        .await
        .is_err()
    );
    let ok = decide(
        s,
        &p.id,
        &p.digest,
        "carol",
        Verdict::Approve,
        "",
        T0 + 1_800_002,
    )
    .await
    .unwrap();
    assert_eq!(ok.proposal.status, ProposalStatus::Approved);
}

pub async fn queue_views_and_cursor(store: Arc<dyn Store>) {
    let s = &*store;
    let mut ids = Vec::new();
    for i in 0..150 {
        let o = submit(
            s,
            "bot",
            alert(&format!("q-{i}"), vec![proposal("isolate_host", "medium")]),
            T0 + i,
        )
        .await
        .unwrap();
        ids.push((o.proposals[0].id.clone(), o.proposals[0].digest.clone()));
    }
    let q = |view, after, principal: Option<&str>| QueueQuery {
        view,
        after,
        limit: 100,
        principal: principal.map(str::to_owned),
        agent: None,
    };
    // Paging: 150 pending items over two pages, in change order.
    let p1 = s.queue(q(View::Pending, 0, None)).await.unwrap();
    assert!(p1.more);
    assert_eq!(p1.items.len(), 100);
    let p2 = s.queue(q(View::Pending, p1.cursor, None)).await.unwrap();
    assert!(!p2.more);
    assert_eq!(p2.items.len(), 50);
    let head = p2.cursor;
    // Nothing new since the head.
    let empty = s.queue(q(View::Pending, head, None)).await.unwrap();
    assert!(empty.items.is_empty() && empty.gone.is_empty());
    // alice decides one: it is gone from pending, present in mine and history.
    let (id, digest) = &ids[7];
    decide(
        s,
        id,
        digest,
        "alice",
        Verdict::Reject,
        "duplicate of q-6",
        T0 + 500,
    )
    .await
    .unwrap();
    let delta = s.queue(q(View::Pending, head, None)).await.unwrap();
    assert!(delta.items.is_empty());
    assert_eq!(delta.gone, vec![id.clone()]);
    let mine = s.queue(q(View::Mine, 0, Some("alice"))).await.unwrap();
    assert_eq!(mine.items.len(), 1);
    assert_eq!(
        mine.items[0].proposal.reason.as_deref(),
        Some("duplicate of q-6")
    );
    assert!(
        s.queue(q(View::Mine, 0, Some("bob")))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let history = s.queue(q(View::History, 0, None)).await.unwrap();
    assert_eq!(history.items.len(), 1);
    // Agent filter.
    let mut theirs = q(View::All, 0, None);
    theirs.agent = Some("someone-else".into());
    assert!(s.queue(theirs).await.unwrap().items.is_empty());
    let counts = s.status_counts().await.unwrap();
    assert!(counts.contains(&(ProposalStatus::Pending, 149)));
    assert!(counts.contains(&(ProposalStatus::Rejected, 1)));
}

pub async fn tokens(store: Arc<dyn Store>) {
    let s = &*store;
    let t = s
        .create_token("soar".into(), TokenRole::Agent, "h1".into(), T0)
        .await
        .unwrap();
    assert_eq!(s.token_by_hash("h1").await.unwrap().unwrap().id, t.id);
    assert!(s.token_by_hash("h2").await.unwrap().is_none());
    assert_eq!(s.revoke_token("soar", T0 + 1).await.unwrap(), 1);
    assert!(s.token_by_hash("h1").await.unwrap().is_none());
    assert_eq!(s.list_tokens().await.unwrap()[0].revoked_at, Some(T0 + 1));
}

/// Many concurrent writers: every submission lands once, the chain stays
/// one line, decisions on one proposal race to exactly one outcome.
pub async fn concurrent_writers(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            submit(
                &*s,
                "bot",
                alert(&format!("c-{i}"), vec![proposal("isolate_host", "medium")]),
                T0 + i,
            )
            .await
        }));
    }
    let mut proposals = Vec::new();
    for t in tasks {
        proposals.push(t.await.unwrap().unwrap().proposals[0].clone());
    }
    // Racing reject vs approve on the same proposal: exactly one wins.
    let p = proposals[0].clone();
    let mut racers = Vec::new();
    for (who, v) in [
        ("alice", Verdict::Approve),
        ("bob", Verdict::Reject),
        ("carol", Verdict::Reject),
    ] {
        let s = store.clone();
        let (id, digest) = (p.id.clone(), p.digest.clone());
        racers.push(tokio::spawn(async move {
            decide(&*s, &id, &digest, who, v, "racing", T0 + 100).await
        }));
    }
    let mut wins = 0;
    for r in racers {
        if r.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    let seq = chain_ok(&*store).await;
    assert_eq!(seq, 64 + 1);
}
