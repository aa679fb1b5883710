//! Risk is judged by the gate (issue 11), against the real binary: an
//! agent's low label on a block of the whole internet is not approved by
//! policy; crown-jewel targets named in the policy are critical; the
//! effective risk, the agent's label and the assessment are served and
//! recorded in the audit log.

use crate::common;

use common::gate::Gate;
use countersign::api::SubmitResponse;
use countersign::client::ApiClient;
use countersign::domain::types::{ProposalStatus, Risk};
use serde_json::json;

fn block(ext: &str, target: &str) -> serde_json::Value {
    let mut doc = common::alert(ext, vec![common::proposal("block_indicator", "low")]);
    doc["proposals"][0]["target"] = json!(target);
    doc
}

#[tokio::test]
async fn the_agents_label_cannot_talk_the_gate_down() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "{}\n[assets]\ncritical = [\"srv-pay-*\"]\nown_ranges = [\"198.51.100.0/24\"]\n",
            countersign::domain::policy::DEFAULT_POLICY
        ),
    )
    .unwrap();
    let g = Gate::start_with(&["--policy", policy.to_str().unwrap()]).await;
    let agent = ApiClient::new(&g.server.url, Some(g.agent_token.clone())).unwrap();

    // A narrow block labelled low: the built-in policy approves it alone.
    let ok: SubmitResponse = agent
        .submit_alert(&block("r-1", "203.0.113.7"))
        .await
        .unwrap();
    assert_eq!(ok.proposals[0].status, ProposalStatus::Approved);
    assert_eq!(ok.proposals[0].risk, Risk::Low);
    assert_eq!(ok.proposals[0].declared_risk, None);

    // The whole internet, our own range, a bare TLD: labelled low, judged high,
    // held for people.
    for (ext, target) in [
        ("r-2", "0.0.0.0/0"),
        ("r-3", "198.51.100.20"),
        ("r-4", "com"),
    ] {
        let r = agent.submit_alert(&block(ext, target)).await.unwrap();
        let p = &r.proposals[0];
        assert_eq!(p.status, ProposalStatus::Pending, "{target}");
        assert_eq!(
            (p.risk, p.declared_risk),
            (Risk::High, Some(Risk::Low)),
            "{target}"
        );
        let detail = g.reviewer.alert(&r.alert_id).await.unwrap();
        let rec = &detail.proposals[0];
        assert_eq!((rec.risk, rec.declared_risk), (Risk::High, Risk::Low));
        let a = rec.assessment.as_ref().expect("assessed");
        assert_eq!(a.floor, Risk::High);
        assert!(!a.findings.is_empty(), "{a:?}");
        // The audit entry that records the proposal says the same.
        let entry: serde_json::Value =
            serde_json::from_str(&detail.history.first().unwrap().entry.to_string()).unwrap();
        let summary = &entry["data"]["proposals"][0];
        assert_eq!(summary["risk"], "high", "{entry}");
        assert_eq!(summary["declared_risk"], "low");
        assert_eq!(summary["assessment"]["floor"], "high");
    }

    // A crown jewel named in the policy: critical, whatever the label, and
    // the critical rule's lead and two people apply.
    let mut doc = common::alert("r-5", vec![common::proposal("isolate_host", "low")]);
    doc["proposals"][0]["target"] = json!("srv-pay-07");
    let r = agent.submit_alert(&doc).await.unwrap();
    assert_eq!(r.proposals[0].risk, Risk::Critical);
    let detail = g.reviewer.alert(&r.alert_id).await.unwrap();
    assert!(
        detail.proposals[0].rule.contains("critical"),
        "{}",
        detail.proposals[0].rule
    );

    // An escalation labelled low: critical, never approved by policy, and
    // the assessment says what it grants.
    let iam = |s: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{s}]}}"#);
    let mut doc = common::alert("r-6", vec![common::proposal("modify_policy", "low")]);
    doc["proposals"][0]["target"] = json!("arn:aws:iam::111122223333:role/ci");
    doc["proposals"][0]["permission_change"] = json!({
        "format": "json",
        "before": iam(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
        "after": iam(r#"{"Effect":"Allow","Action":["s3:GetObject","iam:PassRole"],"Resource":"arn:aws:iam::*:role/*"}"#),
    });
    let r = agent.submit_alert(&doc).await.unwrap();
    assert_eq!(r.proposals[0].status, ProposalStatus::Pending);
    assert_eq!(
        (r.proposals[0].risk, r.proposals[0].declared_risk),
        (Risk::Critical, Some(Risk::Low))
    );
    let detail = g.reviewer.alert(&r.alert_id).await.unwrap();
    let a = detail.proposals[0].assessment.as_ref().unwrap();
    assert_eq!(a.expands_access, Some(true));
    assert!(
        a.findings.iter().any(|f| f.detail.contains("iam:passrole")),
        "{a:?}"
    );
    assert!(
        detail.proposals[0].rule.contains("critical"),
        "{}",
        detail.proposals[0].rule
    );

    // An action kind the policy does not know: at least medium, never auto.
    let mut doc = common::alert("r-7", vec![common::proposal("run_command", "low")]);
    doc["proposals"][0]["target"] = json!("rm-rf-tmp");
    let r = agent.submit_alert(&doc).await.unwrap();
    assert_eq!(
        (r.proposals[0].risk, r.proposals[0].status),
        (Risk::Medium, ProposalStatus::Pending)
    );
}
