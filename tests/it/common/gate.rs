//! A real `countersign serve` for attack tests: keys made by ssh-keygen,
//! an allowed_signers file with a shared key and a pattern, tokens, and a
//! snapshot of everything that could change (the chain and every table).

use super::keygen;
use super::person::Person;
use super::proc::{ServeProcess, create_token};
use countersign::client::ApiClient;
use countersign::domain::records::AuditEntry;
use countersign::signing::signer::Signer;
use serde_json::Value;
use ssh_key::PrivateKey;
use std::path::{Path, PathBuf};

pub struct Gate {
    _dir: tempfile::TempDir,
    pub db: PathBuf,
    pub server: ServeProcess,
    pub agent_token: String,
    pub reviewer: ApiClient,
    pub keys: PathBuf,
}

impl Gate {
    /// A server whose allowed_signers has alice and bob, one key listed for
    /// both dave and erin, and a pattern for anyone @soc.example.
    pub async fn start() -> Gate {
        Self::start_with(&[]).await
    }

    /// With more `serve` flags.
    pub async fn start_with(extra: &[&str]) -> Gate {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        let mut signers = String::new();
        for (names, file) in [
            ("alice", "alice"),
            ("bob", "bob"),
            ("dave,erin", "shared"),
            ("*@soc.example", "team"),
        ] {
            let public = keygen(&keys.join(file), file);
            signers.push_str(&format!("{names} {public}"));
        }
        let signers_file = dir.path().join("allowed_signers");
        std::fs::write(&signers_file, signers).unwrap();
        let db = dir.path().join("gate.db");
        let agent_token = create_token(&db, "soar-bot", "agent");
        let reviewer_token = create_token(&db, "auditor", "reviewer");
        let mut args = vec!["--signers", signers_file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let server = ServeProcess::start(&db, &args).await;
        let reviewer = ApiClient::new(&server.url, Some(reviewer_token)).unwrap();
        Gate {
            _dir: dir,
            db,
            server,
            agent_token,
            reviewer,
            keys,
        }
    }

    pub fn signer(&self, file: &str) -> Signer {
        Signer::from_key(PrivateKey::read_openssh_file(&self.keys.join(file)).unwrap())
    }

    pub async fn login(&self, who: &str, file: &str) -> ApiClient {
        let mut c = ApiClient::new(&self.server.url, None).unwrap();
        c.login(who, &self.signer(file)).await.expect("login");
        c
    }

    /// `who` logged in with the key in `file`, to decide with it.
    pub async fn person(&self, who: &str, file: &str) -> Person {
        Person::login(&self.server.url, who, self.signer(file)).await
    }

    /// Everything that could change: the whole chain and every table's rows.
    pub async fn snapshot(&self) -> (Vec<AuditEntry>, Vec<String>) {
        let chain = self.reviewer.audit_all(0).await.unwrap();
        (chain, table_rows(&self.db))
    }

    /// A raw POST, so the body is exactly the bytes given.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.server.url))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Posts and expects a refusal with `code` naming `field`; nothing
    /// changes. `case` says which refusal it is when one is not.
    pub async fn refused(
        &self,
        case: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
        code: &str,
        field: &str,
    ) {
        let before = self.snapshot().await;
        let (status, e) = self.post(path, token, body).await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (400, Some(code)),
            "{case}: {body}\n{e}"
        );
        assert_eq!(e["error"]["field"].as_str(), Some(field), "{case}: {e}");
        assert_eq!(
            self.snapshot().await,
            before,
            "{case}: nothing stored for {body}"
        );
    }
}

/// Every row of every table, as text (the SQLite file, read-only).
pub fn table_rows(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut out = Vec::new();
    for table in [
        "alerts",
        "proposals",
        "participants",
        "audit",
        "nonces",
        "annotations",
        "challenges",
    ] {
        let mut stmt = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let cells: Vec<String> = (0..n)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        other => format!("{other:?}"),
                    })
                    .collect();
                Ok(format!("{table}: {}", cells.join(" | ")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// A request by hand: method, path, token and the scheme word to use.
pub async fn raw(g: &Gate, method: &str, path: &str, auth: Option<String>) -> (u16, String, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new().request(m, format!("{}{path}", g.server.url));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ctype, resp.json().await.unwrap_or(Value::Null))
}
