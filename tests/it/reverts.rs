//! Reversing what ran: a person's signed `revert` of an executed proposal
//! creates the compensating proposal (release for an isolation, `before`
//! and `after` swapped for a permission change), in the agent's name and
//! through the same gate, that signature its first approval; what nothing
//! undoes is refused and stores nothing; the record verifies offline.

use crate::common::{TEST_POLICY, TestServer, alert, proposal};
use crate::decisions::code;
use countersign::api::{ExecutionReport, RevertPreview};
use countersign::client::ApiClient;
use countersign::domain::types::ProposalStatus;
use countersign::server::state::Limits;
use countersign::server::store::ops::AuditHead;
use countersign::signing::NS_DECISION;
use countersign::signing::payload::{
    DecisionDraft, PayloadVerdict, Review, SignedDecision, Target,
};
use serde_json::{Value, json};

/// A revert of `id` (shown at `digest`) approving the compensating
/// proposal at `revert_digest`, signed by `who`.
fn signed_revert(
    t: &TestServer,
    who: &str,
    id: &str,
    digest: &str,
    revert_digest: &str,
) -> SignedDecision {
    DecisionDraft {
        target: Target::Proposal(id.into()),
        digest: digest.into(),
        verdict: PayloadVerdict::Revert,
        reason: "false positive: the host is the backup server".into(),
        labels: vec![],
        review: Review::default(),
        revert_digest: Some(revert_digest.into()),
        amend: None,
        amended_digest: None,
        contain_until: None,
    }
    .sign(who, countersign::domain::time::now_millis(), &t.signer(who))
    .unwrap()
    .decision
}

/// `action` on `target` submitted, approved by alice, started and executed
/// by the agent: its id and digest.
async fn executed(t: &TestServer, ext: &str, p: Value) -> (String, String) {
    let agent = t.agent();
    let r = agent.submit_alert(&alert(ext, vec![p])).await.unwrap();
    let (id, digest) = (r.proposals[0].id.clone(), r.proposals[0].digest.clone());
    t.person("alice").await.approve(&id, &digest).await.unwrap();
    agent
        .report_execution(&id, &ExecutionReport::started())
        .await
        .unwrap();
    agent
        .report_execution(
            &id,
            &ExecutionReport::Executed {
                detail: "done".into(),
            },
        )
        .await
        .unwrap();
    (id, digest)
}

async fn preview(c: &ApiClient, id: &str) -> RevertPreview {
    c.revert_preview(id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executed_isolation_is_reverted_and_the_release_runs() {
    let t = TestServer::start().await;
    let (id, digest) = executed(&t, "rv-1", proposal("isolate_host", "medium")).await;
    let bob = t.person("bob").await;
    let shown = preview(&bob, &id).await;
    assert_eq!(shown.action, "release_host");
    assert_eq!(shown.reverts, id);
    assert_eq!(
        shown.document["alert"]["context"]["reverts"]["proposal_id"],
        id.as_str()
    );
    assert_eq!(shown.approvals, 1, "{shown:?}");

    let signed = signed_revert(&t, "bob", &id, &digest, &shown.digest);
    let out = bob.post_decision(&signed).await.unwrap();
    assert_eq!(out.event, "approved");
    let undo = out.proposal.expect("the compensating proposal");
    assert_eq!(undo.status, ProposalStatus::Approved);
    assert_eq!(undo.digest, shown.digest);

    // The agent that ran it is told, and runs the undo through the gate.
    let agent = t.agent();
    let original = agent.decision(&id, 0).await.unwrap();
    assert_eq!(original.status, ProposalStatus::Executed);
    assert_eq!(
        original.reverted_by.as_deref(),
        Some(undo.proposal_id.as_str())
    );
    let receipt = agent.receipt(&undo.proposal_id).await.unwrap();
    let (rc, err) = crate::receipts::verify_cli(&t, &receipt, &["--expect-digest", &shown.digest]);
    assert_eq!(rc, 0, "the revert's receipt verifies offline: {err}");
    let body: Value = serde_json::from_str(&receipt.receipt).unwrap();
    assert_eq!(body["action"], "release_host");
    assert_eq!(body["approvals"][0]["principal"], "bob");
    agent
        .report_execution(&undo.proposal_id, &ExecutionReport::started())
        .await
        .unwrap();
    agent
        .report_execution(
            &undo.proposal_id,
            &ExecutionReport::Executed {
                detail: "released".into(),
            },
        )
        .await
        .unwrap();

    // Once only.
    let again = signed_revert(&t, "carol", &id, &digest, &shown.digest);
    let e = t
        .person("carol")
        .await
        .post_decision(&again)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (409, "conflict"));

    // The record: reverted on the original, the signature verifiable with
    // OpenSSH alone, and the whole log with `audit verify`.
    let log = t.login("dave").await.audit_all(0).await.unwrap();
    let bodies: Vec<Value> = log
        .iter()
        .map(|e| serde_json::from_str(&e.entry).unwrap())
        .collect();
    let reverted = bodies
        .iter()
        .find(|b| b["kind"] == "reverted")
        .expect("a reverted entry");
    assert_eq!(reverted["proposal_id"], id.as_str());
    assert_eq!(reverted["data"]["reverted_by"], undo.proposal_id.as_str());
    let signers = std::fs::read_to_string(&t.signers_file).unwrap();
    assert!(crate::receipts::ssh_keygen_verify(
        t.dir.path(),
        &signers,
        "bob",
        NS_DECISION,
        reverted["data"]["payload"].as_str().unwrap().as_bytes(),
        reverted["data"]["signature"].as_str().unwrap(),
    ));
    let chain: Vec<&str> = bodies
        .iter()
        .filter(|b| {
            b["proposal_id"] == id.as_str() || b["proposal_id"] == undo.proposal_id.as_str()
        })
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        chain,
        [
            "approved",
            "execution_started",
            "executed",
            "reverted",
            "approved",
            "execution_started",
            "executed"
        ]
    );
    crate::freezes::audit_verifies(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_change_is_reverted_by_swapping_before_and_after() {
    let t = TestServer::start().await;
    let mut p = proposal("modify_policy", "medium");
    p["target"] = json!("role/ci-deployer");
    p["permission_change"] = json!({
        "format": "aws-iam",
        "before": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        "after": r#"{"Version":"2012-10-17","Statement":[]}"#,
    });
    let (id, _) = executed(&t, "rv-2", p.clone()).await;
    let shown = preview(&t.login("bob").await, &id).await;
    assert_eq!(shown.action, "modify_policy");
    let change = &shown.document["proposal"]["permission_change"];
    assert_eq!(change["before"], p["permission_change"]["after"]);
    assert_eq!(change["after"], p["permission_change"]["before"]);
    // Restoring a grant is judged as what it is, not as a revert.
    assert!(
        shown.risk >= countersign::domain::types::Risk::Medium,
        "{shown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_decides_whether_a_second_person_is_needed() {
    let policy = format!(
        "{TEST_POLICY}\n[[rules]]\naction = \"release_host\"\napprovals = 2\nrole = \"lead\"\n"
    );
    let t = TestServer::start_with_policy(Limits::default(), &policy).await;
    let (id, digest) = executed(&t, "rv-3", proposal("isolate_host", "medium")).await;
    let bob = t.person("bob").await;
    let shown = preview(&bob, &id).await;
    assert_eq!(
        (shown.approvals, shown.role.to_string().as_str()),
        (2, "lead")
    );
    let out = bob
        .post_decision(&signed_revert(&t, "bob", &id, &digest, &shown.digest))
        .await
        .unwrap();
    assert_eq!(out.event, "approval_counted");
    let undo = out.proposal.unwrap();
    assert_eq!(undo.status, ProposalStatus::AwaitingSecond);
    // A lead's second approval, over the compensating proposal's digest.
    t.person("carol")
        .await
        .approve(&undo.proposal_id, &undo.digest)
        .await
        .unwrap();
    let v = t.agent().decision(&undo.proposal_id, 0).await.unwrap();
    assert_eq!(v.status, ProposalStatus::Approved);
    crate::freezes::audit_verifies(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_nothing_undoes_is_refused_and_nothing_is_stored() {
    let t = TestServer::start().await;
    let bob = t.person("bob").await;
    let head = || async { t.store.run(AuditHead).await.unwrap().seq };

    // A revoked token stays revoked.
    let (id, digest) = executed(&t, "rv-4", proposal("revoke_token", "medium")).await;
    let e = bob.revert_preview(&id).await.unwrap_err();
    assert_eq!(code(&e), (409, "not_reversible"));
    let before = head().await;
    let e = bob
        .post_decision(&signed_revert(&t, "bob", &id, &digest, "sha256:00"))
        .await
        .unwrap_err();
    assert_eq!(code(&e), (409, "not_reversible"));
    assert_eq!(head().await, before);

    // Only what was executed.
    let r = t
        .agent()
        .submit_alert(&alert("rv-5", vec![proposal("isolate_host", "medium")]))
        .await
        .unwrap();
    let (open, open_digest) = (&r.proposals[0].id, &r.proposals[0].digest);
    assert_eq!(
        code(&bob.revert_preview(open).await.unwrap_err()),
        (409, "wrong_state")
    );
    let e = bob
        .post_decision(&signed_revert(&t, "bob", open, open_digest, "sha256:00"))
        .await
        .unwrap_err();
    assert_eq!(code(&e), (409, "wrong_state"));

    // What the person saw must be what is created.
    let (id, digest) = executed(&t, "rv-6", proposal("isolate_host", "medium")).await;
    let e = bob
        .post_decision(&signed_revert(&t, "bob", &id, &digest, "sha256:feed"))
        .await
        .unwrap_err();
    assert_eq!(code(&e), (409, "stale_digest"));
    // A revert says why, and names what it approves.
    let shown = preview(&bob, &id).await;
    let mut no_reason = signed_revert(&t, "bob", &id, &digest, &shown.digest);
    let mut p: Value = serde_json::from_str(&no_reason.payload).unwrap();
    p["reason"] = json!(" ");
    no_reason.payload = p.to_string();
    no_reason.signature = t
        .signer("bob")
        .sign(NS_DECISION, no_reason.payload.as_bytes())
        .unwrap();
    assert_eq!(
        code(&bob.post_decision(&no_reason).await.unwrap_err()),
        (400, "reason_required")
    );
    p["reason"] = json!("undo");
    p.as_object_mut().unwrap().remove("revert_digest");
    let payload = p.to_string();
    let bare = SignedDecision {
        signature: t
            .signer("bob")
            .sign(NS_DECISION, payload.as_bytes())
            .unwrap(),
        payload,
    };
    assert_eq!(
        code(&bob.post_decision(&bare).await.unwrap_err()),
        (400, "invalid_payload")
    );
    assert_eq!(
        head().await,
        before + 5,
        "only rv-5 received, rv-6 received, approved, started, executed"
    );

    // An agent cannot make an alert look like the gate's revert.
    let e = t
        .agent()
        .submit_alert(&alert(
            &format!("revert:{id}"),
            vec![proposal("release_host", "low")],
        ))
        .await
        .unwrap_err();
    assert_eq!(code(&e), (400, "invalid_field"));
}
