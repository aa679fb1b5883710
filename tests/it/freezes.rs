//! The stop button: a lead's signed freeze of one agent (or every agent)
//! stops policy approvals for it (`no_auto`) and, under `hold`, every
//! start of what was approved; a waiting agent is told at once; nobody
//! but a lead can freeze; the signed record verifies offline with the
//! server's verifier and with `ssh-keygen -Y verify`.

use crate::common::proc::run;
use crate::common::{TestServer, alert, proposal};
use crate::decisions::{code, submit};
use countersign::api::{ExecutionReport, FreezeAccepted, FreezeMode};
use countersign::client::{ApiClient, ClientError};
use countersign::domain::types::ProposalStatus;
use countersign::server::store::ops::AuditHead;
use countersign::signing::NS_DECISION;
use countersign::signing::freeze::FreezeDraft;
use countersign::signing::payload::SignedDecision;
use serde_json::Value;
use std::time::{Duration, Instant};

fn signed_freeze(
    t: &TestServer,
    who: &str,
    agent: &str,
    mode: Option<FreezeMode>,
) -> SignedDecision {
    FreezeDraft {
        agent: agent.into(),
        mode,
        reason: format!("{who}: the agent loops on ws-7"),
    }
    .sign(who, countersign::domain::time::now_millis(), &t.signer(who))
    .expect("sign")
    .decision
}

async fn freeze(
    t: &TestServer,
    who: &str,
    agent: &str,
    mode: Option<FreezeMode>,
) -> Result<FreezeAccepted, ClientError> {
    let signed = signed_freeze(t, who, agent, mode);
    t.login(who).await.post_freeze(&signed).await
}

fn other_agent(t: &TestServer) -> ApiClient {
    ApiClient::new(&t.url(), Some(t.other_agent_token.clone())).unwrap()
}

/// A low-risk block, which the test policy approves by itself.
fn auto_block(ext: &str) -> Value {
    alert(ext, vec![proposal("block_indicator", "low")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_auto_stops_policy_approvals_for_that_agent_only() {
    let t = TestServer::start().await;
    let before = t.agent().submit_alert(&auto_block("fz-0")).await.unwrap();
    assert_eq!(before.proposals[0].status, ProposalStatus::Approved);
    assert!(before.frozen.is_none());

    let out = freeze(&t, "carol", "soar-bot", Some(FreezeMode::NoAuto))
        .await
        .unwrap();
    assert_eq!(out.event, "agent_frozen");
    assert_eq!(out.freezes.len(), 1);
    assert_eq!(out.freezes[0].by, "carol");

    // The frozen agent's auto rule waits for a person, and it is told why.
    let held = t.agent().submit_alert(&auto_block("fz-1")).await.unwrap();
    let p = &held.proposals[0];
    assert_eq!(p.status, ProposalStatus::Pending);
    let f = held.frozen.clone().expect("the answer names the freeze");
    assert_eq!((f.agent.as_str(), f.mode), ("soar-bot", FreezeMode::NoAuto));
    // Another agent is not stopped.
    let free = other_agent(&t)
        .submit_alert(&auto_block("fz-2"))
        .await
        .unwrap();
    assert_eq!(free.proposals[0].status, ProposalStatus::Approved);
    assert!(free.frozen.is_none());

    // One person's approval is what it takes; started is allowed (no hold).
    t.person("alice")
        .await
        .approve(&p.id, &p.digest)
        .await
        .unwrap();
    t.agent()
        .report_execution(&p.id, &ExecutionReport::started())
        .await
        .unwrap();

    // The alert's entry says which freeze kept policy from approving it.
    let log = t.login("bob").await.audit_all(0).await.unwrap();
    let received: Vec<Value> = log
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.entry).unwrap())
        .filter(|b| b["kind"] == "alert_received" && b["data"]["external_id"] == "fz-1")
        .collect();
    assert_eq!(received[0]["data"]["proposals"][0]["frozen"]["by"], "carol");

    // Unfrozen, policy approves again.
    freeze(&t, "dave", "soar-bot", None).await.unwrap();
    let after = t.agent().submit_alert(&auto_block("fz-3")).await.unwrap();
    assert_eq!(after.proposals[0].status, ProposalStatus::Approved);
    assert!(after.frozen.is_none());
    audit_verifies(&t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_refuses_started_until_a_lead_lifts_it() {
    let t = TestServer::start().await;
    let agent = t.agent();
    let (id, digest) = submit(&t, "fz-h", "medium").await;
    t.person("alice").await.approve(&id, &digest).await.unwrap();
    freeze(&t, "carol", "soar-bot", Some(FreezeMode::Hold))
        .await
        .unwrap();

    let e = agent
        .report_execution(&id, &ExecutionReport::started())
        .await
        .unwrap_err();
    assert_eq!(code(&e), (409, "agent_frozen"));
    let ClientError::Api { body, message, .. } = &e else {
        unreachable!()
    };
    assert_eq!(body["error"]["freeze"]["by"], "carol", "{body}");
    assert!(message.contains("frozen by carol (hold"), "{message}");
    // The approval stays, and the answer says why it waits.
    let view = agent.decision(&id, 0).await.unwrap();
    assert_eq!(view.status, ProposalStatus::Approved);
    assert!(view.held());
    // A hold on every agent stops the other agent too.
    let other = other_agent(&t);
    let r = other
        .submit_alert(&alert("fz-o", vec![proposal("isolate_host", "medium")]))
        .await
        .unwrap();
    let p = &r.proposals[0];
    t.person("alice")
        .await
        .approve(&p.id, &p.digest)
        .await
        .unwrap();
    freeze(&t, "dave", "*", Some(FreezeMode::Hold))
        .await
        .unwrap();
    let e = other
        .report_execution(&p.id, &ExecutionReport::started())
        .await
        .unwrap_err();
    assert_eq!(code(&e), (409, "agent_frozen"));
    // Each agent sees only the freezes that stop it; a person sees all.
    let mine = other.freezes().await.unwrap().freezes;
    assert_eq!(
        mine.iter().map(|f| f.agent.as_str()).collect::<Vec<_>>(),
        ["*"]
    );
    assert_eq!(
        t.login("bob").await.freezes().await.unwrap().freezes.len(),
        2
    );

    // Lifted (both), the approval starts.
    freeze(&t, "carol", "soar-bot", None).await.unwrap();
    freeze(&t, "carol", "*", None).await.unwrap();
    let started = agent
        .report_execution(&id, &ExecutionReport::started())
        .await
        .unwrap();
    assert_eq!(started.status, ProposalStatus::Executing);
    audit_verifies(&t);
}

#[tokio::test]
async fn a_waiting_agent_is_told_at_once() {
    let t = TestServer::start().await;
    let (id, _) = submit(&t, "fz-w", "medium").await;
    let agent = t.agent();
    let waiting = tokio::spawn(async move {
        let at = Instant::now();
        (agent.decision(&id, 120).await, at.elapsed())
    });
    t.until_waiting(1).await;
    freeze(&t, "carol", "soar-bot", Some(FreezeMode::NoAuto))
        .await
        .unwrap();
    let (view, took) = waiting.await.unwrap();
    let view = view.unwrap();
    assert_eq!(view.status, ProposalStatus::Pending);
    assert_eq!(view.frozen.map(|f| f.by), Some("carol".into()));
    // Told by the freeze, not by the wait running out.
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[tokio::test]
async fn only_a_lead_freezes_and_every_refusal_stores_nothing() {
    let t = TestServer::start().await;
    let head = |t: &TestServer| {
        let store = t.store.clone();
        async move { store.run(AuditHead).await.unwrap().seq }
    };
    let start = head(&t).await;
    let analyst = freeze(&t, "alice", "soar-bot", Some(FreezeMode::Hold))
        .await
        .unwrap_err();
    assert_eq!(code(&analyst), (403, "lead_required"));
    // Tokens can never freeze.
    let signed = signed_freeze(&t, "carol", "soar-bot", Some(FreezeMode::Hold));
    for (token, want) in [
        (&t.agent_token, "agent_cannot_decide"),
        (&t.reviewer_token, "login_required"),
    ] {
        let c = ApiClient::new(&t.url(), Some(token.clone())).unwrap();
        assert_eq!(code(&c.post_freeze(&signed).await.unwrap_err()).1, want);
    }
    // Signed by carol, posted on dave's session.
    let e = t
        .login("dave")
        .await
        .post_freeze(&signed)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (403, "principal_mismatch"));
    // Lifting what is not frozen.
    let e = freeze(&t, "carol", "soar-bot", None).await.unwrap_err();
    assert_eq!(code(&e), (409, "not_frozen"));
    // A freeze is not a decision, nor a decision a freeze.
    let carol = t.login("carol").await;
    let e = carol.post_decision(&signed).await.unwrap_err();
    assert_eq!(code(&e), (400, "invalid_payload"));
    let (id, digest) = submit(&t, "fz-x", "medium").await;
    let decision = crate::common::signed(
        &t.signer("carol"),
        "carol",
        &id,
        &digest,
        countersign::signing::payload::PayloadVerdict::Approve,
        "",
    );
    let e = carol.post_freeze(&decision).await.unwrap_err();
    assert_eq!(code(&e), (400, "invalid_payload"));
    // A reason is required; an agent name must be one.
    for (agent, reason, want) in [
        ("soar-bot", " ", "reason_required"),
        ("soar bot", "runaway", "invalid_payload"),
        ("", "runaway", "invalid_payload"),
    ] {
        let s = FreezeDraft {
            agent: agent.into(),
            mode: Some(FreezeMode::Hold),
            reason: reason.into(),
        }
        .sign(
            "carol",
            countersign::domain::time::now_millis(),
            &t.signer("carol"),
        )
        .unwrap()
        .decision;
        let e = carol.post_freeze(&s).await.unwrap_err();
        assert_eq!(code(&e).1, want, "{agent:?} {reason:?}");
    }
    // Tampered after signing.
    let mut bent = signed.clone();
    bent.payload = bent.payload.replace("\"hold\"", "\"no_auto\"");
    let e = carol.post_freeze(&bent).await.unwrap_err();
    assert_eq!(code(&e), (400, "bad_signature"));
    // One submission only: the first refused nothing was stored, so the
    // head moved by the submission's entry alone.
    assert_eq!(head(&t).await, start + 1);
    assert!(carol.freezes().await.unwrap().freezes.is_empty());

    // Accepted once; the same signed freeze again is a replay.
    carol.post_freeze(&signed).await.unwrap();
    let e = carol.post_freeze(&signed).await.unwrap_err();
    assert_eq!(code(&e), (409, "replay"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_freeze_verifies_with_ssh_keygen() {
    let t = TestServer::start().await;
    let out = freeze(&t, "carol", "soar-bot", Some(FreezeMode::Hold))
        .await
        .unwrap();
    let lifted = freeze(&t, "dave", "soar-bot", None).await.unwrap();
    assert!(lifted.freezes.is_empty());
    let signers = std::fs::read_to_string(&t.signers_file).unwrap();
    for (entry, who) in [(&out.audit, "carol"), (&lifted.audit, "dave")] {
        let body: Value = serde_json::from_str(&entry.entry).unwrap();
        let data = &body["data"];
        assert_eq!(body["actor"]["principal"], who);
        assert!(crate::receipts::ssh_keygen_verify(
            t.dir.path(),
            &signers,
            who,
            NS_DECISION,
            data["payload"].as_str().unwrap().as_bytes(),
            data["signature"].as_str().unwrap(),
        ));
    }
    audit_verifies(&t);
}

/// `countersign audit verify` over the whole log: chain, signatures, and
/// that no policy approval happened while its agent was frozen.
pub(crate) fn audit_verifies(t: &TestServer) {
    let dir = t.dir.path();
    let export = dir.join(format!("export-{}.jsonl", rand::random::<u32>()));
    let out = run(&[
        "audit",
        "export",
        "--server",
        &t.url(),
        "--token",
        &t.reviewer_token,
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server_pub = dir.join("server_key.pub");
    std::fs::write(&server_pub, t.server_key.public_key().to_openssh().unwrap()).unwrap();
    let out = run(&[
        "audit",
        "verify",
        export.to_str().unwrap(),
        "--signers",
        t.signers_file.to_str().unwrap(),
        "--server-key",
        server_pub.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
