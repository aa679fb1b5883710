//! Narrowing before approving: a person approves a proposal as amended (a
//! smaller network, fewer hosts, fewer grants) and signs over both what was
//! shown and the amended document; the gate accepts only what narrows,
//! judges the amended document again under the stricter requirement, and
//! the agent's answer, the receipt and the log carry the amended document.

use crate::common::{TestServer, alert, proposal};
use crate::decisions::code;
use countersign::api::DecisionAccepted;
use countersign::client::ClientError;
use countersign::domain::digest::proposal_digest;
use countersign::domain::types::ProposalStatus;
use countersign::server::store::ops::AuditHead;
use countersign::signing::NS_DECISION;
use countersign::signing::payload::{
    DecisionDraft, PayloadVerdict, Review, SignedDecision, Target,
};
use serde_json::{Value, json};

/// The proposal's digest with `amend` applied, computed here from the
/// documents the API serves (not by the server's amendment code).
async fn amended_digest(t: &TestServer, proposal_id: &str, amend: &Value) -> String {
    let c = t.login("bob").await;
    let p = t.stored(proposal_id).await;
    let detail = c.alert(&p.alert_id).await.unwrap();
    let mut doc = p.document.clone();
    for (k, v) in amend.as_object().unwrap() {
        if k == "permission_change" {
            doc[k]["after"] = v["after"].clone();
        } else {
            doc[k] = v.clone();
        }
    }
    proposal_digest(&detail.alert.document, &doc).unwrap()
}

fn signed(
    t: &TestServer,
    who: &str,
    id: &str,
    digest: &str,
    verdict: PayloadVerdict,
    amend: &Value,
    amended: &str,
) -> SignedDecision {
    let mut p = DecisionDraft {
        target: Target::Proposal(id.into()),
        digest: digest.into(),
        verdict,
        reason: "narrowed to what the evidence shows".into(),
        labels: vec![],
        review: Review::default(),
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: None,
    }
    .payload(who, countersign::domain::time::now_millis());
    p.amend = Some(amend.clone());
    p.amended_digest = Some(amended.into());
    let payload = serde_json::to_string(&p).unwrap();
    let signature = t.signer(who).sign(NS_DECISION, payload.as_bytes()).unwrap();
    SignedDecision { payload, signature }
}

async fn amend(
    t: &TestServer,
    who: &str,
    id: &str,
    digest: &str,
    amend: Value,
) -> Result<DecisionAccepted, ClientError> {
    let amended = amended_digest(t, id, &amend).await;
    let s = signed(
        t,
        who,
        id,
        digest,
        PayloadVerdict::Approve,
        &amend,
        &amended,
    );
    t.person(who).await.post_decision(&s).await
}

async fn submitted(t: &TestServer, ext: &str, p: Value) -> (String, String) {
    let r = t.agent().submit_alert(&alert(ext, vec![p])).await.unwrap();
    (r.proposals[0].id.clone(), r.proposals[0].digest.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_narrowed_to_one_address_is_approved_as_amended() {
    let t = TestServer::start().await;
    let mut p = proposal("block_indicator", "medium");
    p["target"] = json!("185.220.101.0/24");
    let ext_alert = alert("am-1", vec![p.clone()]);
    let r = t.agent().submit_alert(&ext_alert).await.unwrap();
    let (id, digest) = (r.proposals[0].id.clone(), r.proposals[0].digest.clone());

    let out = amend(
        &t,
        "alice",
        &id,
        &digest,
        json!({"target": "185.220.101.4/32"}),
    )
    .await
    .unwrap();
    assert_eq!(out.event, "approved");
    let view = t.agent().decision(&id, 0).await.unwrap();
    assert_eq!(view.status, ProposalStatus::Approved);
    assert_ne!(
        view.digest, digest,
        "the approved digest is the amended one"
    );
    let a = view
        .amended
        .clone()
        .expect("the answer says it was amended");
    assert_eq!(a.amended.by, "alice");
    assert_eq!(a.amended.original_digest, digest);
    assert_eq!(a.document["target"], "185.220.101.4/32");
    assert_eq!(a.amended.changed["target"]["from"], "185.220.101.0/24");
    let note = view.amendment_note().unwrap();
    assert!(
        note.contains("185.220.101.0/24 → 185.220.101.4/32"),
        "{note}"
    );

    // The receipt names the amended document, and checks offline.
    let receipt = t.agent().receipt(&id).await.unwrap();
    let (rc, err) = crate::receipts::verify_cli(&t, &receipt, &["--expect-digest", &view.digest]);
    assert_eq!(rc, 0, "{err}");
    let body: Value = serde_json::from_str(&receipt.receipt).unwrap();
    assert_eq!(body["target"], "185.220.101.4/32");
    assert_eq!(body["document"]["proposal"]["target"], "185.220.101.4/32");
    assert_eq!(body["amended"]["by"], "alice");

    // The agent's retry of what it proposed is the same proposal, not a
    // revision that would undo the amendment.
    let again = t.agent().submit_alert(&ext_alert).await.unwrap();
    assert_eq!(again.status, countersign::api::SubmitStatus::Unchanged);
    assert_eq!(again.proposals[0].digest, view.digest);

    // The log: amended, then approved, one signature; OpenSSH agrees.
    let log = t.login("bob").await.audit_all(0).await.unwrap();
    let mine: Vec<Value> = log
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.entry).unwrap())
        .filter(|b| b["proposal_id"] == id.as_str())
        .collect();
    let kinds: Vec<&str> = mine.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["amended", "approved"]);
    assert_eq!(mine[0]["data"]["document"]["target"], "185.220.101.4/32");
    let signers = std::fs::read_to_string(&t.signers_file).unwrap();
    assert!(crate::receipts::ssh_keygen_verify(
        t.dir.path(),
        &signers,
        "alice",
        NS_DECISION,
        mine[1]["data"]["payload"].as_str().unwrap().as_bytes(),
        mine[1]["data"]["signature"].as_str().unwrap(),
    ));
    crate::freezes::audit_verifies(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_does_not_narrow_is_refused_and_nothing_is_stored() {
    let t = TestServer::start().await;
    let mut p = proposal("block_indicator", "medium");
    p["target"] = json!("185.220.101.0/24");
    let (id, digest) = submitted(&t, "am-2", p).await;
    let head = t.store.run(AuditHead).await.unwrap().seq;
    for (amendment, field) in [
        (json!({"target": "185.220.0.0/16"}), "target"),
        (json!({"target": "8.8.8.8"}), "target"),
        (json!({"action": "isolate_host"}), "amend.action"),
        (
            json!({"expires_in_secs": 99999999}),
            "amend.expires_in_secs",
        ),
        (json!({}), "amend"),
    ] {
        let e = amend(&t, "alice", &id, &digest, amendment.clone())
            .await
            .unwrap_err();
        let ClientError::Api {
            status, code, body, ..
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (400, "not_narrower"),
            "{amendment}: {body}"
        );
        assert_eq!(body["error"]["field"], field, "{amendment}: {body}");
    }
    // A digest that is not the amended document's, or an amended rejection.
    let narrow = json!({"target": "185.220.101.4/32"});
    let wrong = signed(
        &t,
        "alice",
        &id,
        &digest,
        PayloadVerdict::Approve,
        &narrow,
        &digest,
    );
    let e = t
        .person("alice")
        .await
        .post_decision(&wrong)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (400, "invalid_payload"));
    let right = amended_digest(&t, &id, &narrow).await;
    let reject = signed(
        &t,
        "alice",
        &id,
        &digest,
        PayloadVerdict::Reject,
        &narrow,
        &right,
    );
    let e = t
        .person("alice")
        .await
        .post_decision(&reject)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (400, "invalid_payload"));
    assert_eq!(
        t.store.run(AuditHead).await.unwrap().seq,
        head,
        "nothing stored"
    );
    let p = t.stored(&id).await;
    assert_eq!((p.status, p.digest), (ProposalStatus::Pending, digest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_removed_then_a_second_approver_signs_the_amended_digest() {
    let t = TestServer::start().await;
    let statement = |action: &str| json!({"Effect": "Allow", "Action": action, "Resource": "arn:aws:s3:::reports/*"});
    let doc = |stmts: Vec<Value>| json!({"Version": "2012-10-17", "Statement": stmts}).to_string();
    let mut p = proposal("modify_policy", "high");
    p["target"] = json!("role/reporting");
    p["permission_change"] = json!({
        "format": "aws-iam",
        "before": doc(vec![]),
        "after": doc(vec![statement("s3:GetObject"), statement("s3:PutObject")]),
    });
    let (id, digest) = submitted(&t, "am-3", p).await;
    // Granting more than proposed is not narrowing.
    let wider = json!({"permission_change": {"after": doc(vec![statement("s3:*")])}});
    let e = amend(&t, "alice", &id, &digest, wider).await.unwrap_err();
    assert_eq!(code(&e), (400, "not_narrower"));
    // One statement removed.
    let narrower = json!({"permission_change": {"after": doc(vec![statement("s3:GetObject")])}});
    let out = amend(&t, "alice", &id, &digest, narrower).await.unwrap();
    assert_eq!(
        out.event, "approval_counted",
        "high risk still wants two, one a lead"
    );
    let now = out.proposal.unwrap();
    assert_ne!(now.digest, digest);
    // The proposed digest is stale now; the amended one is what is signed.
    let e = t
        .person("carol")
        .await
        .approve(&id, &digest)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (409, "stale_digest"));
    let done = t
        .person("carol")
        .await
        .approve(&id, &now.digest)
        .await
        .unwrap();
    assert_eq!(done.event, "approved");
    let receipt = t.agent().receipt(&id).await.unwrap();
    let (rc, err) = crate::receipts::verify_cli(&t, &receipt, &[]);
    assert_eq!(rc, 0, "{err}");
    let body: Value = serde_json::from_str(&receipt.receipt).unwrap();
    let after = body["document"]["proposal"]["permission_change"]["after"]
        .as_str()
        .unwrap();
    assert!(!after.contains("PutObject"), "{after}");
    crate::freezes::audit_verifies(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewer_hosts_are_judged_again_under_the_stricter_requirement() {
    let t = TestServer::start().await;
    let mut p = proposal("isolate_host", "medium");
    p["target"] = json!("ws-1,ws-2,ws-3");
    let r = t
        .agent()
        .submit_alert(&alert("am-4", vec![p]))
        .await
        .unwrap();
    let (id, digest) = (r.proposals[0].id.clone(), r.proposals[0].digest.clone());
    assert_eq!(
        r.proposals[0].risk.as_str(),
        "high",
        "several hosts in one target"
    );
    let out = amend(&t, "alice", &id, &digest, json!({"target": "ws-2"}))
        .await
        .unwrap();
    // Judged again: one host is medium; the requirement stays the
    // stricter, the original's two people with a lead.
    assert_eq!(out.event, "approval_counted");
    let p = t.stored(&id).await;
    assert_eq!(p.target, "ws-2");
    assert_eq!(
        p.assessment
            .map(|a| a.effective(countersign::domain::types::Risk::Medium)),
        Some(countersign::domain::types::Risk::Medium)
    );
    t.person("carol")
        .await
        .approve(&id, &p.digest)
        .await
        .unwrap();
    assert_eq!(
        t.agent().decision(&id, 0).await.unwrap().status,
        ProposalStatus::Approved
    );
    let e = amend(&t, "bob", &id, &p.digest, json!({"target": "ws-2"}))
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, 409, "decided: nothing more to amend");
    crate::freezes::audit_verifies(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_expiry_takes_effect() {
    let t = TestServer::start().await;
    let mut p = proposal("isolate_host", "high");
    p["expires_in_secs"] = json!(3000);
    let (id, digest) = submitted(&t, "am-5", p).await;
    let before = t.stored(&id).await;
    let out = amend(&t, "alice", &id, &digest, json!({"expires_in_secs": 600}))
        .await
        .unwrap();
    assert_eq!(out.event, "approval_counted");
    let after = t.stored(&id).await;
    assert_eq!(after.expires_at, before.created_at + 600_000);
    let e = amend(
        &t,
        "carol",
        &id,
        &after.digest,
        json!({"expires_in_secs": 900}),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&e), (400, "not_narrower"));
}
