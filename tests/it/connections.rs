//! Connection bounds and byte-capped audit pages, with the real binary on
//! loopback: an idle socket, an idle keep-alive connection, a trickling
//! request head and a trickling body are each closed within their deadline
//! plus `SLACK`; past `--max-connections` a fresh client still gets
//! `/healthz` and a clear 503 for anything else instead of a hang; TLS
//! handshakes have their own deadline; an audit log larger than one page
//! comes back in byte-capped pages that `audit export` follows to the end
//! and `audit verify` accepts.
//!
//! Every wait here is bounded: each test ends within a few tens of seconds
//! whether the server behaves or not.

use crate::common;

use common::proc::{ServeProcess, create_token, run};
use common::{alert, binary, free_port, proposal};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How late past its deadline a connection may close: timers, scheduling
/// on a busy 2-core machine.
const SLACK: Duration = Duration::from_secs(2);

/// Reads until the server closes the connection (EOF or reset) or `within`
/// passes. Returns what was read and, if it closed, when (from `start`).
/// Meanwhile writes `each` every `every`, if given: a client trickling.
async fn until_closed(
    s: &mut TcpStream,
    start: Instant,
    within: Duration,
    trickle: Option<(&[u8], Duration)>,
) -> (Vec<u8>, Option<Duration>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::from_std(start + within);
    let every = trickle.map_or(within, |(_, d)| d);
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return (got, Some(start.elapsed())),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            },
            _ = tick.tick(), if trickle.is_some() => {
                if let Some((each, _)) = trickle {
                    // A write into a closed socket fails; the read sees it.
                    let _ = s.write_all(each).await;
                }
            }
            _ = tokio::time::sleep_until(deadline) => return (got, None),
        }
    }
}

fn addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed_at_their_deadlines() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let agent = create_token(&db, "bot", "agent");
    let header = Duration::from_secs(1);
    let body = Duration::from_secs(2);
    let server = ServeProcess::start(&db, &["--header-timeout", "1", "--body-timeout", "2"]).await;
    let addr = addr(&server.url);

    // An idle socket: closed within the head deadline (+ SLACK).
    let start = Instant::now();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let (_, closed) = until_closed(&mut s, start, header + SLACK + SLACK, None).await;
    let closed = closed.expect("an idle socket is closed");
    assert!(
        closed >= header - Duration::from_millis(200) && closed <= header + SLACK,
        "idle socket closed after {closed:?}, deadline {header:?}"
    );

    // An idle keep-alive connection: answered, then closed within the
    // head deadline of the answer.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let (got, closed) = until_closed(&mut s, start, header + SLACK + SLACK, None).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let closed = closed.expect("an idle keep-alive connection is closed");
    assert!(
        closed <= header + SLACK,
        "keep-alive closed after {closed:?}"
    );

    // A request head trickling a header line every 200 ms (it would take
    // 20 s to end): cut at the head deadline.
    let start = Instant::now();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let (got, closed) = until_closed(
        &mut s,
        start,
        header + SLACK + SLACK,
        Some((b"X-Slow: 1\r\n", Duration::from_millis(200))),
    )
    .await;
    let closed = closed.expect("a trickling head is cut");
    assert!(
        closed <= header + SLACK,
        "trickling head cut after {closed:?}"
    );
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "a head never finished is not answered"
    );

    // A body trickling a byte every 200 ms (100 bytes: 20 s): cut at the
    // body deadline with 408 body_timeout, and the connection closed.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/alerts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {agent}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    let (got, closed) = until_closed(
        &mut s,
        start,
        body + SLACK + SLACK,
        Some((b" ", Duration::from_millis(200))),
    )
    .await;
    let text = String::from_utf8_lossy(&got);
    let closed = closed.expect("a trickling body is cut");
    assert!(
        closed <= body + SLACK,
        "trickling body cut after {closed:?}"
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"body_timeout\""), "{text}");

    // A long-poll is not an idle connection: `?wait=3` with a 1 s head
    // deadline is answered after its 3 s, not cut.
    let http = reqwest::Client::new();
    let r: serde_json::Value = http
        .post(format!("{}/v1/alerts", server.url))
        .bearer_auth(&agent)
        .json(&alert("poll-1", vec![proposal("isolate_host", "high")]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["proposals"][0]["id"].as_str().expect("a proposal id");
    let start = Instant::now();
    let r = http
        .get(format!("{}/v1/proposals/{id}/decision?wait=3", server.url))
        .bearer_auth(&agent)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("a long-poll past the head deadline is answered");
    assert_eq!(r.status(), 200);
    assert!(
        start.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );

    // The server still serves.
    let r = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Past the cap: 4 connections served, 2 spare. Ten idle sockets: four
/// hold the slots, two spares are dropped for sending nothing within 2 s,
/// four are closed at accept. A fresh client then gets /healthz and a 503
/// `server_busy` for a submission, each within 5 s; once the idle sockets
/// go, submissions are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_healthz_answers_and_the_rest_is_refused_not_hung() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let agent = create_token(&db, "bot", "agent");
    let server = ServeProcess::start(
        &db,
        &[
            "--max-connections",
            "4",
            "--spare-connections",
            "2",
            "--header-timeout",
            "60",
        ],
    )
    .await;
    let addr = addr(&server.url);
    // The start-up probe's connection is closed by now? Give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Spares wait 2 s for a first byte.
    tokio::time::sleep(Duration::from_secs(2) + SLACK).await;
    let mut open = 0;
    for s in &mut idle {
        let mut b = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut b)).await {
            Err(_) => open += 1,     // still waiting: held by the server
            Ok(Ok(0) | Err(_)) => {} // closed
            Ok(Ok(_)) => panic!("an idle socket got bytes"),
        }
    }
    assert_eq!(
        open, 4,
        "the cap holds exactly --max-connections idle sockets"
    );

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("/healthz answers at the cap");
    assert_eq!(r.status(), 200);
    let doc = alert("cap-1", vec![proposal("isolate_host", "high")]);
    let r = http
        .post(format!("{}/v1/alerts", server.url))
        .bearer_auth(&agent)
        .json(&doc)
        .send()
        .await
        .expect("a submission at the cap is answered, not hung");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "server_busy", "{body}");

    // The idle sockets go; within 5 s a submission is served again.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = http
            .post(format!("{}/v1/alerts", server.url))
            .bearer_auth(&agent)
            .json(&doc)
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(Instant::now() < deadline, "slots were not given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// With TLS: a socket that never starts its handshake is closed within
/// `--tls-handshake-timeout` (+ SLACK); HTTPS still serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_has_a_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let port = free_port();
    let mut child = Command::new(binary())
        .args(["serve", "--db", &format!("sqlite:{}", db.display())])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--tls-handshake-timeout", "1", "--header-timeout", "30"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env_remove("COUNTERSIGN_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let start = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (_, closed) =
        until_closed(&mut s, start, Duration::from_secs(1) + SLACK + SLACK, None).await;
    let closed = closed.expect("a socket that never shakes hands is closed");
    assert!(
        closed <= Duration::from_secs(1) + SLACK,
        "handshake cut after {closed:?}"
    );
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let r = http
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

fn export(url: &str, token: &str, out: &Path) {
    let out = run(&[
        "audit",
        "export",
        "--server",
        url,
        "--token",
        token,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A log of 40 submissions (~2 KiB entries) under a 4 KiB page cap: a
/// page stays under the cap (or holds one entry), says where to continue,
/// and `audit export` follows the pages to the head; `audit verify`
/// accepts the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_pages_are_capped_by_bytes_and_export_follows_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let agent = create_token(&db, "bot", "agent");
    let reviewer = create_token(&db, "auditor", "reviewer");
    let key = dir.path().join("server_key");
    let signers = dir.path().join("allowed_signers");
    std::fs::write(&signers, "").unwrap();
    let cap = 4096usize;
    let server = ServeProcess::start(
        &db,
        &[
            "--audit-page-bytes",
            &cap.to_string(),
            "--server-key",
            key.to_str().unwrap(),
            "--signers",
            signers.to_str().unwrap(),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    for i in 0..40 {
        let mut doc = alert(&format!("page-{i}"), vec![proposal("isolate_host", "high")]);
        doc["summary"]["text"] = serde_json::Value::String("x".repeat(1500));
        let r = http
            .post(format!("{}/v1/alerts", server.url))
            .bearer_auth(&agent)
            .json(&doc)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    // Page by page by hand: each under the cap, each continuing where the
    // last ended, until a page reaches the head.
    let mut after = 0i64;
    let mut pages = 0;
    let mut seen = 0;
    loop {
        let r = http
            .get(format!("{}/v1/audit?after={after}&limit=10000", server.url))
            .bearer_auth(&reviewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        let page: countersign::api::AuditPage = serde_json::from_str(&text).unwrap();
        assert!(
            text.len() <= cap || page.entries.len() == 1,
            "page of {} bytes, {} entries",
            text.len(),
            page.entries.len()
        );
        pages += 1;
        seen += page.entries.len();
        assert_eq!(page.entries.first().map(|e| e.seq), Some(after + 1));
        match page.next_after {
            Some(next) => {
                assert_eq!(Some(next), page.entries.last().map(|e| e.seq));
                after = next;
            }
            None => {
                assert_eq!(page.entries.last().map(|e| e.seq), Some(page.head_seq));
                break;
            }
        }
        assert!(pages < 1000, "pages never end");
    }
    assert!(
        pages >= 5,
        "40 entries of ~2 KiB in 4 KiB pages: {pages} pages"
    );

    let file = dir.path().join("export.jsonl");
    export(&server.url, &reviewer, &file);
    let text = std::fs::read_to_string(&file).unwrap();
    let exported = text.lines().filter(|l| l.contains("\"seq\"")).count();
    assert!(
        exported >= seen,
        "export has {exported} entries, pages had {seen}"
    );
    let out = run(&[
        "audit",
        "verify",
        file.to_str().unwrap(),
        "--signers",
        signers.to_str().unwrap(),
        "--server-key",
        key.to_str().unwrap(),
    ]);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&format!("intact: {seen} entries")), "{said}");
}

/// `serve` says its limits before it listens, and refuses limits of zero.
#[test]
fn serve_states_its_limits_and_refuses_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("c.db").display());
    let key = dir.path().join("k");
    // An address that cannot be bound: it stops after the first lines.
    let out = run(&[
        "serve",
        "--db",
        &db,
        "--server-key",
        key.to_str().unwrap(),
        "--listen",
        "256.0.0.1:0",
        "--max-connections",
        "50",
        "--header-timeout",
        "2.5",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("countersign: connections: at most 50 connections (+8 spare for /healthz")
            && err.contains("request head within 2.5 s"),
        "{err}"
    );
    assert!(
        err.contains("countersign: audit pages: at most 4194304 bytes"),
        "{err}"
    );
    for bad in [
        &["--max-connections", "0"][..],
        &["--header-timeout", "0"],
        &["--body-timeout=-1"],
        &["--tls-handshake-timeout", "nan"],
        &["--audit-page-bytes", "10"],
    ] {
        let mut args = vec!["serve", "--db", &db, "--listen", "127.0.0.1:0"];
        args.extend_from_slice(bad);
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} accepted");
        let flag = bad[0].split('=').next().unwrap_or_default();
        assert!(err.contains(flag), "{bad:?}: {err}");
    }
}
