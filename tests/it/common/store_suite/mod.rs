//! The store test suite. Every backend runs all of it (tests/store_*.rs).

use super::{alert, decide, policy, proposal};
use countersign::audit::chain::{Head, verify_links};
use countersign::domain::submission;
use countersign::domain::types::{ProposalStatus, Verdict};
use countersign::server::store::ops::AuditHead;
use countersign::server::store::{
    ExecutionCommand, ExecutionReport, Store, StoreError, SubmitCommand, SubmitOutcome,
    SubmitStatus,
};
use serde_json::Value;

mod ops;
mod queue;
mod timing;

#[allow(unused_imports)] // not every test binary runs the suite
pub use ops::*;
#[allow(unused_imports)]
pub use queue::*;
use std::sync::Arc;
#[allow(unused_imports)]
pub use timing::*;

pub const T0: i64 = 1_800_000_000_000;

pub async fn submit(
    store: &dyn Store,
    agent: &str,
    doc: Value,
    now: i64,
) -> Result<SubmitOutcome, StoreError> {
    store
        .run(SubmitCommand::new(
            agent.into(),
            submission::parse(doc).expect("valid submission"),
            policy(),
            now,
            std::sync::Arc::new(countersign::domain::sample::Sampler::seeded(7)),
        ))
        .await
}

pub(crate) async fn chain_ok(store: &dyn Store) -> i64 {
    let entries = store.audit_all().await.expect("audit");
    let head = verify_links(&Head::genesis(), &entries).expect("chain intact");
    assert_eq!(head, store.run(AuditHead).await.expect("head"));
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
        .run(ExecutionCommand {
            proposal_id: p.id.clone(),
            agent: "bot".into(),
            executor: None,
            report: ExecutionReport::started(),
            now: T0 + 7,
            contain_for_secs: None,
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
