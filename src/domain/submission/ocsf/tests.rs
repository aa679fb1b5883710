//! OCSF findings read into alerts.

use super::*;

pub(crate) fn edr_finding() -> Value {
    json!({
        "class_uid": 2004,
        "category_uid": 2,
        "activity_id": 1,
        "type_uid": 200401,
        "time": 1763870400000_i64,
        "severity_id": 4,
        "message": "Credential dumping: lsass.exe memory read by an unsigned binary",
        "confidence_score": 87,
        "metadata": {"version": "1.3.0", "product": {"name": "Falcon Insight", "vendor_name": "CrowdStrike"}},
        "finding_info": {"uid": "ldt:8f1c:4411", "title": "Credential Dumping", "desc": "OS credential dumping (T1003.001)"},
        "device": {"hostname": "ws-0412", "ip": "10.20.4.12", "os": {"name": "Windows 11", "type_id": 100}},
        "evidences": [
            {"process": {"name": "procdump64.exe", "pid": 4411, "cmd_line": "procdump64.exe -ma lsass.exe"}},
            {"dst_endpoint": {"ip": "203.0.113.7", "port": 443}}
        ]
    })
}

#[test]
fn an_edr_finding_becomes_a_host_alert_with_the_finding_verbatim() {
    let finding = edr_finding();
    let (alert, _) = normalise(json!({"ocsf": finding.clone(), "proposals": []})).unwrap();
    assert_eq!(alert["external_id"], "ldt:8f1c:4411");
    assert_eq!(alert["title"], "Credential Dumping");
    assert_eq!(alert["severity"], "high");
    assert_eq!(alert["source"], "CrowdStrike Falcon Insight");
    assert_eq!(alert["entity"], json!({"kind": "host", "id": "ws-0412"}));
    assert_eq!(alert["summary"]["confidence"], 0.87);
    assert_eq!(alert["evidence"][0]["kind"], "process_tree");
    assert_eq!(
        alert["evidence"][0]["title"],
        "process procdump64.exe -ma lsass.exe"
    );
    assert_eq!(alert["evidence"][1]["kind"], "network_flow");
    assert_eq!(alert["context"]["ocsf"], finding);
}

#[test]
fn missing_fields_are_named_as_ocsf_fields() {
    type Mutation = fn(&mut Value);
    let cases: [(&str, Mutation); 5] = [
        ("ocsf.class_uid", (|f| f["class_uid"] = json!(2001))),
        (
            "ocsf.finding_info.title",
            (|f| f["finding_info"]["title"] = json!("  ")),
        ),
        ("ocsf.severity_id", (|f| f["severity_id"] = json!(0))),
        (
            "ocsf.finding_info.uid",
            (|f| {
                f["finding_info"].as_object_mut().unwrap().remove("uid");
            }),
        ),
        (
            "ocsf.resources",
            (|f| {
                f.as_object_mut().unwrap().remove("device");
            }),
        ),
    ];
    for (field, mutate) in cases {
        let mut f = edr_finding();
        mutate(&mut f);
        let err = normalise(json!({"ocsf": f, "proposals": []}))
            .err()
            .unwrap();
        assert_eq!(err.field, field, "{err}");
    }
    let err = normalise(json!({"ocsf": edr_finding(), "title": "x"}))
        .err()
        .unwrap();
    assert_eq!(err.field, "title");
}

#[test]
fn cloud_resources_and_users_are_entities() {
    let mut f = edr_finding();
    f["resources"] =
        json!([{"type": "AWS::IAM::Role", "uid": "arn:aws:iam::111122223333:role/ci"}]);
    let (alert, origins) = normalise(json!({"ocsf": f})).unwrap();
    assert_eq!(alert["entity"]["kind"], "service_account");
    assert_eq!(
        origins.rename("entity.id").as_deref(),
        Some("ocsf.resources[0].uid")
    );
    let mut f = edr_finding();
    f.as_object_mut().unwrap().remove("device");
    f["actor"] = json!({"user": {"name": "j.doe@corp.example"}});
    let (alert, _) = normalise(json!({"ocsf": f})).unwrap();
    assert_eq!(
        alert["entity"],
        json!({"kind": "user", "id": "j.doe@corp.example"})
    );
}

fn phishing_finding() -> Value {
    json!({
        "class_uid": 2004,
        "severity_id": 3,
        "metadata": {"version": "1.3.0", "product": {"name": "Email Security", "vendor_name": "Acme"}},
        "finding_info": {"uid": "phish-7781", "title": "Credential phishing link delivered"},
        "observables": [
            {"name": "email.from", "type": "Email Address", "type_id": 5, "value": "payroll@evil.example"},
            {"name": "url", "type": "URL String", "type_id": 6, "value": "https://evil.example/login"},
            {"name": "src_endpoint.ip", "type_id": 2, "value": "203.0.113.9"}
        ]
    })
}

#[test]
fn a_finding_with_only_observables_is_about_its_first_known_observable() {
    let body = json!({"ocsf": phishing_finding(), "proposals": [
        {"action": "block_indicator", "target": "evil.example", "risk": "low", "rationale": "phishing domain"}
    ]});
    let valid = crate::domain::submission::parse(body).unwrap();
    assert_eq!(
        valid.alert.entity.kind,
        crate::domain::types::EntityKind::Email
    );
    assert_eq!(valid.alert.entity.id, "payroll@evil.example");
    let ev = valid.alert.evidence.last().unwrap();
    assert_eq!(ev.title, "observables (3)");
    assert!(
        ev.body
            .contains("URL String: https://evil.example/login (url)"),
        "{}",
        ev.body
    );
    assert!(
        ev.body.contains("ip: 203.0.113.9 (src_endpoint.ip)"),
        "{}",
        ev.body
    );
    // An observable that is not what its type says is refused, naming it.
    let mut bad = phishing_finding();
    bad["observables"][0]["value"] = json!("not-an-address");
    let err = crate::domain::submission::parse(json!({"ocsf": bad, "proposals": [
        {"action": "block_indicator", "target": "evil.example", "risk": "low", "rationale": "r"}
    ]}))
    .unwrap_err();
    assert_eq!(err.field, "ocsf.observables[0].value", "{err}");
    // Without observables there is still nothing to be about.
    let mut none = phishing_finding();
    none.as_object_mut().unwrap().remove("observables");
    let err = normalise(json!({"ocsf": none, "proposals": []})).unwrap_err();
    assert_eq!(err.field, "ocsf.resources");
}
