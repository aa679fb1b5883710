//! People known by an SSH certificate authority (issue 34): a CA made with
//! `ssh-keygen` in the test, a `cert-authority` line in allowed_signers,
//! the real binary on loopback. A certificate for alice logs in and signs;
//! an expired one, one for another principal, one from another CA and one
//! past its line's `valid-before` are refused at login and at signing; a
//! session ends with its certificate; `ssh-keygen -Y verify` with the same
//! file accepts every stored record, and so does `countersign audit verify`.

use crate::common;

use common::proc::{ServeProcess, create_token};
use countersign::client::ApiClient;
use countersign::signing::payload::PayloadVerdict;
use countersign::signing::signer::Signer;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ssh_keygen(args: &[&str]) -> String {
    let out = Command::new("ssh-keygen").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// ssh-keygen -s: certifies `key` (its .pub) for `principals` over
/// `validity` (`-V` syntax); the certificate lands in `key-cert.pub`.
fn certify(ca: &Path, key: &Path, principals: &str, validity: &str) -> PathBuf {
    ssh_keygen(&[
        "-q",
        "-s",
        ca.to_str().unwrap(),
        "-I",
        &format!("{}-id", key.file_name().unwrap().to_string_lossy()),
        "-n",
        principals,
        "-V",
        validity,
        key.with_extension("pub").to_str().unwrap(),
    ]);
    let mut cert = key.as_os_str().to_owned();
    cert.push("-cert.pub");
    PathBuf::from(cert)
}

struct Ca {
    dir: tempfile::TempDir,
    server: ServeProcess,
    agent: String,
    reviewer: String,
}

impl Ca {
    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    fn signer(&self, key: &str) -> Signer {
        Signer::from_file(&self.path(key), || None).expect("key and certificate")
    }

    async fn login(&self, who: &str, key: &str) -> Result<ApiClient, String> {
        let mut c = ApiClient::new(&self.server.url, None).unwrap();
        match c.login(who, &self.signer(key)).await {
            Ok(_) => Ok(c),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A new proposal (isolate a host, medium risk): its id and digest.
    async fn proposal(&self, ext: &str) -> (String, String) {
        let body = common::alert(ext, vec![common::proposal("isolate_host", "medium")]);
        let r = ApiClient::new(&self.server.url, Some(self.agent.clone()))
            .unwrap()
            .submit_alert(&body)
            .await
            .unwrap();
        (r.proposals[0].id.clone(), r.proposals[0].digest.clone())
    }
}

async fn start() -> Ca {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    for k in [
        "ca",
        "other-ca",
        "alice",
        "alice-old",
        "alice-as-bob",
        "alice-other",
        "dave",
        "brief",
    ] {
        common::keygen(&p(k), k);
    }
    certify(&p("ca"), &p("alice"), "alice", "-5m:+1h");
    certify(&p("ca"), &p("alice-old"), "alice", "20200101:20200102");
    certify(&p("ca"), &p("alice-as-bob"), "bob", "-5m:+1h");
    certify(&p("other-ca"), &p("alice-other"), "alice", "-5m:+1h");
    certify(&p("ca"), &p("dave"), "dave", "-5m:+1h");
    certify(&p("ca"), &p("brief"), "alice", "-1m:+12s");
    let ca = std::fs::read_to_string(p("ca.pub")).unwrap();
    let signers = format!(
        "alice,bob cert-authority,namespaces=\"countersign-decision,countersign-login\" {ca}\
         dave cert-authority,valid-before=\"20200101Z\" {ca}"
    );
    std::fs::write(p("allowed_signers"), signers).unwrap();
    let db = p("gate.db");
    let agent = create_token(&db, "soar-bot", "agent");
    let reviewer = create_token(&db, "auditor", "reviewer");
    let server = ServeProcess::start(
        &db,
        &[
            "--signers",
            p("allowed_signers").to_str().unwrap(),
            "--server-key",
            p("server_key").to_str().unwrap(),
        ],
    )
    .await;
    Ca {
        dir,
        server,
        agent,
        reviewer,
    }
}

/// `ssh-keygen -Y verify` with the server's allowed_signers over every
/// signed record in the audit log; how many it checked.
async fn ssh_keygen_verifies_all(ca: &Ca) -> usize {
    let reviewer = ApiClient::new(&ca.server.url, Some(ca.reviewer.clone())).unwrap();
    let entries = reviewer.audit_all(0).await.unwrap();
    common::ssh_keygen_verifies(&entries, ca.dir.path()).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_the_teams_ca_logs_in_and_signs_and_nothing_else_does() {
    let ca = start().await;

    // Login: alice's certificate, found beside her key.
    let alice = ca.login("alice", "alice").await.expect("alice logs in");
    for (case, who, key, says) in [
        ("expired", "alice", "alice-old", "has expired"),
        (
            "for another principal",
            "alice",
            "alice-as-bob",
            "not for principal `alice`",
        ),
        (
            "from another CA",
            "alice",
            "alice-other",
            "not a cert-authority",
        ),
        // No line lets dave sign now: his challenge is one no signature
        // redeems (the names in allowed_signers cannot be enumerated).
        (
            "past its line's valid-before",
            "dave",
            "dave",
            "unknown or already used challenge",
        ),
    ] {
        let Err(e) = ca.login(who, key).await else {
            panic!("{case}: logged in");
        };
        assert!(e.contains(says), "{case}: {e}");
    }

    // An OpenSSH-made signature with the certificate (ssh-keygen -Y sign
    // -f key-cert.pub) logs in too.
    let http = reqwest::Client::new();
    let challenge = crate::common::login_challenge(&ca.server.url, "alice").await;
    std::fs::write(ca.path("challenge"), &challenge).unwrap();
    ssh_keygen(&[
        "-q",
        "-Y",
        "sign",
        "-f",
        ca.path("alice-cert.pub").to_str().unwrap(),
        "-n",
        "countersign-login",
        ca.path("challenge").to_str().unwrap(),
    ]);
    let signature = std::fs::read_to_string(ca.path("challenge.sig")).unwrap();
    assert!(signature.contains("BEGIN SSH SIGNATURE"));
    let r = http
        .post(format!("{}/v1/session", ca.server.url))
        .json(&serde_json::json!({"principal": "alice", "challenge": challenge, "signature": signature}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());

    // Signing: alice's session; each refused certificate signs in her name.
    let (id, digest) = ca.proposal("cert-1").await;
    for (case, key, code) in [
        ("expired", "alice-old", "key_expired"),
        ("for bob", "alice-as-bob", "principal_mismatch"),
        ("another CA", "alice-other", "unknown_key"),
    ] {
        let signed = common::signed(
            &ca.signer(key),
            "alice",
            &id,
            &digest,
            PayloadVerdict::Approve,
            "",
        );
        let e = alice.post_decision(&signed).await.expect_err(case);
        assert!(e.to_string().contains(code), "{case}: {e}");
    }
    let signed = common::signed(
        &ca.signer("alice"),
        "alice",
        &id,
        &digest,
        PayloadVerdict::Approve,
        "",
    );
    let done = alice.post_decision(&signed).await.expect("alice approves");
    // One key is one person: the decision names the certified key.
    let alice_key = ssh_key::PublicKey::read_openssh_file(&ca.path("alice.pub")).unwrap();
    let fingerprint = countersign::signing::fingerprint(&alice_key);
    let view = serde_json::to_string(&done.proposal).unwrap();
    assert!(view.contains(&fingerprint), "{view}");

    // A session ends with its certificate, and the certificate no longer
    // signs once it has expired.
    let mut brief = ApiClient::new(&ca.server.url, None).unwrap();
    let login = brief
        .login("alice", &ca.signer("brief"))
        .await
        .expect("brief login");
    let cert = ssh_key::Certificate::read_file(&ca.path("brief-cert.pub")).unwrap();
    assert!(login.expires_at <= cert.valid_before() as i64 * 1000);
    let (id2, digest2) = ca.proposal("cert-2").await;
    let wait = (cert.valid_before() as i64 * 1000 - countersign::domain::time::now_millis()).max(0);
    tokio::time::sleep(std::time::Duration::from_millis(wait as u64 + 1_500)).await;
    assert!(
        brief.freezes().await.is_err(),
        "the session ended with the certificate"
    );
    let late = common::signed(
        &ca.signer("brief"),
        "alice",
        &id2,
        &digest2,
        PayloadVerdict::Approve,
        "",
    );
    let e = alice.post_decision(&late).await.expect_err("expired since");
    assert!(e.to_string().contains("key_expired"), "{e}");

    // The stock-OpenSSH promise: every stored record verifies with
    // ssh-keygen and the same allowed_signers, and with audit verify.
    assert!(ssh_keygen_verifies_all(&ca).await >= 1);
    let (ok, said) = common::proc::export_and_verify(&ca.server.url, &ca.reviewer, ca.dir.path());
    assert!(ok, "{said}");
}
