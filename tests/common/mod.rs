//! Shared test helpers: sample alerts, an in-process server on loopback with
//! a real SQLite file, and the real binary.
#![allow(dead_code)]

pub mod proc;
pub mod store_suite;

use countersign::domain::policy::Policy;
use countersign::domain::types::{Role, TokenRole, Verdict};
use countersign::server::auth::new_token;
use countersign::server::serve::{RunningServer, ServerConfig, start};
use countersign::server::state::Limits;
use countersign::server::store::sqlite::SqliteStore;
use countersign::server::store::{DecideCommand, DecideOutcome, Store, StoreError};
use serde_json::{Value, json};
use std::sync::Arc;
use tempfile::TempDir;

pub fn alert(external_id: &str, proposals: Vec<Value>) -> Value {
    json!({
        "external_id": external_id,
        "source": "edr",
        "severity": "high",
        "title": format!("Credential dumping on {external_id}"),
        "entity": {"kind": "host", "id": "ws-0412"},
        "summary": {"text": "lsass read by an unsigned binary", "model": "triage-v3", "confidence": 0.82},
        "evidence": [{"kind": "log", "title": "lsass access", "body": "\u{1b}]52;c;ZXZpbA==\u{7} proc=mimikatz.exe"}],
        "context": {"rule_id": "win-lsass-17", "tags": ["T1003"]},
        "proposals": proposals,
    })
}

pub fn proposal(action: &str, risk: &str) -> Value {
    json!({
        "action": action,
        "target": "ws-0412",
        "risk": risk,
        "rationale": "contain before lateral movement",
    })
}

/// A policy for tests: carol and dave are leads; medium needs one analyst,
/// high two people with a lead, low indicator blocks are automatic.
pub const TEST_POLICY: &str = r#"
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
action = "block_indicator"
risk = "low"
auto = true
"#;

pub fn policy() -> Arc<Policy> {
    Arc::new(Policy::from_toml(TEST_POLICY, "test").expect("test policy"))
}

pub fn person(name: &str) -> countersign::domain::machine::Actor {
    let role = policy().role_of(name);
    countersign::domain::machine::Actor::Person {
        principal: name.into(),
        role,
    }
}

pub fn is_lead(name: &str) -> bool {
    policy().role_of(name) == Role::Lead
}

/// A human decision straight through the store (signing arrives with the
/// signing issue; the store path is the same).
pub async fn decide(
    store: &dyn Store,
    proposal_id: &str,
    digest: &str,
    who: &str,
    verdict: Verdict,
    reason: &str,
    now: i64,
) -> Result<DecideOutcome, StoreError> {
    store
        .decide(DecideCommand {
            proposal_id: proposal_id.into(),
            actor: person(who),
            verdict,
            reason: reason.into(),
            digest: digest.into(),
            policy: policy(),
            now,
            signed: None,
        })
        .await
}

pub fn sqlite_store(dir: &TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.path().join("countersign.db")).expect("open sqlite"))
}

pub struct TestServer {
    pub server: RunningServer,
    pub store: Arc<dyn Store>,
    pub agent_token: String,
    pub other_agent_token: String,
    pub reviewer_token: String,
    pub dir: TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Limits::default()).await
    }

    pub async fn start_with(limits: Limits) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store(&dir);
        let mut tokens = Vec::new();
        for (name, role) in [
            ("soar-bot", TokenRole::Agent),
            ("other-bot", TokenRole::Agent),
            ("dash", TokenRole::Reviewer),
        ] {
            let (token, hash) = new_token();
            store
                .create_token(name.into(), role, hash, 0)
                .await
                .expect("token");
            tokens.push(token);
        }
        let policy = Policy::from_toml(TEST_POLICY, "test").expect("policy");
        let server = start(
            store.clone(),
            ServerConfig {
                listen: "127.0.0.1:0".into(),
                policy,
                limits,
            },
        )
        .await
        .expect("server");
        TestServer {
            server,
            store,
            reviewer_token: tokens.pop().expect("token"),
            other_agent_token: tokens.pop().expect("token"),
            agent_token: tokens.pop().expect("token"),
            dir,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_countersign")
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
