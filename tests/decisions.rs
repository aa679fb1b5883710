//! Signed decisions over HTTP: the happy paths, every refusal the signing
//! issue lists (each leaves the database and the chain unchanged), and
//! interop with OpenSSH's own `ssh-keygen -Y sign / verify`.

mod common;

use common::{TestServer, alert, proposal, signed};
use countersign::client::{ApiClient, ClientError};
use countersign::domain::types::{Label, ProposalStatus};
use countersign::signing::allowed_signers::AllowedSigners;
use countersign::signing::payload::{
    DecisionDraft, PayloadVerdict, Review, SignedDecision, Target,
};
use countersign::signing::signer::Signer;
use countersign::signing::{NS_DECISION, NS_LOGIN};
use std::process::Command;

async fn submit(t: &TestServer, ext: &str, risk: &str) -> (String, String) {
    let r = t
        .agent()
        .submit_alert(&alert(ext, vec![proposal("isolate_host", risk)]))
        .await
        .unwrap();
    (r.proposals[0].id.clone(), r.proposals[0].digest.clone())
}

fn code(e: &ClientError) -> (u16, &str) {
    match e {
        ClientError::Api { status, code, .. } => (status.as_u16(), code.as_str()),
        other => panic!("expected an API error, got {other}"),
    }
}

/// Posts and expects a refusal; the audit head and the proposal stay as
/// they were.
async fn refused(
    t: &TestServer,
    c: &ApiClient,
    d: &SignedDecision,
    proposal: &str,
    want: (u16, &str),
) {
    let head = t.store.audit_head().await.unwrap();
    let before = t.store.proposal(proposal).await.unwrap();
    let err = c.post_decision(d).await.expect_err("must be refused");
    assert_eq!(code(&err), want, "{err}");
    assert_eq!(t.store.audit_head().await.unwrap(), head, "chain unchanged");
    assert_eq!(
        t.store.proposal(proposal).await.unwrap(),
        before,
        "proposal unchanged"
    );
}

#[tokio::test]
async fn dual_control_escalation_halt_and_annotation() {
    let t = TestServer::start().await;
    let (alice, carol) = (t.login("alice").await, t.login("carol").await);
    let (bob, dave) = (t.login("bob").await, t.login("dave").await);
    let (id, digest) = submit(&t, "d-1", "high").await;

    let a1 = alice
        .post_decision(&signed(
            &t.signer("alice"),
            "alice",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        ))
        .await
        .unwrap();
    assert_eq!(a1.event, "approval_counted");
    assert_eq!(a1.proposal.unwrap().status, ProposalStatus::AwaitingSecond);
    let a2 = carol
        .post_decision(&signed(
            &t.signer("carol"),
            "carol",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "confirmed with owner",
        ))
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
        .post_decision(&signed(
            &t.signer("bob"),
            "bob",
            &id,
            &digest,
            PayloadVerdict::Halt,
            "wrong host: ws-0412 is the CFO's laptop",
        ))
        .await
        .unwrap();
    assert_eq!(h.proposal.unwrap().status, ProposalStatus::Halted);
    let start = t
        .agent()
        .report_execution(&id, &countersign::api::ExecutionReport::Started)
        .await;
    assert_eq!(code(&start.unwrap_err()), (409, "already_final"));

    // Escalate, then a different lead decides.
    let (id2, d2) = submit(&t, "d-2", "medium").await;
    alice
        .post_decision(&signed(
            &t.signer("alice"),
            "alice",
            &id2,
            &d2,
            PayloadVerdict::Escalate,
            "needs a lead: VIP host",
        ))
        .await
        .unwrap();
    let esc = t
        .store
        .queue(countersign::server::store::QueueQuery {
            view: countersign::api::View::Escalated,
            after: 0,
            limit: 100,
            principal: None,
            agent: None,
        })
        .await
        .unwrap();
    assert_eq!(esc.items.len(), 1);
    let r = dave
        .post_decision(&signed(
            &t.signer("dave"),
            "dave",
            &id2,
            &d2,
            PayloadVerdict::Reject,
            "known admin script",
        ))
        .await
        .unwrap();
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
    };
    let n = alice
        .post_decision(
            &draft
                .sign(
                    "alice",
                    countersign::domain::time::now_millis(),
                    &t.signer("alice"),
                )
                .unwrap(),
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
    // mallory has a key but is not in allowed_signers.
    let err = c
        .login("mallory", &Signer::from_key(common::new_key()))
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

fn ssh_keygen(args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("ssh-keygen")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ssh-keygen is installed (openssh-client)");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn interop_with_ssh_keygen_both_ways() {
    let t = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Keys made by ssh-keygen itself.
    let mut signers = String::new();
    for who in ["alice", "carol"] {
        let key = dir.path().join(who);
        let public = common::keygen(&key, who);
        signers.push_str(&format!(
            "{who} namespaces=\"countersign-decision,countersign-login\" {public}"
        ));
    }
    let signers_path = dir.path().join("allowed_signers");
    std::fs::write(&signers_path, &signers).unwrap();
    t.server
        .state
        .set_signers(AllowedSigners::load(&signers_path).unwrap());

    // alice logs in and decides with signatures made by `ssh-keygen -Y sign`.
    let sign_with_ssh_keygen = |who: &str, ns: &str, msg: &[u8]| -> String {
        let file = dir.path().join(format!("msg-{}", rand_name()));
        std::fs::write(&file, msg).unwrap();
        let out = ssh_keygen(
            &[
                "-Y",
                "sign",
                "-f",
                dir.path().join(who).to_str().unwrap(),
                "-n",
                ns,
                file.to_str().unwrap(),
            ],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(file.with_extension("sig")).unwrap()
    };
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
    let challenge = ch["challenge"].as_str().unwrap().to_owned();
    let sig = sign_with_ssh_keygen("alice", NS_LOGIN, challenge.as_bytes());
    let login: serde_json::Value = http
        .post(format!("{}/v1/session", t.url()))
        .json(&serde_json::json!({"principal": "alice", "challenge": challenge, "signature": sig}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"]
        .as_str()
        .expect("logged in with an ssh-keygen signature")
        .to_owned();
    let alice = ApiClient::new(&t.url(), Some(token)).unwrap();
    let (id, digest) = submit(&t, "i-1", "high").await;
    let payload = serde_json::to_string(
        &DecisionDraft {
            target: Target::Proposal(id.clone()),
            digest: digest.clone(),
            verdict: PayloadVerdict::Approve,
            reason: "verified with the host owner".into(),
            labels: vec![],
            review: Review::default(),
        }
        .payload("alice", countersign::domain::time::now_millis()),
    )
    .unwrap();
    let signature = sign_with_ssh_keygen("alice", NS_DECISION, payload.as_bytes());
    let accepted = alice
        .post_decision(&SignedDecision { payload, signature })
        .await
        .unwrap();
    assert_eq!(accepted.event, "approval_counted");

    // carol's key file (made by ssh-keygen) loaded by countersign's signer.
    let carol_signer = Signer::from_file(&dir.path().join("carol"), || None).unwrap();
    let mut carol = ApiClient::new(&t.url(), None).unwrap();
    carol.login("carol", &carol_signer).await.unwrap();
    carol
        .post_decision(&signed(
            &carol_signer,
            "carol",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        ))
        .await
        .unwrap();

    // Every stored decision verifies with `ssh-keygen -Y verify`.
    let reviewer = ApiClient::new(&t.url(), Some(t.reviewer_token.clone())).unwrap();
    let mut checked = 0;
    for e in reviewer.audit_all(0).await.unwrap() {
        let entry: serde_json::Value = serde_json::from_str(&e.entry).unwrap();
        let Some(payload) = entry["data"]["payload"].as_str() else {
            continue;
        };
        let principal = entry["actor"]["principal"].as_str().unwrap();
        let sig_file = dir.path().join(format!("entry-{}.sig", e.seq));
        std::fs::write(&sig_file, entry["data"]["signature"].as_str().unwrap()).unwrap();
        let out = ssh_keygen(
            &[
                "-Y",
                "verify",
                "-f",
                signers_path.to_str().unwrap(),
                "-I",
                principal,
                "-n",
                NS_DECISION,
                "-s",
                sig_file.to_str().unwrap(),
            ],
            Some(payload.as_bytes()),
        );
        assert!(
            out.status.success(),
            "entry {}: {}",
            e.seq,
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
    assert_eq!(
        t.store.proposal(&id).await.unwrap().unwrap().status,
        ProposalStatus::Approved
    );
}

fn rand_name() -> String {
    countersign::signing::payload::new_nonce()
}

#[tokio::test]
async fn signing_through_a_running_ssh_agent() {
    let t = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hw");
    common::keygen(&key, "hw");
    let sock = dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .args(["-D", "-a", sock.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent");
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let added = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let public = ssh_key::PublicKey::read_openssh_file(&key.with_extension("pub")).unwrap();
    std::fs::write(
        &t.signers_file,
        format!("erin {}\n", public.to_openssh().unwrap()),
    )
    .unwrap();
    t.server
        .state
        .set_signers(AllowedSigners::load(&t.signers_file).unwrap());

    let signer = Signer::from_agent(&sock, public).unwrap();
    let mut erin = ApiClient::new(&t.url(), None).unwrap();
    erin.login("erin", &signer).await.unwrap();
    let (id, digest) = submit(&t, "agent-1", "medium").await;
    let r = erin
        .post_decision(&signed(
            &signer,
            "erin",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        ))
        .await
        .unwrap();
    assert_eq!(r.event, "approved");
    let _ = agent.kill();
    let _ = agent.wait();
}

#[tokio::test]
async fn claims_are_leases_released_by_decisions() {
    let t = TestServer::start().await;
    let (alice, bob) = (t.login("alice").await, t.login("bob").await);
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
    alice
        .post_decision(&signed(
            &t.signer("alice"),
            "alice",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        ))
        .await
        .unwrap();
    let p = t.store.proposal(&id).await.unwrap().unwrap();
    assert_eq!((p.status, p.claimed_by), (ProposalStatus::Approved, None));
    // Claiming something decided is refused; agents cannot claim.
    assert_eq!(
        code(&bob.claim(&id, false).await.unwrap_err()),
        (409, "wrong_state")
    );
    assert_eq!(code(&t.agent().claim(&id, false).await.unwrap_err()).0, 403);
}
