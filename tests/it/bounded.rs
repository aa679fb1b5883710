//! Issue 29, "Bounded": what one agent token can hold on the real binary
//! on loopback. MCP sessions are capped per agent and in total, expire
//! when idle and free their slot when closed; MCP requests count against
//! the agent's rate limit; long-polls are capped per caller; submissions
//! have a byte budget. Each refusal is a 429 with `Retry-After` and a code
//! of its own, and stores nothing. Bounded in count and time; the bounds
//! each test holds are stated where it asserts them.

use crate::common;

use common::gate::Gate;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

const PROTOCOL: &str = "2025-06-18";

/// A raw MCP `initialize`: (status, session id, error code, Retry-After).
async fn initialize(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> (StatusCode, Option<String>, Option<String>, Option<u64>) {
    let resp = http
        .post(format!("{url}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {},
            "clientInfo": {"name": "bounded", "version": "1"}}}),
        )
        .send()
        .await
        .expect("initialize answered");
    let status = resp.status();
    let session = resp
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let text = resp.text().await.unwrap_or_default();
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
    (status, session, code, retry_after)
}

/// `tools/list` in a session: its HTTP status.
async fn list_tools(http: &reqwest::Client, url: &str, token: &str, session: &str) -> StatusCode {
    let resp = http
        .post(format!("{url}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", PROTOCOL)
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await
        .expect("tools/list answered");
    let status = resp.status();
    let _ = resp.text().await;
    status
}

async fn close(http: &reqwest::Client, url: &str, token: &str, session: &str) -> StatusCode {
    http.delete(format!("{url}/mcp"))
        .bearer_auth(token)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", PROTOCOL)
        .send()
        .await
        .expect("delete answered")
        .status()
}

/// The attack: 4,000 `initialize` POSTs from one token. With the
/// default caps (16 sessions per agent) 16 become sessions and the rest
/// are refused with 429 `too_many_sessions` and `Retry-After` before rmcp
/// allocates anything. Bound: the server's RSS grows less than 100 MB
/// (before the caps: +949 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_thousand_initializes_hold_sixteen_sessions() {
    const ATTEMPTS: usize = 4_000;
    const CONCURRENCY: usize = 32;
    const MAX_GROWTH_KB: u64 = 100 * 1024;
    let g = Gate::start().await;
    let pid = g.server.child.id();
    let http = reqwest::Client::new();
    // One session first, so the growth measured is the attack's, not the
    // first use of the MCP code.
    let (status, first, _, _) = initialize(&http, &g.server.url, &g.agent_token).await;
    assert_eq!(status, StatusCode::OK);
    let first = first.expect("a session id");
    assert_eq!(
        close(&http, &g.server.url, &g.agent_token, &first).await,
        StatusCode::ACCEPTED
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss0 = rss_kb(pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..CONCURRENCY {
        let (http, url, token) = (http.clone(), g.server.url.clone(), g.agent_token.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for _ in (t..ATTEMPTS).step_by(CONCURRENCY) {
                out.push(initialize(&http, &url, &token).await);
            }
            out
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.extend(t.await.unwrap());
    }
    let took = started.elapsed();
    let rss1 = rss_kb(pid);
    let ok = results.iter().filter(|r| r.0 == StatusCode::OK).count();
    let refused: Vec<_> = results
        .iter()
        .filter(|r| r.0 == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(ok, 16, "the default cap per agent");
    assert_eq!(ok + refused.len(), ATTEMPTS, "every other attempt refused");
    assert!(
        refused.iter().all(|r| {
            r.2.as_deref() == Some("too_many_sessions") && r.3.is_some_and(|s| s >= 1)
        })
    );
    let growth = rss1.saturating_sub(rss0);
    eprintln!(
        "{ATTEMPTS} initialize POSTs in {took:.1?}: {ok} sessions, {} refused; RSS {} -> {} MB (+{} kB)",
        refused.len(),
        rss0 / 1024,
        rss1 / 1024,
        growth
    );
    assert!(
        growth < MAX_GROWTH_KB,
        "RSS grew {growth} kB (bound {MAX_GROWTH_KB} kB)"
    );
    // The server still answers.
    let r = http
        .get(format!("{}/healthz", g.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Per-agent and total caps; DELETE frees a slot; a session idle for
/// `--mcp-idle-timeout` (1 s here) ends and frees its slot; a session
/// answers only the agent that opened it. Bound: expiry within 10 s.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_capped_freed_by_close_and_expire_when_idle() {
    let g = Gate::start_with(&[
        "--mcp-sessions-per-agent",
        "2",
        "--mcp-sessions",
        "3",
        "--mcp-idle-timeout",
        "1",
    ])
    .await;
    let other = common::proc::create_token(&g.db, "edr-bot", "agent");
    let (http, url, a) = (reqwest::Client::new(), &g.server.url, &g.agent_token);

    let (s, one, ..) = initialize(&http, url, a).await;
    assert_eq!(s, StatusCode::OK);
    let one = one.unwrap();
    let (s, two, ..) = initialize(&http, url, a).await;
    assert_eq!(s, StatusCode::OK);
    let two = two.unwrap();
    // A third for this agent: over its cap.
    let (s, none, code, retry) = initialize(&http, url, a).await;
    assert_eq!(
        (s, none, code.as_deref()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some("too_many_sessions")
        )
    );
    assert_eq!(retry, Some(1), "Retry-After: the idle timeout");
    // Only an initialize takes a slot: anything else without a session
    // is rmcp's own answer, not a session refusal.
    let resp = http
        .post(format!("{url}/mcp"))
        .bearer_auth(a)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another agent: one fits in the total (3), a second does not.
    let (s, theirs, ..) = initialize(&http, url, &other).await;
    assert_eq!(s, StatusCode::OK);
    let theirs = theirs.unwrap();
    let (s, _, code, _) = initialize(&http, url, &other).await;
    assert_eq!(
        (s, code.as_deref()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_sessions"))
    );
    // Not their session: not found, and their DELETE does not close it.
    assert_eq!(
        list_tools(&http, url, &other, &one).await,
        StatusCode::NOT_FOUND
    );
    close(&http, url, &other, &one).await;
    assert_eq!(list_tools(&http, url, a, &one).await, StatusCode::OK);
    // Closing one frees its slot.
    assert_eq!(close(&http, url, a, &one).await, StatusCode::ACCEPTED);
    assert_eq!(list_tools(&http, url, a, &one).await, StatusCode::NOT_FOUND);
    let (s, three, ..) = initialize(&http, url, a).await;
    assert_eq!(s, StatusCode::OK);
    let three = three.unwrap();

    // Idle: every session ends, and every slot is free again.
    let deadline = Instant::now() + Duration::from_secs(10);
    for session in [&two, &three] {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let s = list_tools(&http, url, a, session).await;
            if s == StatusCode::NOT_FOUND {
                break;
            }
            assert!(Instant::now() < deadline, "session {session} never expired");
            // A request is activity: wait without one for a while.
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    }
    let _ = theirs;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for token in [a, a, &other] {
        let (s, ..) = initialize(&http, url, token).await;
        assert_eq!(s, StatusCode::OK, "slots free after idle expiry");
    }
}

/// MCP requests count against the agent's rate limit: with a burst of 5,
/// the sixth POST in a row is refused with 429 `rate_limited`.
#[tokio::test(flavor = "multi_thread")]
async fn mcp_requests_count_against_the_agent_rate() {
    let g = Gate::start_with(&["--agent-rate", "1", "--agent-burst", "5"]).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut codes = Vec::new();
    for _ in 0..6 {
        let (s, session, code, retry) = initialize(&http, &g.server.url, &g.agent_token).await;
        statuses.push(s.as_u16());
        codes.push(code);
        if let Some(session) = session {
            close(&http, &g.server.url, &g.agent_token, &session).await;
        } else {
            assert!(retry.is_some_and(|r| r >= 1));
        }
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    assert_eq!(codes[5].as_deref(), Some("rate_limited"));
}

async fn decision(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    id: &str,
    wait: u32,
) -> (StatusCode, Option<u64>, Value) {
    let resp = http
        .get(format!("{url}/v1/proposals/{id}/decision?wait={wait}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("decision answered");
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, resp.json().await.unwrap_or(Value::Null))
}

/// With `--max-waits-per-agent 4`, a fifth long-poll is refused with 429
/// `too_many_waits` and `Retry-After` while the four under the cap still
/// complete; a `wait=0` read takes no slot; a finished wait frees one.
/// Bound: the whole test waits 3 s.
#[tokio::test(flavor = "multi_thread")]
async fn long_polls_past_the_cap_are_refused() {
    let g = Gate::start_with(&["--max-waits-per-agent", "4"]).await;
    let http = reqwest::Client::new();
    let (s, r) = g
        .post(
            "/v1/alerts",
            Some(&g.agent_token),
            &common::alert(
                "bounded-waits",
                vec![common::proposal("kill_process", "medium")],
            )
            .to_string(),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let id = r["proposals"][0]["id"].as_str().unwrap().to_owned();
    let mut held = Vec::new();
    for _ in 0..4 {
        let (http, url, token, id) = (
            http.clone(),
            g.server.url.clone(),
            g.agent_token.clone(),
            id.clone(),
        );
        held.push(tokio::spawn(async move {
            decision(&http, &url, &token, &id, 3).await
        }));
    }
    common::until_long_polls(&g.server.url, 4).await;
    let (s, retry, e) = decision(&http, &g.server.url, &g.agent_token, &id, 3).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_waits")),
        "{e}"
    );
    assert_eq!(retry, Some(1));
    // Reading without waiting is not a long-poll.
    let (s, _, v) = decision(&http, &g.server.url, &g.agent_token, &id, 0).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("pending")));
    for h in held {
        let (s, _, v) = h.await.unwrap();
        assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("pending")));
    }
    // Their slots are free again.
    let (s, _, _) = decision(&http, &g.server.url, &g.agent_token, &id, 1).await;
    assert_eq!(s, StatusCode::OK);
}

/// The 0.95 MiB alerts against a byte budget of 3,000,000 bytes a
/// minute: three are stored, the fourth is refused with 429
/// `byte_budget_exceeded` and `Retry-After`, and nothing of it is stored.
#[tokio::test(flavor = "multi_thread")]
async fn the_byte_budget_refuses_the_next_big_submission() {
    let g = Gate::start_with(&["--agent-bytes-per-min", "3000000"]).await;
    let big = |n: usize| {
        let mut a = common::alert(
            &format!("bounded-big-{n}"),
            vec![common::proposal("kill_process", "medium")],
        );
        a["context"]["pad"] = json!("x".repeat(996_000));
        a.to_string()
    };
    assert!(big(0).len() > 995_000 && big(0).len() < 1_000_000);
    for n in 0..3 {
        let (s, r) = g.post("/v1/alerts", Some(&g.agent_token), &big(n)).await;
        assert_eq!(s, 201, "{r}");
    }
    let before = g.snapshot().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/alerts", g.server.url))
        .bearer_auth(&g.agent_token)
        .header("content-type", "application/json")
        .body(big(3))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "byte_budget_exceeded", "{e}");
    assert_eq!(g.snapshot().await, before, "nothing stored");
    // A small alert from another agent is not this agent's budget.
    let other = common::proc::create_token(&g.db, "edr-bot", "agent");
    let (s, r) = g
        .post(
            "/v1/alerts",
            Some(&other),
            &common::alert(
                "bounded-small",
                vec![common::proposal("kill_process", "low")],
            )
            .to_string(),
        )
        .await;
    assert_eq!(s, 201, "{r}");
}
