//! `countersign exec`, the real binary against a real server: an approved
//! command line runs (its exit code, its output passed through, `executed`
//! or `failed` reported with the status and the output's hash), and
//! nothing runs — a marker file stays absent — when the proposal is
//! rejected, halted, lapsed or already started, when the command line
//! differs from the approved one by one argument, when the receipt is
//! signed by another key, or when the server is dead.

use crate::common::{self, TestServer, alert};
use countersign::api::{ExecutionReport, SignedReceipt};
use countersign::domain::types::ProposalStatus;
use countersign::server::state::Limits;
use countersign::signing::payload::PayloadVerdict;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// An alert proposing to run `argv` on ws-0412.
fn command_alert(ext: &str, argv: &[&str]) -> Value {
    alert(
        ext,
        vec![json!({
            "action": "run_command",
            "target": argv.join(" "),
            "risk": "medium",
            "rationale": "collect the evidence",
            "parameters": {"argv": argv},
        })],
    )
}

async fn submitted(t: &TestServer, ext: &str, argv: &[&str]) -> (String, String) {
    let r = t
        .agent()
        .submit_alert(&command_alert(ext, argv))
        .await
        .unwrap();
    (r.proposals[0].id.clone(), r.proposals[0].digest.clone())
}

async fn approved(t: &TestServer, ext: &str, argv: &[&str]) -> String {
    let (id, digest) = submitted(t, ext, argv).await;
    t.person("alice").await.approve(&id, &digest).await.unwrap();
    // The gate may judge a command riskier than declared: a lead too.
    if status(t, &id).await == ProposalStatus::AwaitingSecond {
        t.person("carol").await.approve(&id, &digest).await.unwrap();
    }
    assert_eq!(status(t, &id).await, ProposalStatus::Approved);
    id
}

async fn status(t: &TestServer, id: &str) -> ProposalStatus {
    t.stored(id).await.status
}

fn server_pub(t: &TestServer) -> PathBuf {
    let path = t.dir.path().join("server_key.pub");
    let line = t.server_key.public_key().to_openssh().unwrap();
    std::fs::write(&path, format!("{line} countersign-server\n")).unwrap();
    path
}

/// `countersign exec` with the test server's key and signers, `args`,
/// then `-- command`.
fn exec_cmd(
    t: &TestServer,
    server: &str,
    args: &[&str],
    command: &[&str],
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(common::binary());
    c.arg("exec")
        .args(["--server", server, "--token", &t.agent_token])
        .arg("--server-key")
        .arg(server_pub(t))
        .arg("--signers")
        .arg(&t.signers_file)
        .args(args)
        .arg("--")
        .args(command)
        .env_remove("COUNTERSIGN_CONFIG")
        .env_remove("COUNTERSIGN_SERVER_KEY")
        .env_remove("COUNTERSIGN_SIGNERS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

async fn exec(t: &TestServer, args: &[&str], command: &[&str]) -> (i32, String, String) {
    let out = exec_cmd(t, &t.url(), args, command).output().await.unwrap();
    shown(out)
}

fn shown(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A command that leaves `marker` behind if it ever runs.
fn touching(marker: &Path) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("touch '{}'", marker.display()),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The audit entries about `id`, as text.
async fn log_of(t: &TestServer, id: &str) -> String {
    t.store
        .audit_all()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.entry.contains(id))
        .map(|e| e.entry)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn an_approved_command_runs_and_how_it_went_is_reported() {
    let t = TestServer::start().await;
    let argv = ["sh", "-c", "echo hi; echo oops >&2; exit 3"];
    let id = approved(&t, "ex-1", &argv).await;
    let (code, out, err) = exec(&t, &["--proposal", &id, "--timeout", "20"], &argv).await;
    assert_eq!(code, 3, "the command's own exit code: {err}");
    assert_eq!(out, "hi\n", "stdout passes through");
    assert!(err.contains("oops"), "stderr passes through: {err}");
    assert_eq!(status(&t, &id).await, ProposalStatus::Failed);
    let log = log_of(&t, &id).await;
    let hi = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"hi\n"));
    assert!(log.contains("exit status 3"), "{log}");
    assert!(
        log.contains(&format!("stdout sha256:{hi} 3 bytes")),
        "{log}"
    );

    let id = approved(&t, "ex-2", &["true"]).await;
    let (code, _, err) = exec(&t, &["--proposal", &id, "--timeout", "20"], &["true"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(status(&t, &id).await, ProposalStatus::Executed);
    // The receipt was used: the started entry names it.
    let r: SignedReceipt = t.agent().receipt(&id).await.unwrap();
    let rid = serde_json::from_str::<Value>(&r.receipt).unwrap()["receipt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(log_of(&t, &id).await.contains(&rid));

    // Run again under the same approval: already done, nothing runs.
    let marker = t.dir.path().join("again");
    let argv = touching(&marker);
    let id = approved(&t, "ex-3", &strs(&argv)).await;
    let (code, _, err) = exec(&t, &["--proposal", &id, "--timeout", "20"], &strs(&argv)).await;
    assert_eq!(code, 0, "{err}");
    assert!(marker.exists());
    std::fs::remove_file(&marker).unwrap();
    let (code, _, err) = exec(&t, &["--proposal", &id, "--timeout", "20"], &strs(&argv)).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already executed"), "{err}");
    assert!(!marker.exists(), "ran twice on one approval");
}

#[tokio::test]
async fn nothing_runs_unless_approved_started_and_exactly_the_same() {
    let t = TestServer::start().await;
    let marker = t.dir.path().join("ran");
    let argv = touching(&marker);
    let argv = strs(&argv);
    let run = |id: String| {
        let t = &t;
        let argv = argv.clone();
        async move { exec(t, &["--proposal", &id, "--timeout", "20"], &argv).await }
    };

    // Rejected: exit 2.
    let (id, digest) = submitted(&t, "no-1", &argv).await;
    t.person("alice")
        .await
        .reject(&id, &digest, "not this host")
        .await
        .unwrap();
    let (code, _, err) = run(id).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rejected by alice"), "{err}");
    assert!(!marker.exists());

    // Approved, then halted: exit 2.
    let id = approved(&t, "no-2", &argv).await;
    let digest = t.stored(&id).await.digest;
    t.person("bob")
        .await
        .decide(&id, &digest, PayloadVerdict::Halt, "wrong host")
        .await
        .unwrap();
    let (code, _, err) = run(id).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("halted"), "{err}");
    assert!(!marker.exists());

    // Already started by someone else: exit 1, nothing runs.
    let id = approved(&t, "no-3", &argv).await;
    t.agent()
        .report_execution(&id, &ExecutionReport::started())
        .await
        .unwrap();
    let (code, _, err) = run(id.clone()).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already started"), "{err}");
    assert!(!marker.exists());
    assert_eq!(status(&t, &id).await, ProposalStatus::Executing);

    // One argument differs: exit 1, the message names it; not started.
    let id = approved(&t, "no-4", &argv).await;
    let mut other = argv.clone();
    let changed = format!("{} ", argv[2]);
    other[2] = &changed;
    let (code, _, err) = exec(&t, &["--proposal", &id, "--timeout", "20"], &other).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("argument 2 differs"), "{err}");
    assert!(!marker.exists());
    assert_eq!(status(&t, &id).await, ProposalStatus::Approved);
    // One argument more: named too.
    let mut longer = argv.clone();
    longer.push("x");
    let (code, _, err) = exec(&t, &["--proposal", &id, "--timeout", "20"], &longer).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("argument 3 (\"x\") was given but not approved"),
        "{err}"
    );
    assert_eq!(status(&t, &id).await, ProposalStatus::Approved);

    // The receipt is checked against another server's key: exit 1.
    let other_key = t.dir.path().join("other.pub");
    let stranger = common::new_key();
    std::fs::write(
        &other_key,
        stranger.public_key().to_openssh().unwrap() + "\n",
    )
    .unwrap();
    let mut c = tokio::process::Command::new(common::binary());
    c.args(["exec", "--server", &t.url(), "--token", &t.agent_token])
        .arg("--server-key")
        .arg(&other_key)
        .arg("--signers")
        .arg(&t.signers_file)
        .args(["--proposal", &id, "--timeout", "20", "--"])
        .args(&argv)
        .env_remove("COUNTERSIGN_CONFIG");
    let (code, _, err) = shown(c.output().await.unwrap());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not by the server key"), "{err}");
    assert!(!marker.exists());
    assert_eq!(status(&t, &id).await, ProposalStatus::Approved);

    // No key to check with: exit 1, nothing asked of the server.
    let mut c = tokio::process::Command::new(common::binary());
    c.args(["exec", "--server", &t.url(), "--token", &t.agent_token])
        .args(["--proposal", &id, "--"])
        .args(&argv)
        .env_remove("COUNTERSIGN_CONFIG")
        .env_remove("COUNTERSIGN_SERVER_KEY")
        .env_remove("COUNTERSIGN_SIGNERS")
        .env("XDG_CONFIG_HOME", t.dir.path().join("no-config"));
    let (code, _, err) = shown(c.output().await.unwrap());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--server-key"), "{err}");
    assert!(!marker.exists());

    // A dead server: never runs.
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let started = Instant::now();
    let out = exec_cmd(&t, &dead, &["--proposal", &id, "--timeout", "2"], &argv)
        .output()
        .await
        .unwrap();
    let (code, _, err) = shown(out);
    assert!(code == 1 || code == 4, "{code}: {err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!marker.exists());
    // The same with --submit.
    let file = t.dir.path().join("dead.json");
    std::fs::write(&file, command_alert("no-5", &argv).to_string()).unwrap();
    let out = exec_cmd(
        &t,
        &dead,
        &["--submit", file.to_str().unwrap(), "--timeout", "2"],
        &argv,
    )
    .output()
    .await
    .unwrap();
    let (code, _, err) = shown(out);
    assert!(code == 1 || code == 4, "{code}: {err}");
    assert!(!marker.exists());

    // Still approved and untouched through all of it: the right command runs.
    let (code, _, err) = run(id.clone()).await;
    assert_eq!(code, 0, "{err}");
    assert!(marker.exists());
    assert_eq!(status(&t, &id).await, ProposalStatus::Executed);
}

#[tokio::test]
async fn a_lapsed_approval_runs_nothing() {
    let policy =
        common::TEST_POLICY.replace("execution_window_secs = 600", "execution_window_secs = 1");
    let t = TestServer::start_with_policy(Limits::default(), &policy).await;
    let marker = t.dir.path().join("late");
    let argv = touching(&marker);
    let id = approved(&t, "lapse-1", &strs(&argv)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (code, _, err) = exec(&t, &["--proposal", &id, "--timeout", "20"], &strs(&argv)).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("lapse") || err.contains("window"), "{err}");
    assert!(!marker.exists());
}

#[tokio::test]
async fn submit_waits_for_a_person_then_runs() {
    let t = TestServer::start().await;
    let marker = t.dir.path().join("submitted");
    let argv = touching(&marker);
    let argv = strs(&argv);
    let body = command_alert("sub-1", &argv);
    let file = t.dir.path().join("alert.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let child = exec_cmd(
        &t,
        &t.url(),
        &["--submit", file.to_str().unwrap(), "--timeout", "30"],
        &argv,
    )
    .spawn()
    .unwrap();
    // The same alert again: the same proposal (idempotent), whoever is first.
    let (id, digest) = submitted(&t, "sub-1", &argv).await;
    t.until_waiting(1).await;
    assert!(!marker.exists(), "nothing runs before the approval");
    t.person("alice").await.approve(&id, &digest).await.unwrap();
    let (code, _, err) = shown(child.wait_with_output().await.unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&id), "says which proposal: {err}");
    assert!(marker.exists());
    assert_eq!(status(&t, &id).await, ProposalStatus::Executed);

    // Two proposals carrying a command line: which one is meant is not
    // guessed; nothing is submitted.
    let mut two = command_alert("sub-2", &argv);
    let again = two["proposals"][0].clone();
    two["proposals"].as_array_mut().unwrap().push(again);
    std::fs::write(&file, two.to_string()).unwrap();
    let out = exec_cmd(&t, &t.url(), &["--submit", file.to_str().unwrap()], &argv)
        .output()
        .await
        .unwrap();
    let (code, _, err) = shown(out);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("2 proposals carry parameters.argv"), "{err}");
}
