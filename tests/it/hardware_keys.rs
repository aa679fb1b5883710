//! FIDO security keys (issue 34), built in software by OpenSSH's
//! PROTOCOL.u2f — no device needed: an `sk-ssh-ed25519@openssh.com` and an
//! `sk-ecdsa-sha2-nistp256@openssh.com` key sign as a touched security key
//! signs. `ssh-keygen -Y verify` is the independent peer. A signature
//! without the user-presence flag is refused, and a rule with
//! `hardware_key = true` refuses an approval by a plain ed25519 key while
//! the security key's approval counts.

use crate::common;

use common::proc::{ServeProcess, create_token};
use countersign::signing::payload::{DecisionDraft, PayloadVerdict, Review, Target};
use countersign::signing::{self, NS_DECISION, NS_LOGIN, SigError, sshsig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use ssh_key::public::{Ed25519PublicKey, KeyData, SkEcdsaSha2NistP256, SkEd25519};
use ssh_key::{Algorithm, HashAlg, PublicKey, Signature, SshSig};
use std::path::Path;
use std::process::{Command, Stdio};

const APPLICATION: &str = "ssh:";
const USER_PRESENT: u8 = 0x01;

/// A security key made in software.
enum SoftKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl SoftKey {
    fn ed25519() -> Self {
        let seed: [u8; 32] = rand::random();
        SoftKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    fn p256() -> Self {
        loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&bytes) {
                return SoftKey::P256(k);
            }
        }
    }

    fn public(&self) -> PublicKey {
        let data = match self {
            SoftKey::Ed25519(k) => KeyData::SkEd25519(SkEd25519::new(
                Ed25519PublicKey(k.verifying_key().to_bytes()),
                APPLICATION,
            )),
            SoftKey::P256(k) => KeyData::SkEcdsaSha2NistP256(SkEcdsaSha2NistP256::new(
                k.verifying_key().to_encoded_point(false),
                APPLICATION,
            )),
        };
        PublicKey::from(data)
    }

    /// An armored SSHSIG over `msg` as the key signs it (PROTOCOL.u2f): the
    /// key signs SHA-256(application) ‖ flags ‖ counter ‖ SHA-256(data),
    /// and the flags and counter follow the signature.
    fn sign(&self, namespace: &str, msg: &[u8], flags: u8) -> String {
        let data = SshSig::signed_data(namespace, HashAlg::Sha512, msg).unwrap();
        let counter: u32 = 7;
        let mut signed = Vec::new();
        signed.extend(Sha256::digest(APPLICATION.as_bytes()));
        signed.push(flags);
        signed.extend(counter.to_be_bytes());
        signed.extend(Sha256::digest(&data));
        let (algorithm, mut bytes) = match self {
            SoftKey::Ed25519(k) => {
                use ed25519_dalek::Signer;
                (Algorithm::SkEd25519, k.sign(&signed).to_bytes().to_vec())
            }
            SoftKey::P256(k) => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::Signature = k.sign(&signed);
                let (r, s) = sig.split_bytes();
                let mut out = mpint(&r);
                out.extend(mpint(&s));
                (Algorithm::SkEcdsaSha2NistP256, out)
            }
        };
        bytes.push(flags);
        bytes.extend(counter.to_be_bytes());
        let signature = Signature::new(algorithm, bytes).unwrap();
        let sig = SshSig::new(
            self.public().key_data().clone(),
            namespace,
            HashAlg::Sha512,
            signature,
        )
        .unwrap();
        sshsig::armor(&sig, None).unwrap()
    }
}

/// An SSH mpint of a positive big-endian number.
fn mpint(b: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
    if v.first().is_some_and(|x| x & 0x80 != 0) {
        v.insert(0, 0);
    }
    let mut out = (v.len() as u32).to_be_bytes().to_vec();
    out.extend(v);
    out
}

/// `ssh-keygen -Y verify` of `signature` over `msg`: whether it accepts.
fn ssh_keygen_accepts(
    dir: &Path,
    signers: &str,
    who: &str,
    ns: &str,
    msg: &[u8],
    signature: &str,
) -> bool {
    let file = dir.join("signers-for-ssh-keygen");
    std::fs::write(&file, signers).unwrap();
    let sig = dir.join("msg.sig");
    std::fs::write(&sig, signature).unwrap();
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&file)
        .args(["-I", who, "-n", ns, "-s"])
        .arg(&sig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(msg).unwrap();
    child.wait_with_output().unwrap().status.success()
}

#[test]
fn software_security_keys_verify_here_and_with_ssh_keygen_when_touched() {
    let dir = tempfile::tempdir().unwrap();
    for key in [SoftKey::ed25519(), SoftKey::p256()] {
        let public = key.public();
        let line = format!("hal {}\n", public.to_openssh().unwrap());
        let msg = b"{\"v\":1}";
        let touched = key.sign(NS_DECISION, msg, USER_PRESENT);
        let v = signing::verify(&touched, msg, NS_DECISION).expect("a touched key verifies");
        assert_eq!(v.key.key_data(), public.key_data());
        assert!(signing::is_hardware(&v.key));
        assert!(
            ssh_keygen_accepts(dir.path(), &line, "hal", NS_DECISION, msg, &touched),
            "ssh-keygen accepts {}",
            public.algorithm()
        );
        // Not touched: refused here. (ssh-keygen 9.2 accepts it: the gate
        // is stricter than the peer, never looser.)
        let untouched = key.sign(NS_DECISION, msg, 0);
        assert_eq!(
            signing::verify(&untouched, msg, NS_DECISION).err(),
            Some(SigError::NoUserPresence)
        );
        // Another message: the signature does not verify.
        assert_eq!(
            signing::verify(&touched, b"{\"v\":2}", NS_DECISION).err(),
            Some(SigError::Invalid)
        );
    }
}

const POLICY: &str = r#"
[defaults]
approvals = 1
role = "analyst"

[[rules]]
name = "containment needs a touch"
action = "isolate_host"
hardware_key = true
"#;

/// Logs in as `who` with a software security key; the session token.
async fn login(url: &str, who: &str, key: &SoftKey) -> String {
    let http = reqwest::Client::new();
    let challenge = crate::common::login_challenge(url, who).await;
    let signature = key.sign(NS_LOGIN, challenge.as_bytes(), USER_PRESENT);
    let r: Value = http
        .post(format!("{url}/v1/session"))
        .json(&json!({"principal": who, "challenge": challenge, "signature": signature}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"].as_str().expect("logged in").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hardware_key_rule_takes_only_a_touched_security_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    let alice_pub = common::keygen(&p("alice"), "alice");
    let hal = SoftKey::ed25519();
    std::fs::write(
        p("allowed_signers"),
        format!(
            "alice {alice_pub}hal {}\n",
            hal.public().to_openssh().unwrap()
        ),
    )
    .unwrap();
    std::fs::write(p("policy.toml"), POLICY).unwrap();
    let db = p("gate.db");
    let agent = create_token(&db, "soar-bot", "agent");
    let server = ServeProcess::start(
        &db,
        &[
            "--signers",
            p("allowed_signers").to_str().unwrap(),
            "--policy",
            p("policy.toml").to_str().unwrap(),
            "--server-key",
            p("server_key").to_str().unwrap(),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let body = common::alert("hw-1", vec![common::proposal("isolate_host", "medium")]);
    let submitted = countersign::client::ApiClient::new(&server.url, Some(agent.clone()))
        .unwrap()
        .submit_alert(&body)
        .await
        .unwrap();
    let (id, digest) = (
        submitted.proposals[0].id.clone(),
        submitted.proposals[0].digest.clone(),
    );
    let draft = DecisionDraft {
        target: Target::Proposal(id.clone()),
        digest,
        verdict: PayloadVerdict::Approve,
        reason: String::new(),
        labels: vec![],
        review: Review {
            seconds: 9.0,
            panes: vec!["summary".into()],
            group: None,
        },
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: None,
    };
    let now = countersign::domain::time::now_millis;

    // alice's plain ed25519 key: refused, and the proposal still waits.
    let alice = common::person::Person::login(
        &server.url,
        "alice",
        countersign::signing::signer::Signer::from_file(&p("alice"), || None).unwrap(),
    )
    .await;
    let e = alice
        .approve(&id, &draft.digest)
        .await
        .expect_err("software key");
    assert!(e.to_string().contains("hardware_key_required"), "{e}");
    let view = alice.decision(&id, 0).await.unwrap();
    assert_eq!(serde_json::to_value(view.status).unwrap(), "pending");

    // hal's touched security key: the approval counts.
    let token = login(&server.url, "hal", &hal).await;
    let payload = serde_json::to_string(&draft.payload("hal", now())).unwrap();
    let signature = hal.sign(NS_DECISION, payload.as_bytes(), USER_PRESENT);
    let r = http
        .post(format!("{}/v1/decisions", server.url))
        .bearer_auth(&token)
        .json(&json!({"payload": payload, "signature": signature}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["event"], "approved", "{body}");

    // Untouched, the same key signs nothing.
    let payload = serde_json::to_string(&draft.payload("hal", now())).unwrap();
    let signature = hal.sign(NS_DECISION, payload.as_bytes(), 0);
    let r = http
        .post(format!("{}/v1/decisions", server.url))
        .bearer_auth(&token)
        .json(&json!({"payload": payload, "signature": signature}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_signature", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user-presence"),
        "{body}"
    );

    // audit verify re-checks the rule against the recorded policy: the
    // approval was by a security key, as `hardware_key` wants.
    let reviewer = create_token(&db, "auditor", "reviewer");
    let (ok, said) = common::proc::export_and_verify(&server.url, &reviewer, dir.path());
    assert!(ok, "{said}");
    assert!(
        said.contains("rechecked") || said.contains("re-checked"),
        "{said}"
    );
}
