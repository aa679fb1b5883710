//! The HTTP API: router tests with `oneshot`, and long-polls over real
//! loopback HTTP.

use crate::common;
use countersign::server::store::ops::{AuditHead, ListTokens, RevokeToken};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestServer, alert, proposal};
use countersign::client::ApiClient;
use countersign::domain::types::{ProposalStatus, Verdict};
use countersign::server::router;
use countersign::server::state::Limits;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tower::ServiceExt;

async fn call(
    t: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(tok) = token {
        req = req.header("authorization", format!("Bearer {tok}"));
    }
    let req = req
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    let resp = router(t.server.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn submit_returns_ids_digests_and_deadlines() {
    let t = TestServer::start().await;
    let doc = alert(
        "edr-1",
        vec![
            proposal("isolate_host", "high"),
            proposal("block_indicator", "low"),
        ],
    );
    let (status, body) = call(&t, "POST", "/v1/alerts", Some(&t.agent_token), bytes(&doc)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "created");
    let ps = body["proposals"].as_array().unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0]["status"], "pending");
    assert_eq!(ps[1]["status"], "approved", "auto rule");
    // The digest is recomputable from what was submitted.
    let mut a = doc.clone();
    let p0 = a.as_object_mut().unwrap().remove("proposals").unwrap()[0].clone();
    let want = countersign::domain::digest::proposal_digest(&a, &p0).unwrap();
    assert_eq!(ps[0]["digest"], want);
    // Idempotent retry: 200, same ids.
    let (status, again) = call(&t, "POST", "/v1/alerts", Some(&t.agent_token), bytes(&doc)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["proposals"], body["proposals"]);
    // The console's view: documents verbatim (escape sequences included).
    let id = body["alert_id"].as_str().unwrap();
    let (status, detail) = call(
        &t,
        "GET",
        &format!("/v1/alerts/{id}"),
        Some(&t.reviewer_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        detail["alert"]["document"]["evidence"][0]["body"],
        doc["evidence"][0]["body"]
    );
    assert_eq!(detail["proposals"][0]["document"], p0);
    assert_eq!(detail["proposals"][0]["digest"], want);
    assert_eq!(detail["history"][0]["entry"]["kind"], "alert_received");
    // Another agent cannot see it.
    let (status, _) = call(
        &t,
        "GET",
        &format!("/v1/alerts/{id}"),
        Some(&t.other_agent_token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_is_a_clear_error_and_stores_nothing() {
    let t = TestServer::start_with(Limits {
        max_body: 64 * 1024,
        ..Limits::default()
    })
    .await;
    let tok = Some(t.agent_token.as_str());
    let cases: Vec<(Option<Vec<u8>>, StatusCode, &str, &str)> = vec![
        (
            Some(b"{\"external_id\":".to_vec()),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "line 1",
        ),
        (None, StatusCode::BAD_REQUEST, "empty_body", "empty"),
        (
            Some(b"[1,2]".to_vec()),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "object",
        ),
        (
            bytes(&{
                let mut a = alert("x", vec![proposal("isolate_host", "high")]);
                a["proposals"][0]["action"] = "nuke it all!".into();
                a
            }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "proposals[0].action",
        ),
        (
            bytes(&{
                let mut a = alert("x", vec![proposal("isolate_host", "high")]);
                a.as_object_mut().unwrap().remove("summary");
                a
            }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "summary",
        ),
        (
            bytes(&alert(
                "x",
                vec![
                    proposal("isolate_host", "high"),
                    json!({"action": "isolate_host"}),
                ],
            )),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "proposals[1]",
        ),
        (
            Some(vec![b' '; 65 * 1024]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "limit",
        ),
    ];
    for (body, status, code, needle) in cases {
        let (got, err) = call(&t, "POST", "/v1/alerts", tok, body).await;
        assert_eq!(got, status, "{err}");
        assert_eq!(err["error"]["code"], code, "{err}");
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(needle),
            "message {msg:?} should mention {needle:?}"
        );
    }
    // Nothing was stored, not even the good first proposal of the bad alert
    // (entry 1 is the policy the server started with).
    assert_eq!(t.store.run(AuditHead).await.unwrap().seq, 1);
    // Auth errors.
    let doc = bytes(&alert("y", vec![proposal("isolate_host", "high")]));
    let (s, e) = call(&t, "POST", "/v1/alerts", None, doc.clone()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (s, _) = call(&t, "POST", "/v1/alerts", Some("cs_wrong"), doc.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = call(
        &t,
        "POST",
        "/v1/alerts",
        Some(&t.reviewer_token),
        doc.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "reviewers cannot submit");
    let (s, _) = call(&t, "GET", "/v1/audit", Some(&t.agent_token), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "agents cannot read the audit log");
    // A revoked token stops working.
    for id in t
        .store
        .run(ListTokens)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.name == "soar-bot")
        .map(|k| k.id)
    {
        assert!(
            t.store
                .run(RevokeToken {
                    id: id.clone(),
                    now: 1
                })
                .await
                .unwrap()
        );
    }
    let (s, _) = call(&t, "POST", "/v1/alerts", tok, doc).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Unknown route: JSON 404.
    let (s, e) = call(&t, "GET", "/v1/nope", None, None).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn execution_reports_and_conflicts() {
    let t = TestServer::start().await;
    let doc = alert(
        "edr-x",
        vec![
            proposal("block_indicator", "low"),
            proposal("isolate_host", "medium"),
        ],
    );
    let (_, body) = call(&t, "POST", "/v1/alerts", Some(&t.agent_token), bytes(&doc)).await;
    let auto = body["proposals"][0]["id"].as_str().unwrap().to_owned();
    let pending = body["proposals"][1]["id"].as_str().unwrap().to_owned();
    let path = |id: &str| format!("/v1/proposals/{id}/execution");
    let (s, e) = call(
        &t,
        "POST",
        &path(&pending),
        Some(&t.agent_token),
        bytes(&json!({"state": "started"})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("wrong_state")),
        "{e}"
    );
    let (s, e) = call(
        &t,
        "POST",
        &path(&auto),
        Some(&t.other_agent_token),
        bytes(&json!({"state": "started"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, e) = call(
        &t,
        "POST",
        &path(&auto),
        Some(&t.agent_token),
        bytes(&json!({"state": "exploded"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, v) = call(
        &t,
        "POST",
        &path(&auto),
        Some(&t.agent_token),
        bytes(&json!({"state": "started"})),
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("executing")),
        "{v}"
    );
    let (s, v) = call(
        &t,
        "POST",
        &path(&auto),
        Some(&t.agent_token),
        bytes(&json!({"state": "executed", "detail": "blocked on fw-1"})),
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str(), v["final"].as_bool()),
        (StatusCode::OK, Some("executed"), Some(true))
    );
    let (s, e) = call(
        &t,
        "POST",
        &path(&auto),
        Some(&t.agent_token),
        bytes(&json!({"state": "failed"})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_final"))
    );
}

#[tokio::test]
async fn metrics_and_health() {
    let t = TestServer::start().await;
    let doc = alert("m-1", vec![proposal("isolate_host", "medium")]);
    call(&t, "POST", "/v1/alerts", Some(&t.agent_token), bytes(&doc)).await;
    let (s, body) = call(&t, "GET", "/healthz", None, None).await;
    assert_eq!((s, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, Value::String(text)) = call(&t, "GET", "/metrics", None, None).await else {
        panic!("metrics are text")
    };
    assert_eq!(s, StatusCode::OK);
    assert!(
        text.contains("countersign_proposals{status=\"pending\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "countersign_http_requests_total{method=\"POST\",route=\"/v1/alerts\",status=\"201\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("countersign_time_to_decision_seconds_bucket"),
        "{text}"
    );
    assert!(
        !text.contains("ws-0412") && !text.contains("mimikatz"),
        "metrics reveal no content"
    );
}

#[tokio::test]
async fn decision_long_poll_wakes_on_decision() {
    let t = TestServer::start().await;
    let agent = ApiClient::new(&t.url(), Some(t.agent_token.clone())).unwrap();
    let resp = agent
        .submit_alert(&alert("lp-1", vec![proposal("isolate_host", "medium")]))
        .await
        .unwrap();
    let p = resp.proposals[0].clone();
    // Not decided: returns after the wait with decided = false.
    let started = Instant::now();
    let v = agent.decision(&p.id, 1).await.unwrap();
    assert!(!v.decided && started.elapsed() >= Duration::from_millis(900));
    // A decision while an agent waits wakes it long before its 30 s wait.
    let waiter = tokio::spawn({
        let agent = agent.clone();
        let id = p.id.clone();
        async move { agent.decision(&id, 30).await }
    });
    t.until_waiting(1).await;
    let now = countersign::domain::time::now_millis();
    common::decide(
        &*t.store,
        &p.id,
        &p.digest,
        "alice",
        Verdict::Reject,
        "benign: patch tuesday",
        now,
    )
    .await
    .unwrap();
    let v = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("woke")
        .unwrap()
        .unwrap();
    assert_eq!(v.status, ProposalStatus::Rejected);
    assert_eq!(v.reason.as_deref(), Some("benign: patch tuesday"));
    assert!(
        matches!(v.decided_by, Some(countersign::domain::records::DecidedBy::Person { ref principal }) if principal == "alice")
    );
}

#[tokio::test]
async fn queue_long_poll_returns_new_items() {
    let t = TestServer::start().await;
    let reviewer = ApiClient::new(&t.url(), Some(t.reviewer_token.clone())).unwrap();
    let agent = ApiClient::new(&t.url(), Some(t.agent_token.clone())).unwrap();
    let first = reviewer
        .queue(countersign::api::View::Pending, 0, 0, 1000)
        .await
        .unwrap();
    assert!(first.page.items.is_empty());
    let poll = tokio::spawn({
        let reviewer = reviewer.clone();
        let after = first.page.cursor;
        async move {
            reviewer
                .queue(countersign::api::View::Pending, after, 30, 1000)
                .await
        }
    });
    t.until_waiting(1).await;
    agent
        .submit_alert(&alert("lp-2", vec![proposal("disable_account", "medium")]))
        .await
        .unwrap();
    let page = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("woke")
        .unwrap()
        .unwrap();
    assert_eq!(page.page.items.len(), 1);
    assert_eq!(page.page.items[0].alert_title, "Credential dumping on lp-2");
    assert_eq!(page.counts.get(&ProposalStatus::Pending), Some(&1));
}

/// The queue offers a proposal for a group decision only when nothing sets
/// it apart: a note or label on its alert, or an action that runs code or
/// changes access, makes it one to decide on its own.
#[tokio::test]
async fn noted_alerts_and_access_changes_are_never_offered_as_a_group() {
    use countersign::domain::types::Label;
    use countersign::signing::payload::{DecisionDraft, PayloadVerdict, Review, Target};
    let srv = TestServer::start().await;
    let agent = srv.agent();
    let mut ids = Vec::new();
    for (ext, action) in [
        ("grp-a", "isolate_host"),
        ("grp-b", "isolate_host"),
        ("grp-c", "disable_account"),
        ("grp-d", "run_command"),
    ] {
        let r = agent
            .submit_alert(&alert(ext, vec![proposal(action, "medium")]))
            .await
            .unwrap();
        ids.push((r.alert_id.clone(), r.proposals[0].id.clone()));
    }
    // alice labels the first alert a false positive.
    let alice = srv.login("alice").await;
    let detail = alice.alert(&ids[0].0).await.unwrap();
    let note = DecisionDraft {
        target: Target::Alert(ids[0].0.clone()),
        digest: detail.digest.clone(),
        verdict: PayloadVerdict::Annotate,
        reason: String::new(),
        labels: vec![Label::FalsePositive],
        review: Review {
            seconds: 3.0,
            panes: vec!["summary".into()],
            group: None,
        },
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: None,
    }
    .sign(
        "alice",
        countersign::domain::time::now_millis(),
        &srv.signer("alice"),
    )
    .unwrap()
    .decision;
    alice.post_decision(&note).await.unwrap();

    let page = alice
        .queue(countersign::api::View::Pending, 0, 0, 1000)
        .await
        .unwrap()
        .page;
    let row = |id: &str| {
        page.items
            .iter()
            .find(|i| i.proposal.id == id)
            .unwrap_or_else(|| panic!("{id} listed"))
    };
    let labelled = row(&ids[0].1);
    assert!(labelled.noted && !labelled.proposal.groupable);
    let plain = row(&ids[1].1);
    assert!(!plain.noted && plain.proposal.groupable);
    assert!(!row(&ids[2].1).proposal.groupable, "disable_account");
    assert!(!row(&ids[3].1).proposal.groupable, "run_command");
}
