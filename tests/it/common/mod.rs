//! Shared test helpers: sample alerts, an in-process server on loopback with
//! a real SQLite file, and the real binary.

pub mod gate;
pub mod person;
pub mod proc;
pub mod proxy;
pub mod pty;
pub mod store_suite;

use countersign::client::ApiClient;
use countersign::domain::policy::Policy;
use countersign::domain::types::{TokenRole, Verdict};
use countersign::server::auth::new_token;
use countersign::server::serve::{RunningServer, ServerConfig, start};
use countersign::server::state::{Identity, Limits};
use countersign::server::store::ops::ProposalById;
use countersign::server::store::sqlite::SqliteStore;
use countersign::server::store::{DecideCommand, DecideOutcome, NewToken, Store, StoreError};
use countersign::signing::allowed_signers::AllowedSigners;
use countersign::signing::payload::{
    DecisionDraft, PayloadVerdict, Review, SignedDecision, Target,
};
use countersign::signing::signer::Signer;
use person::Person;
use serde_json::{Value, json};
use ssh_key::{Algorithm, PrivateKey};
use std::collections::BTreeMap;
use std::path::PathBuf;
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

/// A proposal on ws-0412; an indicator block blocks one outside address
/// (a host name is no indicator: the gate holds it).
pub fn proposal(action: &str, risk: &str) -> Value {
    let target = if action == "block_indicator" {
        "203.0.113.7"
    } else {
        "ws-0412"
    };
    json!({
        "action": action,
        "target": target,
        "risk": risk,
        "rationale": "contain before lateral movement",
    })
}

/// A policy for tests: carol and dave are leads; medium needs one analyst,
/// high two people with a lead, low indicator blocks are automatic and
/// every one of them goes to sampled review.
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
sample = 1.0
"#;

pub fn policy() -> Arc<Policy> {
    Arc::new(Policy::from_toml(TEST_POLICY, "test").expect("test policy"))
}

pub fn person(name: &str) -> countersign::domain::machine::Actor {
    let role = policy().role_of(name);
    countersign::domain::machine::Actor::Person {
        principal: name.into(),
        role,
        key: Some(format!("SHA256:test-key-of-{name}")),
        hardware: false,
    }
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
        .run(DecideCommand {
            proposal_id: proposal_id.into(),
            actor: person(who),
            verdict,
            reason: reason.into(),
            digest: digest.into(),
            policy: policy(),
            now,
            signed: None,
            group: None,
            amendment: None,
        })
        .await
}

pub fn sqlite_store(dir: &TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.path().join("countersign.db")).expect("open sqlite"))
}

/// The people of the test SOC: alice and bob are analysts, carol and dave
/// leads (TEST_POLICY), mallory has a key but is not in allowed_signers.
pub const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "dave"];

pub fn new_key() -> PrivateKey {
    PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519).expect("key")
}

/// allowed_signers text for keys by principal.
pub fn allowed_signers_text(keys: &BTreeMap<String, PrivateKey>) -> String {
    keys.iter()
        .map(|(name, k)| format!("{name} {}\n", k.public_key().to_openssh().expect("openssh")))
        .collect()
}

pub struct TestServer {
    pub server: RunningServer,
    pub store: Arc<dyn Store>,
    /// What `--db` takes to open `store` (a SQLite path or a PostgreSQL URL).
    pub db_url: String,
    pub agent_token: String,
    pub other_agent_token: String,
    pub reviewer_token: String,
    pub keys: BTreeMap<String, PrivateKey>,
    pub signers_file: PathBuf,
    pub server_key: PrivateKey,
    pub dir: TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Limits::default()).await
    }

    pub async fn start_with(limits: Limits) -> Self {
        Self::start_with_policy(limits, TEST_POLICY).await
    }

    /// With a policy of the test's own (its exact text is what the audit
    /// log records).
    pub async fn start_with_policy(limits: Limits, policy_text: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // COUNTERSIGN_TEST_STORE=postgres runs the same API suites on
        // PostgreSQL (.ci/run does both).
        let (store, db_url) = match std::env::var("COUNTERSIGN_TEST_STORE").as_deref() {
            Ok("postgres") => pg_store_url()
                .await
                .expect("COUNTERSIGN_TEST_STORE=postgres needs COUNTERSIGN_TEST_PG_URL"),
            _ => (
                sqlite_store(&dir),
                dir.path().join("countersign.db").display().to_string(),
            ),
        };
        let mut tokens = Vec::new();
        for (name, role) in [
            ("soar-bot", TokenRole::Agent),
            ("other-bot", TokenRole::Agent),
            ("dash", TokenRole::Reviewer),
        ] {
            let (token, hash) = new_token();
            store
                .run(NewToken::unlimited(name, role, hash, 0))
                .await
                .expect("token");
            tokens.push(token);
        }
        let policy = Policy::from_toml(policy_text, "test").expect("policy");
        let keys: BTreeMap<String, PrivateKey> =
            PEOPLE.iter().map(|p| (p.to_string(), new_key())).collect();
        let signers_file = dir.path().join("allowed_signers");
        std::fs::write(&signers_file, allowed_signers_text(&keys)).expect("write signers");
        let server_key = new_key();
        let server = start(
            store.clone(),
            ServerConfig {
                listen: "127.0.0.1:0".into(),
                policy,
                identity: Identity {
                    signers: AllowedSigners::load(&signers_file).expect("signers"),
                    server_key: server_key.clone(),
                    server_name: "countersign-test".into(),
                },
                limits,
                policy_file: None,
                signers_file: Some(signers_file.clone()),
                tls: None,
                notify: Default::default(),
                gateway: None,
                oidc: None,
            },
        )
        .await
        .expect("server");
        TestServer {
            server,
            store,
            db_url,
            keys,
            signers_file,
            server_key,
            reviewer_token: tokens.pop().expect("token"),
            other_agent_token: tokens.pop().expect("token"),
            agent_token: tokens.pop().expect("token"),
            dir,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn signer(&self, who: &str) -> Signer {
        Signer::from_key(self.keys[who].clone())
    }

    /// A console client logged in as `who`.
    pub async fn login(&self, who: &str) -> ApiClient {
        let mut c = ApiClient::new(&self.url(), None).expect("client");
        c.login(who, &self.signer(who)).await.expect("login");
        c
    }

    /// `who` at the console, logged in with their key, to decide with it.
    pub async fn person(&self, who: &str) -> Person {
        Person::login(&self.url(), who, self.signer(who)).await
    }

    pub fn agent(&self) -> ApiClient {
        ApiClient::new(&self.url(), Some(self.agent_token.clone())).expect("client")
    }

    /// The proposal as stored (it must be there).
    pub async fn stored(&self, id: &str) -> countersign::domain::records::ProposalRecord {
        let found = self.store.run(ProposalById(id.to_owned())).await;
        found
            .unwrap()
            .unwrap_or_else(|| panic!("proposal {id} is not stored"))
    }

    /// Waits until `n` long-polls wait on the server (its own gauge), so a
    /// test acts while they are waiting, not before.
    pub async fn until_waiting(&self, n: i64) {
        until_long_polls(&self.url(), n).await
    }
}

/// A login challenge for `principal`, asked over plain HTTP (as a client
/// other than ours would).
pub async fn login_challenge(url: &str, principal: &str) -> String {
    let ch: Value = reqwest::Client::new()
        .post(format!("{url}/v1/session/challenge"))
        .json(&json!({ "principal": principal }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ch["challenge"].as_str().unwrap().to_owned()
}

/// Polls `/metrics` until `countersign_long_polls_waiting` reads `n`.
pub async fn until_long_polls(url: &str, n: i64) {
    let want = format!("countersign_long_polls_waiting {n}\n");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = match http.get(format!("{url}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(&want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never saw {n} waiting long-polls:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A signed verdict on a proposal, as the console makes it.
pub fn signed(
    signer: &Signer,
    who: &str,
    proposal: &str,
    digest: &str,
    verdict: PayloadVerdict,
    reason: &str,
) -> SignedDecision {
    DecisionDraft {
        target: Target::Proposal(proposal.into()),
        digest: digest.into(),
        verdict,
        reason: reason.into(),
        labels: vec![],
        review: Review {
            seconds: 12.5,
            panes: vec!["summary".into(), "diff".into()],
            group: None,
        },
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: None,
    }
    .sign(who, countersign::domain::time::now_millis(), signer)
    .expect("sign")
    .decision
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

/// The PostgreSQL server the tests may use (`.ci/run` starts one).
pub fn pg_url() -> Option<String> {
    match std::env::var("COUNTERSIGN_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("COUNTERSIGN_REQUIRE_PG").is_some_and(|v| v == "1") => {
            panic!(
                "COUNTERSIGN_REQUIRE_PG=1 but COUNTERSIGN_TEST_PG_URL is not set: PostgreSQL did not start"
            )
        }
        _ => {
            // Straight to the process's stderr: the test harness would hide
            // an eprintln! from a passing test.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "skipped: no PostgreSQL (set COUNTERSIGN_TEST_PG_URL; .ci/run starts one)"
            );
            None
        }
    }
}

/// A fresh database on that server; returns its URL.
pub async fn pg_fresh_db(admin_url: &str) -> String {
    let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    let name = format!("cs_test_{}", countersign::signing::payload::new_nonce());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    format!("{base}/{name}")
}

/// A plain connection to a test database (its driver spawned).
pub async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (db, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    db
}

/// Makes PostgreSQL refuse to store the alert `refused` (a trigger): a
/// statement that fails inside a batch, whoever's it is.
pub async fn pg_refuse_alert(db: &tokio_postgres::Client) {
    db.batch_execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON alerts FOR EACH ROW \
         WHEN (NEW.external_id = 'refused') EXECUTE FUNCTION refuse();",
    )
    .await
    .expect("trigger");
}

pub async fn pg_store() -> Option<Arc<dyn Store>> {
    Some(pg_store_url().await?.0)
}

/// A store on a fresh PostgreSQL database, and its URL.
pub async fn pg_store_url() -> Option<(Arc<dyn Store>, String)> {
    let admin = pg_url()?;
    let url = pg_fresh_db(&admin).await;
    let store = countersign::server::store::postgres::PgStore::open(&url)
        .await
        .expect("open PgStore");
    Some((Arc::new(store), url))
}

/// A new ed25519 key made by `ssh-keygen` itself at `path` (no passphrase);
/// returns the public key line.
pub fn keygen(path: &std::path::Path, comment: &str) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen is installed (openssh-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(path.with_extension("pub")).expect("public key")
}

/// Every signed payload in `entries`, verified with `ssh-keygen -Y verify`
/// against `dir/allowed_signers` (each signature written beside it);
/// returns the payloads.
pub fn ssh_keygen_verifies(
    entries: &[countersign::domain::records::AuditEntry],
    dir: &std::path::Path,
) -> Vec<Value> {
    let signers = dir.join("allowed_signers");
    let mut payloads = Vec::new();
    for e in entries {
        let entry: Value = serde_json::from_str(&e.entry).unwrap();
        let Some(payload) = entry["data"]["payload"].as_str() else {
            continue;
        };
        let sig = dir.join(format!("{}.sig", e.seq));
        std::fs::write(&sig, entry["data"]["signature"].as_str().unwrap()).unwrap();
        let who = entry["actor"]["principal"].as_str().unwrap();
        let mut child = std::process::Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&signers)
            .args(["-I", who, "-n", "countersign-decision", "-s"])
            .arg(&sig)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ssh-keygen refused entry {}: {}",
            e.seq,
            String::from_utf8_lossy(&out.stderr)
        );
        payloads.push(serde_json::from_str(payload).unwrap());
    }
    payloads
}

/// The venv's Python with the packages of .ci/requirements.txt, or None
/// (the test is skipped, unless COUNTERSIGN_REQUIRE_TOOLS says it must run).
pub fn python() -> Option<String> {
    match std::env::var("COUNTERSIGN_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var_os("COUNTERSIGN_REQUIRE_TOOLS").is_none(),
                "COUNTERSIGN_REQUIRE_TOOLS is set but COUNTERSIGN_PYTHON is not"
            );
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "skipped: COUNTERSIGN_PYTHON is not set (bash .ci/run sets it)"
            );
            None
        }
    }
}

/// A TOML basic string (JSON's escapes are TOML's).
pub fn toml_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}
