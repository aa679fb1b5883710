//! `audit export` and `audit verify` with the real binary: an intact log
//! verifies; a flipped byte, a deleted entry, swapped entries, a truncated
//! tail (against a checkpoint saved earlier) and a rewritten database row
//! are each caught, naming the entry.

use crate::common;
use countersign::server::store::ops::AuditHead;

use common::proc::run;
use common::{TestServer, alert, proposal};
use countersign::signing::payload::PayloadVerdict;
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Fixture {
    t: TestServer,
    export: PathBuf,
    server_pub: PathBuf,
    early_checkpoint: PathBuf,
    /// seq of a signed decision entry
    decision_seq: i64,
}

async fn fixture() -> Fixture {
    let t = TestServer::start().await;
    let (alice, carol, bob) = (
        t.person("alice").await,
        t.person("carol").await,
        t.person("bob").await,
    );
    let mut decision_seq = 0;
    for i in 0..3 {
        let r = t
            .agent()
            .submit_alert(&alert(
                &format!("a-{i}"),
                vec![proposal("isolate_host", "high")],
            ))
            .await
            .unwrap();
        let (id, d) = (&r.proposals[0].id, &r.proposals[0].digest);
        let a = alice.approve(id, d).await.unwrap();
        decision_seq = a.audit.seq;
        if i == 1 {
            bob.reject(id, d, "benign").await.unwrap();
        } else {
            carol
                .decide(id, d, PayloadVerdict::Approve, "ok")
                .await
                .unwrap();
        }
    }
    let dir = t.dir.path().to_owned();
    let server_pub = dir.join("server_key.pub");
    std::fs::write(&server_pub, t.server_key.public_key().to_openssh().unwrap()).unwrap();
    // An auditor saves a checkpoint now...
    let early_checkpoint = dir.join("checkpoint.json");
    let out = run(&[
        "audit",
        "checkpoint",
        "--server",
        &t.url(),
        "--token",
        &t.reviewer_token,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&early_checkpoint, &out.stdout).unwrap();
    // ...and the log grows after it.
    let r = t
        .agent()
        .submit_alert(&alert(
            "a-late",
            vec![proposal("disable_account", "medium")],
        ))
        .await
        .unwrap();
    alice
        .approve(&r.proposals[0].id, &r.proposals[0].digest)
        .await
        .unwrap();
    let export = dir.join("audit.jsonl");
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
    Fixture {
        t,
        export,
        server_pub,
        early_checkpoint,
        decision_seq,
    }
}

fn verify(f: &Fixture, file: &Path, extra: &[&str]) -> (i32, String) {
    verify_with(f, file, &f.t.signers_file, extra)
}

fn verify_with(f: &Fixture, file: &Path, signers: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "audit",
        "verify",
        file.to_str().unwrap(),
        "--signers",
        signers.to_str().unwrap(),
        "--server-key",
        f.server_pub.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn lines(f: &Fixture) -> Vec<String> {
    std::fs::read_to_string(&f.export)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_variant(f: &Fixture, name: &str, lines: &[String]) -> PathBuf {
    let p = f.export.with_file_name(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intact_log_verifies() {
    let f = fixture().await;
    let cp = f.early_checkpoint.to_str().unwrap().to_owned();
    let (code, out) = verify(&f, &f.export, &["--checkpoint", &cp]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("intact") && out.contains("7 signed decisions verified"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_named() {
    let f = fixture().await;
    let orig = lines(&f);
    let seq = f.decision_seq as usize;

    // A flipped byte inside a signed payload.
    let mut flipped = orig.clone();
    flipped[seq - 1] = flipped[seq - 1].replacen("approve", "apprOve", 1);
    let (code, out) = verify(&f, &write_variant(&f, "flip.jsonl", &flipped), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("BROKEN at entry {seq}")), "{out}");

    // The same flip with the chain re-hashed after it: the signature and the
    // server's checkpoint still catch it, at that entry.
    let (code, out) = verify(
        &f,
        &write_variant(&f, "rehash.jsonl", &rehash_from(&flipped, seq)),
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("BROKEN at entry {seq}")), "{out}");

    // A deleted entry.
    let mut deleted = orig.clone();
    deleted.remove(3);
    let (code, out) = verify(&f, &write_variant(&f, "deleted.jsonl", &deleted), &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("BROKEN at entry 5") && out.contains("missing"),
        "{out}"
    );

    // Two entries swapped.
    let mut swapped = orig.clone();
    swapped.swap(4, 5);
    let (code, out) = verify(&f, &write_variant(&f, "swapped.jsonl", &swapped), &[]);
    assert_eq!(code, 1);
    assert!(out.contains("BROKEN at entry 6"), "{out}");

    // A truncated tail, with the export's own checkpoint dropped too: the
    // checkpoint the auditor saved earlier catches it.
    let truncated: Vec<String> = orig[..orig.len() - 6].to_vec();
    let file = write_variant(&f, "truncated.jsonl", &truncated);
    let (code, out) = verify(&f, &file, &[]);
    assert_eq!(code, 1, "no checkpoint covers it: {out}");
    assert!(out.contains("NOT INTACT: no checkpoint"), "{out}");
    let cp = f.early_checkpoint.to_str().unwrap().to_owned();
    let (code, out) = verify(&f, &file, &["--checkpoint", &cp]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("truncated"), "{out}");

    // A checkpoint signed by another key is refused.
    let other = f.export.with_file_name("other.pub");
    std::fs::write(&other, common::new_key().public_key().to_openssh().unwrap()).unwrap();
    let out = run(&[
        "audit",
        "verify",
        f.export.to_str().unwrap(),
        "--signers",
        f.t.signers_file.to_str().unwrap(),
        "--server-key",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not the server key"));
}

/// `lines` with one more entry appended at the end (after the export's
/// closing checkpoint), chained correctly to the last entry.
fn append_entry(lines: &[String], edit: impl FnOnce(&mut Value)) -> (Vec<String>, i64) {
    let last: Option<Value> = lines
        .iter()
        .rev()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v.get("entry").is_some());
    let (seq, prev_hash, prev) = match &last {
        Some(l) => (
            l["seq"].as_i64().unwrap() + 1,
            l["hash"].as_str().unwrap().to_owned(),
            serde_json::from_str::<Value>(l["entry"].as_str().unwrap()).unwrap(),
        ),
        None => (
            1,
            GENESIS.to_owned(),
            serde_json::json!({"at": "2026-11-21T09:14:03.120Z"}),
        ),
    };
    let mut body = serde_json::json!({
        "v": 1, "seq": seq, "at": prev["at"], "kind": "approved_by_policy",
        "alert_id": prev["alert_id"], "proposal_id": prev["proposal_id"],
        "actor": {"kind": "policy"},
        "data": {"digest": "sha256:00", "execute_by": 4102444800000i64},
    });
    edit(&mut body);
    let bytes = countersign::domain::digest::canonical(&body).unwrap();
    let entry = AuditEntry {
        seq,
        hash: link_hash(&prev_hash, &bytes),
        entry: String::from_utf8(bytes).unwrap(),
        prev_hash,
    };
    let mut out = lines.to_vec();
    out.push(serde_json::to_string(&entry).unwrap());
    (out, seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_no_checkpoint_covers_is_not_intact() {
    let f = fixture().await;
    let orig = lines(&f);
    let last_cp = orig.len() as i64 - 1; // entries before the closing checkpoint

    // A correctly chained approval by policy appended after the export's
    // closing checkpoint: named, not intact.
    let (forged, seq) = append_entry(&orig, |_| {});
    assert_eq!(seq, last_cp + 1);
    let file = write_variant(&f, "appended.jsonl", &forged);
    let (code, out) = verify(&f, &file, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "NOT COVERED: entry {seq} after the last checkpoint signed by the server key (seq {last_cp})"
        )),
        "{out}"
    );
    assert!(!out.contains("intact"), "{out}");
    // An auditor who knowingly accepts an open tail sees it named apart.
    let (code, out) = verify(&f, &file, &["--accept-open-tail"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("intact up to seq {last_cp}:"))
            && out.contains(&format!(
                "not covered by a checkpoint: entry {seq} (accepted with --accept-open-tail)"
            )),
        "{out}"
    );

    // The log with its checkpoint lines removed (another server's, or a
    // fabricated one): no checkpoint, not intact, flag or not.
    let bare: Vec<String> = orig
        .iter()
        .filter(|l| !l.starts_with("{\"checkpoint\""))
        .cloned()
        .collect();
    assert_eq!(bare.len(), orig.len() - 1);
    let file = write_variant(&f, "bare.jsonl", &bare);
    for extra in [&[][..], &["--accept-open-tail"][..]] {
        let (code, out) = verify(&f, &file, extra);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("NOT INTACT: no checkpoint signed by the server key covers any entry"),
            "{out}"
        );
    }
    // A fabricated two-entry log.
    let (two, _) = append_entry(&[], |b| {
        b["kind"] = "policy_loaded".into();
        b["actor"] = serde_json::json!({"kind": "server"});
        b["data"] = serde_json::json!({
            "digest": policy_digest(common::TEST_POLICY),
            "text": common::TEST_POLICY,
            "origin": "forged",
            "reason": "start",
        });
    });
    let (two, _) = append_entry(&two, |_| {});
    let file = write_variant(&f, "two.jsonl", &two);
    let (code, out) = verify(&f, &file, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT INTACT: no checkpoint"), "{out}");

    // Without --server-key nothing is proven about who wrote it: exit 3.
    let out = run(&[
        "audit",
        "verify",
        f.export.to_str().unwrap(),
        "--signers",
        f.t.signers_file.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("NOT AUTHENTICATED: no --server-key given")
            && text.contains("nothing is proven about who wrote this log")
            && !text.contains("intact"),
        "{text}"
    );
}

/// Recomputes hashes from `from` on, as an attacker with the file would.
fn rehash_from(lines: &[String], from: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev = String::new();
    for (i, l) in lines.iter().enumerate() {
        let mut v: Value = serde_json::from_str(l).unwrap();
        if v.get("entry").is_some() {
            if i + 1 >= from {
                v["prev_hash"] = prev.clone().into();
                let h = countersign::audit::chain::link_hash(
                    &prev,
                    v["entry"].as_str().unwrap().as_bytes(),
                );
                v["hash"] = h.into();
            }
            prev = v["hash"].as_str().unwrap().to_owned();
        }
        out.push(v.to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_tampering_is_named() {
    if std::env::var("COUNTERSIGN_TEST_STORE").as_deref() == Ok("postgres") {
        return; // this one edits the SQLite file directly
    }
    let f = fixture().await;
    let db = f.t.dir.path().join("countersign.db");
    // Someone with database access rewrites a stored reason.
    let conn = rusqlite::Connection::open(&db).unwrap();
    // The entry after alice's last approval in the fixture is carol's "ok".
    let seq = f.decision_seq + 1;
    let n = conn
        .execute(
            "UPDATE audit SET entry = replace(entry, '\"reason\":\"ok\"', '\"reason\":\"OK\"') \
             WHERE seq = ?1 AND instr(entry, '\"reason\":\"ok\"') > 0",
            [seq],
        )
        .unwrap();
    assert_eq!(n, 1, "the fixture's entry {seq} holds carol's reason");
    let out_file = f.export.with_file_name("from-db.jsonl");
    let key = f.t.dir.path().join("server_key");
    f.t.server_key
        .write_openssh_file(&key, ssh_key::LineEnding::LF)
        .unwrap();
    let out = run(&[
        "audit",
        "export",
        "--db",
        &format!("sqlite:{}", db.display()),
        "--server-key",
        key.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, out) = verify(&f, &out_file, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("BROKEN at entry {seq}")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_signer_is_not_a_broken_chain() {
    let f = fixture().await;
    let all = std::fs::read_to_string(&f.t.signers_file).unwrap();
    // alice's key removed from the file (revoked): her decisions are intact
    // records by a key this file no longer trusts. Exit 2, not 1.
    let without_alice: String = all
        .lines()
        .filter(|l| !l.starts_with("alice "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without_alice, all);
    let revoked = f.export.with_file_name("signers-revoked");
    std::fs::write(&revoked, without_alice).unwrap();
    let (code, out) = verify_with(&f, &f.export, &revoked, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("UNTRUSTED SIGNERS") && out.contains("alice with SHA256:"),
        "{out}"
    );
    assert!(!out.contains("BROKEN"), "{out}");
    // The auditor's way to keep old decisions verifying: mark the key with
    // valid-before instead of deleting it. Signed before then: trusted.
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    let valid_before: String = all
        .lines()
        .map(|l| match l.strip_prefix("alice ") {
            Some(rest) => format!(
                "alice valid-before=\"{}\" {rest}\n",
                tomorrow.format("%Y%m%d%H%M%SZ")
            ),
            None => format!("{l}\n"),
        })
        .collect();
    let expiring = f.export.with_file_name("signers-valid-before");
    std::fs::write(&expiring, valid_before).unwrap();
    let (code, out) = verify_with(&f, &f.export, &expiring, &[]);
    assert_eq!(code, 0, "{out}");
    // A tampered entry is still BROKEN (exit 1), whatever the signers.
    let mut flipped = lines(&f);
    let seq = f.decision_seq as usize;
    flipped[seq - 1] = flipped[seq - 1].replacen("approve", "apprOve", 1);
    let (code, out) = verify_with(
        &f,
        &write_variant(&f, "flip2.jsonl", &flipped),
        &revoked,
        &[],
    );
    assert_eq!(code, 1, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_from_the_database_never_signs_with_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    drop(countersign::server::store::sqlite::SqliteStore::open(&db).unwrap());
    let data_home = dir.path().join("data");
    let out = std::process::Command::new(common::binary())
        .args([
            "audit",
            "export",
            "--db",
            &format!("sqlite:{}", db.display()),
        ])
        .env("XDG_DATA_HOME", &data_home)
        .env_remove("COUNTERSIGN_SERVER_KEY")
        .env_remove("COUNTERSIGN_CONFIG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--server-key") && err.contains("--no-checkpoint"),
        "{err}"
    );
    assert!(!data_home.exists(), "no key was created");
    let out = std::process::Command::new(common::binary())
        .args([
            "audit",
            "export",
            "--no-checkpoint",
            "--db",
            &format!("sqlite:{}", db.display()),
        ])
        .env("XDG_DATA_HOME", &data_home)
        .env_remove("COUNTERSIGN_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- the policy is evidence ----

use countersign::audit::chain::{GENESIS, link_hash};
use countersign::audit::export::write_jsonl;
use countersign::domain::policy::{Policy, policy_digest};
use countersign::domain::records::AuditEntry;
use countersign::server::policy::record_policy;

/// TEST_POLICY, but high risk needs one analyst: what a server judging
/// under a weaker policy than it claims would have let through.
fn weak_policy() -> String {
    common::TEST_POLICY.replacen(
        "risk = \"high\"\napprovals = 2\nrole = \"lead\"",
        "risk = \"high\"\napprovals = 1\nrole = \"analyst\"",
        1,
    )
}

fn bodies(entries: &[AuditEntry]) -> Vec<Value> {
    entries
        .iter()
        .map(|e| serde_json::from_str(&e.entry).unwrap())
        .collect()
}

/// The entries again, each body changed by `edit`, linked anew with the
/// real chain code: the chain is intact, only what it says differs.
fn relinked(entries: &[AuditEntry], edit: impl Fn(&mut Value)) -> Vec<AuditEntry> {
    let mut prev = GENESIS.to_owned();
    let mut out = Vec::new();
    for (i, mut body) in bodies(entries).into_iter().enumerate() {
        edit(&mut body);
        let seq = i as i64 + 1;
        body["seq"] = serde_json::json!(seq);
        let bytes = countersign::domain::digest::canonical(&body).unwrap();
        let hash = link_hash(&prev, &bytes);
        out.push(AuditEntry {
            seq,
            entry: String::from_utf8(bytes).unwrap(),
            prev_hash: prev.clone(),
            hash: hash.clone(),
        });
        prev = hash;
    }
    out
}

/// Replaces one policy by another everywhere the log names it: the
/// recorded text and digest, and every digest a decision names.
fn claim_policy(entries: &[AuditEntry], from: &str, to_text: &str) -> Vec<AuditEntry> {
    let (from_digest, to_digest) = (policy_digest(from), policy_digest(to_text));
    let text = serde_json::to_string(&bodies(entries)).unwrap();
    assert!(text.contains(&from_digest));
    relinked(entries, |body| {
        if body["kind"] == "policy_loaded" && body["data"]["digest"] == from_digest.as_str() {
            body["data"]["text"] = serde_json::json!(to_text);
        }
        let swapped = serde_json::to_string(&*body)
            .unwrap()
            .replace(&from_digest, &to_digest);
        *body = serde_json::from_str(&swapped).unwrap();
    })
}

/// The entries as an export, closed by a checkpoint signed with the test
/// server's key (what that server would sign for them).
fn write_log(t: &common::TestServer, name: &str, entries: &[AuditEntry]) -> PathBuf {
    let (seq, head) = entries
        .last()
        .map_or((0, GENESIS.to_owned()), |e| (e.seq, e.hash.clone()));
    let cp = countersign::audit::checkpoint::sign(&t.server_key, "test", seq, &head, 0).unwrap();
    write_unsigned(t.dir.path(), name, entries, Some(cp))
}

fn write_unsigned(
    dir: &Path,
    name: &str,
    entries: &[AuditEntry],
    cp: Option<countersign::audit::checkpoint::Checkpoint>,
) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    write_jsonl(&mut f, entries, cp).unwrap();
    p
}

fn verify_file(t: &common::TestServer, file: &Path) -> (i32, String) {
    let server_pub = t.dir.path().join("server_key.pub");
    std::fs::write(&server_pub, t.server_key.public_key().to_openssh().unwrap()).unwrap();
    let out = run(&[
        "audit",
        "verify",
        file.to_str().unwrap(),
        "--signers",
        t.signers_file.to_str().unwrap(),
        "--server-key",
        server_pub.to_str().unwrap(),
    ]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `who` logs in and approves; the seq of the entry that records it.
async fn approve(t: &common::TestServer, who: &str, id: &str, digest: &str) -> i64 {
    let person = t.person(who).await;
    person.approve(id, digest).await.unwrap().audit.seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_in_force_is_recorded_once_per_change() {
    let t = common::TestServer::start().await;
    let entries = t.store.audit_all().await.unwrap();
    let first = &bodies(&entries)[0];
    assert_eq!(first["kind"], "policy_loaded");
    assert_eq!(first["actor"]["kind"], "server");
    assert_eq!(first["data"]["text"], common::TEST_POLICY);
    assert_eq!(first["data"]["digest"], policy_digest(common::TEST_POLICY));
    assert!(
        first["data"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    // A restart or a reload with the same policy writes nothing; a change
    // writes it; going back writes the old one again (it is in force again).
    let test = Policy::from_toml(common::TEST_POLICY, "test").unwrap();
    let weak = Policy::from_toml(&weak_policy(), "weak").unwrap();
    let head = || async { t.store.run(AuditHead).await.unwrap().seq };
    record_policy(&*t.store, &test, "replica-2", "start")
        .await
        .unwrap();
    assert_eq!(head().await, 1);
    record_policy(&*t.store, &weak, "replica-2", "reload")
        .await
        .unwrap();
    assert_eq!(head().await, 2);
    record_policy(&*t.store, &weak, "replica-1", "reload")
        .await
        .unwrap();
    assert_eq!(head().await, 2);
    record_policy(&*t.store, &test, "replica-1", "reload")
        .await
        .unwrap();
    assert_eq!(head().await, 3);
    // Replicas starting together with one policy: each checks and appends
    // under the chain lock, so it is written once.
    let (a, b) = tokio::join!(
        record_policy(&*t.store, &weak, "replica-1", "start"),
        record_policy(&*t.store, &weak, "replica-2", "start"),
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(head().await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_rechecks_every_approval_against_the_recorded_policy() {
    // A real run: high risk approved by an analyst and a lead, medium by
    // one analyst, a low indicator block approved by policy.
    let t = common::TestServer::start().await;
    let r = t
        .agent()
        .submit_alert(&alert(
            "evidence-1",
            vec![
                proposal("isolate_host", "high"),
                proposal("disable_account", "medium"),
                proposal("block_indicator", "low"),
            ],
        ))
        .await
        .unwrap();
    let p = &r.proposals;
    approve(&t, "alice", &p[0].id, &p[0].digest).await;
    approve(&t, "carol", &p[0].id, &p[0].digest).await;
    approve(&t, "bob", &p[1].id, &p[1].digest).await;
    let entries = t.store.audit_all().await.unwrap();
    let received = bodies(&entries)
        .into_iter()
        .find(|b| b["kind"] == "alert_received")
        .unwrap();
    // What each requirement was computed from, and what it came to.
    let high = &received["data"]["proposals"][0];
    assert_eq!(high["action"], "isolate_host");
    assert_eq!(high["risk"], "high");
    assert_eq!(high["policy"], policy_digest(common::TEST_POLICY));
    assert_eq!(
        high["needs"],
        serde_json::json!({"approvals": 2, "role": "lead", "auto": false})
    );
    for b in bodies(&entries) {
        if ["approval_counted", "approved", "approved_by_policy"]
            .contains(&b["kind"].as_str().unwrap())
        {
            assert_eq!(
                b["data"]["policy"],
                policy_digest(common::TEST_POLICY),
                "{b}"
            );
        }
    }
    // One time format on the wire and in the log: RFC 3339.
    let rfc3339 = |v: &Value| {
        v.as_str()
            .and_then(countersign::domain::time::parse_rfc3339)
            .is_some()
    };
    let by_policy = bodies(&entries)
        .into_iter()
        .find(|b| b["kind"] == "approved_by_policy")
        .unwrap();
    assert!(rfc3339(&by_policy["data"]["execute_by"]), "{by_policy}");
    let view: Value = reqwest::Client::new()
        .get(format!("{}/v1/proposals/{}/decision", t.url(), p[0].id))
        .bearer_auth(&t.reviewer_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["approvals"].as_array().map(Vec::len),
        Some(2),
        "{view}"
    );
    for a in view["approvals"].as_array().unwrap() {
        assert!(rfc3339(&a["at"]), "{view}");
    }
    assert!(
        rfc3339(&view["execute_by"]) && rfc3339(&view["decided_at"]),
        "{view}"
    );
    let (code, out) = verify_file(&t, &write_log(&t, "real.jsonl", &entries));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "policy: 1 recorded; 3 approved proposals re-checked against the policy they name"
        ),
        "{out}"
    );

    // A log from before policies were recorded: verifies as before, and
    // says honestly what was not re-checked.
    let old = relinked(&entries[1..], |body| {
        let swapped = serde_json::to_string(&*body).unwrap().replace(
            &format!(",\"policy\":\"{}\"", policy_digest(common::TEST_POLICY)),
            "",
        );
        *body = serde_json::from_str(&swapped).unwrap();
    });
    let digest = policy_digest(common::TEST_POLICY);
    assert!(!old.iter().any(|e| e.entry.contains(&digest)));
    let (code, out) = verify_file(&t, &write_log(&t, "old.jsonl", &old));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("0 approved proposals re-checked")
            && out.contains("3 not re-checked: no policy recorded"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_approval_the_recorded_policy_did_not_allow() {
    // A server judging under a weaker policy than the one it recorded: a
    // real run under the weak policy (high risk: one analyst), its log
    // then claiming the strict one, linked anew so the chain is intact.
    // The signatures still verify: what a person signs names no policy.
    let weak = weak_policy();
    let t = common::TestServer::start_with_policy(Default::default(), &weak).await;
    let r = t
        .agent()
        .submit_alert(&alert("evidence-2", vec![proposal("isolate_host", "high")]))
        .await
        .unwrap();
    let p = &r.proposals[0];
    let seq = approve(&t, "alice", &p.id, &p.digest).await;
    let entries = t.store.audit_all().await.unwrap();
    let (code, out) = verify_file(&t, &write_log(&t, "weak.jsonl", &entries));
    assert_eq!(code, 0, "{out}");

    let forged = claim_policy(&entries, &weak, common::TEST_POLICY);
    let (code, out) = verify_file(&t, &write_log(&t, "too-few.jsonl", &forged));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("intact:"), "{out}");
    assert!(
        out.contains(&format!(
            "RULE NOT MET: 1 recorded decision did not have what the policy in force required:\n  entry {seq} (proposal {}): approved with 1 distinct approver (alice) but policy sha256:",
            p.id
        )) && out.contains("requires 2 approvals from distinct people, at least one lead for isolate_host at high risk"),
        "{out}"
    );

    // One approval is enough but it must be a lead's: alice is not one.
    let lead_only = common::TEST_POLICY.replacen(
        "approvals = 2\nrole = \"lead\"",
        "approvals = 1\nrole = \"lead\"",
        1,
    );
    let forged = claim_policy(&entries, &weak, &lead_only);
    let (code, out) = verify_file(&t, &write_log(&t, "no-lead.jsonl", &forged));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "entry {seq} (proposal {}): approved by alice, none of them a lead",
            p.id
        )),
        "{out}"
    );

    // A policy text that does not hash to the digest it states is a
    // broken record, not a rule not met.
    let lying = relinked(&entries, |body| {
        if body["kind"] == "policy_loaded" {
            body["data"]["text"] = serde_json::json!(common::TEST_POLICY);
        }
    });
    let (code, out) = verify_file(&t, &write_log(&t, "lying.jsonl", &lying));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "BROKEN at entry 1: the recorded policy text does not hash to the digest it states"
        ),
        "{out}"
    );
}

/// The policy a team means to put in force, for `policy test`.
const NEW_POLICY: &str = r#"
[defaults]
approvals = 1
role = "analyst"
expiry_secs = 3600
escalate_after_secs = 1800
execution_window_secs = 600

[roles]
leads = ["carol", "dave"]

[[rules]]
risk = "high"
approvals = 2
role = "lead"

[[rules]]
name = "medium: two people"
risk = "medium"
approvals = 2

[[rules]]
name = "accounts: a lead"
action = "disable_account"
role = "lead"

[[rules]]
name = "low-risk isolation by policy"
action = "isolate_host"
risk = "low"
auto = true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_test_replays_the_recorded_proposals_under_a_new_policy() {
    let t = common::TestServer::start().await;
    let r = t
        .agent()
        .submit_alert(&alert(
            "replay-1",
            vec![
                proposal("isolate_host", "high"),
                proposal("disable_account", "medium"),
                proposal("block_indicator", "low"),
                proposal("isolate_host", "low"),
                proposal("reset_credentials", "medium"),
            ],
        ))
        .await
        .unwrap();
    let p: Vec<&str> = r.proposals.iter().map(|p| p.id.as_str()).collect();
    // What is compared is what was recorded, whatever became of them.
    approve(&t, "bob", p[1], &r.proposals[1].digest).await;
    let new = t.dir.path().join("new-policy.toml");
    std::fs::write(&new, NEW_POLICY).unwrap();
    let want = format!(
        "policy test {} ({}) against 5 recorded proposals in {}:
  now approved by policy: 1 (e.g. {})
  no longer auto: 1 (e.g. {})
  now needs a lead: 1 (e.g. {})
  now needs 2 approvals: 2 (e.g. {}, {})
summary: 4 of 5 proposals would be judged differently, 1 unchanged
",
        new.display(),
        policy_digest(NEW_POLICY),
        "{source}",
        p[3],
        p[2],
        p[1],
        p[1],
        p[4]
    );

    // From the database (the path or URL `serve --db` takes)...
    let out = run(&["policy", "test", new.to_str().unwrap(), "--db", &t.db_url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let source = if t.db_url.starts_with("postgres") {
        t.db_url.clone()
    } else {
        format!("sqlite:{}", t.db_url)
    };
    assert_eq!(text, want.replace("{source}", &source));

    // ...and from an export, offline.
    let export = write_log(&t, "export.jsonl", &t.store.audit_all().await.unwrap());
    let out = run(&[
        "policy",
        "test",
        new.to_str().unwrap(),
        "--export",
        export.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text,
        want.replace("{source}", &export.display().to_string())
    );

    // The policy in force changes nothing; a bad file is named, exit 1.
    let same = t.dir.path().join("same.toml");
    std::fs::write(&same, common::TEST_POLICY).unwrap();
    let out = run(&["policy", "test", same.to_str().unwrap(), "--db", &t.db_url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with("summary: 0 of 5 proposals would be judged differently, 5 unchanged\n"),
        "{text}"
    );
    let bad = t.dir.path().join("bad.toml");
    std::fs::write(&bad, "[defaults]\napprovals = 0\n").unwrap();
    let out = run(&["policy", "test", bad.to_str().unwrap(), "--db", &t.db_url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("line 1"));
}
