//! Containment for a while: a rule's `contain_for` times an executed
//! containment; when it runs out the gate proposes the revert itself (an
//! ordinary proposal in the agent's name, through the same gate), unless
//! a person signed an extension; the record verifies offline.

use crate::common::{TEST_POLICY, TestServer, alert, proposal};
use crate::decisions::code;
use countersign::api::ExecutionReport;
use countersign::domain::time::{now_millis, to_rfc3339};
use countersign::domain::types::ProposalStatus;
use countersign::server::state::Limits;
use countersign::signing::NS_DECISION;
use countersign::signing::payload::{
    DecisionDraft, PayloadVerdict, Review, SignedDecision, Target,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn policy(contain_for: &str) -> String {
    format!(
        "{TEST_POLICY}\n[[rules]]\naction = \"isolate_host\"\nrisk = \"medium\"\ncontain_for = \"{contain_for}\"\n"
    )
}

async fn executed_isolation(t: &TestServer, ext: &str) -> (String, String) {
    let agent = t.agent();
    let r = agent
        .submit_alert(&alert(ext, vec![proposal("isolate_host", "medium")]))
        .await
        .unwrap();
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
                detail: "isolated".into(),
            },
        )
        .await
        .unwrap();
    (id, digest)
}

fn extension(t: &TestServer, who: &str, id: &str, digest: &str, until: i64) -> SignedDecision {
    let p = DecisionDraft {
        target: Target::Proposal(id.into()),
        digest: digest.into(),
        verdict: PayloadVerdict::Extend,
        reason: "the incident is still open".into(),
        labels: vec![],
        review: Review::default(),
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: Some(to_rfc3339(until)),
    }
    .payload(who, now_millis());
    let payload = serde_json::to_string(&p).unwrap();
    let signature = t.signer(who).sign(NS_DECISION, payload.as_bytes()).unwrap();
    SignedDecision { payload, signature }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_containment_runs_out_the_gate_proposes_the_release() {
    let t = TestServer::start_with_policy(Limits::default(), &policy("1s")).await;
    let (id, _) = executed_isolation(&t, "ct-1").await;
    let agent = t.agent();
    let view = agent.decision(&id, 0).await.unwrap();
    assert!(view.contain_until.is_some(), "{view:?}");
    // The server's own deadline sweep ends it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let undo = loop {
        if let Some(u) = agent.decision(&id, 0).await.unwrap().reverted_by {
            break u;
        }
        assert!(Instant::now() < deadline, "the containment never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let v = agent.decision(&undo, 0).await.unwrap();
    assert_eq!(
        v.status,
        ProposalStatus::Pending,
        "a person decides the release"
    );
    let p = t.stored(&undo).await;
    assert_eq!(p.action.as_str(), "release_host");
    assert_eq!(p.proposed_by, "soar-bot");
    assert_eq!(agent.decision(&id, 0).await.unwrap().contain_until, None);
    t.person("bob")
        .await
        .approve(&undo, &p.digest)
        .await
        .unwrap();
    assert_eq!(
        agent.decision(&undo, 0).await.unwrap().status,
        ProposalStatus::Approved
    );
    crate::freezes::audit_verifies(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_extension_keeps_it_contained_until_then() {
    let t = TestServer::start_with_policy(Limits::default(), &policy("1h")).await;
    let (id, digest) = executed_isolation(&t, "ct-2").await;
    let now = now_millis();
    let until = now + 3 * 3_600_000;
    let bob = t.person("bob").await;
    let out = bob
        .post_decision(&extension(&t, "bob", &id, &digest, until))
        .await
        .unwrap();
    assert_eq!(out.event, "containment_extended");
    assert_eq!(out.proposal.unwrap().contain_until, Some(until));
    let store: Arc<dyn countersign::server::store::Store> = t.store.clone();
    let (policy, sampler) = (t.server.state.policy(), t.server.state.sampler.clone());
    // Past the rule's hour, not yet past the extension: nothing ends.
    let ended = store
        .end_containments(now + 2 * 3_600_000, policy.clone(), sampler.clone())
        .await
        .unwrap();
    assert_eq!(ended, 0);
    let ended = store
        .end_containments(until + 1, policy, sampler)
        .await
        .unwrap();
    assert_eq!(ended, 1);
    assert!(
        t.agent()
            .decision(&id, 0)
            .await
            .unwrap()
            .reverted_by
            .is_some()
    );
    // Nothing left to extend; an extension of what is not contained.
    let e = bob
        .post_decision(&extension(&t, "bob", &id, &digest, until + 3_600_000))
        .await
        .unwrap_err();
    assert_eq!(code(&e), (409, "wrong_state"));
    crate::freezes::audit_verifies(&t);
}

#[test]
fn contain_for_is_for_containment_kinds_only() {
    let bad = countersign::domain::policy::Policy::from_toml(
        "[defaults]\napprovals = 1\n[[rules]]\naction = \"revoke_token\"\ncontain_for = \"8h\"\n",
        "t",
    );
    assert!(bad.unwrap_err().to_string().contains("containment kinds"));
    let bad = countersign::domain::policy::Policy::from_toml(
        "[defaults]\napprovals = 1\n[[rules]]\naction = \"isolate_host\"\ncontain_for = \"soon\"\n",
        "t",
    );
    assert!(bad.is_err());
}
