//! Approval receipts: issued only once approved, the same text every
//! time, checked offline by `countersign receipt verify` (which fails on
//! a changed byte, a swapped approval, an unknown signer, another server's
//! key) and by `ssh-keygen -Y verify` on every signature in them; starting
//! consumes one, a halt revokes it.

use crate::common::proc::run;
use crate::common::{TestServer, alert, proposal};
use crate::decisions::{code, submit};
use countersign::api::{ExecutionReport, SignedReceipt};
use countersign::domain::types::ProposalStatus;
use countersign::receipt::verify::{self, Checked, Expect};
use countersign::server::store::ops::AuditHead;
use countersign::signing::allowed_signers::AllowedSigners;
use countersign::signing::payload::PayloadVerdict;
use countersign::signing::{NS_DECISION, NS_RECEIPT};
use serde_json::Value;
use ssh_key::{HashAlg, LineEnding, PrivateKey};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A high-risk proposal approved by alice and carol (two people, a lead).
async fn approved(t: &TestServer, ext: &str) -> (String, String) {
    let (id, digest) = submit(t, ext, "high").await;
    t.person("alice").await.approve(&id, &digest).await.unwrap();
    t.person("carol").await.approve(&id, &digest).await.unwrap();
    (id, digest)
}

fn server_pub(t: &TestServer) -> PathBuf {
    let path = t.dir.path().join("server_key.pub");
    let line = t.server_key.public_key().to_openssh().unwrap();
    std::fs::write(&path, format!("{line} countersign-server\n")).unwrap();
    path
}

/// `countersign receipt verify` on `r`: its exit code and stderr.
pub(crate) fn verify_cli(t: &TestServer, r: &SignedReceipt, extra: &[&str]) -> (i32, String) {
    let file = t
        .dir
        .path()
        .join(format!("r-{}.json", rand::random::<u64>()));
    std::fs::write(&file, serde_json::to_vec(r).unwrap()).unwrap();
    let server_key = server_pub(t);
    let mut args = vec![
        "receipt",
        "verify",
        file.to_str().unwrap(),
        "--server-key",
        server_key.to_str().unwrap(),
        "--signers",
        t.signers_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `receipt` with its text replaced by `edit` of its JSON, signed again
/// with `key`: what a forger holding that key (or a broken server) gives.
fn resigned(r: &SignedReceipt, key: &PrivateKey, edit: impl FnOnce(&mut Value)) -> SignedReceipt {
    let mut v: Value = serde_json::from_str(&r.receipt).unwrap();
    edit(&mut v);
    let text = String::from_utf8(countersign::domain::digest::canonical(&v).unwrap()).unwrap();
    let sig = key
        .sign(NS_RECEIPT, HashAlg::Sha512, text.as_bytes())
        .unwrap()
        .to_pem(LineEnding::LF)
        .unwrap();
    SignedReceipt {
        receipt: text,
        signature: sig,
    }
}

pub(crate) fn ssh_keygen_verify(
    dir: &Path,
    signers: &str,
    who: &str,
    ns: &str,
    msg: &[u8],
    sig: &str,
) -> bool {
    use std::io::Write;
    let n = rand::random::<u64>();
    let signers_file = dir.join(format!("signers-{n}"));
    let sig_file = dir.join(format!("sig-{n}"));
    std::fs::write(&signers_file, signers).unwrap();
    std::fs::write(&sig_file, sig).unwrap();
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&signers_file)
        .args(["-I", who, "-n", ns, "-s"])
        .arg(&sig_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ssh-keygen is installed (openssh-client)");
    child.stdin.take().unwrap().write_all(msg).unwrap();
    child.wait_with_output().unwrap().status.success()
}

#[tokio::test]
async fn a_receipt_is_issued_once_approved_and_checks_offline() {
    let t = TestServer::start().await;
    let agent = t.agent();
    let (id, digest) = submit(&t, "rc-1", "high").await;
    let early = agent.receipt(&id).await.unwrap_err();
    assert_eq!(code(&early), (409, "not_approved"), "pending: no receipt");
    t.person("alice").await.approve(&id, &digest).await.unwrap();
    let half = agent.receipt(&id).await.unwrap_err();
    assert_eq!(code(&half), (409, "not_approved"), "one of two approvals");
    t.person("carol").await.approve(&id, &digest).await.unwrap();

    let r = agent.receipt(&id).await.unwrap();
    // The same text and signature however often it is asked for, and from
    // a reviewer's session too.
    assert_eq!(r, agent.receipt(&id).await.unwrap());
    assert_eq!(r, t.login("bob").await.receipt(&id).await.unwrap());
    // Another agent does not see it.
    let other = countersign::client::ApiClient::new(&t.url(), Some(t.other_agent_token.clone()))
        .unwrap()
        .receipt(&id)
        .await
        .unwrap_err();
    assert_eq!(code(&other).0, 404);

    let v: Value = serde_json::from_str(&r.receipt).unwrap();
    assert_eq!(v["kind"], "receipt");
    assert_eq!(v["proposal_id"], id.as_str());
    assert_eq!(v["digest"], digest.as_str());
    assert_eq!(v["action"], "isolate_host");
    assert_eq!(v["target"], "ws-0412");
    assert_eq!(v["audience"], "soar-bot");
    assert_eq!(
        v["document"]["proposal"]["rationale"],
        "contain before lateral movement"
    );
    let people: Vec<&str> = v["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["principal"].as_str().unwrap())
        .collect();
    assert_eq!(people, ["alice", "carol"]);
    // The approving entry is in the log, and it is the one named.
    let log = t.store.audit_all().await.unwrap();
    let approving = log
        .iter()
        .find(|e| e.seq == v["audit_seq"].as_i64().unwrap())
        .unwrap();
    assert!(approving.entry.contains("\"approved\""));

    let (rc, err) = verify_cli(
        &t,
        &r,
        &["--expect-digest", &digest, "--expect-proposal", &id],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(err.contains("valid: receipt"), "{err}");
    let (rc, err) = verify_cli(&t, &r, &["--expect-digest", "sha256:00"]);
    assert_eq!((rc, err.contains("expected sha256:00")), (1, true), "{err}");

    // ssh-keygen agrees on every signature in it: the server's over the
    // exact receipt text, each person's over their exact payload.
    let server_line = format!(
        "countersign-server {}\n",
        t.server_key.public_key().to_openssh().unwrap()
    );
    let dir = t.dir.path();
    assert!(ssh_keygen_verify(
        dir,
        &server_line,
        "countersign-server",
        NS_RECEIPT,
        r.receipt.as_bytes(),
        &r.signature
    ));
    let mut tampered = r.receipt.clone().into_bytes();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    assert!(!ssh_keygen_verify(
        dir,
        &server_line,
        "countersign-server",
        NS_RECEIPT,
        &tampered,
        &r.signature
    ));
    let signers = std::fs::read_to_string(&t.signers_file).unwrap();
    for a in v["approvals"].as_array().unwrap() {
        assert!(ssh_keygen_verify(
            dir,
            &signers,
            a["principal"].as_str().unwrap(),
            NS_DECISION,
            a["payload"].as_str().unwrap().as_bytes(),
            a["signature"].as_str().unwrap()
        ));
    }
    // Past execute_by it is expired (exit 3 in the CLI), not invalid.
    let signers = AllowedSigners::load(&t.signers_file).unwrap();
    let far = countersign::domain::time::now_millis() + 3_600_000;
    let bytes = serde_json::to_vec(&r).unwrap();
    let public = t.server_key.public_key();
    assert!(matches!(
        verify::check(&bytes, public, &signers, &Expect::default(), far),
        Checked::Expired(_)
    ));
}

#[tokio::test]
async fn receipt_verify_fails_on_every_forgery() {
    let t = TestServer::start().await;
    let (id, _) = approved(&t, "rc-2").await;
    let (other_id, _) = approved(&t, "rc-3").await;
    let r = t.agent().receipt(&id).await.unwrap();
    let other = t.agent().receipt(&other_id).await.unwrap();
    let key = &t.server_key;
    let stranger = crate::common::new_key();

    // A changed byte in the document: the server's signature breaks.
    let mut flipped = r.clone();
    flipped.receipt = flipped.receipt.replacen("ws-0412", "ws-0413", 1);
    // The same change signed again by the server key: the digest breaks.
    let redigested = resigned(&r, key, |v| {
        v["document"]["proposal"]["target"] = "ws-0413".into();
        v["target"] = "ws-0413".into();
    });
    // alice's approval of another proposal put in this one.
    let swapped = resigned(&r, key, |v| {
        let o: Value = serde_json::from_str(&other.receipt).unwrap();
        v["approvals"][0] = o["approvals"][0].clone();
    });
    // An approval signed by a key allowed_signers does not list.
    let unknown = resigned(&r, key, |v| {
        let payload = v["approvals"][1]["payload"].as_str().unwrap().to_owned();
        let sig = stranger
            .sign(NS_DECISION, HashAlg::Sha512, payload.as_bytes())
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap();
        v["approvals"][1]["signature"] = sig.into();
        v["approvals"][1]["key"] =
            countersign::signing::fingerprint(&stranger.public_key().clone()).into();
    });
    // One person counted twice.
    let doubled = resigned(&r, key, |v| {
        v["approvals"][1] = v["approvals"][0].clone();
    });
    // The genuine text, signed by another server's key.
    let foreign = resigned(&r, &stranger, |_| {});
    for (case, forged, says) in [
        ("changed byte", &flipped, "server signature"),
        ("document changed and re-signed", &redigested, "digest is"),
        ("swapped approval", &swapped, "another proposal"),
        ("unknown signer", &unknown, "allowed_signers"),
        ("same person twice", &doubled, "same key"),
        ("another server's key", &foreign, "not by the server key"),
    ] {
        let (rc, err) = verify_cli(&t, forged, &[]);
        assert_eq!(rc, 1, "{case}: {err}");
        assert!(err.contains(says), "{case}: {err}");
    }
    let (rc, err) = verify_cli(&t, &r, &[]);
    assert_eq!(rc, 0, "{err}");
}

#[tokio::test]
async fn starting_consumes_the_receipt_and_a_halt_revokes_it() {
    let t = TestServer::start().await;
    let agent = t.agent();
    let (id, _) = approved(&t, "rc-4").await;
    let (other_id, _) = approved(&t, "rc-5").await;
    let rid = |r: &SignedReceipt| {
        serde_json::from_str::<Value>(&r.receipt).unwrap()["receipt_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mine = rid(&agent.receipt(&id).await.unwrap());
    let theirs = rid(&agent.receipt(&other_id).await.unwrap());
    let start = |receipt_id: &str| ExecutionReport::Started {
        receipt_id: Some(receipt_id.into()),
    };
    let head = t.store.run(AuditHead).await.unwrap();
    let wrong = agent
        .report_execution(&id, &start(&theirs))
        .await
        .unwrap_err();
    assert_eq!(code(&wrong), (409, "receipt_mismatch"));
    assert_eq!(
        t.store.run(AuditHead).await.unwrap(),
        head,
        "nothing recorded"
    );
    let ok = agent.report_execution(&id, &start(&mine)).await.unwrap();
    assert_eq!(ok.status, ProposalStatus::Executing);
    let again = agent
        .report_execution(&id, &start(&mine))
        .await
        .unwrap_err();
    assert_eq!(code(&again).0, 409, "a receipt is used once");
    // The log says which receipt was used.
    let log = t.store.audit_all().await.unwrap();
    let started = log
        .iter()
        .rfind(|e| e.entry.contains("execution_started"))
        .unwrap();
    assert!(started.entry.contains(&mine));
    // Still issued after starting, for the record.
    assert!(agent.receipt(&id).await.is_ok());

    // A halt before starting revokes the receipt.
    t.person("bob")
        .await
        .decide(
            &other_id,
            &t.stored(&other_id).await.digest,
            PayloadVerdict::Halt,
            "wrong host",
        )
        .await
        .unwrap();
    let revoked = agent.receipt(&other_id).await.unwrap_err();
    assert_eq!(code(&revoked), (409, "not_approved"));
    let late = agent
        .report_execution(&other_id, &start(&theirs))
        .await
        .unwrap_err();
    assert_eq!(code(&late).0, 409);
}

#[tokio::test]
async fn a_policy_approval_has_a_receipt_naming_the_rule() {
    let t = TestServer::start().await;
    let r = t
        .agent()
        .submit_alert(&alert("rc-6", vec![proposal("block_indicator", "low")]))
        .await
        .unwrap();
    let id = &r.proposals[0].id;
    assert_eq!(r.proposals[0].status, ProposalStatus::Approved);
    let receipt = t.agent().receipt(id).await.unwrap();
    let v: Value = serde_json::from_str(&receipt.receipt).unwrap();
    assert_eq!(v["approvals"][0]["by"], "policy");
    assert_eq!(v["approvals"][0]["rule"], v["rule"]);
    let (rc, err) = verify_cli(&t, &receipt, &[]);
    assert_eq!(rc, 0, "{err}");
}
