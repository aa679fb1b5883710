//! Shared by the benchmark binaries.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn alert(ext: &str, proposals: usize) -> Value {
    let ps: Vec<Value> = (0..proposals)
        .map(|i| json!({"action": "isolate_host", "target": format!("{ext}-{i}"), "risk": "medium", "rationale": "contain the host before lateral movement"}))
        .collect();
    json!({
        "external_id": ext,
        "source": "edr",
        "severity": "high",
        "title": format!("Suspicious PowerShell on {ext}"),
        "entity": {"kind": "host", "id": ext},
        "summary": {"text": "Encoded PowerShell spawned by winword.exe contacting a new domain. ".repeat(8), "model": "triage-v3", "confidence": 0.77},
        "evidence": [{"kind": "log", "title": "process start", "body": "powershell.exe -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA ".repeat(10)}],
        "proposals": ps,
    })
}

/// One SQLite commit per row, WAL, synchronous=FULL, in `dir`: what a
/// server paying one fsync per request could do at best.
pub fn baseline(dir: &std::path::Path, secs: u64) -> f64 {
    let conn = rusqlite::Connection::open(dir.join("baseline.db")).unwrap();
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute(
        "CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        [],
    )
    .unwrap();
    let body = serde_json::to_string(&alert("baseline", 1)).unwrap();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        conn.execute("INSERT INTO rows (body) VALUES (?1)", [&body])
            .unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A new ed25519 key.
pub fn key() -> ssh_key::PrivateKey {
    ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
        .unwrap()
}

/// A server on a loopback port over `store`, with the built-in policy and
/// these allowed_signers lines; `server_key` signs its checkpoints.
pub async fn serve(
    store: std::sync::Arc<dyn countersign::server::store::Store>,
    signers: &str,
    server_key: ssh_key::PrivateKey,
) -> countersign::server::serve::RunningServer {
    serve_notifying(store, signers, server_key, Default::default()).await
}

/// The same, delivering notifications to `notify`'s sinks.
pub async fn serve_notifying(
    store: std::sync::Arc<dyn countersign::server::store::Store>,
    signers: &str,
    server_key: ssh_key::PrivateKey,
    notify: countersign::server::serve::NotifySettings,
) -> countersign::server::serve::RunningServer {
    use countersign::server::serve::{ServerConfig, start};
    use countersign::server::state::{Identity, Limits};
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        policy: countersign::domain::policy::Policy::builtin(),
        identity: Identity {
            signers: countersign::signing::allowed_signers::AllowedSigners::parse(signers, "bench")
                .unwrap(),
            server_key,
            server_name: "bench".into(),
        },
        limits: Limits {
            rates: countersign::server::limits::Rates::unlimited_agents(),
            max_waits_per_agent: 1_000_000,
            mcp_sessions_per_agent: 1_000_000,
            mcp_sessions: 1_000_000,
            ..Limits::default()
        },
        policy_file: None,
        signers_file: None,
        tls: None,
        notify,
        gateway: None,
        oidc: None,
    };
    start(store, config).await.unwrap()
}

/// A signed approval of proposal `id` as shown with `digest`.
pub fn approval(
    name: &str,
    id: String,
    digest: String,
    signer: &countersign::signing::signer::Signer,
) -> countersign::api::SignedDecision {
    use countersign::signing::payload::{DecisionDraft, PayloadVerdict, Review, Target};
    DecisionDraft {
        target: Target::Proposal(id),
        digest,
        verdict: PayloadVerdict::Approve,
        reason: String::new(),
        labels: vec![],
        review: Review {
            seconds: 30.0,
            panes: vec!["summary".into()],
            group: None,
        },
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: None,
    }
    .sign(name, countersign::domain::time::now_millis(), signer)
    .unwrap()
    .decision
}

/// One person: logs in at `url`, then signs and posts an approval of each
/// of `items` (proposal id, digest) until `until`. Returns (accepted,
/// failed, the items not reached).
pub async fn approve_until(
    url: String,
    name: String,
    key: ssh_key::PrivateKey,
    items: Vec<(String, String)>,
    until: Instant,
) -> (u64, u64, Vec<(String, String)>) {
    let signer = countersign::signing::signer::Signer::from_key(key.clone());
    let mut c = countersign::client::ApiClient::new(&url, None).unwrap();
    c.login(&name, &signer).await.unwrap();
    approve_as(c, name, key, items, until).await
}

/// [`approve_until`] for a person logged in already.
pub async fn approve_as(
    c: countersign::client::ApiClient,
    name: String,
    key: ssh_key::PrivateKey,
    items: Vec<(String, String)>,
    until: Instant,
) -> (u64, u64, Vec<(String, String)>) {
    let signer = countersign::signing::signer::Signer::from_key(key);
    let (mut ok, mut failed) = (0, 0);
    let mut items = items.into_iter();
    while Instant::now() < until {
        let Some((id, digest)) = items.next() else {
            break;
        };
        match c.post_decision(&approval(&name, id, digest, &signer)).await {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    (ok, failed, items.collect())
}
pub mod cpu;
pub mod iam;
pub mod load;
pub mod log;
