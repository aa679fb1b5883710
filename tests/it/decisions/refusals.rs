//! Every refusal of a signed decision or a login leaves everything as it was.

use super::{refused, submit};
use crate::common::{self, TestServer, alert, proposal, signed};
use countersign::client::{ApiClient, ClientError};
use countersign::domain::types::ProposalStatus;
use countersign::signing::allowed_signers::AllowedSigners;
use countersign::signing::payload::{
    DecisionDraft, PayloadVerdict, Review, SignedDecision, Target,
};
use countersign::signing::signer::Signer;
use countersign::signing::{NS_DECISION, NS_LOGIN};

#[tokio::test]
async fn every_refusal_leaves_everything_unchanged() {
    let t = TestServer::start().await;
    let alice = t.login("alice").await;
    let (id, digest) = submit(&t, "s-1", "high").await;
    let ok = signed(
        &t.signer("alice"),
        "alice",
        &id,
        &digest,
        PayloadVerdict::Approve,
        "",
    );

    // Forged: one byte of the payload changed after signing.
    let mut forged = ok.clone();
    forged.payload = forged.payload.replace("\"approve\"", "\"reject\" ");
    refused(&t, &alice, &forged, &id, (400, "bad_signature")).await;
    // Garbage signature.
    let mut garbage = ok.clone();
    garbage.signature = "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----".into();
    refused(&t, &alice, &garbage, &id, (400, "bad_signature")).await;
    // A key that is not in allowed_signers (mallory's), claiming to be alice.
    let mallory = Signer::from_key(common::new_key());
    refused(
        &t,
        &alice,
        &signed(&mallory, "alice", &id, &digest, PayloadVerdict::Approve, ""),
        &id,
        (403, "unknown_key"),
    )
    .await;
    // Wrong namespace: signed as a login, replayed as a decision.
    let p = serde_json::to_string(
        &DecisionDraft {
            target: Target::Proposal(id.clone()),
            digest: digest.clone(),
            verdict: PayloadVerdict::Approve,
            reason: String::new(),
            labels: vec![],
            review: Review::default(),
        }
        .payload("alice", countersign::domain::time::now_millis()),
    )
    .unwrap();
    let login_sig = t.signer("alice").sign(NS_LOGIN, p.as_bytes()).unwrap();
    refused(
        &t,
        &alice,
        &SignedDecision {
            payload: p,
            signature: login_sig,
        },
        &id,
        (400, "wrong_namespace"),
    )
    .await;
    // Principal mismatch: bob's signed payload posted on alice's session,
    // and alice's payload signed with bob's key.
    refused(
        &t,
        &alice,
        &signed(
            &t.signer("bob"),
            "bob",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        ),
        &id,
        (403, "principal_mismatch"),
    )
    .await;
    refused(
        &t,
        &alice,
        &signed(
            &t.signer("bob"),
            "alice",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        ),
        &id,
        (403, "principal_mismatch"),
    )
    .await;
    // Reason required for reject.
    refused(
        &t,
        &alice,
        &signed(
            &t.signer("alice"),
            "alice",
            &id,
            &digest,
            PayloadVerdict::Reject,
            "x",
        ),
        &id,
        (400, "reason_required"),
    )
    .await;
    // The good one is accepted once; its replay is refused.
    alice.post_decision(&ok).await.unwrap();
    refused(&t, &alice, &ok, &id, (409, "replay")).await;
    // Same principal twice (a fresh nonce, same person).
    refused(
        &t,
        &alice,
        &signed(
            &t.signer("alice"),
            "alice",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        ),
        &id,
        (403, "same_principal"),
    )
    .await;
    // Lead rule: a second analyst cannot complete a high-risk approval.
    let bob = t.login("bob").await;
    refused(
        &t,
        &bob,
        &signed(
            &t.signer("bob"),
            "bob",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        ),
        &id,
        (403, "role_required"),
    )
    .await;
    // Stale digest: the agent revises the proposal.
    let mut doc = alert("s-1", vec![proposal("isolate_host", "high")]);
    doc["proposals"][0]["target"] = "ws-0413".into();
    let rev = t.agent().submit_alert(&doc).await.unwrap();
    let current = rev.proposals[0].digest.clone();
    let carol = t.login("carol").await;
    let stale = signed(
        &t.signer("carol"),
        "carol",
        &id,
        &digest,
        PayloadVerdict::Approve,
        "",
    );
    let head = t.store.audit_head().await.unwrap();
    match carol.post_decision(&stale).await.unwrap_err() {
        ClientError::Api {
            status, code, body, ..
        } => {
            assert_eq!((status.as_u16(), code.as_str()), (409, "stale_digest"));
            assert_eq!(body["error"]["current_digest"], current.as_str());
        }
        e => panic!("{e}"),
    }
    assert_eq!(t.store.audit_head().await.unwrap(), head);
    // The revision dismissed alice's approval: status back to pending.
    assert_eq!(
        t.store.proposal(&id).await.unwrap().unwrap().status,
        ProposalStatus::Pending
    );
    // Decision after final.
    carol
        .post_decision(&signed(
            &t.signer("carol"),
            "carol",
            &id,
            &current,
            PayloadVerdict::Reject,
            "not ours",
        ))
        .await
        .unwrap();
    refused(
        &t,
        &alice,
        &signed(
            &t.signer("alice"),
            "alice",
            &id,
            &current,
            PayloadVerdict::Approve,
            "",
        ),
        &id,
        (409, "already_final"),
    )
    .await;
    // Agent and reviewer tokens cannot decide at all.
    let agent = t.agent();
    refused(
        &t,
        &agent,
        &signed(
            &t.signer("alice"),
            "alice",
            &id,
            &current,
            PayloadVerdict::Approve,
            "",
        ),
        &id,
        (403, "agent_cannot_decide"),
    )
    .await;
    let reviewer = ApiClient::new(&t.url(), Some(t.reviewer_token.clone())).unwrap();
    refused(
        &t,
        &reviewer,
        &signed(
            &t.signer("alice"),
            "alice",
            &id,
            &current,
            PayloadVerdict::Approve,
            "",
        ),
        &id,
        (403, "login_required"),
    )
    .await;
}

#[tokio::test]
async fn revoked_and_expired_keys_sign_nothing_new() {
    let t = TestServer::start().await;
    let bob = t.login("bob").await;
    let (id, digest) = submit(&t, "k-1", "medium").await;
    // bob's key gets a valid-before in the past (file edited, then reloaded
    // as SIGHUP or the file watcher would).
    let mut text = String::new();
    for (name, k) in &t.keys {
        let opts = if name == "bob" {
            "valid-before=\"20200101Z\" "
        } else {
            ""
        };
        text.push_str(&format!(
            "{name} {opts}{}\n",
            k.public_key().to_openssh().unwrap()
        ));
    }
    std::fs::write(&t.signers_file, &text).unwrap();
    t.server
        .state
        .set_signers(AllowedSigners::load(&t.signers_file).unwrap());
    refused(
        &t,
        &bob,
        &signed(
            &t.signer("bob"),
            "bob",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        ),
        &id,
        (403, "key_expired"),
    )
    .await;
    let mut fresh = ApiClient::new(&t.url(), None).unwrap();
    assert!(
        fresh.login("bob", &t.signer("bob")).await.is_err(),
        "an expired key cannot log in"
    );
    // alice removed from the file: her key is unknown now.
    let without_alice: String = text
        .lines()
        .filter(|l| !l.starts_with("alice "))
        .map(|l| format!("{l}\n"))
        .collect();
    let alice = t.login("alice").await;
    std::fs::write(&t.signers_file, without_alice).unwrap();
    t.server
        .state
        .set_signers(AllowedSigners::load(&t.signers_file).unwrap());
    refused(
        &t,
        &alice,
        &signed(
            &t.signer("alice"),
            "alice",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        ),
        &id,
        (403, "unknown_key"),
    )
    .await;
}

#[tokio::test]
async fn login_refusals() {
    let t = TestServer::start().await;
    let mut c = ApiClient::new(&t.url(), None).unwrap();
    // mallory has a key but is not in allowed_signers: no challenge is
    // stored for a name nobody may sign as, so it cannot be redeemed.
    let err = c
        .login("mallory", &Signer::from_key(common::new_key()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    // alice's name with a key that is not in allowed_signers.
    let err = c
        .login("alice", &Signer::from_key(common::new_key()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not in allowed_signers"), "{err}");
    // alice's name with bob's key.
    let err = c.login("alice", &t.signer("bob")).await.unwrap_err();
    assert!(
        err.to_string().contains("not allowed for principal"),
        "{err}"
    );
    // A challenge is single use.
    let http = reqwest::Client::new();
    let ch: serde_json::Value = http
        .post(format!("{}/v1/session/challenge", t.url()))
        .json(&serde_json::json!({"principal": "alice"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let challenge = ch["challenge"].as_str().unwrap();
    assert!(
        challenge.contains("principal: alice") && challenge.contains("server: countersign-test")
    );
    let sig = t
        .signer("alice")
        .sign(NS_LOGIN, challenge.as_bytes())
        .unwrap();
    let body = serde_json::json!({"principal": "alice", "challenge": challenge, "signature": sig});
    let first = http
        .post(format!("{}/v1/session", t.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let again = http
        .post(format!("{}/v1/session", t.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
    // A decision signature is not a login.
    let ch: serde_json::Value = http
        .post(format!("{}/v1/session/challenge", t.url()))
        .json(&serde_json::json!({"principal": "alice"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let challenge = ch["challenge"].as_str().unwrap();
    let sig = t
        .signer("alice")
        .sign(NS_DECISION, challenge.as_bytes())
        .unwrap();
    let r = http
        .post(format!("{}/v1/session", t.url()))
        .json(&serde_json::json!({"principal": "alice", "challenge": challenge, "signature": sig}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// Review metadata out of bounds: 400 `invalid_review`, nothing changed;
/// the same decision with sane metadata is then accepted.
#[tokio::test]
async fn invalid_review_metadata_changes_nothing() {
    let t = TestServer::start().await;
    let alice = t.login("alice").await;
    let (id, digest) = submit(&t, "review-1", "medium").await;
    let with = |verdict: PayloadVerdict, reason: &str, review: Review| {
        DecisionDraft {
            target: Target::Proposal(id.clone()),
            digest: digest.clone(),
            verdict,
            reason: reason.into(),
            labels: vec![],
            review,
        }
        .sign(
            "alice",
            countersign::domain::time::now_millis(),
            &t.signer("alice"),
        )
        .unwrap()
        .decision
    };
    let review = |seconds: f64, panes: &[&str], group: Option<u32>| Review {
        seconds,
        panes: panes.iter().map(|p| p.to_string()).collect(),
        group: group.map(|size| countersign::signing::payload::GroupReview { size }),
    };
    let bad = [
        (
            PayloadVerdict::Approve,
            review(-1.0, &["summary"], None),
            "review.seconds",
        ),
        (
            PayloadVerdict::Approve,
            review(8.0 * 24.0 * 3600.0, &[], None),
            "review.seconds",
        ),
        (
            PayloadVerdict::Approve,
            review(5.0, &["summary", "secrets"], None),
            "`secrets` is not a pane",
        ),
        (
            PayloadVerdict::Approve,
            review(5.0, &["group"], None),
            "review.panes",
        ),
        (
            PayloadVerdict::Approve,
            review(5.0, &[], Some(1)),
            "review.group.size",
        ),
        (
            PayloadVerdict::Approve,
            review(5.0, &[], Some(100_000)),
            "review.group.size",
        ),
        (
            PayloadVerdict::Escalate,
            review(5.0, &[], Some(3)),
            "review.group",
        ),
    ];
    for (verdict, r, needle) in bad {
        let d = with(verdict, "needs a lead", r);
        refused(&t, &alice, &d, &id, (400, "invalid_review")).await;
        let err = alice.post_decision(&d).await.unwrap_err().to_string();
        assert!(err.contains(needle), "{err} should name {needle}");
    }
    // On an alert (an annotation), a group is refused as well.
    let head = t.store.audit_head().await.unwrap();
    let alert_id = t.store.proposal(&id).await.unwrap().unwrap().alert_id;
    let note = DecisionDraft {
        target: Target::Alert(alert_id.clone()),
        digest: countersign::domain::digest::alert_digest(
            &t.store.alert(&alert_id).await.unwrap().unwrap().0.document,
        )
        .unwrap(),
        verdict: PayloadVerdict::Annotate,
        reason: "seen before".into(),
        labels: vec![],
        review: review(5.0, &["summary"], Some(2)),
    }
    .sign(
        "alice",
        countersign::domain::time::now_millis(),
        &t.signer("alice"),
    )
    .unwrap()
    .decision;
    let err = alice.post_decision(&note).await.unwrap_err();
    assert_eq!(super::code(&err), (400, "invalid_review"));
    assert_eq!(t.store.audit_head().await.unwrap(), head);
    // Sane metadata, in a group of two: accepted.
    let ok = with(
        PayloadVerdict::Approve,
        "",
        review(42.5, &["group"], Some(2)),
    );
    alice.post_decision(&ok).await.unwrap();
    assert_eq!(
        t.store.proposal(&id).await.unwrap().unwrap().status,
        ProposalStatus::Approved
    );
}
