//! OCSF Detection Findings submitted as they are, against the real binary:
//! an EDR finding about a host, a cloud finding about an IAM role; the
//! finding served back exactly, the digest over what the console shows, and
//! a finding that lacks what an alert needs refused with the OCSF field
//! named and nothing stored.

use crate::common;

use common::gate::Gate;
use serde_json::{Value, json};

/// Shaped like an EDR's OCSF export (CrowdStrike Falcon's detection
/// findings): a device, processes and a connection as evidences.
fn edr_finding() -> Value {
    json!({
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "time": 1763870400000_i64,
        "severity_id": 5,
        "severity": "Critical",
        "status_id": 1,
        "message": "procdump64.exe read lsass.exe memory; the binary is unsigned and ran from C:\\Users\\Public",
        "confidence_score": 92,
        "metadata": {
            "version": "1.3.0",
            "product": {"name": "Falcon Insight", "vendor_name": "CrowdStrike", "version": "7.19"},
            "uid": "9a1b7c"
        },
        "finding_info": {
            "uid": "ldt:4f1c9e0a2b:77310",
            "title": "Credential Dumping via LSASS",
            "desc": "OS Credential Dumping: LSASS Memory (T1003.001)",
            "types": ["Credential Access"],
            "analytic": {"name": "CredentialDumpingLsass", "type_id": 1}
        },
        "device": {
            "hostname": "ws-0412",
            "ip": "10.20.4.12",
            "type_id": 2,
            "os": {"name": "Windows 11 Enterprise", "type_id": 100}
        },
        "evidences": [
            {"process": {"pid": 4411, "name": "procdump64.exe",
                         "cmd_line": "procdump64.exe -accepteula -ma lsass.exe C:\\Users\\Public\\l.dmp",
                         "parent_process": {"pid": 3120, "name": "cmd.exe"}}},
            {"file": {"name": "l.dmp", "path": "C:\\Users\\Public\\l.dmp", "type_id": 1}},
            {"dst_endpoint": {"ip": "203.0.113.7", "port": 443}, "connection_info": {"protocol_name": "tcp"}}
        ]
    })
}

/// Shaped like AWS Security Hub's OCSF findings: a cloud resource, an API
/// call as evidence, no device.
fn cloud_finding() -> Value {
    json!({
        "class_uid": 2004,
        "category_uid": 2,
        "activity_id": 1,
        "type_uid": 200401,
        "time": 1763870400000_i64,
        "severity_id": 4,
        "metadata": {"version": "1.1.0", "product": {"name": "Security Hub", "vendor_name": "AWS"}},
        "finding_info": {
            "uid": "arn:aws:securityhub:eu-west-1:111122223333:finding/7d2e",
            "title": "IAM role trust policy allows an external account",
            "desc": "The role ci-deploy can be assumed by 444455556666, which is outside the organisation."
        },
        "cloud": {"provider": "AWS", "region": "eu-west-1", "account": {"uid": "111122223333"}},
        "resources": [{"type": "AWS::IAM::Role", "uid": "arn:aws:iam::111122223333:role/ci-deploy",
                       "name": "ci-deploy", "region": "eu-west-1"}],
        "evidences": [{"api": {"operation": "UpdateAssumeRolePolicy", "service": {"name": "iam.amazonaws.com"}},
                       "actor": {"user": {"name": "build-agent", "type": "AssumedRole"}}}]
    })
}

fn isolate() -> Value {
    json!([{"action": "isolate_host", "target": "ws-0412", "risk": "high",
            "rationale": "contain before the dump leaves the host"}])
}

#[tokio::test]
async fn findings_arrive_as_they_are_and_are_served_back_exactly() {
    let g = Gate::start().await;
    let agent = Some(g.agent_token.as_str());
    let finding = edr_finding();
    let body = json!({"ocsf": finding, "proposals": isolate()}).to_string();
    let (status, created) = g.post("/v1/alerts", agent, &body).await;
    assert_eq!(status, 201, "{created}");
    let alert_id = created["alert_id"].as_str().unwrap();
    let detail = g.reviewer.alert(alert_id).await.unwrap();
    let a = &detail.alert;
    assert_eq!(
        a.external_id, "ldt:4f1c9e0a2b:77310",
        "from finding_info.uid"
    );
    assert_eq!(a.title, "Credential Dumping via LSASS");
    assert_eq!(a.document["severity"], "critical");
    assert_eq!(
        a.document["entity"],
        json!({"kind": "host", "id": "ws-0412"})
    );
    assert_eq!(a.document["source"], "CrowdStrike Falcon Insight");
    assert!(
        a.document["summary"]["text"]
            .as_str()
            .unwrap()
            .starts_with("procdump64.exe read lsass.exe"),
        "message is the summary"
    );
    assert_eq!(a.document["evidence"].as_array().unwrap().len(), 3);
    assert_eq!(a.document["evidence"][0]["kind"], "process_tree");
    // The finding itself, exactly as submitted.
    assert_eq!(a.document["context"]["ocsf"], edr_finding());
    // The digest covers that document: recomputable by anyone.
    let p = &detail.proposals[0];
    let want =
        countersign::domain::digest::proposal_digest(&a.document, &p.document).expect("digest");
    assert_eq!(p.digest, want);
    assert_eq!(created["proposals"][0]["digest"], want);
    // An agent retrying the same finding gets the same ids.
    let (status, again) = g.post("/v1/alerts", agent, &body).await;
    assert_eq!((status, &again["status"]), (200, &json!("unchanged")));
    assert_eq!(again["alert_id"], created["alert_id"]);

    // A cloud finding: the resource is the entity; the triage model's own
    // summary and an explicit external id are kept.
    let body = json!({
        "ocsf": cloud_finding(),
        "external_id": "sechub-7d2e",
        "summary": {"text": "External trust added by the build agent", "model": "triage-v4", "confidence": 0.71},
        "proposals": [{"action": "modify_policy", "target": "arn:aws:iam::111122223333:role/ci-deploy",
                       "risk": "medium", "rationale": "remove the external principal"}]
    });
    let (status, created) = g.post("/v1/alerts", agent, &body.to_string()).await;
    assert_eq!(status, 201, "{created}");
    let detail = g
        .reviewer
        .alert(created["alert_id"].as_str().unwrap())
        .await
        .unwrap();
    let d = &detail.alert.document;
    assert_eq!(detail.alert.external_id, "sechub-7d2e");
    assert_eq!(
        d["entity"],
        json!({"kind": "service_account", "id": "arn:aws:iam::111122223333:role/ci-deploy"})
    );
    assert_eq!(d["severity"], "high");
    assert_eq!(d["summary"]["model"], "triage-v4");
    assert_eq!(d["evidence"][0]["title"], "API call UpdateAssumeRolePolicy");
    assert_eq!(d["context"]["ocsf"], cloud_finding());
}

#[tokio::test]
async fn a_finding_that_lacks_what_an_alert_needs_names_the_ocsf_field() {
    let g = Gate::start().await;
    let agent = Some(g.agent_token.as_str());
    type Mutation = fn(&mut Value);
    let cases: [(Mutation, &str, &str); 7] = [
        (
            |f| f["class_uid"] = json!(2001),
            "invalid_field",
            "ocsf.class_uid",
        ),
        (
            |f| f["finding_info"]["title"] = json!(""),
            "invalid_field",
            "ocsf.finding_info.title",
        ),
        (
            |f| f["severity_id"] = json!(99),
            "invalid_field",
            "ocsf.severity_id",
        ),
        (
            |f| {
                f.as_object_mut().unwrap().remove("device");
            },
            "invalid_field",
            "ocsf.resources",
        ),
        (
            |f| f["resources"] = json!([{"type": "AWS::S3::Bucket", "region": "eu-west-1"}]),
            "invalid_field",
            "ocsf.resources[0].uid",
        ),
        (
            |f| f["device"]["hostname"] = json!("ws-0412\u{202e}"),
            "invalid_field",
            "ocsf.device.hostname",
        ),
        (
            |f| f["finding_info"]["uid"] = json!("ldt\u{0}1"),
            "invalid_field",
            "ocsf.finding_info.uid",
        ),
    ];
    for (mutate, code, field) in cases {
        let mut f = edr_finding();
        mutate(&mut f);
        let body = json!({"ocsf": f, "proposals": isolate()}).to_string();
        g.refused(field, "/v1/alerts", agent, &body, code, field)
            .await;
    }
    // Duplicate names inside the finding are refused like anywhere else.
    let body = format!(
        r#"{{"ocsf":{{"class_uid":2004,"severity_id":1,"severity_id":5}},"proposals":{}}}"#,
        isolate()
    );
    g.refused(
        "a name twice inside the finding",
        "/v1/alerts",
        agent,
        &body,
        "duplicate_member",
        "ocsf.severity_id",
    )
    .await;
}
