//! The real console in a pseudo-terminal against a real server on
//! loopback: log in, approve (and `ssh-keygen -Y verify` the stored
//! decision), reject with a reason, escalate and have a lead approve,
//! annotate as false positive; decide while the server is down and see the
//! decision delivered exactly once; and hostile alert text never reaching
//! the terminal; and a group of 20 approved in one go, as 20 signatures
//! that each verify over their own digest.

use crate::common;

use common::proc::{ServeProcess, create_token};
use common::proxy::SlowProxy;
use common::pty::Pty;
use common::{alert, free_port, keygen, proposal};
use countersign::client::ApiClient;
use serde_json::Value;
use std::path::PathBuf;

/// A SOC on loopback: a server with alice (analyst) and carol (lead) in
/// its allowed_signers, the agent soar-bot, and an auditor's token.
pub(crate) struct Soc {
    pub(crate) dir: tempfile::TempDir,
    server: Option<ServeProcess>,
    port: u16,
    pub(crate) agent: ApiClient,
    pub(crate) reviewer: ApiClient,
    /// The auditor's token, for `audit export`.
    pub(crate) reviewer_token: String,
}

impl Soc {
    pub(crate) async fn start() -> Soc {
        Soc::start_with_policy(common::TEST_POLICY).await
    }

    /// As [`Soc::start`], the server under `policy`.
    pub(crate) async fn start_with_policy(policy: &str) -> Soc {
        let dir = tempfile::tempdir().unwrap();
        let mut signers = String::new();
        for who in ["alice", "carol"] {
            let public = keygen(&dir.path().join(who), who);
            signers.push_str(&format!("{who} {public}"));
        }
        std::fs::write(dir.path().join("allowed_signers"), signers).unwrap();
        std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
        let db = dir.path().join("c.db");
        let agent_token = create_token(&db, "soar-bot", "agent");
        let reviewer_token = create_token(&db, "auditor", "reviewer");
        let port = free_port();
        let mut soc = Soc {
            server: None,
            port,
            agent: ApiClient::new(&format!("http://127.0.0.1:{port}"), Some(agent_token)).unwrap(),
            reviewer: ApiClient::new(
                &format!("http://127.0.0.1:{port}"),
                Some(reviewer_token.clone()),
            )
            .unwrap(),
            reviewer_token,
            dir,
        };
        soc.restart().await;
        soc
    }

    async fn restart(&mut self) {
        let p = |f: &str| self.dir.path().join(f).display().to_string();
        let server = ServeProcess::start_on(
            &self.dir.path().join("c.db"),
            self.port,
            &[
                "--signers",
                &p("allowed_signers"),
                "--policy",
                &p("policy.toml"),
                "--server-key",
                &p("server_key"),
            ],
        )
        .await;
        self.server = Some(server);
    }

    /// The server's port (for a proxy in front of it).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) async fn submit(&self, target: &str, risk: &str) -> String {
        self.submit_action("isolate_host", target, risk).await
    }

    pub(crate) async fn submit_action(&self, action: &str, target: &str, risk: &str) -> String {
        let mut p = proposal(action, risk);
        p["target"] = target.into();
        let external = format!("ext-{}", target.replace(['/', ' '], "-"));
        let r = self
            .agent
            .submit_alert(&alert(&external, vec![p]))
            .await
            .unwrap();
        r.proposals[0].id.clone()
    }

    pub(crate) fn console(&self, who: &str) -> Pty {
        self.console_at(who, &self.url())
    }

    /// The console of `who` against `url` (the server, or a proxy in front
    /// of it).
    pub(crate) fn console_at(&self, who: &str, url: &str) -> Pty {
        let key = self.dir.path().join(who).display().to_string();
        let state: PathBuf = self.dir.path().join(format!("state-{who}"));
        Pty::spawn(
            &["tui", "--server", url, "--principal", who, "--key", &key],
            &[("XDG_STATE_HOME", state.display().to_string())],
            140,
            40,
        )
    }

    async fn status(&self, id: &str) -> String {
        self.agent.decision(id, 0).await.unwrap().status.to_string()
    }
}

/// Filters the queue down to one target and waits for its detail.
pub(crate) fn select(c: &mut Pty, target: &str) {
    c.send("/");
    c.esc(); // clear any previous filter
    c.send("/");
    c.type_text(target);
    c.send("\r");
    c.wait_for(&format!("→ {target}"), 15);
    c.wait_for("✓ matches what is shown", 15);
}

/// Verifies every signed payload in the audit log with `ssh-keygen -Y
/// verify` against the allowed_signers file; returns the payloads.
pub(crate) async fn verify_all(soc: &Soc) -> Vec<Value> {
    let entries = soc.reviewer.audit_all(0).await.unwrap();
    crate::common::ssh_keygen_verifies(&entries, soc.dir.path())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_twenty_is_approved_with_twenty_signatures() {
    let soc = Soc::start().await;
    let mut digests = std::collections::BTreeMap::new();
    for i in 0..20 {
        let mut p = proposal("isolate_host", "medium");
        p["target"] = format!("kiosk-{i:02}").into();
        let r = soc
            .agent
            .submit_alert(&alert(&format!("grp-{i}"), vec![p]))
            .await
            .unwrap();
        digests.insert(r.proposals[0].id.clone(), r.proposals[0].digest.clone());
    }
    let mut alice = soc.console("alice");
    alice.wait_for("online", 20);
    alice.wait_for("20 × isolate_host · soar-bot · medium", 15);
    alice.wait_for("members 1–20 of 20 shown", 5);
    alice.wait_for("kiosk-19", 5);
    alice.send("a");
    alice.wait_for("approve 20 proposals of the group", 5);
    alice.wait_for("Enter sign & send", 5);
    alice.send("\r");
    alice.wait_for(
        "approve: 20 signed, one per proposal · 20 of 20 recorded",
        15,
    );
    for id in digests.keys() {
        let mut status = String::new();
        for _ in 0..100 {
            status = soc.status(id).await;
            if status == "approved" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, "approved", "{id}");
    }
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);

    // Twenty decisions, each verifying with ssh-keygen over its own
    // proposal's digest, each saying it was one of a group of 20.
    let payloads = verify_all(&soc).await;
    assert_eq!(payloads.len(), 20);
    let mut seen = std::collections::BTreeSet::new();
    for p in &payloads {
        let id = p["proposal_id"].as_str().unwrap();
        assert_eq!(
            p["digest"].as_str(),
            digests.get(id).map(String::as_str),
            "{id}"
        );
        assert_eq!(p["verdict"], "approve");
        assert_eq!(p["review"]["group"]["size"], 20);
        assert!(seen.insert(id.to_owned()), "one decision per proposal");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_and_lead_work_the_queue() {
    let soc = Soc::start().await;
    let approve = soc.submit("host-approve", "medium").await;
    let reject = soc.submit("host-reject", "medium").await;
    let escalate = soc.submit("host-escalate", "medium").await;
    let note = soc.submit("host-note", "medium").await;

    let mut alice = soc.console("alice");
    alice.wait_for("online", 20);
    alice.wait_for("alice (analyst)", 5);

    select(&mut alice, "host-approve");
    alice.approve();
    alice.wait_for("approve signed and recorded → approved", 15);

    select(&mut alice, "host-reject");
    alice.send("r");
    alice.wait_for("reject: why?", 5);
    alice.type_text("benign backup job");
    alice.send("\r");
    alice.wait_for("reject signed and recorded → rejected", 15);

    select(&mut alice, "host-escalate");
    alice.send("e");
    alice.type_text("VIP laptop, lead decides");
    alice.send("\r");
    alice.wait_for("escalate signed and recorded → escalated", 15);

    select(&mut alice, "host-note");
    alice.send("n");
    alice.send("\x06"); // Ctrl-F: false positive
    alice.type_text("scanner window moved");
    alice.send("\r");
    // A false positive offers to reject the alert's open proposals: not now.
    alice.wait_for("labelled: reject its proposals?", 15);
    alice.esc();
    alice.wait_for("annotate signed and recorded", 15);
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);

    // The lead approves the escalation from the escalated view.
    let mut carol = soc.console("carol");
    carol.wait_for("carol (lead)", 20);
    carol.send("v");
    carol.wait_for("host-escalate", 15);
    carol.wait_for("✓ matches what is shown", 15);
    carol.approve();
    carol.wait_for("approve signed and recorded → approved", 15);
    carol.send("q");
    assert_eq!(carol.wait_exit(10), 0);

    assert_eq!(soc.status(&approve).await, "approved");
    assert_eq!(soc.status(&reject).await, "rejected");
    assert_eq!(soc.status(&escalate).await, "approved");
    let v = soc.agent.decision(&reject, 0).await.unwrap();
    assert_eq!(v.reason.as_deref(), Some("benign backup job"));
    let note_alert = soc.agent.decision(&note, 0).await.unwrap().alert_id;
    let detail = soc.reviewer.alert(&note_alert).await.unwrap();
    assert_eq!(
        detail.notes[0].labels,
        vec![countersign::domain::types::Label::FalsePositive]
    );

    // Every signed decision the console made verifies with ssh-keygen.
    let verified = verify_all(&soc).await.len();
    assert_eq!(
        verified, 5,
        "approve, reject, escalate, annotate, lead approve"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_made_offline_is_delivered_exactly_once() {
    let mut soc = Soc::start().await;
    let id = soc.submit("host-offline", "medium").await;
    let mut alice = soc.console("alice");
    alice.wait_for("online", 20);
    select(&mut alice, "host-offline");

    soc.server.take(); // kill -9
    alice.wait_for("DISCONNECTED", 30);
    alice.approve();
    alice.wait_for("unsent 1", 10);

    soc.restart().await;
    alice.wait_for("delivered from the outbox", 30);
    alice.wait_for("unsent 0", 10);
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);

    assert_eq!(soc.status(&id).await, "approved");
    let approvals = soc
        .reviewer
        .audit_all(0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| {
            let v: Value = serde_json::from_str(&e.entry).unwrap();
            v["proposal_id"] == id.as_str() && v["data"]["payload"].is_string()
        })
        .count();
    assert_eq!(approvals, 1, "delivered once");
    // The outbox file is empty again.
    let outbox = soc
        .dir
        .path()
        .join("state-alice/countersign/outbox-alice.jsonl");
    assert_eq!(
        std::fs::read_to_string(outbox).unwrap_or_default().trim(),
        ""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_alert_text_never_reaches_the_terminal() {
    let soc = Soc::start().await;
    let mut doc = alert("evil-1", vec![proposal("isolate_host", "medium")]);
    doc["title"] = "Printer \u{1b}]0;pwned title\u{7} \u{1b}]52;c;ZXZpbCBjbGlwYm9hcmQ=\u{7} \u{1b}[7A\u{1b}[2K moved \u{202e}fdp.exe".into();
    // Identifiers refuse control and bidi characters at the gate ...
    let mut as_ids = doc.clone();
    as_ids["entity"]["id"] = "prt-\u{1b}[31mred\u{2066}x\u{2069}".into();
    as_ids["proposals"][0]["target"] = "prt-\u{1b}]52;c;c3RlYWw=\u{7}lobby".into();
    let refused = soc.agent.submit_alert(&as_ids).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Some(countersign::api::ErrorCode::InvalidField),
        "{refused}"
    );
    // ... and prose keeps them, for the console to show as data.
    doc["evidence"][0]["title"] = "prt-\u{1b}[31mred\u{2066}x\u{2069}".into();
    doc["proposals"][0]["rationale"] = "prt-\u{1b}]52;c;c3RlYWw=\u{7}lobby".into();
    doc["summary"]["text"] = "line one\r\u{1b}[1;1Hoverwritten \u{9b}31m C1 CSI".into();
    doc["evidence"][0]["body"] = "\u{1b}P+q544e\u{1b}\\ DCS, then \u{1b}]8;;http://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\ 日本語 🚀 مرحبا".into();
    soc.agent.submit_alert(&doc).await.unwrap();

    let mut c = soc.console("alice");
    c.wait_for("online", 20);
    c.wait_for("✓ matches what is shown", 15);
    c.send("3"); // evidence
    c.wait_for("DCS, then", 10);
    let screen = c.screen();
    c.send("q");
    c.wait_exit(10);

    let raw = c.raw();
    let hostile: [&[u8]; 9] = [
        b"\x1b]0;pwned",
        b"\x1b]52;",
        b"\x1b[7A",
        b"\x1b[31mred",
        b"\x1b[1;1Hoverwritten",
        b"\x1bP+q",
        b"\x1b]8;;",
        "\u{202e}".as_bytes(),
        "\u{2066}".as_bytes(),
    ];
    for h in hostile {
        assert!(
            !raw.windows(h.len()).any(|w| w == h),
            "the terminal received {:?}",
            String::from_utf8_lossy(h)
        );
    }
    assert!(
        !raw.windows(2).any(|w| w == "\u{9b}".as_bytes()),
        "C1 CSI reached the terminal"
    );
    // Shown as data instead, and real text intact.
    assert!(screen.contains("^[]52;c;"), "{screen}");
    assert!(screen.contains("prt-^[[31mred<U+2066>x<U"), "{screen}");
    assert!(screen.contains("日本語 🚀 مرحبا"), "{screen}");
}

/// Every signed decision in the audit log, as (proposal id, verdict).
async fn signed_verdicts(soc: &Soc) -> Vec<(String, String)> {
    soc.reviewer
        .audit_all(0)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| {
            let v: Value = serde_json::from_str(&e.entry).ok()?;
            let payload: Value = serde_json::from_str(v["data"]["payload"].as_str()?).ok()?;
            Some((
                payload["proposal_id"].as_str()?.to_owned(),
                payload["verdict"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Over a slow link the reject dialog opens late. A reason typed at once
/// (its letters are command keys: `a` approve, `e` escalate, `s` sort, `v`
/// view) lands in the dialog; nothing is approved, the view and the sort
/// stay. Run at several delays, one way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reason_typed_before_its_dialog_opens_never_approves() {
    for delay_ms in [250, 800, 1500] {
        let soc = Soc::start().await;
        let wipe = soc
            .submit_action("run_command", "rm -rf /var/log", "medium")
            .await;
        let critical = soc.submit("dc-01", "critical").await;
        let proxy = SlowProxy::start(soc.port, std::time::Duration::from_millis(delay_ms));
        let mut alice = soc.console_at("alice", &proxy.url());
        alice.wait_for("online", 60);
        alice.wait_for("run_command", 30);
        alice.send("/");
        alice.type_text("var/log");
        alice.send("\r");
        alice.send("r");
        let reason = "agent is wiping logs: no, save evidence";
        alice.type_text(reason);
        alice.wait_for("reject: why?", 30);
        alice.wait_for(reason, 5);
        let screen = alice.screen();
        assert!(screen.contains("pending"), "the view stayed: {screen}");
        assert!(!screen.contains("sorted by"), "the sort stayed: {screen}");
        assert!(
            signed_verdicts(&soc).await.is_empty(),
            "{delay_ms} ms: nothing signed before the dialog was answered"
        );
        alice.send("\r");
        alice.wait_for("reject signed and recorded → rejected", 30);
        alice.send("q");
        assert_eq!(alice.wait_exit(10), 0);

        assert_eq!(soc.status(&wipe).await, "rejected", "{delay_ms} ms");
        assert_eq!(soc.status(&critical).await, "pending", "{delay_ms} ms");
        let v = soc.agent.decision(&wipe, 0).await.unwrap();
        assert_eq!(v.reason.as_deref(), Some(reason));
        assert_eq!(
            signed_verdicts(&soc).await,
            vec![(wipe.clone(), "reject".to_owned())],
            "{delay_ms} ms: one signature, the reject"
        );
    }
}

/// With the server down, every item already in the queue can still be
/// decided (its alert was loaded ahead): a reason typed at once lands in
/// its dialog, the approval asks on its confirm line, both wait in the
/// outbox and are delivered once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_queued_item_can_be_decided_while_the_server_is_down() {
    let mut soc = Soc::start().await;
    let first = soc.submit("host-first", "medium").await;
    let second = soc.submit("host-second", "medium").await;
    let mut alice = soc.console("alice");
    alice.wait_for("online", 20);
    alice.wait_for("host-second", 15);
    // The alerts not selected are loaded ahead, on loopback in well under this.
    std::thread::sleep(std::time::Duration::from_secs(2));
    soc.server.take(); // kill -9
    alice.wait_for("DISCONNECTED", 30);
    alice.send("/");
    alice.type_text("host-first");
    alice.send("\r");
    alice.send("r");
    let reason = "agent is wrong: no, wait for a person";
    alice.type_text(reason);
    alice.wait_for(reason, 5);
    alice.send("\r");
    alice.wait_for("unsent 1", 10);
    alice.send("/");
    alice.esc();
    alice.send("/");
    alice.type_text("host-second");
    alice.send("\r");
    alice.approve();
    alice.wait_for("unsent 2", 10);
    let screen = alice.screen();
    assert!(!screen.contains("sorted by"), "{screen}");

    soc.restart().await;
    alice.wait_for("unsent 0", 30);
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);
    assert_eq!(soc.status(&first).await, "rejected");
    assert_eq!(soc.status(&second).await, "approved");
    let mut verdicts = signed_verdicts(&soc).await;
    verdicts.sort();
    let mut want = vec![
        (first.clone(), "reject".to_owned()),
        (second.clone(), "approve".to_owned()),
    ];
    want.sort();
    assert_eq!(verdicts, want);
}

/// A refused login says so in words, and no screen calls the queue clear:
/// neither after a refusal nor while the server has never answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_and_a_dead_server_never_show_a_clear_queue() {
    let soc = Soc::start().await;
    soc.submit("host-one", "medium").await;
    // alice's key, a typo in the name.
    let key = soc.dir.path().join("alice").display().to_string();
    let state = soc.dir.path().join("state-typo").display().to_string();
    let mut typo = Pty::spawn(
        &[
            "tui",
            "--server",
            &soc.url(),
            "--principal",
            "alcie",
            "--key",
            &key,
        ],
        &[("XDG_STATE_HOME", state)],
        140,
        40,
    );
    typo.wait_for("login refused: alcie cannot sign on this server", 20);
    let screen = typo.wait_for("LOGIN REFUSED", 5);
    assert!(!screen.contains("clear"), "{screen}");
    assert!(!screen.contains("DISCONNECTED"), "{screen}");
    typo.send("q");
    assert_eq!(typo.wait_exit(10), 0);

    // A server that never answers: not connected yet, no data yet.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut alice = soc.console_at("alice", &dead);
    let screen = alice.wait_for("not connected yet", 20);
    assert!(!screen.contains("clear"), "{screen}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let screen = alice.screen();
    assert!(screen.contains("no data yet"), "{screen}");
    assert!(!screen.contains("clear"), "{screen}");
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);
}

/// What the agent reports about its own run is attributed to the agent,
/// with its detail; the approver is named once, as the approver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reported_failure_is_the_agents_with_its_detail() {
    let soc = Soc::start().await;
    let id = soc.submit("host-edr", "medium").await;
    let mut alice = soc.console("alice");
    alice.wait_for("online", 20);
    select(&mut alice, "host-edr");
    alice.approve();
    alice.wait_for("approve signed and recorded → approved", 15);
    use countersign::api::ExecutionReport;
    soc.agent
        .report_execution(&id, &ExecutionReport::started())
        .await
        .unwrap();
    let report = ExecutionReport::Failed {
        detail: "EDR API 503: sensor offline".into(),
    };
    let view = soc.agent.report_execution(&id, &report).await.unwrap();
    assert_eq!(
        view.decided_by,
        Some(countersign::domain::records::DecidedBy::Agent {
            name: "soar-bot".into()
        }),
        "the agent's report is not decided by the approver"
    );
    // "mine" lists what alice took part in; its row now shows the failure.
    alice.send("v");
    alice.send("v");
    alice.send("v");
    alice.wait_for("host-edr", 15);
    alice.wait_for_line(
        &["approved by alice (analyst) · failed: EDR API 503: sensor offline"],
        15,
    );
    // The line wraps in the 80-column pane, never cut: the agent's name
    // follows on the next row.
    let screen = alice.wait_for("(soar-bot)", 5);
    assert!(!screen.contains("failed by alice"), "{screen}");
    assert_eq!(screen.matches("approved by alice").count(), 1, "{screen}");
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);
}

/// A false positive is one step from rejecting what the agent proposed
/// for it: the label offers it, `y` signs one rejection per proposal with
/// the note as the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_positive_label_rejects_the_alerts_proposals_in_one_more_step() {
    let soc = Soc::start().await;
    let id = soc.submit("host-fp", "medium").await;
    let mut alice = soc.console("alice");
    alice.wait_for("online", 20);
    select(&mut alice, "host-fp");
    alice.send("n");
    alice.send("\x06"); // Ctrl-F: false positive
    alice.type_text("vuln scanner, expected");
    alice.send("\r");
    alice.wait_for("labelled: reject its proposals?", 15);
    alice.wait_for("y or Enter rejects them", 5);
    alice.send("y");
    alice.wait_for("reject signed and recorded → rejected", 15);
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);
    assert_eq!(soc.status(&id).await, "rejected");
    let v = soc.agent.decision(&id, 0).await.unwrap();
    assert_eq!(v.reason.as_deref(), Some("vuln scanner, expected"));
    let verified = verify_all(&soc).await;
    assert_eq!(verified.len(), 2, "the note and the rejection, each signed");
}

/// What an analyst cannot complete says so before she types yes: a rule
/// that needs a lead names the leads, an escalated item is marked on its
/// row and refuses her approval in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_needs_a_lead_says_so_before_anyone_signs() {
    let soc = Soc::start().await;
    soc.submit("host-high", "high").await;
    let esc = soc.submit("host-esc", "medium").await;
    let mut alice = soc.console("alice");
    alice.wait_for("online", 20);
    select(&mut alice, "host-high");
    alice.wait_for("approvals 0 of 2, one a lead's", 10);
    // The detail's lines wrap in the pane: checked piece by piece.
    alice.wait_for("your approval is 1 of 2; then it", 10);
    alice.wait_for("needs a lead: carol, dave", 10);
    alice.send("a");
    alice.wait_for("confirm approval", 10);
    alice.esc();

    select(&mut alice, "host-esc");
    alice.send("e");
    alice.wait_for("escalate: why?", 10);
    alice.type_text("VIP laptop");
    alice.send("\r");
    alice.wait_for("escalate signed and recorded → escalated", 15);
    // In "mine" the escalated item is hers to see, a lead's to decide.
    alice.send("/");
    alice.esc();
    for _ in 0..3 {
        alice.send("v");
    }
    alice.wait_for_line(&["⊘", "host-esc"], 15);
    select(&mut alice, "host-esc");
    alice.wait_for("escalated: a lead decides it: carol, dave", 10);
    alice.send("a");
    alice.wait_for("you cannot approve this: escalated: a lead decides it", 10);
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);
    assert_eq!(soc.status(&esc).await, "escalated");
}
