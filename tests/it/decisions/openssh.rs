//! Interoperation with OpenSSH: ssh-keygen both ways, and ssh-agent.

use super::submit;
use crate::common::person::Person;
use crate::common::{self, TestServer};
use countersign::client::ApiClient;
use countersign::domain::types::ProposalStatus;
use countersign::signing::allowed_signers::AllowedSigners;
use countersign::signing::payload::{
    DecisionDraft, PayloadVerdict, Review, SignedDecision, Target,
};
use countersign::signing::signer::Signer;
use countersign::signing::{NS_DECISION, NS_LOGIN};
use std::process::Command;

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
    let challenge = crate::common::login_challenge(&t.url(), "alice").await;
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
            revert_digest: None,
            amend: None,
            amended_digest: None,
            contain_until: None,
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
    let carol = Person::login(&t.url(), "carol", carol_signer).await;
    carol.approve(&id, &digest).await.unwrap();

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
    assert_eq!(t.stored(&id).await.status, ProposalStatus::Approved);
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
    let erin = Person::login(&t.url(), "erin", signer).await;
    let (id, digest) = submit(&t, "agent-1", "medium").await;
    let r = erin.approve(&id, &digest).await.unwrap();
    assert_eq!(r.event, "approved");
    let _ = agent.kill();
    let _ = agent.wait();
}
