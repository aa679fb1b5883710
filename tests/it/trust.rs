//! The gate cannot be talked around (issue 10), tried as an attacker would
//! against the real binary on loopback: one document has one meaning,
//! identifiers are visible text, one key is one person, a session is for
//! one concrete principal. After every refusal the database and the audit
//! chain are exactly as they were.

use crate::common;

use common::gate::{Gate, raw};
use common::proc::create_token;
use countersign::client::ApiClient;
use countersign::signing::payload::PayloadVerdict;
use serde_json::{Value, json};

fn submission(ext: &str, action: &str, risk: &str) -> Value {
    common::alert(ext, vec![common::proposal(action, risk)])
}

/// `body` with `"name":` replaced by a duplicate of itself first holding
/// `first` (raw JSON text), so the text holds the name twice.
fn with_duplicate(body: &Value, name: &str, first: &str) -> String {
    let text = body.to_string();
    let needle = format!("\"{name}\":");
    let at = text.find(&needle).expect("the member is there");
    format!("{}{needle}{first},{}", &text[..at], &text[at..])
}

#[tokio::test]
async fn one_document_one_meaning() {
    let g = Gate::start().await;
    let agent = Some(g.agent_token.as_str());
    // The attack from the issue: two actions, the built-in policy would
    // auto-approve the last (block_indicator, low) while an executor that
    // keeps the first runs disable_account on the CEO.
    let attack = r#"{"external_id":"dup-1","source":"edr","severity":"low","title":"t",
        "entity":{"kind":"user","id":"ceo@corp"},"summary":{"text":"s","model":"m","confidence":0.5},
        "proposals":[{"action":"disable_account","action":"block_indicator","target":"ceo@corp",
        "risk":"low","rationale":"r"}]}"#;
    let mut doc = submission("dup-2", "modify_policy", "low");
    doc["proposals"][0]["permission_change"] =
        json!({"format": "json", "before": "{}", "after": "{}"});
    // Escaped names are the same name.
    let escaped = doc
        .to_string()
        .replacen(r#""source":"#, r#""sour\u0063e":"x","source":"#, 1);
    // What I-JSON forbids: two texts that one double (and one digest) share.
    let mut big = doc.clone();
    big["proposals"][0]["expires_in_secs"] = json!(1);
    let past_2_53 = big.to_string().replace(
        r#""expires_in_secs":1"#,
        r#""expires_in_secs":9007199254740993"#,
    );
    let too_precise = doc.to_string().replace(
        r#""confidence":0.82"#,
        r#""confidence":0.82000000000000000001"#,
    );
    assert!(
        too_precise.contains("0.82000000000000000001"),
        "{too_precise}"
    );
    let lone_surrogate = doc
        .to_string()
        .replacen(r#""title":""#, r#""title":"\ud800"#, 1);
    // Identifiers are visible text.
    let identifier = |set: &dyn Fn(&mut Value)| {
        let mut d = submission("dup-3", "isolate_host", "medium");
        set(&mut d);
        d.to_string()
    };
    for (case, body, code, field) in [
        (
            "the attack",
            attack.to_owned(),
            "duplicate_member",
            "proposals[0].action",
        ),
        (
            "two targets",
            with_duplicate(&doc, "target", r#""somewhere-else""#),
            "duplicate_member",
            "proposals[0].target",
        ),
        (
            "two risks",
            with_duplicate(&doc, "risk", r#""critical""#),
            "duplicate_member",
            "proposals[0].risk",
        ),
        (
            "two documents after the change",
            with_duplicate(&doc, "after", r#""{\"Statement\":[]}""#),
            "duplicate_member",
            "proposals[0].permission_change.after",
        ),
        (
            "two external ids",
            with_duplicate(&doc, "external_id", r#""other""#),
            "duplicate_member",
            "external_id",
        ),
        (
            "a source with an escaped name",
            escaped,
            "duplicate_member",
            "source",
        ),
        (
            "an integer past 2^53",
            past_2_53,
            "not_i_json",
            "proposals[0].expires_in_secs",
        ),
        (
            "a number no double holds",
            too_precise,
            "not_i_json",
            "summary.confidence",
        ),
        (
            "a lone surrogate",
            lone_surrogate,
            "not_i_json",
            "evidence[0].title",
        ),
        (
            "a right-to-left override in the external id",
            identifier(&|d| d["external_id"] = json!("dup-3\u{202E}")),
            "invalid_field",
            "external_id",
        ),
        (
            "a zero-width space in the entity id",
            identifier(&|d| d["entity"]["id"] = json!("ws\u{200B}-1")),
            "invalid_field",
            "entity.id",
        ),
        (
            "a NUL in the target",
            identifier(&|d| d["proposals"][0]["target"] = json!("ws\u{0}-1")),
            "invalid_field",
            "proposals[0].target",
        ),
    ] {
        g.refused(case, "/v1/alerts", agent, &body, code, field)
            .await;
    }
    // A name twice inside an embedded document (JSON or YAML): the same
    // refusal, naming the field and the path inside the document.
    for (case, embedded, path) in [
        (
            "two Actions in a JSON policy",
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Action":"s3:GetObject","Resource":"*"}]}"#,
            "Statement[0].Action",
        ),
        (
            "two verbs in a YAML role",
            "kind: Role\nmetadata:\n  name: r\nrules:\n- verbs: [get]\n  verbs: ['*']\n",
            "rules[0].verbs",
        ),
    ] {
        let mut inner = doc.clone();
        inner["proposals"][0]["permission_change"]["after"] = json!(embedded);
        let body = inner.to_string();
        g.refused(
            case,
            "/v1/alerts",
            agent,
            &body,
            "duplicate_member",
            "proposals[0].permission_change.after",
        )
        .await;
        let (_, e) = g.post("/v1/alerts", agent, &body).await;
        assert_eq!(e["error"]["path"], path, "{case}: {e}");
    }
    // Every other body too: login, execution reports.
    g.refused(
        "two principals in a login challenge",
        "/v1/session/challenge",
        None,
        r#"{"principal":"alice","principal":"bob"}"#,
        "duplicate_member",
        "principal",
    )
    .await;
    g.refused(
        "two states in an execution report",
        "/v1/proposals/any/execution",
        agent,
        r#"{"state":"failed","state":"executed"}"#,
        "duplicate_member",
        "state",
    )
    .await;
    // Prose keeps what it holds.
    let mut prose = submission("dup-4", "isolate_host", "medium");
    prose["title"] = json!("title with \u{1b}[31m and \u{202E} kept verbatim");
    let (status, _) = g.post("/v1/alerts", agent, &prose.to_string()).await;
    assert_eq!(status, 201, "prose is data; the console shows it safely");
}

#[tokio::test]
async fn a_signed_payload_has_one_meaning_too() {
    let g = Gate::start().await;
    let agent = ApiClient::new(&g.server.url, Some(g.agent_token.clone())).unwrap();
    let r = agent
        .submit_alert(&submission("pay-1", "isolate_host", "medium"))
        .await
        .unwrap();
    let p = &r.proposals[0];
    let alice = g.person("alice", "alice").await;
    // A payload saying approve and reject, signed: refused before anything.
    let honest = alice.signed(&p.id, &p.digest, PayloadVerdict::Reject, "no");
    let two_minds = honest.payload.replacen(
        r#""verdict":"reject""#,
        r#""verdict":"approve","verdict":"reject""#,
        1,
    );
    assert_ne!(two_minds, honest.payload);
    let sig = g
        .signer("alice")
        .sign(countersign::signing::NS_DECISION, two_minds.as_bytes())
        .unwrap();
    let before = g.snapshot().await;
    let err = alice
        .post_decision(&countersign::api::SignedDecision {
            payload: two_minds,
            signature: sig,
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(countersign::api::ErrorCode::DuplicateMember),
        "{err}"
    );
    assert_eq!(g.snapshot().await, before);
}

#[tokio::test]
async fn one_key_is_one_person() {
    let g = Gate::start().await;
    let agent = ApiClient::new(&g.server.url, Some(g.agent_token.clone())).unwrap();
    // Policy changes need two people (built-in policy).
    let r = agent
        .submit_alert(&submission("key-1", "modify_policy", "medium"))
        .await
        .unwrap();
    let p = &r.proposals[0];
    let dave = g.person("dave", "shared").await;
    let erin = g.person("erin", "shared").await;
    let first = dave.approve(&p.id, &p.digest).await.unwrap();
    assert_eq!(first.event, "approval_counted");
    // The same key under the other name: refused, nothing changes.
    let before = g.snapshot().await;
    let err = erin.approve(&p.id, &p.digest).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(countersign::api::ErrorCode::SameKey),
        "{err}"
    );
    assert_eq!(g.snapshot().await, before);
    // A second person with their own key completes it.
    let bob = g.person("bob", "bob").await;
    let done = bob.approve(&p.id, &p.digest).await.unwrap();
    assert_eq!(done.event, "approved");

    // The escalator's key cannot approve the escalation under a pattern name.
    let r = agent
        .submit_alert(&submission("key-2", "isolate_host", "medium"))
        .await
        .unwrap();
    let p = &r.proposals[0];
    let x = g.person("x@soc.example", "team").await;
    x.decide(&p.id, &p.digest, PayloadVerdict::Escalate, "needs a lead")
        .await
        .unwrap();
    let y = g.person("y@soc.example", "team").await;
    let err = y.approve(&p.id, &p.digest).await.unwrap_err();
    // y is an analyst, so the role refusal may come first; either way, no.
    assert!(
        matches!(
            err.code(),
            Some(countersign::api::ErrorCode::SameKey | countersign::api::ErrorCode::LeadRequired)
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_session_is_for_one_concrete_principal() {
    let g = Gate::start().await;
    for name in [
        "*@soc.example",
        "dave,erin",
        "!bob",
        "al ice",
        "al\u{200D}ice",
    ] {
        let before = g.snapshot().await;
        let (status, e) = g
            .post(
                "/v1/session/challenge",
                None,
                &json!({ "principal": name }).to_string(),
            )
            .await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (400, Some("invalid_field")),
            "{name}: {e}"
        );
        assert_eq!(g.snapshot().await, before);
    }
    // A name no key may sign for gets an answer of the same shape, and no
    // stored challenge: nothing to enumerate, nothing to redeem.
    let before = g.snapshot().await;
    let (status, unknown) = g
        .post("/v1/session/challenge", None, r#"{"principal":"mallory"}"#)
        .await;
    let (status2, known) = g
        .post("/v1/session/challenge", None, r#"{"principal":"alice"}"#)
        .await;
    assert_eq!((status, status2), (201, 201));
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&unknown), keys(&known));
    let after = g.snapshot().await;
    let new_rows: Vec<_> = after.1.iter().filter(|r| !before.1.contains(r)).collect();
    assert_eq!(
        new_rows.len(),
        1,
        "only alice's challenge is stored: {new_rows:?}"
    );
    assert!(new_rows[0].contains("alice"));
    // A key for the pattern logs in under a concrete name within it.
    g.login("x@soc.example", "team").await;
}

#[tokio::test]
async fn every_refusal_is_one_json_error_shape() {
    let g = Gate::start().await;
    let reviewer_token = create_token(&g.db, "dash", "reviewer");
    let bearer = Some(format!("Bearer {reviewer_token}"));
    for (method, path, status, code) in [
        ("GET", "/v1/queue?wait=abc", 400, "invalid_query"),
        ("GET", "/v1/queue?view=bogus", 400, "invalid_query"),
        ("GET", "/v1/queue?limit=-1", 400, "invalid_query"),
        ("GET", "/v1/audit?after=x", 400, "invalid_query"),
        (
            "GET",
            "/v1/proposals/p/decision?wait=soon",
            400,
            "invalid_query",
        ),
        ("GET", "/v1/nope", 404, "not_found"),
        ("GET", "/v1/decisions", 405, "method_not_allowed"),
        ("DELETE", "/v1/alerts", 405, "method_not_allowed"),
    ] {
        let (s, ctype, e) = raw(&g, method, path, bearer.clone()).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {e}"
        );
        assert!(
            ctype.starts_with("application/json"),
            "{method} {path}: {ctype}"
        );
        assert!(e["error"]["message"].as_str().is_some_and(|m| m.len() > 5));
    }
    // The bearer scheme is case-insensitive (RFC 7235).
    let (s, _, _) = raw(
        &g,
        "GET",
        "/v1/queue",
        Some(format!("bearer {reviewer_token}")),
    )
    .await;
    assert_eq!(s, 200);
    // Agents do not read the review queue.
    let (s, _, e) = raw(
        &g,
        "GET",
        "/v1/queue",
        Some(format!("Bearer {}", g.agent_token)),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("reviewer_only"))
    );
}

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let g = Gate::start().await;
    let size = || async {
        reqwest::get(format!("{}/metrics", g.server.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = size().await;
    for i in 0..300 {
        let (s, _, _) = raw(&g, &format!("BREW{i}"), &format!("/v1/x{i}"), None).await;
        assert!(s == 404 || s == 405, "{s}");
    }
    let after = size().await;
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(!after.contains("BREW"), "made-up methods are not labels");
    assert!(!after.contains("/v1/x1"), "paths only as route templates");
    assert!(
        after.len() < before.len() + 2_000,
        "{} -> {} bytes",
        before.len(),
        after.len()
    );
}

#[tokio::test]
async fn a_flooding_agent_and_a_login_storm_get_429_with_retry_after() {
    let g = Gate::start_with(&["--agent-rate", "1", "--agent-burst", "3"]).await;
    let agent = Some(g.agent_token.as_str());
    for i in 0..3 {
        let (s, e) = g
            .post(
                "/v1/alerts",
                agent,
                &submission(&format!("flood-{i}"), "isolate_host", "low").to_string(),
            )
            .await;
        assert_eq!(s, 201, "{e}");
    }
    let before = g.snapshot().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/alerts", g.server.url))
        .bearer_auth(&g.agent_token)
        .json(&submission("flood-4", "isolate_host", "low"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "rate_limited");
    assert_eq!(g.snapshot().await, before, "nothing stored");
    // Another agent is not held back by this one's flood.
    let other = create_token(&g.db, "other-bot", "agent");
    let (s, _) = g
        .post(
            "/v1/alerts",
            Some(&other),
            &submission("other-1", "isolate_host", "low").to_string(),
        )
        .await;
    assert_eq!(s, 201);

    // Login challenges: at most 60 a minute from one address (whatever
    // the names; see nobody_can_lock_a_person_out_of_their_own_logins).
    let mut granted = 0;
    let mut refused = false;
    for i in 0..90 {
        let name = if i % 2 == 0 { "alice" } else { "bob" };
        let (s, e) = g
            .post(
                "/v1/session/challenge",
                None,
                &json!({ "principal": name }).to_string(),
            )
            .await;
        match s {
            201 => granted += 1,
            429 => {
                assert_eq!(e["error"]["code"], "rate_limited");
                refused = true;
                break;
            }
            other => panic!("challenge {i}: {other} {e}"),
        }
    }
    assert!(
        refused,
        "a storm of challenges from one address was never refused"
    );
    // 60 at once, and perhaps one more the bucket refilled meanwhile.
    assert!((60..=62).contains(&granted), "{granted}");
}

/// A stranger cannot lock a person out: challenges are counted per
/// address, failed logins per principal, and a correctly signed login is
/// never refused for the failures counted against the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_can_lock_a_person_out_of_their_own_logins() {
    let g = Gate::start().await;
    let challenge = || async {
        let (status, c) = g
            .post("/v1/session/challenge", None, r#"{"principal":"alice"}"#)
            .await;
        assert_eq!(status, 201, "{c}");
        c["challenge"].as_str().unwrap().to_owned()
    };
    // More challenges in alice's name than a principal was once allowed.
    for _ in 0..25 {
        challenge().await;
    }
    // Failed logins in her name: past 20 a minute, refused outright.
    let mut statuses = Vec::new();
    for _ in 0..24 {
        let c = challenge().await;
        let body = json!({"principal": "alice", "challenge": c,
                          "signature": "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----"});
        statuses.push(g.post("/v1/session", None, &body.to_string()).await.0);
    }
    assert_eq!(&statuses[..20], &[401; 20]);
    assert_eq!(&statuses[20..], &[429; 4]);
    // Her own signature still logs her in.
    let alice = g.login("alice", "alice").await;
    assert!(
        alice
            .queue(countersign::api::View::Pending, 0, 0, 10)
            .await
            .is_ok()
    );
}
