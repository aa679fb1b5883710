//! Agent tokens through the real binary (`token create|list|rotate|revoke`
//! on the server's own database) and the server over real HTTP: they
//! expire, rotate with a grace for the old one, are revoked one at a time
//! by id, carry a scope (a proposal outside it is refused and nothing is
//! stored), and `token list` shows them in columns. The server's store is
//! SQLite, or PostgreSQL under COUNTERSIGN_TEST_STORE=postgres.

use crate::common::proc::run;
use crate::common::{TestServer, alert, binary, proposal};
use countersign::server::store::ops::{AuditHead, StatusCounts};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `countersign token …` against the test server's database.
fn token_cmd(t: &TestServer, args: &[&str]) -> Output {
    let mut all = vec!["token"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--db", &t.db_url]);
    run(&all)
}

/// Runs and expects success; returns (stdout, stderr).
fn ok(t: &TestServer, args: &[&str]) -> (String, String) {
    let out = token_cmd(t, args);
    assert!(
        out.status.success(),
        "token {args:?}: {}",
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

/// Runs and expects a refusal; returns stderr.
fn refused(t: &TestServer, args: &[&str]) -> String {
    let out = token_cmd(t, args);
    assert!(!out.status.success(), "token {args:?} should fail");
    assert!(out.stdout.is_empty(), "a refusal prints no token");
    text(&out.stderr)
}

/// A new token: stdout holds exactly one line, the token.
fn new_token(t: &TestServer, args: &[&str]) -> String {
    let (out, _) = ok(t, args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "stdout holds only the token: {out:?}");
    assert!(lines[0].starts_with("cs_"), "{out:?}");
    lines[0].to_owned()
}

fn listed(t: &TestServer) -> Vec<Value> {
    let (out, _) = ok(t, &["list", "--json"]);
    serde_json::from_str::<Value>(&out)
        .expect("token list --json is JSON")
        .as_array()
        .expect("an array")
        .clone()
}

/// The listed token whose name is `name` and created `nth` (0: first).
fn nth_named(t: &TestServer, name: &str, nth: usize) -> Value {
    listed(t)
        .into_iter()
        .filter(|v| v["name"] == name)
        .nth(nth)
        .unwrap_or_else(|| panic!("no token #{nth} named {name}"))
}

async fn post_alert(t: &TestServer, token: &str, doc: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/alerts", t.url()))
        .bearer_auth(token)
        .json(doc)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A submission that authenticates (any status but 401) or not (401, and
/// the error's message).
async fn works(t: &TestServer, token: &str, ext: &str) -> Result<(), String> {
    let doc = alert(ext, vec![proposal("isolate_host", "medium")]);
    match post_alert(t, token, &doc).await {
        (401, e) => {
            assert_eq!(e["error"]["code"], "unauthorized", "{e}");
            Err(e["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned())
        }
        (s, e) => {
            assert!((200..300).contains(&s), "{s} {e}");
            Ok(())
        }
    }
}

/// Waits until the server's clock is past `rfc3339`.
async fn until_past(rfc3339: &str) {
    let at = countersign::domain::time::parse_rfc3339(rfc3339).expect("a time");
    while countersign::domain::time::now_millis() <= at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused_saying_when() {
    let t = TestServer::start().await;
    let token = new_token(&t, &["create", "--name", "short-bot", "--ttl", "3s"]);
    works(&t, &token, "exp-1").await.expect("works at first");
    let expires = nth_named(&t, "short-bot", 0)["expires_at"]
        .as_str()
        .expect("it has an expiry")
        .to_owned();
    until_past(&expires).await;
    let why = works(&t, &token, "exp-2").await.expect_err("expired");
    assert!(
        why.contains("expired at") && why.contains(&expires[..19]),
        "says it expired and when: {why}"
    );
    let (table, _) = ok(&t, &["list"]);
    let line = table.lines().find(|l| l.contains("short-bot")).unwrap();
    assert!(line.ends_with("expired"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_the_old_token_for_the_grace_then_stops_it() {
    let t = TestServer::start().await;
    let old = new_token(
        &t,
        &["create", "--name", "rot-bot", "--actions", "isolate_host"],
    );
    works(&t, &old, "rot-0").await.unwrap();
    let out = token_cmd(&t, &["rotate", "--name", "rot-bot", "--grace", "4s"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let new = stdout.trim_end().to_owned();
    assert!(new.starts_with("cs_") && !new.contains('\n') && new != old);
    let old_rec = nth_named(&t, "rot-bot", 0);
    let new_rec = nth_named(&t, "rot-bot", 1);
    let stops = old_rec["expires_at"].as_str().unwrap().to_owned();
    assert!(
        text(&out.stderr).contains(&format!(
            "the old token {} keeps working until {} ",
            old_rec["id"].as_str().unwrap(),
            stops[..19].replace('T', " ")
        )),
        "says when the old one stops: {}",
        text(&out.stderr)
    );
    // Same name, role and scope; a lifetime of its own (the default 90d).
    assert_eq!(new_rec["role"], "agent");
    assert_eq!(new_rec["scope"], old_rec["scope"]);
    assert_eq!(new_rec["scope"]["actions"][0], "isolate_host");
    assert!(new_rec["expires_at"].as_str().unwrap() > stops.as_str());
    // During the grace both work ...
    works(&t, &old, "rot-1")
        .await
        .expect("old works in the grace");
    works(&t, &new, "rot-2").await.expect("new works");
    // ... after it only the new one.
    until_past(&stops).await;
    let why = works(&t, &old, "rot-3").await.expect_err("old stopped");
    assert!(why.contains("expired at"), "{why}");
    works(&t, &new, "rot-4").await.expect("new still works");
    // The scope came along: the new token may not propose a block.
    let doc = alert("rot-5", vec![proposal("block_indicator", "low")]);
    let (s, e) = post_alert(&t, &new, &doc).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("out_of_scope"))
    );
    // Nothing left to rotate by the old one's id.
    let err = refused(&t, &["rotate", "--id", old_rec["id"].as_str().unwrap()]);
    assert!(err.contains("no longer works (it is expired)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_outside_the_scope_is_refused_and_nothing_is_stored() {
    let t = TestServer::start().await;
    let token = new_token(
        &t,
        &[
            "create",
            "--name",
            "scoped-bot",
            "--actions",
            "isolate_host,block_indicator",
            "--targets",
            "ws-*,10.0.0.0/8",
        ],
    );
    let head = t.store.run(AuditHead).await.unwrap();
    let with = |action: &str, target: &str| {
        alert(
            "scope-1",
            vec![serde_json::json!({
                "action": action, "target": target, "risk": "medium",
                "rationale": "contain before lateral movement",
            })],
        )
    };
    for (case, doc) in [
        ("an action outside", with("disable_account", "ws-0412")),
        ("a target outside", with("isolate_host", "dc-01")),
        ("a network outside", with("block_indicator", "11.0.0.1")),
        (
            "one of two proposals outside",
            alert(
                "scope-1",
                vec![
                    proposal("isolate_host", "medium"),
                    serde_json::json!({"action": "isolate_host", "target": "dc-01",
                        "risk": "medium", "rationale": "r"}),
                ],
            ),
        ),
    ] {
        let (s, e) = post_alert(&t, &token, &doc).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (403, Some("out_of_scope")),
            "{case}: {e}"
        );
        // Which proposal: its index, and the field to fix.
        let index = e["error"]["index"].as_u64().expect("an index");
        assert_eq!(e["error"]["field"], format!("proposals[{index}]"), "{case}");
        assert_eq!(index, u64::from(case.starts_with("one of two")), "{case}");
    }
    // Nothing stored: no audit entry, no alert, an empty queue.
    assert_eq!(t.store.run(AuditHead).await.unwrap(), head);
    assert!(t.store.run(StatusCounts).await.unwrap().is_empty());
    let queue: Value = reqwest::Client::new()
        .get(format!("{}/v1/queue", t.url()))
        .bearer_auth(&t.reviewer_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queue["items"].as_array().map(Vec::len), Some(0), "{queue}");
    // Inside the scope: accepted.
    let (s, e) = post_alert(&t, &token, &with("isolate_host", "WS-17")).await;
    assert!((200..300).contains(&s), "{s} {e}");
    let (s, e) = post_alert(&t, &token, &with("block_indicator", "10.1.2.3")).await;
    assert!((200..300).contains(&s), "{s} {e}");
    // A bad scope is refused when the token is made.
    for (flag, value) in [("--actions", "isolate host"), ("--targets", "10.0.0.0/99")] {
        let err = refused(&t, &["create", "--name", "bad-bot", flag, value]);
        assert!(err.contains("is not"), "{err}");
    }
    let err = refused(
        &t,
        &[
            "create",
            "--name",
            "wall",
            "--role",
            "reviewer",
            "--targets",
            "ws-*",
        ],
    );
    assert!(err.contains("a reviewer token proposes nothing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_scope_that_cannot_be_read_refuses_the_token() {
    let t = TestServer::start().await;
    let token = new_token(&t, &["create", "--name", "odd-bot", "--targets", "ws-*"]);
    let id = nth_named(&t, "odd-bot", 0)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let spoil = "UPDATE tokens SET scope = '{\"targets\": 7}' WHERE id = ";
    if t.db_url.starts_with("postgres") {
        let db = crate::common::pg_connect(&t.db_url).await;
        db.execute(&format!("{spoil}$1"), &[&id]).await.unwrap();
    } else {
        let db = rusqlite::Connection::open(&t.db_url).unwrap();
        db.execute(&format!("{spoil}?1"), [&id]).unwrap();
    }
    let why = works(&t, &token, "odd-1").await.expect_err("refused");
    assert!(why.contains("stored scope is unreadable"), "{why}");
    let (table, _) = ok(&t, &["list"]);
    assert!(table.contains("UNREADABLE (refused)"), "{table}");
    let err = refused(&t, &["rotate", "--id", &id]);
    assert!(err.contains("unreadable"), "never copied as any: {err}");
}

/// The cell of `column` in `line`, by the header's positions.
fn cell<'a>(header: &str, line: &'a str, column: &str) -> &'a str {
    let names = [
        "ID",
        "NAME",
        "ROLE",
        "CREATED",
        "LAST USED",
        "EXPIRES",
        "SCOPE",
        "STATE",
    ];
    let start = header.find(column).unwrap();
    let next = names
        .iter()
        .filter_map(|n| header.find(n))
        .filter(|i| *i > start)
        .min()
        .unwrap_or(line.len());
    line[start..next.min(line.len())].trim_end()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_list_shows_columns_and_json() {
    let t = TestServer::start().await;
    let used = new_token(
        &t,
        &[
            "create",
            "--name",
            "col-bot",
            "--ttl",
            "30d",
            "--actions",
            "isolate_host",
            "--targets",
            "ws-*",
        ],
    );
    new_token(
        &t,
        &[
            "create", "--name", "wall", "--role", "reviewer", "--ttl", "never",
        ],
    );
    works(&t, &used, "col-1").await.unwrap();
    // The use is recorded off the request's path: wait for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let json = loop {
        let rec = nth_named(&t, "col-bot", 0);
        if rec["last_used_at"].is_string() {
            break rec;
        }
        assert!(Instant::now() < deadline, "last use never recorded: {rec}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (table, _) = ok(&t, &["list"]);
    let lines: Vec<&str> = table.lines().collect();
    let header = lines[0];
    let words: Vec<&str> = header.split("  ").filter(|w| !w.is_empty()).collect();
    let words: Vec<&str> = words.iter().map(|w| w.trim()).collect();
    assert_eq!(
        words,
        [
            "ID",
            "NAME",
            "ROLE",
            "CREATED",
            "LAST USED",
            "EXPIRES",
            "SCOPE",
            "STATE"
        ],
        "{table}"
    );
    let col = lines.iter().find(|l| l.contains("col-bot")).unwrap();
    assert_eq!(cell(header, col, "ID"), json["id"].as_str().unwrap());
    assert_eq!(cell(header, col, "NAME"), "col-bot");
    assert_eq!(cell(header, col, "ROLE"), "agent");
    let created = json["created_at"].as_str().unwrap();
    assert_eq!(
        cell(header, col, "CREATED"),
        format!("{} UTC", created[..19].replace('T', " "))
    );
    assert!(cell(header, col, "LAST USED").ends_with(" UTC"), "{table}");
    let expires = json["expires_at"].as_str().unwrap();
    assert_eq!(
        cell(header, col, "EXPIRES"),
        format!("{} UTC", expires[..19].replace('T', " "))
    );
    assert_eq!(cell(header, col, "SCOPE"), "isolate_host on ws-*");
    assert_eq!(cell(header, col, "STATE"), "active");
    let wall = lines.iter().find(|l| l.contains(" wall ")).unwrap();
    assert_eq!(cell(header, wall, "ROLE"), "reviewer");
    assert_eq!(cell(header, wall, "LAST USED"), "never");
    assert_eq!(cell(header, wall, "EXPIRES"), "never");
    assert_eq!(cell(header, wall, "SCOPE"), "any");
    // --json: one array, every token, scope as an object (null: any).
    let all = listed(&t);
    assert!(
        all.iter()
            .any(|v| v["name"] == "wall" && v["scope"].is_null())
    );
    assert_eq!(json["scope"]["targets"][0], "ws-*");
    assert_eq!(json["state"], "active");
    assert_eq!(all.len(), lines.len() - 1, "the same tokens in both");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_takes_an_id_and_never_two_at_once() {
    let t = TestServer::start().await;
    let first = new_token(&t, &["create", "--name", "dup-bot"]);
    let second = new_token(&t, &["create", "--name", "dup-bot"]);
    let id1 = nth_named(&t, "dup-bot", 0)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id2 = nth_named(&t, "dup-bot", 1)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // By name: refused while two are active, naming both; none revoked.
    let err = refused(&t, &["revoke", "--name", "dup-bot"]);
    assert!(err.contains(&id1) && err.contains(&id2), "{err}");
    works(&t, &first, "dup-1").await.unwrap();
    works(&t, &second, "dup-2").await.unwrap();
    // By id: that one only.
    let (_, said) = ok(&t, &["revoke", &id1]);
    assert!(said.contains(&id1), "{said}");
    let why = works(&t, &first, "dup-3").await.expect_err("revoked");
    assert!(why.contains("unknown or revoked"), "{why}");
    works(&t, &second, "dup-4")
        .await
        .expect("the other still works");
    let err = refused(&t, &["revoke", "--id", &id1]);
    assert!(err.contains("already revoked at"), "{err}");
    let err = refused(&t, &["revoke", "no-such-id"]);
    assert!(err.contains("no token with id no-such-id"), "{err}");
    // Now one is active by that name: --name takes it.
    ok(&t, &["revoke", "--name", "dup-bot"]);
    assert!(works(&t, &second, "dup-5").await.is_err());
    let (table, _) = ok(&t, &["list"]);
    assert_eq!(table.matches("revoked at ").count(), 2, "{table}");
}

/// `token create` with an empty environment: no config, no COUNTERSIGN_DB.
fn create_in(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(["token", "create", "--name", "where-bot"])
        .args(args)
        .env_remove("COUNTERSIGN_CONFIG")
        .env_remove("COUNTERSIGN_DB")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .output()
        .unwrap()
}

#[test]
fn create_says_which_database_it_wrote_to() {
    let home = tempfile::tempdir().unwrap();
    let out = create_in(home.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let err = text(&out.stderr);
    let default = home.path().join("data/countersign/countersign.db");
    assert!(
        err.contains(&format!(
            "the default database sqlite:{}",
            default.display()
        )) && err.contains("pass the server's --db"),
        "{err}"
    );
    let named = home.path().join("named.db");
    let url = format!("sqlite:{}", named.display());
    let out = create_in(home.path(), &["--db", &url, "--ttl", "never"]);
    let err = text(&out.stderr);
    assert!(err.contains(&format!("written to {url}")), "{err}");
    assert!(!err.contains("default database"), "{err}");
    assert!(err.contains("NEVER EXPIRES"), "said loudly: {err}");
}

#[test]
fn the_tokens_section_sets_the_default_lifetime() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    let db = format!("sqlite:{}", home.path().join("c.db").display());
    std::fs::write(&config, "[tokens]\nttl = \"1h\"\nrotate_grace = \"10m\"\n").unwrap();
    let cfg = config.to_str().unwrap();
    let out = run(&[
        "--config", cfg, "token", "create", "--name", "c", "--db", &db,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = countersign::domain::time::now_millis();
    let out = run(&["--config", cfg, "token", "list", "--json", "--db", &db]);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let expires =
        countersign::domain::time::parse_rfc3339(all[0]["expires_at"].as_str().expect("expires"))
            .unwrap();
    let hour = 3_600_000;
    assert!(
        (expires - before - hour).abs() < 60_000,
        "about an hour: {all}"
    );
    let out = run(&[
        "--config", cfg, "token", "rotate", "--name", "c", "--db", &db,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["--config", cfg, "token", "list", "--json", "--db", &db]);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let old =
        countersign::domain::time::parse_rfc3339(all[0]["expires_at"].as_str().unwrap()).unwrap();
    assert!(
        (old - before - 10 * 60_000).abs() < 60_000,
        "the grace is 10m: {all}"
    );
    // A lifetime that is none is refused, and so is an unknown key.
    for bad in ["[tokens]\nttl = \"soon\"\n", "[tokens]\nttl_days = 3\n"] {
        std::fs::write(&config, bad).unwrap();
        let out = run(&[
            "--config", cfg, "token", "create", "--name", "c", "--db", &db,
        ]);
        assert!(!out.status.success(), "{bad}");
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        assert!(err.contains("soon") || err.contains("ttl_days"), "{err}");
    }
}
