//! The real binary on 127.0.0.1 with a temporary SQLite file, driven by
//! `countersign submit --wait` and reqwest.

use crate::common;

use common::proc::{ServeProcess, create_token, run};
use common::{alert, proposal};
use serde_json::Value;
use std::path::Path;

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
    p.display().to_string()
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[tokio::test]
async fn submit_wait_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, common::TEST_POLICY).unwrap();
    let token = create_token(&db, "soar-bot", "agent");
    let server = ServeProcess::start(&db, &["--policy", policy.to_str().unwrap()]).await;
    let submit = |file: &str, extra: &[&str]| {
        let mut args = vec!["submit", file, "--server", &server.url, "--token", &token];
        args.extend_from_slice(extra);
        run(&args)
    };

    // Approved by policy: exit 0, and the decision is printed.
    let f = write(
        dir.path(),
        "auto.json",
        &alert("cli-auto", vec![proposal("block_indicator", "low")]),
    );
    let out = submit(&f, &["--wait", "--timeout", "20"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        code(&out),
        0,
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("approved by policy rule"), "{stdout}");

    // Expires: exit 3.
    let mut p = proposal("isolate_host", "medium");
    p["expires_in_secs"] = 1.into();
    let f = write(dir.path(), "expire.json", &alert("cli-expire", vec![p]));
    let out = submit(&f, &["--wait", "--timeout", "30"]);
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("expired by deadline"));

    // Nobody decides within the timeout: exit 4.
    let f = write(
        dir.path(),
        "slow.json",
        &alert("cli-slow", vec![proposal("isolate_host", "medium")]),
    );
    let out = submit(&f, &["--wait", "--timeout", "2"]);
    assert_eq!(code(&out), 4);

    // Without --wait: exit 0 once accepted; an idempotent retry too.
    assert_eq!(code(&submit(&f, &[])), 0);

    // --json prints one JSON object per line.
    let out = submit(&f, &["--json"]);
    let line: Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["event"], "submitted");

    // Errors: exit 1 with a message a person can act on.
    let out = run(&["submit", &f, "--server", &server.url, "--token", "cs_bogus"]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown or revoked token"));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    let out = run(&[
        "submit",
        bad.to_str().unwrap(),
        "--server",
        &server.url,
        "--token",
        &token,
    ]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    let mut wrong = alert("cli-wrong", vec![proposal("isolate_host", "medium")]);
    wrong["severity"] = "apocalyptic".into();
    let f = write(dir.path(), "wrong.json", &wrong);
    let out = submit(&f, &[]);
    assert_eq!(code(&out), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("severity") && err.contains("apocalyptic"),
        "{err}"
    );
}

#[tokio::test]
async fn dead_server_is_an_error_after_retries() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "a.json",
        &alert("dead", vec![proposal("isolate_host", "medium")]),
    );
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let out = run(&[
        "submit",
        &f,
        "--server",
        &url,
        "--token",
        "cs_x",
        "--timeout",
        "2",
    ]);
    assert_eq!(code(&out), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    // One short line per try: the address and the cause, not the chain.
    assert!(
        err.contains("try 1: cannot reach") && err.contains("again in"),
        "{err}"
    );
    assert!(!err.contains("error sending request"), "{err}");
}

#[test]
fn bad_policy_stops_the_server_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "[defaults]\napprovals = 1\n\n[[rules]]\nrisk = \"critical\"\nauto = true\n",
    )
    .unwrap();
    let db = format!("sqlite:{}", dir.path().join("c.db").display());
    let out = run(&[
        "serve",
        "--db",
        &db,
        "--listen",
        "127.0.0.1:0",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 4") && err.contains("auto"), "{err}");
}

#[test]
fn bad_config_and_db_url_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[server]\nlisten = 8750\n").unwrap();
    let out = run(&["--config", cfg.to_str().unwrap(), "token", "list"]);
    assert_eq!(code(&out), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("config"), "{err}");

    let out = run(&["token", "list", "--db", "mysql://h/db"]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:PATH"));
}

#[test]
fn no_subcommand_without_a_server_explains_itself() {
    let out = std::process::Command::new(common::binary())
        .env_remove("COUNTERSIGN_SERVER")
        .env_remove("COUNTERSIGN_CONFIG")
        .env("XDG_CONFIG_HOME", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("countersign demo"));
}

#[test]
fn policy_check_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[defaults]\napprovals = 1\n\n[[rules]]\nrisk = \"high\"\nauto = true\n",
    )
    .unwrap();
    let out = run(&["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("line 4") && text.contains("auto"), "{text}");
    let out = run(&["policy", "check", "policy/default.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let mut doc = common::alert("x-1", vec![common::proposal("block_indicator", "low")]);
    doc["proposals"][0]["target"] = serde_json::json!("0.0.0.0/0");
    let file = dir.path().join("alert.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = run(&["policy", "explain", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("risk:       high (the agent said low)"),
        "{text}"
    );
    assert!(text.contains("broad_indicator"), "{text}");
    assert!(text.contains("at least one lead"), "{text}");
}

/// allowed_signers with a fresh key for each name.
fn signers_file(dir: &Path, names: &[&str]) -> String {
    let text: String = names
        .iter()
        .map(|n| {
            let key = common::new_key().public_key().to_openssh().unwrap();
            format!("{n} {key}\n")
        })
        .collect();
    let p = dir.join("allowed_signers");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const NO_LEAD: &str = "[defaults]\napprovals = 1\n\n[[rules]]\nname = \"high: two people, one a lead\"\nrisk = \"high\"\napprovals = 2\nrole = \"lead\"\n";

#[test]
fn policy_check_refuses_rules_that_can_never_be_met() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, NO_LEAD).unwrap();
    let out = run(&["policy", "check", policy.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("can never be met")
            && text.contains("rule \"high: two people, one a lead\"")
            && text.contains("names no lead"),
        "{text}"
    );

    // With allowed_signers: one person cannot give two approvals; a lead
    // who is not listed is a warning while another lead can sign.
    let with_lead = format!("{NO_LEAD}\n[roles]\nleads = [\"carol\", \"dave\"]\n");
    std::fs::write(&policy, &with_lead).unwrap();
    let signers = signers_file(dir.path(), &["carol"]);
    let out = run(&[
        "policy",
        "check",
        policy.to_str().unwrap(),
        "--signers",
        &signers,
    ]);
    assert_eq!(code(&out), 1);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("needs 2 approvals") && text.contains("only 1"),
        "{text}"
    );
    let signers = signers_file(dir.path(), &["alice", "carol"]);
    let out = run(&[
        "policy",
        "check",
        policy.to_str().unwrap(),
        "--signers",
        &signers,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{text}");
    assert!(
        text.contains("warning: lead `dave` matches nobody") && text.contains("2 signers"),
        "{text}"
    );

    // The built-in policy can be met as it ships.
    let out = run(&[
        "policy",
        "check",
        "policy/default.toml",
        "--signers",
        &signers,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{text}");
    assert!(text.contains("leads: * (everyone"), "{text}");
}

#[test]
fn serve_refuses_a_policy_that_can_never_be_met() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, NO_LEAD).unwrap();
    let signers = signers_file(dir.path(), &["alice", "bob"]);
    let db = format!("sqlite:{}", dir.path().join("c.db").display());
    let mut child = std::process::Command::new(common::binary())
        .args(["serve", "--db", &db, "--listen", "127.0.0.1:0"])
        .args(["--policy", policy.to_str().unwrap(), "--signers", &signers])
        .args([
            "--server-key",
            dir.path().join("server_key").to_str().unwrap(),
        ])
        .env_remove("COUNTERSIGN_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts anyway is a failure, not a hung test.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started on a policy that can never be met");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    // The first lines say what is in force, then why it cannot start.
    assert!(
        err.contains(&format!("policy {}: 1 rule", policy.display()))
            && err.contains("signers: 2 keys may sign decisions")
            && err.contains("leads: none named"),
        "{err}"
    );
    assert!(
        err.contains("rule \"high: two people, one a lead\"") && err.contains("names no lead"),
        "{err}"
    );
    assert!(!err.contains("serving on"), "{err}");
    assert!(
        !dir.path().join("c.db").exists(),
        "refused before opening the database"
    );
}

#[test]
fn serve_says_what_is_in_force() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let signers = signers_file(dir.path(), &["alice", "bob", "carol"]);
    let mut child = std::process::Command::new(common::binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--signers", &signers])
        .args([
            "--db",
            &format!("sqlite:{}", dir.path().join("c.db").display()),
        ])
        .args([
            "--server-key",
            dir.path().join("server_key").to_str().unwrap(),
        ])
        .env_remove("COUNTERSIGN_CONFIG")
        .env_remove("COUNTERSIGN_POLICY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let done = line.contains("serving on");
            let _ = tx.send(line);
            if done {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(30)) {
        let done = line.contains("serving on");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.len() > 3, "{lines:#?}");
    assert_eq!(
        lines[..3],
        [
            "countersign: policy (built-in): 4 rules".to_owned(),
            "countersign: signers: 3 keys may sign decisions (allowed_signers ".to_owned()
                + &signers
                + ")",
            "countersign: leads: * (everyone allowed_signers lets sign)".to_owned(),
        ],
        "{lines:#?}"
    );
    assert!(
        lines.last().is_some_and(|l| l.contains("serving on")),
        "{lines:#?}"
    );
}

/// The `policy_loaded` entries of a SQLite database, read with the binary.
fn policies_recorded(db: &Path) -> Vec<Value> {
    let out = run(&[
        "audit",
        "export",
        "--db",
        &format!("sqlite:{}", db.display()),
        "--no-checkpoint",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|line| serde_json::from_str::<Value>(line["entry"].as_str().unwrap()).unwrap())
        .filter(|e| e["kind"] == "policy_loaded")
        .collect()
}

#[tokio::test]
async fn the_policy_is_recorded_at_start_and_on_each_change_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, common::TEST_POLICY).unwrap();
    let args = ["--policy", policy.to_str().unwrap()];
    let port = common::free_port();
    let mut server = ServeProcess::start_on(&db, port, &args).await;
    let recorded = policies_recorded(&db);
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (
            recorded[0]["data"]["reason"].as_str(),
            recorded[0]["data"]["text"].as_str()
        ),
        (Some("start"), Some(common::TEST_POLICY))
    );
    // A forced reload of the same file writes nothing.
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(policies_recorded(&db).len(), 1);
    // A changed file is recorded when it is reloaded.
    let changed = format!("{}\n# escalate sooner next quarter\n", common::TEST_POLICY);
    std::fs::write(&policy, &changed).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let recorded = loop {
        let r = policies_recorded(&db);
        if r.len() > 1 || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(recorded.len(), 2, "the reload was not recorded");
    assert_eq!(recorded[1]["data"]["reason"], "reload");
    assert_eq!(recorded[1]["data"]["text"], changed.as_str());
    assert_eq!(
        recorded[1]["data"]["digest"],
        countersign::domain::policy::policy_digest(&changed)
    );
    // A restart with the policy last recorded writes nothing.
    server.kill();
    let _server = ServeProcess::start_on(&db, port, &args).await;
    assert_eq!(policies_recorded(&db).len(), 2);
}
