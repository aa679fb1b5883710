//! Every refusal of a signed decision or a login leaves everything as it was.

use super::{refused, submit};
use crate::common::{self, TestServer, alert, proposal, signed};
use countersign::client::{ApiClient, ClientError};
use countersign::domain::types::ProposalStatus;
use countersign::server::store::ops::{AlertById, AuditHead};
use countersign::signing::allowed_signers::AllowedSigners;
use countersign::signing::payload::{
    DecisionDraft, PayloadVerdict, Review, SignedDecision, Target,
};
use countersign::signing::signer::Signer;
use countersign::signing::{NS_DECISION, NS_LOGIN};

/// One refusal: what is tried, on whose session, the decision posted and
/// the (status, code) it gets.
type Case<'a> = (&'a str, &'a ApiClient, SignedDecision, (u16, &'a str));

/// Posts every case on `proposal`; each is refused and changes nothing.
async fn all_refused(t: &TestServer, proposal: &str, cases: Vec<Case<'_>>) {
    for (case, c, d, want) in cases {
        refused(t, case, c, &d, proposal, want).await;
    }
}

#[tokio::test]
async fn every_refusal_leaves_everything_unchanged() {
    let t = TestServer::start().await;
    let alice = t.person("alice").await;
    let (id, digest) = submit(&t, "s-1", "high").await;
    let ok = alice.signed(&id, &digest, PayloadVerdict::Approve, "");

    // One byte of the payload changed after signing.
    let mut forged = ok.clone();
    forged.payload = forged.payload.replace("\"approve\"", "\"reject\" ");
    let mut garbage = ok.clone();
    garbage.signature = "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----".into();
    // Signed as a login, replayed as a decision.
    let payload = serde_json::to_string(
        &DecisionDraft {
            target: Target::Proposal(id.clone()),
            digest: digest.clone(),
            verdict: PayloadVerdict::Approve,
            reason: String::new(),
            labels: vec![],
            review: Review::default(),
            revert_digest: None,
            amend: None,
            amended_digest: None,
            contain_until: None,
        }
        .payload("alice", countersign::domain::time::now_millis()),
    )
    .unwrap();
    let signature = t
        .signer("alice")
        .sign(NS_LOGIN, payload.as_bytes())
        .unwrap();
    let as_login = SignedDecision { payload, signature };
    // An approval signed by any key under any name.
    let approve =
        |signer: &Signer, who: &str| signed(signer, who, &id, &digest, PayloadVerdict::Approve, "");
    // mallory has a key, but it is not in allowed_signers.
    let mallory = Signer::from_key(common::new_key());
    all_refused(
        &t,
        &id,
        vec![
            ("a forged payload", &alice, forged, (400, "bad_signature")),
            (
                "a garbage signature",
                &alice,
                garbage,
                (400, "bad_signature"),
            ),
            (
                "mallory's key claiming to be alice",
                &alice,
                approve(&mallory, "alice"),
                (403, "unknown_key"),
            ),
            (
                "a login signature",
                &alice,
                as_login,
                (400, "wrong_namespace"),
            ),
            (
                "bob's payload on alice's session",
                &alice,
                approve(&t.signer("bob"), "bob"),
                (403, "principal_mismatch"),
            ),
            (
                "alice's payload signed with bob's key",
                &alice,
                approve(&t.signer("bob"), "alice"),
                (403, "principal_mismatch"),
            ),
            (
                "a reject with a one-character reason",
                &alice,
                alice.signed(&id, &digest, PayloadVerdict::Reject, "x"),
                (400, "reason_required"),
            ),
        ],
    )
    .await;

    // The good one is accepted once; then neither it again nor alice again
    // (a fresh nonce) counts, and a second analyst cannot complete a
    // high-risk approval (the lead rule).
    alice.post_decision(&ok).await.unwrap();
    let bob = t.person("bob").await;
    all_refused(
        &t,
        &id,
        vec![
            ("its replay", &alice, ok, (409, "replay")),
            (
                "alice a second time",
                &alice,
                alice.signed(&id, &digest, PayloadVerdict::Approve, ""),
                (403, "same_principal"),
            ),
            (
                "bob, a second analyst",
                &bob,
                bob.signed(&id, &digest, PayloadVerdict::Approve, ""),
                (403, "role_required"),
            ),
        ],
    )
    .await;

    // Stale digest: the agent revises the proposal.
    let mut doc = alert("s-1", vec![proposal("isolate_host", "high")]);
    doc["proposals"][0]["target"] = "ws-0413".into();
    let rev = t.agent().submit_alert(&doc).await.unwrap();
    let current = rev.proposals[0].digest.clone();
    let carol = t.person("carol").await;
    let head = t.store.run(AuditHead).await.unwrap();
    match carol.approve(&id, &digest).await.unwrap_err() {
        ClientError::Api {
            status, code, body, ..
        } => {
            assert_eq!((status.as_u16(), code.as_str()), (409, "stale_digest"));
            assert_eq!(body["error"]["current_digest"], current.as_str());
        }
        e => panic!("{e}"),
    }
    assert_eq!(t.store.run(AuditHead).await.unwrap(), head);
    // The revision dismissed alice's approval: status back to pending.
    assert_eq!(t.stored(&id).await.status, ProposalStatus::Pending);

    // Once final, nobody decides; agent and reviewer tokens never do.
    carol.reject(&id, &current, "not ours").await.unwrap();
    let agent = t.agent();
    let reviewer = ApiClient::new(&t.url(), Some(t.reviewer_token.clone())).unwrap();
    let late = || alice.signed(&id, &current, PayloadVerdict::Approve, "");
    all_refused(
        &t,
        &id,
        vec![
            (
                "alice after the final decision",
                &alice,
                late(),
                (409, "already_final"),
            ),
            (
                "an agent token",
                &agent,
                late(),
                (403, "agent_cannot_decide"),
            ),
            (
                "a reviewer token",
                &reviewer,
                late(),
                (403, "login_required"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn revoked_and_expired_keys_sign_nothing_new() {
    let t = TestServer::start().await;
    let bob = t.person("bob").await;
    let (id, digest) = submit(&t, "k-1", "medium").await;
    // bob's key gets a valid-before in the past. Put in force as a reload
    // would, but not through the watched file: a reload also ends the
    // sessions it no longer admits (tests/it/sessions.rs); what is tested
    // here is the check at signing behind that.
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
    t.server
        .state
        .set_signers(AllowedSigners::parse(&text, "test").unwrap());
    refused(
        &t,
        "bob's expired key",
        &bob,
        &bob.signed(&id, &digest, PayloadVerdict::Approve, ""),
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
    let alice = t.person("alice").await;
    t.server
        .state
        .set_signers(AllowedSigners::parse(&without_alice, "test").unwrap());
    refused(
        &t,
        "alice's removed key",
        &alice,
        &alice.signed(&id, &digest, PayloadVerdict::Approve, ""),
        &id,
        (403, "unknown_key"),
    )
    .await;
}

#[tokio::test]
async fn login_refusals() {
    let t = TestServer::start().await;
    let mut c = ApiClient::new(&t.url(), None).unwrap();
    for (case, who, key, says) in [
        // mallory has a key but is not in allowed_signers: no challenge is
        // stored for a name nobody may sign as, so it cannot be redeemed.
        (
            "mallory",
            "mallory",
            Signer::from_key(common::new_key()),
            "401",
        ),
        (
            "alice with a key not in allowed_signers",
            "alice",
            Signer::from_key(common::new_key()),
            "not in allowed_signers",
        ),
        (
            "alice with bob's key",
            "alice",
            t.signer("bob"),
            "not allowed for principal",
        ),
    ] {
        let err = c.login(who, &key).await.unwrap_err();
        assert!(err.to_string().contains(says), "{case}: {err}");
    }
    // A challenge is single use.
    let http = reqwest::Client::new();
    let challenge = crate::common::login_challenge(&t.url(), "alice").await;
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
    let challenge = crate::common::login_challenge(&t.url(), "alice").await;
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
            revert_digest: None,
            amend: None,
            amended_digest: None,
            contain_until: None,
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
        let case = format!("{verdict:?} with {r:?}");
        let d = with(verdict, "needs a lead", r);
        refused(&t, &case, &alice, &d, &id, (400, "invalid_review")).await;
        let err = alice.post_decision(&d).await.unwrap_err().to_string();
        assert!(err.contains(needle), "{err} should name {needle}");
    }
    // On an alert (an annotation), a group is refused as well.
    let head = t.store.run(AuditHead).await.unwrap();
    let alert_id = t.stored(&id).await.alert_id;
    let note = DecisionDraft {
        target: Target::Alert(alert_id.clone()),
        digest: countersign::domain::digest::alert_digest(
            &t.store
                .run(AlertById(alert_id.clone()))
                .await
                .unwrap()
                .unwrap()
                .0
                .document,
        )
        .unwrap(),
        verdict: PayloadVerdict::Annotate,
        reason: "seen before".into(),
        labels: vec![],
        review: review(5.0, &["summary"], Some(2)),
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: None,
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
    assert_eq!(t.store.run(AuditHead).await.unwrap(), head);
    // Sane metadata, in a group of two: accepted.
    let ok = with(
        PayloadVerdict::Approve,
        "",
        review(42.5, &["group"], Some(2)),
    );
    alice.post_decision(&ok).await.unwrap();
    assert_eq!(t.stored(&id).await.status, ProposalStatus::Approved);
}
