//! The MCP tools with a real MCP client (rmcp's own client side), over
//! stdio (`countersign mcp` as a child process) and over streamable HTTP
//! (`serve`'s `/mcp`), against the real server: a request, a person's
//! signed decision, the wait returning it; expiry; a dead server; tokens.

use crate::common;

use common::gate::Gate;
use common::person::Person;
use countersign::api::View;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Map, Value, json};

type Client = RunningService<RoleClient, ()>;

async fn stdio_client(server: &str, token: &str) -> Client {
    let mut cmd = tokio::process::Command::new(common::binary());
    cmd.args(["mcp", "--server", server, "--token", token])
        .env_remove("COUNTERSIGN_CONFIG");
    let transport = TokioChildProcess::new(cmd).expect("spawn countersign mcp");
    ().serve(transport)
        .await
        .expect("MCP initialise over stdio")
}

async fn http_client(server: &str, token: &str) -> Result<Client, String> {
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{server}/mcp"))
        .auth_header(token.to_owned());
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .map_err(|e| e.to_string())
}

async fn call(c: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(m) = args else {
        panic!("arguments are an object")
    };
    c.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(m))
        .await
        .expect("tool call answered")
}

fn structured(r: &CallToolResult) -> Value {
    r.structured_content.clone().unwrap_or(Value::Null)
}

fn text(r: &CallToolResult) -> String {
    serde_json::to_value(&r.content).unwrap()[0]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn alert(ext: &str, expires: u64) -> Value {
    let mut a = common::alert(ext, vec![common::proposal("kill_process", "medium")]);
    a["proposals"][0]["expires_in_secs"] = json!(expires);
    a
}

/// request → pending → a person approves → wait says act; started.
async fn the_loop(c: &Client, g: &Gate, alice: &Person, ext: &str) {
    let names: Vec<String> = c
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    for want in [
        "request_approval",
        "wait_for_decision",
        "report_execution",
        "get_receipt",
        "get_proposal",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let r = call(c, "request_approval", json!({"alert": alert(ext, 3600)})).await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let s = structured(&r);
    assert_eq!(s["act"], false);
    let id = s["proposals"][0]["id"].as_str().unwrap().to_owned();
    let digest = s["proposals"][0]["digest"].as_str().unwrap().to_owned();

    let r = call(
        c,
        "wait_for_decision",
        json!({"proposal_id": id, "wait_seconds": 1}),
    )
    .await;
    assert_eq!(structured(&r)["act"], false);
    assert_eq!(structured(&r)["verdict"], "pending");
    assert!(
        text(&r).starts_with("PENDING — not approved yet; do not act"),
        "{}",
        text(&r)
    );

    // A person decides while the agent waits.
    let waiting = {
        let id = id.clone();
        let c = c.peer().clone();
        tokio::spawn(async move {
            c.call_tool(
                CallToolRequestParams::new("wait_for_decision")
                    .with_arguments(Map::from_iter([("proposal_id".into(), json!(id))])),
            )
            .await
            .unwrap()
        })
    };
    g.server_waiting().await;
    alice.approve(&id, &digest).await.unwrap();
    let r = waiting.await.unwrap();
    assert_eq!(structured(&r)["act"], true, "{}", text(&r));
    assert_eq!(structured(&r)["status"], "approved");
    assert!(text(&r).starts_with("APPROVED"), "{}", text(&r));

    // The receipt of what was approved, and started with it.
    let r = call(c, "get_receipt", json!({"proposal_id": id})).await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let receipt: Value = serde_json::from_str(structured(&r)["receipt"].as_str().unwrap()).unwrap();
    assert_eq!(receipt["digest"], digest.as_str());
    let r = call(
        c,
        "report_execution",
        json!({"proposal_id": id, "state": "started", "receipt_id": "not-this-one"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true), "a receipt not this proposal's");
    let r = call(
        c,
        "report_execution",
        json!({"proposal_id": id, "state": "started", "receipt_id": receipt["receipt_id"]}),
    )
    .await;
    assert_eq!(structured(&r)["status"], "executing", "{}", text(&r));
    assert!(text(&r).starts_with("RECORDED — started"), "{}", text(&r));
    // Started: acting again is not what the approval allows.
    let r = call(c, "get_proposal", json!({"proposal_id": id})).await;
    assert_eq!(structured(&r)["act"], false, "{}", text(&r));
    assert!(
        text(&r).starts_with("DO NOT ACT") && text(&r).contains("already started"),
        "{}",
        text(&r)
    );
    // It failed; an agent polling again is not told to act again.
    let r = call(
        c,
        "report_execution",
        json!({"proposal_id": id, "state": "failed", "detail": "timeout"}),
    )
    .await;
    assert_eq!(structured(&r)["status"], "failed", "{}", text(&r));
    assert_eq!(structured(&r)["act"], false, "{}", text(&r));
    for tool in ["get_proposal", "wait_for_decision"] {
        let r = call(c, tool, json!({"proposal_id": id, "wait_seconds": 1})).await;
        assert_eq!(structured(&r)["act"], false, "{tool}: {}", text(&r));
        assert_eq!(structured(&r)["verdict"], "closed", "{tool}");
        assert!(
            text(&r).contains("already tried, and it failed"),
            "{tool}: {}",
            text(&r)
        );
    }
}

trait Waiting {
    async fn server_waiting(&self);
}

impl Waiting for Gate {
    /// Until the agent's long-poll is waiting on the server.
    async fn server_waiting(&self) {
        common::until_long_polls(&self.server.url, 1).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_asks_over_stdio_and_waits_for_a_person() {
    let g = Gate::start().await;
    let alice = g.person("alice", "alice").await;
    let c = stdio_client(&g.server.url, &g.agent_token).await;
    the_loop(&c, &g, &alice, "mcp-stdio-1").await;

    // Expired is not approval.
    let r = call(
        &c,
        "request_approval",
        json!({"alert": alert("mcp-stdio-2", 1)}),
    )
    .await;
    let id = structured(&r)["proposals"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let r = call(
        &c,
        "wait_for_decision",
        json!({"proposal_id": id, "wait_seconds": 5}),
    )
    .await;
    assert_eq!(structured(&r)["act"], false);
    assert_eq!(structured(&r)["status"], "expired");
    assert!(
        text(&r).starts_with("NOT APPROVED — do not act"),
        "{}",
        text(&r)
    );

    // Made-up ids, bad input: errors that say do not act.
    for (tool, args) in [
        (
            "wait_for_decision",
            json!({"proposal_id": "../../v1/audit"}),
        ),
        (
            "get_proposal",
            json!({"proposal_id": "01a20000-0000-7000-8000-000000000000"}),
        ),
        ("request_approval", json!({"alert": {"title": "no"}})),
        (
            "report_execution",
            json!({"proposal_id": id, "state": "done"}),
        ),
    ] {
        let r = call(&c, tool, args).await;
        assert_eq!(r.is_error, Some(true), "{tool}");
        assert_eq!(structured(&r)["act"], false, "{tool}");
        assert!(
            text(&r).starts_with("NOT APPROVED — do not act"),
            "{}",
            text(&r)
        );
    }
    c.cancel().await.unwrap();

    // The server is gone: the tools say so and never approve.
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let c = stdio_client(&dead, &g.agent_token).await;
    let r = call(
        &c,
        "request_approval",
        json!({"alert": alert("mcp-dead", 60)}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert_eq!(structured(&r)["act"], false);
    let r = call(
        &c,
        "wait_for_decision",
        json!({"proposal_id": id, "wait_seconds": 2}),
    )
    .await;
    assert_eq!(
        (r.is_error, &structured(&r)["act"]),
        (Some(true), &json!(false))
    );
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_asks_over_http_with_its_own_token() {
    let g = Gate::start().await;
    let alice = g.person("alice", "alice").await;
    let c = http_client(&g.server.url, &g.agent_token)
        .await
        .expect("MCP initialise over HTTP");
    the_loop(&c, &g, &alice, "mcp-http-1").await;
    // Proposed by the agent the token names.
    let q = alice.queue(View::All, 0, 0, 1000).await.unwrap();
    assert!(
        q.page
            .items
            .iter()
            .all(|i| i.proposal.proposed_by == "soar-bot")
    );
    c.cancel().await.unwrap();

    // No token, a wrong one, a reviewer's: no MCP session at all.
    assert!(http_client(&g.server.url, "wrong").await.is_err());
    let reviewer = common::proc::create_token(&g.db, "dashboard", "reviewer");
    assert!(http_client(&g.server.url, &reviewer).await.is_err());
    let resp = reqwest::Client::new()
        .post(format!("{}/mcp", g.server.url))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A Host header that is not this server's (DNS rebinding): refused.
    let resp = reqwest::Client::new()
        .post(format!("{}/mcp", g.server.url))
        .bearer_auth(&g.agent_token)
        .header("host", "evil.example")
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
}

/// A scoped token's tool call outside its scope is refused like its HTTP
/// submission: out_of_scope, do not act, nothing stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_outside_the_tokens_scope_is_refused() {
    let g = Gate::start().await;
    let db = format!("sqlite:{}", g.db.display());
    let out = common::proc::run(&[
        "token",
        "create",
        "--name",
        "scoped-bot",
        "--actions",
        "isolate_host",
        "--db",
        &db,
    ]);
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let c = http_client(&g.server.url, &token)
        .await
        .expect("initialise");
    let before = g.snapshot().await;
    // kill_process is not isolate_host.
    let r = call(
        &c,
        "request_approval",
        json!({"alert": alert("mcp-scope-1", 3600)}),
    )
    .await;
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    assert!(text(&r).contains("out_of_scope"), "{}", text(&r));
    assert_ne!(structured(&r)["act"], true);
    assert_eq!(g.snapshot().await, before, "nothing stored");
    c.cancel().await.unwrap();
}
