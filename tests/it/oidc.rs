//! Workload identities (`[[agents.oidc]]`) through the real binary on
//! loopback: JWTs minted by an independent library (PyJWT on
//! `cryptography`, tests/fixtures/oidc/mint.py) against a JWKS file, and
//! one issuer whose JWKS is served over HTTP by the test. Valid tokens
//! submit as the mapped agent; each trick is refused with 401 and stores
//! nothing; a scoped mapping's out-of-scope proposal is 403.
//!
//! Skipped (passing) unless COUNTERSIGN_PYTHON names the Python that has
//! .ci/requirements.txt installed (`bash .ci/run` sets it);
//! COUNTERSIGN_REQUIRE_TOOLS=1 makes a missing Python a failure.

use crate::common::proc::ServeProcess;
use crate::common::{alert, binary, proposal};
use crate::common::{python, toml_quote as q};
use axum::extract::State;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MINT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc/mint.py");
const CI: &str = "https://ci.example";
const K8S: &str = "https://kubernetes.default.svc.cluster.local";
const AUDIENCE: &str = "countersign";

/// An identity provider's JWKS endpoint on loopback: serves whatever key
/// set it holds now, and counts the fetches.
struct Idp {
    url: String,
    jwks: Arc<Mutex<Vec<u8>>>,
    hits: Arc<AtomicUsize>,
}

type IdpState = (Arc<Mutex<Vec<u8>>>, Arc<AtomicUsize>);

impl Idp {
    async fn start() -> Self {
        let jwks = Arc::new(Mutex::new(b"{\"keys\":[]}".to_vec()));
        let hits = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .route(
                "/jwks",
                axum::routing::get(|State((jwks, hits)): State<IdpState>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let body = jwks.lock().unwrap().clone();
                    ([("content-type", "application/json")], body)
                }),
            )
            .with_state((jwks.clone(), hits.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Idp { url, jwks, hits }
    }

    fn serve(&self, file: &Path) {
        *self.jwks.lock().unwrap() = std::fs::read(file).unwrap();
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The tokens mint.py made (by name), with the key sets it wrote to `dir`.
fn mint(py: &str, dir: &Path, url_issuer: &str) -> Value {
    let out = std::process::Command::new(py)
        .arg(MINT)
        .arg(dir)
        .args([CI, K8S, url_issuer, AUDIENCE])
        .output()
        .expect("run mint.py");
    assert!(
        out.status.success(),
        "mint.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("mint.py prints JSON")
}

/// The CI issuer maps `sub`; the Kubernetes one maps nested claims and is
/// scoped; the IdP's keys come from its URL.
fn config(dir: &Path, idp: &Idp) -> String {
    let jwks = q(dir.join("jwks.json").to_str().unwrap());
    format!(
        r#"
[[agents.oidc]]
issuer = {ci}
audience = "countersign"
jwks_file = {jwks}

[[agents.oidc.agents]]
claims = {{ sub = "ci:deploy" }}
agent = "ci-deploy"

[[agents.oidc.agents]]
claims = {{ sub = "ci:scan" }}
agent = "ci-scan"

[[agents.oidc]]
issuer = {k8s}
audience = ["https://kubernetes.default.svc", "countersign"]
jwks_file = {jwks}
leeway = 30

[[agents.oidc.agents]]
claims = {{ "kubernetes.io/namespace" = "soar", "kubernetes.io/serviceaccount/name" = "triage" }}
agent = "soar-triage"
actions = ["isolate_host"]
targets = ["ws-*"]

[[agents.oidc]]
issuer = {idp}
audience = "countersign"
jwks_url = {idp_jwks}
refresh = "1h"

[[agents.oidc.agents]]
claims = {{ sub = "idp:agent" }}
agent = "idp-agent"
"#,
        ci = q(CI),
        k8s = q(K8S),
        idp = q(&idp.url),
        idp_jwks = q(&format!("{}/jwks", idp.url)),
    )
}

struct Gate {
    server: ServeProcess,
    db: PathBuf,
    http: reqwest::Client,
    sent: usize,
}

impl Gate {
    /// Submits one alert with this bearer: the status and the body.
    async fn submit(&mut self, token: &str, proposals: Vec<Value>) -> (u16, Value) {
        self.sent += 1;
        let r = self
            .http
            .post(format!("{}/v1/alerts", self.server.url))
            .bearer_auth(token)
            .json(&alert(&format!("oidc-{}", self.sent), proposals))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// A submission that must be stored, under this agent's name.
    async fn accepted(&mut self, token: &str, agent: &str) {
        let (status, body) = self
            .submit(token, vec![proposal("isolate_host", "medium")])
            .await;
        assert_eq!(status, 201, "{agent}: {body}");
        let alert_id = body["alert_id"].as_str().unwrap();
        assert_eq!(self.agent_of(alert_id), agent);
    }

    /// A refused submission: 401 with `says` in the message.
    async fn refused(&mut self, token: &str, says: &str) {
        let (status, body) = self
            .submit(token, vec![proposal("isolate_host", "medium")])
            .await;
        assert_eq!(status, 401, "{says}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "wanted {says:?} in {message:?}");
    }

    fn agent_of(&self, alert_id: &str) -> String {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        conn.query_row("SELECT agent FROM alerts WHERE id = ?1", [alert_id], |r| {
            r.get(0)
        })
        .unwrap()
    }

    fn agent_of_external(&self, external_id: &str) -> String {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        conn.query_row(
            "SELECT agent FROM alerts WHERE external_id = ?1",
            [external_id],
            |r| r.get(0),
        )
        .unwrap()
    }

    fn alerts_stored(&self) -> i64 {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        conn.query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_identity_tokens_are_agents_and_every_trick_is_refused() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let idp = Idp::start().await;
    let tokens = mint(&py, d, &idp.url);
    let t = |name: &str| tokens[name].as_str().unwrap().to_owned();
    idp.serve(&d.join("jwks-url-1.json"));
    std::fs::write(d.join("config.toml"), config(d, &idp)).unwrap();
    let db = d.join("gate.db");
    let server = ServeProcess::start(
        &db,
        &[
            "--config",
            d.join("config.toml").to_str().unwrap(),
            "--server-key",
            d.join("server_key").to_str().unwrap(),
        ],
    )
    .await;
    let mut gate = Gate {
        server,
        db,
        http: reqwest::Client::new(),
        sent: 0,
    };

    // Valid: RS256 and ES256 (also without a kid: one EC key fits), each
    // the agent its mapping names.
    gate.accepted(&t("rs256"), "ci-deploy").await;
    gate.accepted(&t("es256"), "ci-scan").await;
    gate.accepted(&t("es256_no_kid"), "ci-scan").await;

    // Refused, each with its reason.
    for (name, says) in [
        ("expired", "expired"),
        ("not_yet", "not valid yet"),
        ("wrong_audience", "wrong audience"),
        ("no_audience", "no `aud` claim"),
        ("no_exp", "no `exp` claim"),
        ("wrong_issuer", "wrong issuer"),
        ("unknown_kid", "unknown key"),
        ("stranger_as_known_kid", "bad signature"),
        ("alg_none", "`none`"),
        ("hs256_public_key", "HS256"),
        ("rs256_on_ec_key", "not one key `ec-1` may verify"),
        ("tampered", "bad signature"),
        ("keys_in_the_header", "unknown key"),
        ("crit", "`crit`"),
        ("no_mapping", "no [[agents.oidc.agents]] mapping"),
        ("no_mapping", "ci:somebody-else"),
        ("k8s_other_namespace", "no [[agents.oidc.agents]] mapping"),
    ] {
        gate.refused(&t(name), says).await;
    }
    gate.refused(
        "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
        "payload is not a JSON object",
    )
    .await;
    // A cs_ token keeps its meaning.
    gate.refused("cs_0000", "unknown or revoked token").await;
    assert_eq!(gate.alerts_stored(), 3, "nothing refused was stored");

    // Kubernetes: nested claims map, and the mapping's scope holds.
    gate.accepted(&t("k8s"), "soar-triage").await;
    for out in [
        json!({"action": "isolate_host", "target": "dc-01", "risk": "high", "rationale": "r"}),
        proposal("block_indicator", "low"),
    ] {
        let (status, body) = gate.submit(&t("k8s"), vec![out]).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "out_of_scope", "{body}");
    }
    assert_eq!(gate.alerts_stored(), 4, "out of scope: nothing stored");

    // MCP over streamable HTTP: the same JWT as the bearer is the same agent.
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", gate.server.url))
        .auth_header(t("rs256"));
    let mcp =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("MCP initialise with a JWT bearer");
    let Value::Object(args) =
        json!({"alert": alert("oidc-mcp", vec![proposal("isolate_host", "medium")])})
    else {
        unreachable!()
    };
    let answer = mcp
        .call_tool(CallToolRequestParams::new("request_approval").with_arguments(args))
        .await
        .expect("tool call answered");
    assert_ne!(answer.is_error, Some(true), "{answer:?}");
    assert_eq!(gate.agent_of_external("oidc-mcp"), "ci-deploy");
    let _ = mcp.cancel().await;

    // The URL issuer: fetched once at start; a new key's kid makes the
    // gate fetch again at once, and the token is accepted.
    assert_eq!(idp.hits(), 1);
    gate.accepted(&t("url_1"), "idp-agent").await;
    assert_eq!(idp.hits(), 1, "a known key needs no fetch");
    idp.serve(&d.join("jwks-url-2.json"));
    gate.accepted(&t("url_2"), "idp-agent").await;
    assert_eq!(idp.hits(), 2);
    // Another unknown kid right after: refused without fetching again,
    // so junk tokens cannot make the gate hammer the issuer.
    gate.refused(&t("url_3"), "unknown key").await;
    gate.refused(&t("url_3"), "unknown key").await;
    assert_eq!(idp.hits(), 2);
}

/// `serve` with a config file: its exit status and stderr, or a panic if
/// it is still running after 30 s (it must stop before serving).
async fn serve_with(config: &str, dir: &Path) -> (bool, String) {
    let path = dir.join("bad.toml");
    std::fs::write(&path, config).unwrap();
    let child = tokio::process::Command::new(binary())
        .args(["--config", path.to_str().unwrap(), "serve"])
        .args(["--db", &format!("sqlite:{}", dir.join("g.db").display())])
        .args(["--listen", "127.0.0.1:0"])
        .args(["--server-key", dir.join("server_key").to_str().unwrap()])
        .env_remove("COUNTERSIGN_CONFIG")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), child)
        .await
        .expect("serve stops on a bad [[agents.oidc]]")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_bad_issuer_block_stops_the_server_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let block = |source: &str| {
        format!(
            "[[agents.oidc]]\nissuer = \"https://ci.example\"\naudience = \"countersign\"\n{source}\n\
             [[agents.oidc.agents]]\nclaims = {{ sub = \"ci:deploy\" }}\nagent = \"ci-deploy\"\n"
        )
    };
    let both = block(
        "jwks_file = \"/etc/countersign/ci-jwks.json\"\njwks_url = \"https://ci.example/jwks\"",
    );
    let (ok, err) = serve_with(&both, d).await;
    assert!(!ok);
    assert!(err.contains("jwks_file or jwks_url, not both"), "{err}");
    assert!(err.contains("line "), "{err}");

    let missing = d.join("no-such-jwks.json");
    let (ok, err) = serve_with(
        &block(&format!("jwks_file = {}", q(missing.to_str().unwrap()))),
        d,
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("jwks_file") && err.contains("no-such-jwks.json"),
        "{err}"
    );

    // A key set of nothing usable: HS* secrets are never keys.
    let hmac_only = d.join("hmac.json");
    std::fs::write(&hmac_only, r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).unwrap();
    let (ok, err) = serve_with(
        &block(&format!("jwks_file = {}", q(hmac_only.to_str().unwrap()))),
        d,
    )
    .await;
    assert!(!ok);
    assert!(err.contains("no usable signing key"), "{err}");

    let (ok, err) = serve_with(
        &block("jwks_url = \"https://ci.example/jwks\"\nalgorithms = [\"RS256\", \"HS256\"]"),
        d,
    )
    .await;
    assert!(!ok);
    assert!(err.contains("algorithms") && err.contains("HS256"), "{err}");
}
