//! Executors run by the gate, against the real binary and a real receiver
//! on loopback: a Python executor (tests/fixtures/executor/receiver.py)
//! that verifies Standard Webhooks with the `standardwebhooks` package, the
//! receipt with `countersign receipt verify` and its digest with the
//! `rfc8785` package, and runs each receipt once. The outcome is recorded;
//! a 503 is retried and runs once; a refusal is `failed` with its reason;
//! a receiver that is down leads to retries, then `failed`, never to a
//! run; the agent may not report execution of such an action.

use crate::common::python;
use crate::common::{self, keygen, proc::ServeProcess, proc::create_token};
use crate::decisions::code;
use countersign::api::ExecutionReport;
use countersign::client::ApiClient;
use countersign::domain::records::DecidedBy;
use countersign::domain::types::ProposalStatus;
use countersign::signing::signer::Signer;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const POLICY: &str = "[defaults]\napprovals = 1\nrole = \"analyst\"\nexpiry_secs = 3600\nexecution_window_secs = 600\n\n[roles]\nleads = [\"bob\"]\n";

struct Receiver {
    child: Child,
    url: String,
    runs: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    /// Receipts it ran, one line each.
    fn runs(&self) -> Vec<String> {
        std::fs::read_to_string(&self.runs)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

struct Gate {
    dir: tempfile::TempDir,
    server: ServeProcess,
    agent: String,
}

impl Gate {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn alice(&self) -> common::person::Person {
        let key = ssh_key::PrivateKey::read_openssh_file(&self.path("alice")).unwrap();
        common::person::Person::login(&self.server.url, "alice", Signer::from_key(key)).await
    }

    fn agent(&self) -> ApiClient {
        ApiClient::new(&self.server.url, Some(self.agent.clone())).unwrap()
    }

    /// Submits an isolate_host and has alice approve it; the proposal id.
    async fn approved(&self, ext: &str) -> String {
        let r = self
            .agent()
            .submit_alert(&common::alert(
                ext,
                vec![common::proposal("isolate_host", "medium")],
            ))
            .await
            .unwrap();
        let p = &r.proposals[0];
        self.alice().await.approve(&p.id, &p.digest).await.unwrap();
        p.id.clone()
    }

    /// The proposal once it reaches a final status (or panics after 30 s).
    async fn settled(&self, id: &str) -> countersign::api::DecisionView {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.agent().decision(id, 0).await.unwrap();
            if v.status.is_final() {
                return v;
            }
            assert!(Instant::now() < deadline, "never settled: {:?}", v.status);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Keys, signers, the server key and the agent token in a fresh
/// directory; the receiver (if `mode`) started with them; then the server
/// with an `[[executors]]` block pointing at it (or at a closed port).
async fn gate(mode: Option<&str>, py: &str, timeout_secs: u64) -> (Gate, Option<Receiver>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = keygen(&d.join("alice"), "alice");
    let bob = keygen(&d.join("bob"), "bob");
    std::fs::write(d.join("allowed_signers"), format!("alice {alice}bob {bob}")).unwrap();
    keygen(&d.join("server_key"), "countersign-server");
    std::fs::write(d.join("policy.toml"), POLICY).unwrap();
    let receiver = mode.map(|m| start_receiver(py, d, m));
    let url = match &receiver {
        Some(r) => r.url.clone(),
        None => format!("http://127.0.0.1:{}/run", common::free_port()),
    };
    std::fs::write(
        d.join("config.toml"),
        format!(
            "[[executors]]\nname = \"edr\"\naction = \"isolate_host\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntimeout_secs = {timeout_secs}\nattempt_secs = 5\n"
        ),
    )
    .unwrap();
    let db = d.join("g.db");
    let agent = create_token(&db, "soar-bot", "agent");
    let server = ServeProcess::start(
        &db,
        &[
            "--signers",
            d.join("allowed_signers").to_str().unwrap(),
            "--server-key",
            d.join("server_key").to_str().unwrap(),
            "--policy",
            d.join("policy.toml").to_str().unwrap(),
            "--config",
            d.join("config.toml").to_str().unwrap(),
        ],
    )
    .await;
    (Gate { dir, server, agent }, receiver)
}

fn start_receiver(py: &str, d: &Path, mode: &str) -> Receiver {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/executor/receiver.py"
    );
    let port_file = d.join("receiver.port");
    let runs = d.join("runs.log");
    let child = Command::new(py)
        .arg(script)
        .arg(&port_file)
        .arg(SECRET)
        .arg(common::binary())
        .arg(d.join("server_key.pub"))
        .arg(d.join("allowed_signers"))
        .arg(&runs)
        .arg(mode)
        .spawn()
        .expect("start the receiver");
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            break p;
        }
        assert!(Instant::now() < deadline, "the receiver did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    Receiver {
        child,
        url: format!("http://127.0.0.1:{}/run", port.trim()),
        runs,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gate_runs_approved_actions_through_its_executor() {
    let Some(py) = python() else { return };
    let (g, receiver) = gate(Some("fail_first"), &py, 120).await;
    let r = receiver.unwrap();
    let id = g.approved("ex-1").await;
    let v = g.settled(&id).await;
    assert_eq!(v.status, ProposalStatus::Executed, "{v:?}");
    assert_eq!(
        v.decided_by,
        Some(DecidedBy::Executor { name: "edr".into() })
    );
    assert_eq!(v.reason.as_deref(), Some("isolated ws-0412"));
    // A 503 first, then run once: one line, for this receipt.
    let runs = r.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let receipt = g.agent().receipt(&id).await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&receipt.receipt).unwrap();
    assert_eq!(body["audience"], "executor:edr");
    assert!(runs[0].starts_with(body["receipt_id"].as_str().unwrap()));

    // The agent may not report execution of an action the gate runs.
    let id2 = g.approved("ex-2").await;
    let refused = g
        .agent()
        .report_execution(&id2, &ExecutionReport::started())
        .await
        .unwrap_err();
    assert_eq!(code(&refused), (403, "executor_owned"));
    assert_eq!(g.settled(&id2).await.status, ProposalStatus::Executed);
    assert_eq!(r.runs().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_refusal_is_recorded_as_failed() {
    let Some(py) = python() else { return };
    let (g, receiver) = gate(Some("refuse"), &py, 120).await;
    let r = receiver.unwrap();
    let id = g.approved("ex-3").await;
    let v = g.settled(&id).await;
    assert_eq!(v.status, ProposalStatus::Failed);
    let reason = v.reason.unwrap_or_default();
    assert!(reason.contains("target not ours"), "{reason}");
    assert!(r.runs().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_executor_is_retried_then_failed_never_run() {
    let Some(py) = python() else { return };
    let (g, _) = gate(None, &py, 3).await;
    let id = g.approved("ex-4").await;
    let v = g.settled(&id).await;
    assert_eq!(v.status, ProposalStatus::Failed);
    let reason = v.reason.unwrap_or_default();
    assert!(
        reason.contains("gave no usable answer") && reason.contains("attempts"),
        "{reason}"
    );
}

/// A lead's `hold` on the proposing agent: the approval stands but the
/// gate neither starts it nor calls the executor; lifted, it runs once.
#[tokio::test(flavor = "multi_thread")]
async fn a_hold_keeps_the_executor_from_running_until_lifted() {
    use countersign::api::FreezeMode;
    use countersign::signing::freeze::FreezeDraft;
    let Some(py) = python() else { return };
    let (g, receiver) = gate(Some("ok"), &py, 120).await;
    let r = receiver.unwrap();
    let key = ssh_key::PrivateKey::read_openssh_file(&g.path("bob")).unwrap();
    let bob = common::person::Person::login(&g.server.url, "bob", Signer::from_key(key)).await;
    let sign = |mode| {
        let key = ssh_key::PrivateKey::read_openssh_file(&g.path("bob")).unwrap();
        FreezeDraft {
            agent: "soar-bot".into(),
            mode,
            reason: "stop: the playbook misfires".into(),
        }
        .sign(
            "bob",
            countersign::domain::time::now_millis(),
            &Signer::from_key(key),
        )
        .unwrap()
        .decision
    };
    bob.post_freeze(&sign(Some(FreezeMode::Hold)))
        .await
        .unwrap();
    let id = g.approved("ex-h").await;
    // The delivery was tried and held: still approved, nothing ran.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v = g.agent().decision(&id, 0).await.unwrap();
    assert_eq!(v.status, ProposalStatus::Approved);
    assert!(v.held(), "{v:?}");
    assert!(r.runs().is_empty(), "{:?}", r.runs());
    bob.post_freeze(&sign(None)).await.unwrap();
    let v = g.settled(&id).await;
    assert_eq!(v.status, ProposalStatus::Executed, "{v:?}");
    assert_eq!(r.runs().len(), 1);
}
