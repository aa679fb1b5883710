//! Signed decisions over HTTP: the happy paths, every refusal the signing
//! issue lists (each leaves the database and the chain unchanged), and
//! interop with OpenSSH's own `ssh-keygen -Y sign / verify`.

use crate::common;
use countersign::server::store::ops::{AuditHead, ProposalById};
mod openssh;
mod refusals;

use common::{TestServer, alert, proposal};
use countersign::client::{ApiClient, ClientError};
use countersign::domain::types::{Label, ProposalStatus};
use countersign::signing::payload::{
    DecisionDraft, PayloadVerdict, Review, SignedDecision, Target,
};

pub(crate) async fn submit(t: &TestServer, ext: &str, risk: &str) -> (String, String) {
    let r = t
        .agent()
        .submit_alert(&alert(ext, vec![proposal("isolate_host", risk)]))
        .await
        .unwrap();
    (r.proposals[0].id.clone(), r.proposals[0].digest.clone())
}

pub(crate) fn code(e: &ClientError) -> (u16, &str) {
    match e {
        ClientError::Api { status, code, .. } => (status.as_u16(), code.as_str()),
        other => panic!("expected an API error, got {other}"),
    }
}

/// Posts and expects a refusal; the audit head and the proposal stay as
/// they were. `case` says which refusal it is when one is not.
pub(crate) async fn refused(
    t: &TestServer,
    case: &str,
    c: &ApiClient,
    d: &SignedDecision,
    proposal: &str,
    want: (u16, &str),
) {
    let head = t.store.run(AuditHead).await.unwrap();
    let before = t
        .store
        .run(ProposalById(proposal.to_owned()))
        .await
        .unwrap();
    let err = match c.post_decision(d).await {
        Ok(accepted) => panic!("{case}: must be refused, was {}", accepted.event),
        Err(e) => e,
    };
    assert_eq!(code(&err), want, "{case}: {err}");
    assert_eq!(
        t.store.run(AuditHead).await.unwrap(),
        head,
        "{case}: chain unchanged"
    );
    assert_eq!(
        t.store
            .run(ProposalById(proposal.to_owned()))
            .await
            .unwrap(),
        before,
        "{case}: proposal unchanged"
    );
}

#[tokio::test]
async fn dual_control_escalation_halt_and_annotation() {
    let t = TestServer::start().await;
    let (alice, carol) = (t.person("alice").await, t.person("carol").await);
    let (bob, dave) = (t.person("bob").await, t.person("dave").await);
    let (id, digest) = submit(&t, "d-1", "high").await;

    let a1 = alice.approve(&id, &digest).await.unwrap();
    assert_eq!(a1.event, "approval_counted");
    assert_eq!(a1.proposal.unwrap().status, ProposalStatus::AwaitingSecond);
    let a2 = carol
        .decide(
            &id,
            &digest,
            PayloadVerdict::Approve,
            "confirmed with owner",
        )
        .await
        .unwrap();
    assert_eq!(a2.event, "approved");
    assert!(a2.audit.seq > a1.audit.seq);
    // The agent sees it approved and by whom.
    let v = t.agent().decision(&id, 0).await.unwrap();
    assert_eq!(v.status, ProposalStatus::Approved);
    assert_eq!(
        v.approvals
            .iter()
            .map(|a| a.principal.as_str())
            .collect::<Vec<_>>(),
        ["alice", "carol"]
    );
    // Halt before the agent starts: the agent's start is refused.
    let h = bob
        .decide(
            &id,
            &digest,
            PayloadVerdict::Halt,
            "wrong host: ws-0412 is the CFO's laptop",
        )
        .await
        .unwrap();
    assert_eq!(h.proposal.unwrap().status, ProposalStatus::Halted);
    let start = t
        .agent()
        .report_execution(&id, &countersign::api::ExecutionReport::started())
        .await;
    assert_eq!(code(&start.unwrap_err()), (409, "already_final"));

    // Escalate, then a different lead decides.
    let (id2, d2) = submit(&t, "d-2", "medium").await;
    alice
        .decide(
            &id2,
            &d2,
            PayloadVerdict::Escalate,
            "needs a lead: VIP host",
        )
        .await
        .unwrap();
    let esc = t
        .store
        .run(countersign::server::store::QueueQuery {
            view: countersign::api::View::Escalated,
            after: 0,
            limit: 100,
            principal: None,
            agent: None,
        })
        .await
        .unwrap();
    assert_eq!(esc.items.len(), 1);
    let r = dave.reject(&id2, &d2, "known admin script").await.unwrap();
    assert_eq!(r.proposal.unwrap().status, ProposalStatus::Rejected);

    // Annotate the alert as a false positive, over the alert digest.
    let detail = alice
        .alert(&t.agent().decision(&id2, 0).await.unwrap().alert_id)
        .await
        .unwrap();
    let draft = DecisionDraft {
        target: Target::Alert(detail.alert.id.clone()),
        digest: detail.digest.clone(),
        verdict: PayloadVerdict::Annotate,
        reason: "scheduled backup job".into(),
        labels: vec![Label::FalsePositive],
        review: Review::default(),
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: None,
    };
    let n = alice
        .post_decision(
            &draft
                .sign(
                    "alice",
                    countersign::domain::time::now_millis(),
                    &t.signer("alice"),
                )
                .unwrap()
                .decision,
        )
        .await
        .unwrap();
    assert_eq!(n.event, "annotated");
    let detail = alice.alert(&detail.alert.id).await.unwrap();
    assert_eq!(detail.notes.len(), 1);
    assert_eq!(detail.notes[0].labels, vec![Label::FalsePositive]);
    assert_eq!(detail.notes[0].principal, "alice");
}

#[tokio::test]
async fn claims_are_leases_released_by_decisions() {
    let t = TestServer::start().await;
    let (alice, bob) = (t.person("alice").await, t.login("bob").await);
    let (id, digest) = submit(&t, "c-1", "medium").await;
    let c = alice.claim(&id, false).await.unwrap();
    assert_eq!(c.claimed_by.as_deref(), Some("alice"));
    let err = bob.claim(&id, false).await.unwrap_err();
    assert_eq!(code(&err).0, 409);
    assert!(
        err.to_string()
            .contains("alice is working on this proposal"),
        "{err}"
    );
    // Others see the holder in the queue; the holder sees it under "mine".
    let q = bob
        .queue(countersign::api::View::Pending, 0, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        q.page.items[0].proposal.claimed_by.as_deref(),
        Some("alice")
    );
    let mine = alice
        .queue(countersign::api::View::Mine, 0, 0, 100)
        .await
        .unwrap();
    assert_eq!(mine.page.items.len(), 1);
    // Renewing is fine; a decision releases it.
    alice.claim(&id, false).await.unwrap();
    alice.approve(&id, &digest).await.unwrap();
    let p = t.stored(&id).await;
    assert_eq!((p.status, p.claimed_by), (ProposalStatus::Approved, None));
    // Claiming something decided is refused; agents cannot claim.
    assert_eq!(
        code(&bob.claim(&id, false).await.unwrap_err()),
        (409, "wrong_state")
    );
    assert_eq!(code(&t.agent().claim(&id, false).await.unwrap_err()).0, 403);
}
