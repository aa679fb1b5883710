//! Console sessions end when they should: a person whose allowed_signers
//! line is removed or changed is logged out at the next reload (others
//! stay in); `DELETE /v1/session` logs out, and only a session can; the
//! console logs out as it quits, without waiting on a slow server; and a
//! PostgreSQL replica that drops a person ends her session for all.
//!
//! The in-process suites run on PostgreSQL too (`.ci/run`).

use crate::common;
use crate::console::Soc;

use common::TestServer;
use common::proc::ServeProcess;
use common::proxy::SlowProxy;
use countersign::api::View;
use countersign::client::{ApiClient, ClientError};
use countersign::signing::signer::Signer;
use ssh_key::PrivateKey;
use std::time::{Duration, Instant};

/// What reading the queue with `c` answers: 200, or the error's status.
async fn reads(c: &ApiClient) -> u16 {
    match c.queue(View::Pending, 0, 0, 100).await {
        Ok(_) => 200,
        Err(ClientError::Api { status, .. }) => status.as_u16(),
        Err(e) => panic!("the server is unreachable: {e}"),
    }
}

/// Waits (at most a few reloads) until `c` is refused with 401.
async fn until_refused(c: &ApiClient, who: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while reads(c).await != 401 {
        assert!(
            Instant::now() < deadline,
            "{who}'s session outlived the reload"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// allowed_signers with each person's line as `line(name, key)` says,
/// none where it says `None`; the server notices the new file by itself.
fn rewrite_signers(t: &TestServer, line: impl Fn(&str, &PrivateKey) -> Option<String>) {
    let text: String = t
        .keys
        .iter()
        .filter_map(|(name, key)| line(name, key))
        .map(|l| l + "\n")
        .collect();
    std::fs::write(&t.signers_file, text).unwrap();
}

fn public(key: &PrivateKey) -> String {
    key.public_key().to_openssh().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_persons_session_ends_at_the_next_reload() {
    let t = TestServer::start().await;
    let alice = t.login("alice").await;
    let bob = t.login("bob").await;
    assert_eq!((reads(&alice).await, reads(&bob).await), (200, 200));
    rewrite_signers(&t, |name, key| {
        (name != "alice").then(|| format!("{name} {}", public(key)))
    });
    until_refused(&alice, "alice").await;
    assert_eq!(reads(&bob).await, 200, "bob is still listed: still in");
    // Nor can she log in again.
    let mut again = ApiClient::new(&t.url(), None).unwrap();
    assert!(again.login("alice", &t.signer("alice")).await.is_err());
    // Bob stays in across a later reload that keeps his line.
    rewrite_signers(&t, |name, key| {
        (name == "bob").then(|| format!("{name} {}", public(key)))
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(reads(&bob).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_line_ends_the_sessions_it_no_longer_lets_in() {
    let t = TestServer::start().await;
    let alice = t.login("alice").await;
    let bob = t.login("bob").await;
    let carol = t.login("carol").await;
    let newer = common::new_key();
    // Alice may now only sign decisions, not log in; carol's line names
    // another key; bob's is as it was.
    rewrite_signers(&t, |name, key| {
        Some(match name {
            "alice" => format!("alice namespaces=\"countersign-decision\" {}", public(key)),
            "carol" => format!("carol {}", public(&newer)),
            _ => format!("{name} {}", public(key)),
        })
    });
    until_refused(&alice, "alice").await;
    until_refused(&carol, "carol").await;
    assert_eq!(reads(&bob).await, 200);
    // Carol is back in with the key her line names now.
    let mut c = ApiClient::new(&t.url(), None).unwrap();
    c.login(
        "carol",
        &countersign::signing::signer::Signer::from_key(newer),
    )
    .await
    .expect("carol logs in with her new key");
    assert_eq!(reads(&c).await, 200);
}

/// A raw `DELETE /v1/session` with `token`: its status and error code.
async fn logout(url: &str, token: &str) -> (u16, Option<String>) {
    let resp = reqwest::Client::new()
        .delete(format!("{url}/v1/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    (status, body["error"]["code"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_and_only_a_session_can_log_out() {
    let t = TestServer::start().await;
    let mut alice = ApiClient::new(&t.url(), None).unwrap();
    let token = alice
        .login("alice", &t.signer("alice"))
        .await
        .unwrap()
        .token;
    let bob = t.login("bob").await;
    assert_eq!(reads(&alice).await, 200);
    assert_eq!(logout(&t.url(), &token).await, (204, None));
    assert_eq!(reads(&alice).await, 401, "the token is dead");
    assert_eq!(
        logout(&t.url(), &token).await,
        (401, Some("unauthorized".into()))
    );
    assert_eq!(reads(&bob).await, 200, "only alice's session ended");
    // A reviewer's or an agent's token cannot log out, and keeps working.
    let reviewer = ApiClient::new(&t.url(), Some(t.reviewer_token.clone())).unwrap();
    for other in [&t.reviewer_token, &t.agent_token] {
        assert_eq!(
            logout(&t.url(), other).await,
            (403, Some("login_required".into()))
        );
    }
    assert_eq!(reads(&reviewer).await, 200);
    t.agent()
        .submit_alert(&common::alert(
            "after-logout",
            vec![common::proposal("isolate_host", "low")],
        ))
        .await
        .expect("the agent token still works");
    // The client's own logout does the same.
    bob.logout(Duration::from_secs(5)).await.unwrap();
    assert_eq!(reads(&bob).await, 401);
}

/// Live sessions of `who` in the console server's SQLite file.
fn open_sessions(soc: &Soc, who: &str) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        soc.dir.path().join("c.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row(
        "SELECT count(*) FROM sessions WHERE principal = ?1",
        [who],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_logs_out_as_it_quits() {
    let soc = Soc::start().await;
    let mut alice = soc.console("alice");
    alice.wait_for("online", 20);
    assert_eq!(open_sessions(&soc, "alice"), 1);
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);
    assert_eq!(open_sessions(&soc, "alice"), 0, "the session ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_does_not_hold_the_quit() {
    let soc = Soc::start().await;
    // Each way this late: a logout would take 6 s.
    let proxy = SlowProxy::start(soc.port(), Duration::from_millis(3_000));
    let mut alice = soc.console_at("alice", &proxy.url());
    alice.wait_for("online", 60);
    assert_eq!(open_sessions(&soc, "alice"), 1);
    let quit = Instant::now();
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);
    assert!(
        quit.elapsed() < Duration::from_millis(3_500),
        "the quit waited {:?}",
        quit.elapsed()
    );
}

/// Two replicas on one PostgreSQL database, each reading its own copy of
/// allowed_signers: the one whose copy drops alice ends her session in
/// the shared database, so the other refuses it too, and says so in its
/// log (whose, never the token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_drops_a_person_ends_her_session_on_every_replica() {
    let Some(admin) = common::pg_url() else {
        eprintln!("skipped: COUNTERSIGN_TEST_PG_URL is not set");
        return;
    };
    let db = common::pg_fresh_db(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f);
    let lines: Vec<String> = ["alice", "bob"]
        .iter()
        .map(|who| format!("{who} {}", common::keygen(&path(who), who)))
        .collect();
    for copy in ["signers-a", "signers-b"] {
        std::fs::write(path(copy), lines.concat()).unwrap();
    }
    let arg = |f: &str| path(f).display().to_string();
    let a =
        ServeProcess::start_url(&db, common::free_port(), &["--signers", &arg("signers-a")]).await;
    let b = ServeProcess::start_logged(
        &db,
        common::free_port(),
        &["--signers", &arg("signers-b")],
        &path("b.log"),
    )
    .await;
    let login = |url: String, who: &'static str| {
        let key = PrivateKey::read_openssh_file(&path(who)).unwrap();
        async move {
            let mut c = ApiClient::new(&url, None).unwrap();
            let token = c.login(who, &Signer::from_key(key)).await.unwrap().token;
            (c, token)
        }
    };
    let (alice, alice_token) = login(a.url.clone(), "alice").await;
    let (bob, _) = login(b.url.clone(), "bob").await;
    assert_eq!((reads(&alice).await, reads(&bob).await), (200, 200));
    std::fs::write(path("signers-b"), &lines[1]).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &b.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    until_refused(&alice, "alice").await;
    assert_eq!(reads(&bob).await, 200);
    let log = plain(&std::fs::read_to_string(path("b.log")).unwrap());
    let ended: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sessions ended"))
        .collect();
    assert_eq!(ended.len(), 1, "{log}");
    assert!(
        ended[0].contains("ended=1") && ended[0].contains("alice"),
        "{log}"
    );
    assert!(!ended[0].contains("bob"), "{log}");
    assert!(
        !log.contains(&alice_token) && !log.contains("css_"),
        "{log}"
    );
}

/// `text` without its terminal colours (`ESC [ … m`).
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
    }
    out + rest
}

/// A certificate's session is checked as a certificate: it survives a
/// reload that keeps its CA's `cert-authority` line (while another
/// person's removal at the same reload ends theirs), and ends at the
/// reload that removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_session_lasts_while_its_authority_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f);
    let key = |who: &str| common::keygen(&path(who), who);
    let ca = key("ca");
    let (bob, erin) = (key("bob"), key("erin"));
    key("alice");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-s", path("ca").to_str().unwrap()])
        .args(["-I", "alice-id", "-n", "alice", "-V", "-5m:+1h"])
        .arg(path("alice.pub"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca_line = format!("alice cert-authority {ca}");
    let signers = path("allowed_signers");
    std::fs::write(&signers, format!("{ca_line}bob {bob}erin {erin}")).unwrap();
    let server = ServeProcess::start_logged(
        &format!("sqlite:{}", path("c.db").display()),
        common::free_port(),
        &["--signers", signers.to_str().unwrap()],
        &path("serve.log"),
    )
    .await;
    let login = |who: &str| {
        let (url, signer) = (
            server.url.clone(),
            Signer::from_file(&path(who), || None).unwrap(),
        );
        let who = who.to_owned();
        async move {
            let mut c = ApiClient::new(&url, None).unwrap();
            c.login(&who, &signer).await.unwrap();
            c
        }
    };
    let (alice, bob_c, erin_c) = (
        login("alice").await,
        login("bob").await,
        login("erin").await,
    );
    // Erin leaves; alice's CA and bob stay.
    std::fs::write(&signers, format!("{ca_line}bob {bob}")).unwrap();
    until_refused(&erin_c, "erin").await;
    assert_eq!((reads(&alice).await, reads(&bob_c).await), (200, 200));
    // The CA is no longer trusted: alice's certificate session ends.
    std::fs::write(&signers, format!("bob {bob}")).unwrap();
    until_refused(&alice, "alice").await;
    assert_eq!(reads(&bob_c).await, 200);
    let log = plain(&std::fs::read_to_string(path("serve.log")).unwrap());
    let ended: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sessions ended"))
        .collect();
    assert_eq!(ended.len(), 2, "{log}");
    assert!(ended[0].contains("principals=erin"), "{log}");
    assert!(ended[1].contains("principals=alice"), "{log}");
}

/// Sessions outlive a restart; a person removed while the server was down
/// is out as soon as it serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_person_removed_ends_her_session_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f);
    // Three: the built-in policy needs two people once alice is gone.
    let lines: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .map(|who| format!("{who} {}", common::keygen(&path(who), who)))
        .collect();
    let signers = path("allowed_signers");
    std::fs::write(&signers, lines.concat()).unwrap();
    let (db, port) = (path("c.db"), common::free_port());
    let args = ["--signers", signers.to_str().unwrap()];
    let mut server = ServeProcess::start_on(&db, port, &args).await;
    let mut people = Vec::new();
    for who in ["alice", "bob"] {
        let mut c = ApiClient::new(&server.url, None).unwrap();
        let key = PrivateKey::read_openssh_file(&path(who)).unwrap();
        c.login(who, &Signer::from_key(key)).await.unwrap();
        people.push(c);
    }
    server.kill();
    std::fs::write(&signers, lines[1..].concat()).unwrap();
    let _server = ServeProcess::start_on(&db, port, &args).await;
    assert_eq!(reads(&people[0]).await, 401, "alice is out at once");
    assert_eq!(reads(&people[1]).await, 200, "bob's session survived");
}
