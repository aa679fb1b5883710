//! Sampled review of policy approvals, group decisions and the lead's
//! oversight view, over real HTTP on loopback with real signatures.

use crate::common;
use countersign::server::store::ops::{AlertById, AuditAfter, OversightOver, ProposalById};

use common::*;
use countersign::api::ErrorCode;
use countersign::api::oversight::{AgentRow, AnalystRow, RuleRow, SampleFinding};
use countersign::api::{ExecutionReport, View};
use countersign::client::ApiClient;
use countersign::domain::digest::alert_digest;
use countersign::domain::sample::{SampleOutcome, Sampler};
use countersign::domain::time::{now_millis, to_rfc3339};
use countersign::server::store::SubmitCommand;
use countersign::signing::payload::{
    DecisionDraft, GroupReview, PayloadVerdict, Review, SignedDecision, Target,
};
use serde_json::{Value, json};
use std::sync::Arc;

fn block(ip: &str) -> Value {
    json!({"action": "block_indicator", "target": ip, "risk": "low", "rationale": "C2 beacon"})
}

/// A signed verdict with a chosen review (seconds, panes, group).
#[allow(clippy::too_many_arguments)]
fn reviewed(
    ts: &TestServer,
    who: &str,
    target: Target,
    digest: &str,
    verdict: PayloadVerdict,
    reason: &str,
    seconds: f64,
    panes: &[&str],
    group: Option<u32>,
) -> SignedDecision {
    DecisionDraft {
        target,
        digest: digest.into(),
        verdict,
        reason: reason.into(),
        labels: if verdict == PayloadVerdict::Annotate {
            vec![countersign::domain::types::Label::FalsePositive]
        } else {
            vec![]
        },
        review: Review {
            seconds,
            panes: panes.iter().map(|p| p.to_string()).collect(),
            group: group.map(|size| GroupReview { size }),
        },
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: None,
    }
    .sign(who, now_millis(), &ts.signer(who))
    .expect("sign")
    .decision
}

async fn submit(agent: &ApiClient, id: &str, p: Value) -> (String, String) {
    let r = agent
        .submit_alert(&alert(id, vec![p]))
        .await
        .expect("submit");
    (r.proposals[0].id.clone(), r.proposals[0].digest.clone())
}

fn code(e: countersign::client::ClientError) -> ErrorCode {
    e.code().unwrap_or(ErrorCode::Unknown)
}

#[tokio::test]
async fn sampled_review_confirms_flags_and_refuses() {
    let ts = TestServer::start().await;
    let agent = ts.agent();
    let alice = ts.login("alice").await;
    let (auto, auto_digest) = submit(&agent, "s-1", block("203.0.113.7")).await;
    let (manual, manual_digest) = submit(&agent, "s-2", proposal("isolate_host", "medium")).await;

    // The sampled view lists the policy approval, not the pending one.
    let page = alice.queue(View::Sampled, 0, 0, 1000).await.expect("queue");
    let ids: Vec<&str> = page
        .page
        .items
        .iter()
        .map(|i| i.proposal.id.as_str())
        .collect();
    assert_eq!(ids, [auto.as_str()]);
    let sample = page.page.items[0].proposal.sample.clone().expect("sample");
    assert_eq!(sample.rate, 1.0);
    assert!(sample.outcome.is_none());

    let decide = |who: &str, id: &str, digest: &str, v: PayloadVerdict, reason: &str| {
        reviewed(
            &ts,
            who,
            Target::Proposal(id.into()),
            digest,
            v,
            reason,
            5.0,
            &["summary"],
            None,
        )
    };
    // A flag needs a reason; a confirm of what was not sampled is refused.
    let e = alice
        .post_decision(&decide(
            "alice",
            &auto,
            &auto_digest,
            PayloadVerdict::Flag,
            "x",
        ))
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::ReasonRequired);
    let e = alice
        .post_decision(&decide(
            "alice",
            &manual,
            &manual_digest,
            PayloadVerdict::Confirm,
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::NotSampled);

    let ok = alice
        .post_decision(&decide(
            "alice",
            &auto,
            &auto_digest,
            PayloadVerdict::Flag,
            "blocks a CDN edge",
        ))
        .await
        .expect("flag");
    assert_eq!(ok.event, "sample_flagged");
    // Still approved: a flag never undoes what policy did.
    assert_eq!(ok.proposal.expect("proposal").status.as_str(), "approved");
    let p = ts
        .store
        .run(ProposalById(auto.clone()))
        .await
        .expect("read")
        .expect("proposal");
    assert!(matches!(
        p.sample.and_then(|s| s.outcome),
        Some(SampleOutcome::Flagged { ref reason, .. }) if reason == "blocks a CDN edge"
    ));
    let e = alice
        .post_decision(&decide(
            "alice",
            &auto,
            &auto_digest,
            PayloadVerdict::Confirm,
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::SampleClosed);
    // Reviewed: it leaves the sampled view.
    let after = alice
        .queue(View::Sampled, page.page.cursor, 0, 1000)
        .await
        .expect("queue");
    assert_eq!(after.page.gone, vec![auto]);

    // The signed record says which approvals were drawn, and why it was flagged.
    let entries = ts
        .store
        .run(AuditAfter {
            after: 0,
            limit: 1000,
            alert_id: None,
        })
        .await
        .expect("audit");
    let kinds: Vec<Value> = entries
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.entry).expect("json"))
        .collect();
    let by_policy = kinds
        .iter()
        .find(|e| e["kind"] == "approved_by_policy")
        .expect("policy approval");
    assert_eq!(by_policy["data"]["sample_rate"], 1.0);
    assert!(by_policy["data"]["sampled"]["review_by"].is_string());
    let flagged = kinds
        .iter()
        .find(|e| e["kind"] == "sample_flagged")
        .expect("flag entry");
    assert_eq!(flagged["actor"]["principal"], "alice");
    assert!(
        flagged["data"]["signature"]
            .as_str()
            .unwrap()
            .contains("SSH SIGNATURE")
    );
}

#[tokio::test]
async fn group_decisions_are_refused_where_one_person_per_item_is_required() {
    let ts = TestServer::start().await;
    let agent = ts.agent();
    let alice = ts.login("alice").await;
    let (high, high_digest) = submit(&agent, "g-1", proposal("isolate_host", "high")).await;
    let (medium, medium_digest) = submit(&agent, "g-2", proposal("isolate_host", "medium")).await;
    let grouped = |id: &str, digest: &str, size: u32| {
        reviewed(
            &ts,
            "alice",
            Target::Proposal(id.into()),
            digest,
            PayloadVerdict::Approve,
            "",
            3.0,
            &["summary"],
            Some(size),
        )
    };
    let e = alice
        .post_decision(&grouped(&high, &high_digest, 2))
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::Forbidden);
    let e = alice
        .post_decision(&grouped(&medium, &medium_digest, 1))
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::InvalidReview);
    let ok = alice
        .post_decision(&grouped(&medium, &medium_digest, 2))
        .await
        .expect("group approval of a medium proposal");
    assert_eq!(ok.event, "approved");
    let entry: Value = serde_json::from_str(&ok.audit.entry).expect("json");
    let payload: Value =
        serde_json::from_str(entry["data"]["payload"].as_str().expect("payload")).expect("json");
    assert_eq!(payload["review"]["group"]["size"], 2);
}

/// Every figure of the oversight view, from a history written for it.
#[tokio::test]
async fn oversight_figures_from_a_known_history() {
    let ts = TestServer::start().await;
    let agent = ts.agent();
    let other = ApiClient::new(&ts.url(), Some(ts.other_agent_token.clone())).expect("client");
    let people = [
        ("alice", ts.login("alice").await),
        ("bob", ts.login("bob").await),
        ("carol", ts.login("carol").await),
        ("dave", ts.login("dave").await),
    ];
    let who = |name: &str| &people.iter().find(|(n, _)| *n == name).expect("person").1;
    let since = now_millis() - 1000;
    #[allow(clippy::too_many_arguments)]
    async fn act(
        ts: &TestServer,
        c: &ApiClient,
        name: &str,
        id: &str,
        digest: &str,
        v: PayloadVerdict,
        reason: &str,
        secs: f64,
        panes: &[&str],
        group: Option<u32>,
    ) {
        let d = reviewed(
            ts,
            name,
            Target::Proposal(id.into()),
            digest,
            v,
            reason,
            secs,
            panes,
            group,
        );
        c.post_decision(&d).await.expect("decision");
    }
    use PayloadVerdict::*;

    // P1, medium: alice approves in a group of 3; it fails when run.
    let r1 = agent
        .submit_alert(&alert("o-1", vec![proposal("isolate_host", "medium")]))
        .await
        .expect("submit");
    let (p1, d1) = (r1.proposals[0].id.clone(), r1.proposals[0].digest.clone());
    act(
        &ts,
        who("alice"),
        "alice",
        &p1,
        &d1,
        Approve,
        "",
        10.0,
        &["summary", "evidence"],
        Some(3),
    )
    .await;
    agent
        .report_execution(&p1, &ExecutionReport::started())
        .await
        .expect("started");
    agent
        .report_execution(
            &p1,
            &ExecutionReport::Failed {
                detail: "EDR timeout".into(),
            },
        )
        .await
        .expect("failed");
    // Its alert is labelled a false positive.
    let alert_digest = alert_digest(
        &ts.store
            .run(AlertById(r1.alert_id.clone()))
            .await
            .expect("read")
            .expect("alert")
            .0
            .document,
    )
    .expect("digest");
    let note = reviewed(
        &ts,
        "alice",
        Target::Alert(r1.alert_id.clone()),
        &alert_digest,
        Annotate,
        "benign admin tool",
        2.0,
        &[],
        None,
    );
    who("alice").post_decision(&note).await.expect("annotate");

    // P2, high: alice approves without opening diff or evidence; carol
    // (the second, a lead) rejects.
    let (p2, d2) = submit(&agent, "o-2", proposal("isolate_host", "high")).await;
    act(
        &ts,
        who("alice"),
        "alice",
        &p2,
        &d2,
        Approve,
        "",
        4.0,
        &["summary"],
        None,
    )
    .await;
    act(
        &ts,
        who("carol"),
        "carol",
        &p2,
        &d2,
        Reject,
        "wrong host",
        8.0,
        &["diff"],
        None,
    )
    .await;

    // P3, high: bob and dave approve having looked; carol halts it.
    let (p3, d3) = submit(&agent, "o-3", proposal("isolate_host", "high")).await;
    act(
        &ts,
        who("bob"),
        "bob",
        &p3,
        &d3,
        Approve,
        "",
        30.0,
        &["diff"],
        None,
    )
    .await;
    act(
        &ts,
        who("dave"),
        "dave",
        &p3,
        &d3,
        Approve,
        "",
        20.0,
        &["evidence"],
        None,
    )
    .await;
    act(
        &ts,
        who("carol"),
        "carol",
        &p3,
        &d3,
        Halt,
        "change freeze",
        6.0,
        &["summary"],
        None,
    )
    .await;

    // P4..P6, low blocks approved by policy, all sampled: one confirmed,
    // one flagged, one left alone.
    let (p4, d4) = submit(&agent, "o-4", block("203.0.113.4")).await;
    let (p5, d5) = submit(&agent, "o-5", block("203.0.113.5")).await;
    let (_p6, _) = submit(&agent, "o-6", block("203.0.113.6")).await;
    act(
        &ts,
        who("carol"),
        "carol",
        &p4,
        &d4,
        Confirm,
        "",
        3.0,
        &["summary"],
        None,
    )
    .await;
    act(
        &ts,
        who("bob"),
        "bob",
        &p5,
        &d5,
        Flag,
        "blocks a CDN range",
        5.0,
        &["evidence"],
        None,
    )
    .await;

    // P7 from the other agent: nobody decides; it expires.
    other
        .submit_alert(&alert("o-7", vec![proposal("disable_account", "medium")]))
        .await
        .expect("submit");
    let later = now_millis() + 2 * 86_400_000;
    ts.store.run_deadlines(later).await.expect("deadlines");

    // Leads only.
    let e = who("alice").oversight("24h", None).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::LeadRequired);
    let e = agent.oversight("24h", None).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::Forbidden);
    let e = who("carol").oversight("yesterday", None).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::InvalidQuery);

    let o = who("carol")
        .oversight(&to_rfc3339(since), Some(&to_rfc3339(later + 1)))
        .await
        .expect("oversight");
    let analyst = |principal: &str, f: &dyn Fn(&mut AnalystRow)| {
        let mut r = AnalystRow {
            principal: principal.into(),
            ..Default::default()
        };
        f(&mut r);
        r
    };
    assert_eq!(
        o.analysts,
        vec![
            analyst("alice", &|r| {
                r.decisions = 2;
                r.approvals = 2;
                r.in_groups = 1;
                r.median_review_secs = Some(7.0);
                r.unexamined_high_approvals = 1;
                r.approvals_halted_or_failed = 1;
                r.overturned_by_second = 1;
            }),
            analyst("bob", &|r| {
                r.decisions = 2;
                r.approvals = 1;
                r.median_review_secs = Some(17.5);
                r.approvals_halted_or_failed = 1;
            }),
            analyst("carol", &|r| {
                r.decisions = 3;
                r.rejections = 1;
                r.median_review_secs = Some(6.0);
                r.disagreed_as_second = 1;
            }),
            analyst("dave", &|r| {
                r.decisions = 1;
                r.approvals = 1;
                r.median_review_secs = Some(20.0);
                r.approvals_halted_or_failed = 1;
            }),
        ]
    );
    assert_eq!(
        o.agents,
        vec![
            AgentRow {
                agent: "other-bot".into(),
                proposals: 1,
                expired: 1,
                approval_rate: Some(0.0),
                rejection_rate: Some(0.0),
                ..Default::default()
            },
            AgentRow {
                agent: "soar-bot".into(),
                proposals: 6,
                approved: 5,
                rejected: 1,
                approval_rate: Some(5.0 / 6.0),
                rejection_rate: Some(1.0 / 6.0),
                false_positives: 1,
                ..Default::default()
            },
        ]
    );
    assert_eq!(
        o.rules,
        vec![RuleRow {
            rule: "rules[1]".into(),
            auto_approved: 3,
            sampled: 3,
            confirmed: 1,
            flagged: 1,
            unreviewed: 1,
            flag_rate: Some(0.5),
        }]
    );
    assert_eq!(
        o.findings
            .iter()
            .map(|f| (&f.proposal_id, &f.principal, &f.reason))
            .collect::<Vec<_>>(),
        vec![(&p5, &"bob".to_owned(), &"blocks a CDN range".to_owned())]
    );
    let _: &[SampleFinding] = &o.findings;

    // A window before all of it is empty.
    let before = who("carol")
        .oversight(&to_rfc3339(since - 60_000), Some(&to_rfc3339(since)))
        .await
        .expect("oversight");
    assert!(before.analysts.is_empty() && before.agents.is_empty() && before.rules.is_empty());
}

/// The sampler draws its share of 10,000 policy approvals, within four
/// standard deviations, through the store on a real SQLite file; every
/// draw is in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampler_rate_over_ten_thousand_auto_approvals() {
    const N: usize = 10_000;
    const RATE: f64 = 0.1;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_store(&dir);
    let policy = Arc::new(
        countersign::domain::policy::Policy::from_toml(
            "[defaults]\napprovals = 1\n\n[[rules]]\nname = \"blocks\"\naction = \"block_indicator\"\nrisk = \"low\"\nauto = true\nsample = 0.1\n",
            "test",
        )
        .expect("policy"),
    );
    let sampler = Arc::new(Sampler::seeded(20261123));
    let now = now_millis();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..8 {
        let (store, policy, sampler) = (store.clone(), policy.clone(), sampler.clone());
        tasks.spawn(async move {
            for i in (chunk..N).step_by(8) {
                let doc = alert(
                    &format!("ioc-{i}"),
                    vec![block(&format!("198.51.{}.{}", i / 250, i % 250))],
                );
                let submission = countersign::domain::submission::parse(doc).expect("valid");
                store
                    .run(SubmitCommand::new(
                        "soar-bot".into(),
                        submission,
                        policy.clone(),
                        now,
                        sampler.clone(),
                    ))
                    .await
                    .expect("submit");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    let entries = store.audit_all().await.expect("audit");
    let mut approvals = 0;
    let mut sampled = 0;
    for e in &entries {
        let v: Value = serde_json::from_str(&e.entry).expect("json");
        if v["kind"] == "approved_by_policy" {
            approvals += 1;
            assert_eq!(v["data"]["sample_rate"], RATE);
            sampled += usize::from(v["data"].get("sampled").is_some());
        }
    }
    assert_eq!(approvals, N);
    let mean = N as f64 * RATE;
    let sd = (N as f64 * RATE * (1.0 - RATE)).sqrt();
    assert!(
        (sampled as f64 - mean).abs() <= 4.0 * sd,
        "{sampled} of {N} sampled; expected {mean} ± {:.0}",
        4.0 * sd
    );
    // The sampled view holds exactly the drawn ones.
    let o = store
        .run(OversightOver {
            since: now - 1,
            until: now + 1,
        })
        .await
        .expect("oversight");
    assert_eq!(o.rules[0].auto_approved, N as u64);
    assert_eq!(o.rules[0].sampled, sampled as u64);
}
