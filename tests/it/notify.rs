//! Notifications with real receivers on loopback: an axum receiver that
//! checks Standard Webhooks signatures with an independent implementation
//! (the `standardwebhooks` crate) and records event ids; Slack and
//! PagerDuty receivers that record what they get. Against the real binary:
//! events arrive signed, routed and escaped; 500 then 200 is delivered on a
//! retry; 410 disables the sink; a server killed mid-delivery sends again
//! after a restart with the same id.

use crate::common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::keygen;
use common::person::Person;
use common::proc::{ServeProcess, create_token};
use countersign::client::ApiClient;
use countersign::signing::signer::Signer;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Default)]
struct Seen {
    /// (webhook-id or "", body) in arrival order, signature checked.
    got: Vec<(String, Value)>,
    /// Requests whose signature did not verify.
    forged: usize,
    /// Answer 500 to this many first requests.
    fail_first: usize,
    /// Answer 410 Gone.
    gone: bool,
    /// Never answer (until the test ends).
    hang: bool,
    requests: usize,
}

type Shared = Arc<Mutex<Seen>>;

async fn webhook(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let (fail, gone, hang) = {
        let mut seen = s.lock().unwrap();
        seen.requests += 1;
        (seen.requests <= seen.fail_first, seen.gone, seen.hang)
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if gone {
        return StatusCode::GONE;
    }
    if fail {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let wh = standardwebhooks::Webhook::new(SECRET).unwrap();
    let mut seen = s.lock().unwrap();
    if wh.verify(&body, &headers).is_err() {
        seen.forged += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let id = headers["webhook-id"].to_str().unwrap().to_owned();
    seen.got.push((id, serde_json::from_slice(&body).unwrap()));
    StatusCode::NO_CONTENT
}

async fn plain(State(s): State<Shared>, body: Bytes) -> StatusCode {
    let mut seen = s.lock().unwrap();
    seen.requests += 1;
    seen.got
        .push((String::new(), serde_json::from_slice(&body).unwrap()));
    StatusCode::ACCEPTED
}

/// A receiver on a loopback port: `/hook` (Standard Webhooks), `/plain`.
async fn receiver(seen: Shared) -> String {
    let app = Router::new()
        .route("/hook", post(webhook))
        .route("/plain", post(plain))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn until<F: Fn(&Seen) -> bool>(seen: &Shared, secs: u64, what: &str, f: F) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f(&seen.lock().unwrap()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// /metrics once it shows `line` (or fails after 10 s).
async fn metrics_until(url: &str, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(line) {
            return text;
        }
        assert!(Instant::now() < deadline, "never saw {line}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    config: std::path::PathBuf,
    signers: std::path::PathBuf,
    agent: String,
    alice_key: ssh_key::PrivateKey,
}

impl Setup {
    /// alice at the console of `server`, logged in with her key.
    async fn alice(&self, server: &ServeProcess) -> Person {
        Person::login(
            &server.url,
            "alice",
            Signer::from_key(self.alice_key.clone()),
        )
        .await
    }
}

fn setup(notify: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let public = keygen(&dir.path().join("alice"), "alice");
    // A second person: the built-in policy (and one test's own) asks two
    // for some actions, and a policy nobody could meet does not start.
    let bob = keygen(&dir.path().join("bob"), "bob");
    let signers = dir.path().join("allowed_signers");
    std::fs::write(&signers, format!("alice {public}bob {bob}")).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, notify).unwrap();
    let db = dir.path().join("n.db");
    let agent = create_token(&db, "soar-bot", "agent");
    let alice_key = ssh_key::PrivateKey::read_openssh_file(&dir.path().join("alice")).unwrap();
    Setup {
        db,
        config,
        signers,
        agent,
        alice_key,
        _dir: dir,
    }
}

async fn serve(s: &Setup, port: u16) -> ServeProcess {
    ServeProcess::start_on(
        &s.db,
        port,
        &[
            "--signers",
            s.signers.to_str().unwrap(),
            "--config",
            s.config.to_str().unwrap(),
        ],
    )
    .await
}

fn hostile(ext: &str, risk: &str) -> Value {
    let mut a = common::alert(ext, vec![common::proposal("kill_process", risk)]);
    a["title"] = json!(HOSTILE_TITLE);
    a
}

const HOSTILE_TITLE: &str = "<!channel> urgent <http://evil.example|click here> & more @here [docs](https://evil.example)\u{202e}";

#[tokio::test(flavor = "multi_thread")]
async fn events_arrive_signed_routed_and_escaped() {
    let hook = Arc::new(Mutex::new(Seen::default()));
    let slack = Arc::new(Mutex::new(Seen::default()));
    let pd = Arc::new(Mutex::new(Seen::default()));
    let (h, sl, p) = (
        receiver(hook.clone()).await,
        receiver(slack.clone()).await,
        receiver(pd.clone()).await,
    );
    let s = setup(&format!(
        r#"
[[notify]]
name = "soc"
kind = "webhook"
url = "{h}/hook"
secret = "{SECRET}"

[[notify]]
name = "chat"
kind = "slack"
url = "{sl}/plain"
events = ["proposal.pending", "proposal.decided"]
review_url = "https://countersign.soc.example/review"

[[notify]]
name = "oncall"
kind = "pagerduty"
url = "{p}/plain"
routing_key = "R0UT1NGKEY"
min_risk = "high"
"#
    ));
    let server = serve(&s, common::free_port()).await;
    let agent = ApiClient::new(&server.url, Some(s.agent.clone())).unwrap();
    let r = agent.submit_alert(&hostile("n-1", "medium")).await.unwrap();
    let p0 = &r.proposals[0];
    let alice = s.alice(&server).await;
    until(&hook, 20, "proposal.pending", |s| s.got.len() == 1).await;
    alice
        .reject(&p0.id, &p0.digest, "benign: <!here> admin tool")
        .await
        .unwrap();
    until(&hook, 20, "proposal.decided", |s| s.got.len() == 2).await;
    until(&slack, 20, "two Slack messages", |s| s.got.len() == 2).await;
    {
        let seen = hook.lock().unwrap();
        assert_eq!(seen.forged, 0);
        let (id1, first) = &seen.got[0];
        let (id2, second) = &seen.got[1];
        assert_ne!(id1, id2);
        assert_eq!(first["type"], "proposal.pending");
        assert_eq!(first["data"]["proposal_id"], p0.id.as_str());
        assert_eq!(first["data"]["risk"], "medium");
        // The webhook carries the title as data, verbatim but for the
        // invisible character, shown; no alert text by default.
        assert_eq!(
            first["data"]["alert"]["title"],
            "<!channel> urgent <http://evil.example|click here> & more @here [docs](https://evil.example)\\u{202e}"
        );
        assert!(first["data"].get("summary").is_none());
        assert_eq!(second["type"], "proposal.decided");
        assert_eq!(second["data"]["status"], "rejected");
        assert_eq!(second["data"]["decided_by"]["principal"], "alice");
        assert_eq!(second["data"]["reason"], "benign: <!here> admin tool");
    }
    {
        let seen = slack.lock().unwrap();
        let text = seen
            .got
            .iter()
            .map(|(_, b)| b.to_string())
            .collect::<String>();
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(!text.contains("<!here>"), "{text}");
        assert!(!text.contains("<http://evil"), "{text}");
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(text.contains("&amp; more"), "{text}");
        // A link to the review, never an approve button.
        assert!(text.contains("https://countersign.soc.example/review?proposal="));
        assert!(!text.to_lowercase().contains("\"approve"), "{text}");
    }
    // PagerDuty routes high and up: nothing for a medium proposal.
    assert_eq!(pd.lock().unwrap().requests, 0);
    let r = agent.submit_alert(&hostile("n-2", "high")).await.unwrap();
    until(&pd, 20, "a PagerDuty trigger", |s| !s.got.is_empty()).await;
    {
        let seen = pd.lock().unwrap();
        let t = &seen.got[0].1;
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["dedup_key"], r.proposals[0].id.as_str());
        assert_eq!(t["routing_key"], "R0UT1NGKEY");
        assert_eq!(t["payload"]["severity"], "error");
        // Agent text in the summary and the details is inert wherever
        // PagerDuty shows or relays it (its apps, Slack, Teams, email).
        let body = t.to_string();
        for markup in [
            "<!channel>",
            "<http://evil",
            "<!",
            "&",
            "@here",
            "[docs](",
            "\u{202e}",
        ] {
            assert!(!body.contains(markup), "{markup} in {body}");
        }
        let summary = t["payload"]["summary"].as_str().unwrap();
        assert!(
            summary.contains(
                "(‹!channel› urgent ‹http://evil.example|click here› ＆ more ＠here ［docs］(https://evil.example)\\u{202e})"
            ),
            "{summary}"
        );
        assert_eq!(
            t["payload"]["custom_details"]["alert"]["title"],
            "‹!channel› urgent ‹http://evil.example|click here› ＆ more ＠here ［docs］(https://evil.example)\\u{202e}"
        );
    }
    // /metrics counts per sink (outcomes are recorded a round later).
    let metrics = metrics_until(
        &server.url,
        r#"countersign_notify_deliveries{sink="soc",state="sent"} 3"#,
    )
    .await;
    assert!(metrics.contains(r#"countersign_notify_oldest_pending_seconds{sink="soc"} 0"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_receiver_is_retried_and_a_gone_one_is_dropped() {
    let flaky = Arc::new(Mutex::new(Seen {
        fail_first: 1,
        ..Seen::default()
    }));
    let gone = Arc::new(Mutex::new(Seen {
        gone: true,
        ..Seen::default()
    }));
    let (f, g) = (receiver(flaky.clone()).await, receiver(gone.clone()).await);
    let s = setup(&format!(
        r#"
[[notify]]
name = "flaky"
kind = "webhook"
url = "{f}/hook"
secret = "{SECRET}"

[[notify]]
name = "gone"
kind = "webhook"
url = "{g}/hook"
secret = "{SECRET}"
"#
    ));
    let server = serve(&s, common::free_port()).await;
    let agent = ApiClient::new(&server.url, Some(s.agent.clone())).unwrap();
    agent.submit_alert(&hostile("r-1", "medium")).await.unwrap();
    // 500, then delivered on the retry (1 to 2 s later), same id.
    until(&flaky, 20, "the retried delivery", |s| s.got.len() == 1).await;
    assert_eq!(flaky.lock().unwrap().requests, 2);
    // 410: the sink is disabled; later events are not sent to it.
    until(&gone, 20, "the 410", |s| s.requests == 1).await;
    agent.submit_alert(&hostile("r-2", "medium")).await.unwrap();
    until(&flaky, 20, "the second event", |s| s.got.len() == 2).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(gone.lock().unwrap().requests, 1, "nothing more after 410");
    let metrics = metrics_until(
        &server.url,
        r#"countersign_notify_deliveries{sink="gone",state="disabled"} 1"#,
    )
    .await;
    assert!(
        metrics.contains(r#"countersign_notify_deliveries{sink="gone",state="failed"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"countersign_notify_deliveries{sink="gone",state="disabled"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_mid_delivery_sends_again_with_the_same_id() {
    let slow = Arc::new(Mutex::new(Seen {
        hang: true,
        ..Seen::default()
    }));
    let url = receiver(slow.clone()).await;
    let s = setup(&format!(
        r#"
[[notify]]
name = "slow"
kind = "webhook"
url = "{url}/hook"
secret = "{SECRET}"
timeout_secs = 1
"#
    ));
    let port = common::free_port();
    let mut server = serve(&s, port).await;
    let agent = ApiClient::new(&server.url, Some(s.agent.clone())).unwrap();
    agent.submit_alert(&hostile("k-1", "medium")).await.unwrap();
    // The first attempt is in flight when the server dies.
    until(&slow, 20, "the first attempt", |s| s.requests == 1).await;
    server.kill();
    slow.lock().unwrap().hang = false;
    let _server = serve(&s, port).await;
    // Sent again once the lease runs out (6 s): the receiver sees the
    // event's one id, and deduplicates on it.
    until(&slow, 30, "the delivery after the restart", |s| {
        !s.got.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = slow.lock().unwrap();
    let ids: std::collections::BTreeSet<&str> =
        seen.got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 1, "{:?}", seen.got);
    assert_eq!(seen.got[0].1["type"], "proposal.pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_postgres_replicas_deliver_each_event_once() {
    let Some(admin) = common::pg_url() else {
        return;
    };
    let db = common::pg_fresh_db(&admin).await;
    let hook = Arc::new(Mutex::new(Seen::default()));
    let url = receiver(hook.clone()).await;
    let s = setup(&format!(
        "[[notify]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\nsecret = \"{SECRET}\"\n"
    ));
    let args = [
        "--signers",
        s.signers.to_str().unwrap(),
        "--config",
        s.config.to_str().unwrap(),
    ];
    let (a, b) = tokio::join!(
        ServeProcess::start_url(&db, common::free_port(), &args),
        ServeProcess::start_url(&db, common::free_port(), &args)
    );
    let token = common::proc::create_token_url(&db, "soar-bot", "agent");
    // 40 alerts through both replicas at once: 40 pending events, each
    // dispatched by whichever replica leased it first.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let url = if i % 2 == 0 {
            a.url.clone()
        } else {
            b.url.clone()
        };
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let c = ApiClient::new(&url, Some(token)).unwrap();
            c.submit_alert(&hostile(&format!("pg-{i}"), "medium"))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    until(&hook, 30, "40 deliveries", |s| s.got.len() >= 40).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = hook.lock().unwrap();
    let ids: std::collections::BTreeSet<&str> =
        seen.got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 40);
    assert_eq!(seen.got.len(), 40, "no event delivered twice");
    assert_eq!(seen.forged, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undecided_proposal_is_reminded_once_before_it_expires() {
    let hook = Arc::new(Mutex::new(Seen::default()));
    let url = receiver(hook.clone()).await;
    let s = setup(&format!(
        "[server]\nremind_at = 0.5\n\n[[notify]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\nsecret = \"{SECRET}\"\nevents = [\"proposal.expiring\", \"proposal.expired\"]\n"
    ));
    let server = serve(&s, common::free_port()).await;
    let agent = ApiClient::new(&server.url, Some(s.agent.clone())).unwrap();
    let mut a = hostile("e-1", "medium");
    a["proposals"][0]["expires_in_secs"] = json!(8);
    agent.submit_alert(&a).await.unwrap();
    until(&hook, 20, "the reminder", |s| !s.got.is_empty()).await;
    until(&hook, 20, "the expiry", |s| s.got.len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let seen = hook.lock().unwrap();
    let types: Vec<&str> = seen
        .got
        .iter()
        .map(|(_, b)| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["proposal.expiring", "proposal.expired"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_approvals_second_approvals_and_failed_executions_are_events() {
    let hook = Arc::new(Mutex::new(Seen::default()));
    let url = receiver(hook.clone()).await;
    let s = setup(&format!(
        "[[notify]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\nsecret = \"{SECRET}\"\nevents = [\"proposal.auto_approved\", \"proposal.awaiting_second\", \"execution.failed\"]\n"
    ));
    let policy = s.db.with_file_name("policy.toml");
    std::fs::write(
        &policy,
        "[defaults]\napprovals = 1\n\n[[rules]]\nrisk = \"medium\"\napprovals = 2\n\n[[rules]]\naction = \"block_indicator\"\nrisk = \"low\"\nauto = true\n",
    )
    .unwrap();
    let server = ServeProcess::start(
        &s.db,
        &[
            "--signers",
            s.signers.to_str().unwrap(),
            "--config",
            s.config.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    )
    .await;
    let agent = ApiClient::new(&server.url, Some(s.agent.clone())).unwrap();
    let mut block = common::proposal("block_indicator", "low");
    block["target"] = json!("203.0.113.7");
    let r = agent
        .submit_alert(&common::alert(
            "ev-1",
            vec![block, common::proposal("kill_process", "medium")],
        ))
        .await
        .unwrap();
    assert_eq!(r.proposals[0].status.as_str(), "approved", "{r:?}");
    let alice = s.alice(&server).await;
    let p1 = &r.proposals[1];
    alice.approve(&p1.id, &p1.digest).await.unwrap();
    let p0 = &r.proposals[0].id;
    agent
        .report_execution(p0, &countersign::api::ExecutionReport::started())
        .await
        .unwrap();
    agent
        .report_execution(
            p0,
            &countersign::api::ExecutionReport::Failed {
                detail: "firewall API timed out".into(),
            },
        )
        .await
        .unwrap();
    until(&hook, 20, "three events", |s| s.got.len() >= 3).await;
    let seen = hook.lock().unwrap();
    let mut types: Vec<&str> = seen
        .got
        .iter()
        .map(|(_, b)| b["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "execution.failed",
            "proposal.auto_approved",
            "proposal.awaiting_second"
        ]
    );
    let auto = seen
        .got
        .iter()
        .find(|(_, b)| b["type"] == "proposal.auto_approved")
        .unwrap();
    assert_eq!(auto.1["data"]["decided_by"]["kind"], "policy");
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_test_sends_one_signed_test_event() {
    let hook = Arc::new(Mutex::new(Seen::default()));
    let url = receiver(hook.clone()).await;
    let s = setup(&format!(
        "[[notify]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\nsecret = \"{SECRET}\"\n"
    ));
    let config = s.config.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        common::proc::run(&["--config", &config, "notify", "test", "soc"])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("soc: delivered"));
    {
        let seen = hook.lock().unwrap();
        assert_eq!(seen.got.len(), 1);
        assert_eq!(seen.got[0].1["data"]["test"], true);
    }
    let config = s.config.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        common::proc::run(&["--config", &config, "notify", "test", "nope"])
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("configured: soc"));
}
