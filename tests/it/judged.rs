//! Judged on what is, not on what the agent claims (issue 28), against the
//! real binary. A team policy lets policy approve anything low
//! (`[[rules]] risk = "low" auto = true`); a compromised agent labels every
//! proposal low and spells, omits or pre-writes what it can. None of the
//! corpus below may be approved by policy alone. The controls must still be:
//! a floor that holds everything would pass the first half and fail this.

use crate::common;

use common::gate::Gate;
use countersign::api::SubmitResponse;
use countersign::client::ApiClient;
use countersign::domain::types::ProposalStatus;
use serde_json::{Value, json};

const POLICY: &str = r#"
[defaults]
approvals = 1
[roles]
leads = ["*"]
[[rules]]
name = "anything low: policy approves"
risk = "low"
auto = true
[assets]
critical = ["srv-pay-*", "dc-??"]
own_ranges = ["198.51.100.0/24"]
"#;

fn p(action: &str, target: &str) -> Value {
    json!({"action": action, "target": target, "risk": "low", "rationale": "contain"})
}

fn change(action: &str, target: &str, format: &str, before: &str, after: &str) -> Value {
    let mut v = p(action, target);
    v["permission_change"] = json!({"format": format, "before": before, "after": after});
    v
}

const ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

fn k8s(doc: &str) -> String {
    doc.trim_start_matches('\n').to_owned()
}

/// Every way the issue found to talk the gate down, and more of each class.
fn corpus() -> Vec<Value> {
    let mut out = Vec::new();
    // No document at all for an access change.
    out.push(p(
        "modify_policy",
        "arn:aws:iam::111122223333:role/OrganizationAccountAccessRole",
    ));
    // The agent wrote the before: a standing grant is judged on its own.
    out.push(change(
        "modify_policy",
        "arn:aws:iam::111122223333:role/intern",
        "json",
        ADMIN,
        ADMIN,
    ));
    let anon = k8s(r#"
kind: ClusterRoleBinding
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: open}
roleRef: {kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io}
subjects: [{kind: User, name: "system:anonymous", apiGroup: rbac.authorization.k8s.io}]
"#);
    out.push(change(
        "modify_policy",
        "cluster/prod",
        "yaml",
        &anon,
        &anon,
    ));
    let owner = r#"{"bindings":[{"role":"roles/owner","members":["allUsers"]}]}"#;
    out.push(change(
        "modify_policy",
        "projects/prod",
        "json",
        owner,
        owner,
    ));
    // IAM JSON labelled as lines: every line of the new document was there.
    let before = "{\"Statement\": [\n{\"Effect\": \"Allow\",\n\"Action\": \"s3:GetObject\",\n\"Resource\": \"*\"},\n{\"Effect\": \"Deny\",\n\"Action\": \"*\",\n\"Resource\": \"*\"}\n]}";
    let after =
        "{\"Statement\": [\n{\"Effect\": \"Allow\",\n\"Action\": \"*\",\n\"Resource\": \"*\"}\n]}";
    for label in ["text", "list"] {
        out.push(change("modify_policy", "role/app", label, before, after));
    }
    // A Deny narrowed with a policy variable.
    let deny = |r: &str| {
        format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}},{{"Effect":"Deny","Action":"s3:*","Resource":"{r}"}}]}}"#
        )
    };
    out.push(change(
        "modify_policy",
        "role/app",
        "json",
        &deny("arn:aws:s3:::payroll/*"),
        &deny("arn:aws:s3:::${aws:username}/*"),
    ));
    // Kubernetes: aggregation, a wider kind, another namespace.
    let secrets_reader = |labels: &str| {
        k8s(&format!(
            r#"
kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata: {{name: secret-reader{labels}}}
rules: [{{apiGroups: [""], resources: [secrets], verbs: [get, list]}}]
"#
        ))
    };
    out.push(change(
        "modify_policy",
        "cluster/prod",
        "yaml",
        &secrets_reader(""),
        &secrets_reader(", labels: {rbac.authorization.k8s.io/aggregate-to-admin: \"true\"}"),
    ));
    let aggregating = k8s(r#"
kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: helper}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {rbac.authorization.k8s.io/aggregate-to-admin: "true"}}]}
rules: []
"#);
    let empty = k8s(r#"
kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: helper}
rules: []
"#);
    out.push(change(
        "modify_policy",
        "cluster/prod",
        "yaml",
        &empty,
        &aggregating,
    ));
    let role = |kind: &str, ns: &str| {
        k8s(&format!(
            r#"
kind: {kind}
apiVersion: rbac.authorization.k8s.io/v1
metadata: {{name: pod-reader, namespace: {ns}}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [get, list]}}]
"#
        ))
    };
    out.push(change(
        "modify_policy",
        "cluster/prod",
        "yaml",
        &role("Role", "sandbox"),
        &role("ClusterRole", "sandbox"),
    ));
    out.push(change(
        "modify_policy",
        "cluster/prod",
        "yaml",
        &role("Role", "sandbox"),
        &role("Role", "kube-system"),
    ));
    // GCP: audit logging turned off.
    let audited = r#"{"bindings":[{"role":"roles/viewer","members":["user:ann@corp.example"]}],"auditConfigs":[{"service":"allServices","auditLogConfigs":[{"logType":"DATA_READ"},{"logType":"DATA_WRITE"},{"logType":"ADMIN_READ"}]}]}"#;
    let silent = r#"{"bindings":[{"role":"roles/viewer","members":["user:ann@corp.example"]}]}"#;
    out.push(change(
        "modify_policy",
        "projects/prod",
        "json",
        audited,
        silent,
    ));
    // From an attacker's review: standing grants the first version missed.
    let gmail =
        r#"{"bindings":[{"role":"roles/storage.objectViewer","members":["domain:gmail.com"]}]}"#;
    out.push(change(
        "modify_policy",
        "projects/prod",
        "json",
        gmail,
        gmail,
    ));
    let pool = r#"{"bindings":[{"role":"roles/storage.admin","members":["principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gh/*"]}]}"#;
    out.push(change("modify_policy", "projects/prod", "json", pool, pool));
    let controller = k8s(r#"
kind: ClusterRoleBinding
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: helper}
roleRef: {kind: ClusterRole, name: "system:controller:clusterrole-aggregation-controller", apiGroup: rbac.authorization.k8s.io}
subjects: [{kind: ServiceAccount, name: evil, namespace: default}]
"#);
    out.push(change(
        "modify_policy",
        "cluster/prod",
        "yaml",
        &controller,
        &controller,
    ));
    let pods = k8s(r#"
kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: runner}
rules: [{apiGroups: [""], resources: [pods], verbs: [create]}]
"#);
    out.push(change(
        "modify_policy",
        "cluster/prod",
        "yaml",
        &pods,
        &pods,
    ));
    let sso = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sso:CreateAccountAssignment","Resource":"*"}]}"#;
    out.push(change("modify_policy", "role/app", "json", sso, sso));
    let sudoers = "alice ALL=(ALL) ALL\nalice ALL=(ALL) !ALL\n";
    out.push(change(
        "modify_policy",
        "host/sudoers",
        "text",
        sudoers,
        "alice ALL=(ALL) ALL\n",
    ));
    // Targets.
    for (action, t) in [
        ("isolate_host", "ws-1,srv-pay-01"),
        ("disable_account", "alice Administrator"),
        ("kill_process", "-1"),
        ("kill_process", "01"),
        (
            "quarantine_file",
            "\\\\localhost\\c$\\Windows\\System32\\ntoskrnl.exe",
        ),
        ("reset_credentials", "CN=krbtgt,CN=Users,DC=corp,DC=example"),
        ("disable_account", "DC01$"),
        ("block_indicator", "0127.0.0.1"),
        ("block_indicator", "168.63.129.16"),
        ("block_indicator", "ts01-b.cloudsink.net"),
    ] {
        out.push(p(action, t));
    }
    // Indicators in every spelling.
    for t in [
        "0/0",
        "10/8",
        "0.0.0.0/0.0.0.0",
        "0.0.0.0-255.255.255.255",
        "[::]/0",
        "203.0.113.5,10.0.0.0/8",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "::ffff:198.51.100.0/120",
        "0x0/0",
        "2130706433",
        "fe80::1%eth0",
        "0.0.0.0",
        "255.255.255.255",
        "100.64.0.0/24",
        "224.0.0.251",
        "2002:c633:6400::/40",
        ".com",
        "\u{ff43}\u{ff4f}\u{ff4d}",
        "co\u{3002}uk",
        "any",
        "?om",
        "%",
        "*",
        "login.microsoftonline.com",
        "1.2.3.4:443",
    ] {
        out.push(p("block_indicator", t));
    }
    // Crown jewels and sensitive targets in any spelling.
    for (action, t) in [
        ("isolate_host", "SRV-PAY-01"),
        ("isolate_host", "DC-01.corp.example"),
        ("isolate_host", " srv-pay-01"),
        ("isolate_host", "corp\\srv-pay-01"),
        ("isolate_host", "host:srv-pay-01"),
        ("isolate_host", "srv\u{2010}pay-01"),
        ("disable_account", "*"),
        ("isolate_host", "*"),
        ("revoke_token", "*"),
        ("kill_process", "lsass.exe"),
        ("kill_process", "1"),
        ("quarantine_file", "C:\\Windows\\System32\\ntoskrnl.exe"),
        ("quarantine_file", "/"),
        ("reset_credentials", "krbtgt"),
        ("disable_account", "root"),
        ("disable_account", "Administrator"),
        ("disable_account", "breakglass-admin"),
        ("rotate_secret", "arn:aws:iam::111122223333:root"),
    ] {
        out.push(p(action, t));
    }
    out
}

/// What must stay approvable by policy.
fn controls() -> Vec<Value> {
    let ordinary = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]}"#;
    let quarantined = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"},{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    vec![
        p("block_indicator", "203.0.113.7"),
        p("block_indicator", "203.0.113.7/32"),
        p("block_indicator", "evil-c2.example"),
        p("isolate_host", "ws-0412"),
        p("kill_process", "mimikatz.exe"),
        p("quarantine_file", "C:\\Users\\bob\\Downloads\\invoice.exe"),
        p("disable_account", "alice"),
        change("modify_policy", "role/app", "json", ordinary, quarantined),
    ]
}

async fn submit_all(
    agent: &ApiClient,
    name: &str,
    proposals: Vec<Value>,
) -> Vec<(Value, ProposalStatus)> {
    let mut out = Vec::new();
    for (n, chunk) in proposals.chunks(32).enumerate() {
        let doc = common::alert(&format!("{name}-{n}"), chunk.to_vec());
        let r: SubmitResponse = agent.submit_alert(&doc).await.expect("accepted");
        for (sent, got) in chunk.iter().zip(&r.proposals) {
            out.push((sent.clone(), got.status));
        }
    }
    out
}

#[tokio::test]
async fn nothing_in_the_corpus_is_approved_by_policy_and_the_controls_are() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let g = Gate::start_with(&["--policy", policy.to_str().unwrap()]).await;
    let agent = ApiClient::new(&g.server.url, Some(g.agent_token.clone())).unwrap();

    let held: Vec<String> = submit_all(&agent, "corpus", corpus())
        .await
        .into_iter()
        .filter(|(_, status)| *status == ProposalStatus::Approved)
        .map(|(p, _)| format!("{} {}", p["action"], p["target"]))
        .collect();
    assert!(held.is_empty(), "approved by policy alone: {held:#?}");

    let refused: Vec<String> = submit_all(&agent, "controls", controls())
        .await
        .into_iter()
        .filter(|(_, status)| *status != ProposalStatus::Approved)
        .map(|(p, s)| format!("{} {}: {s}", p["action"], p["target"]))
        .collect();
    assert!(
        refused.is_empty(),
        "controls not approved by policy: {refused:#?}"
    );
}

#[tokio::test]
async fn an_embedded_document_with_two_meanings_is_refused() {
    let g = Gate::start().await;
    let agent = ApiClient::new(&g.server.url, Some(g.agent_token.clone())).unwrap();
    let two =
        r#"{"Statement":[{"Effect":"Allow","Action":"*","Action":"s3:GetObject","Resource":"*"}]}"#;
    let doc = common::alert(
        "dup-1",
        vec![change("modify_policy", "role/app", "json", ADMIN, two)],
    );
    let err = agent.submit_alert(&doc).await.expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("400") || text.contains("duplicate"), "{text}");
    assert!(
        text.contains("proposals[0].permission_change.after"),
        "{text}"
    );
}

/// docs/policy.md's `[assets]` example is a policy the server loads, and
/// drops the built-in pattern it names.
#[test]
fn the_docs_assets_example_loads() {
    let doc = include_str!("../../docs/policy.md");
    let text = doc
        .split("```toml file=team-policy.toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("docs/policy.md shows a team policy with [assets]");
    assert!(text.contains("\n[assets]\n"), "{text}");
    let policy = countersign::domain::policy::Policy::from_toml(text, "docs").unwrap();
    assert_eq!(policy.assets.ignore_builtin, ["admin"]);
    // `policy builtin` lists the pattern it drops.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["policy", "builtin"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(
        listed.lines().any(|l| l.trim_start().starts_with("admin ")),
        "{listed}"
    );
    assert!(listed.contains("login.microsoftonline.com"), "{listed}");
}
