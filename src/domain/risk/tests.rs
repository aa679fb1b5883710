//! The floors, case by case: every spelling an attacker tried, and the
//! controls that must stay low.

use super::*;
use crate::domain::policy::Assets;
use crate::domain::types::ActionKind;

fn block(target: &str, risk: &str) -> ProposalSubmission {
    serde_json::from_value(serde_json::json!({
        "action": "block_indicator", "target": target, "risk": risk, "rationale": "r"
    }))
    .unwrap()
}

fn assets() -> Policy {
    let mut p = Policy::builtin();
    p.assets = Assets {
        critical: vec!["srv-pay-*".into(), "dc-??".into()],
        own_ranges: vec!["198.51.100.0/24".parse().unwrap()],
        ..Assets::default()
    };
    p
}

#[test]
fn action_kinds_the_policy_does_not_know_are_at_least_medium() {
    let mut p = block("ws-1", "low");
    p.action = ActionKind::Other("run_command".into());
    let got = assess(&p, &assets());
    assert_eq!(got.floor, Risk::Medium, "{:?}", got.findings);
    assert_eq!(got.effective(Risk::Low), Risk::Medium);
    // A policy that names the kind knows it.
    let text = format!(
        "{}\n[[rules]]\nname = \"shell\"\naction = \"run_command\"\napprovals = 2\n",
        crate::domain::policy::DEFAULT_POLICY
    );
    let named = Policy::from_toml(&text, "t").unwrap();
    assert_eq!(assess(&p, &named).floor, Risk::Low);
    assert_eq!(named.rule_for(&p.action, Risk::Low).approvals, 2);
}

#[test]
fn indicator_floors() {
    let a = assets();
    for (target, floor) in [
        ("0.0.0.0/0", Risk::High),
        ("203.0.113.7", Risk::Low),
        ("203.0.113.0/24", Risk::Low),
        ("203.0.112.0/23", Risk::High),
        ("10.20.0.0/16", Risk::High),
        ("192.168.1.5", Risk::High),
        ("127.0.0.1", Risk::High),
        ("198.51.100.77", Risk::High),
        ("198.51.0.0/16", Risk::High),
        ("2001:db8::/32", Risk::High),
        ("2001:db8:1:2::/64", Risk::Low),
        ("fd00::1", Risk::High),
        ("evil-c2.example", Risk::Low),
        ("login.evil.co.uk", Risk::Low),
        ("com", Risk::High),
        ("co.uk", Risk::High),
        ("*.example.com", Risk::High),
        ("localhost", Risk::High),
        ("ws-0412", Risk::High),
        ("github.io", Risk::High),
    ] {
        let got = assess(&block(target, "low"), &a);
        assert_eq!(got.floor, floor, "{target}: {:?}", got.findings);
    }
    let whole = assess(&block("0.0.0.0/0", "low"), &a);
    assert_eq!(whole.effective(Risk::Low), Risk::High);
    assert!(whole.reason().contains("0.0.0.0/0"), "{}", whole.reason());
}

#[test]
fn crown_jewels_and_permission_changes() {
    let a = assets();
    let mut p = block("x", "low");
    p.action = ActionKind::IsolateHost;
    for (target, floor) in [
        ("srv-pay-07", Risk::Critical),
        ("dc-01", Risk::Critical),
        ("dc-001", Risk::Critical),
        ("ws-0412", Risk::Low),
    ] {
        p.target = target.into();
        assert_eq!(assess(&p, &a).floor, floor, "{target}");
    }
    p.target = "ws-1".into();
    p.permission_change = Some(crate::domain::submission::PermissionChange {
        format: "json".into(),
        before: "{}".into(),
        after: "{}".into(),
    });
    // "{}" is no IAM document: not analysed, held at high.
    let got = assess(&p, &a);
    assert_eq!((got.floor, got.expands_access), (Risk::High, None));
    // A real change that grants iam:PassRole: critical.
    let iam = |s: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{s}]}}"#);
    p.permission_change = Some(crate::domain::submission::PermissionChange {
        format: "json".into(),
        before: iam(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
        after: iam(r#"{"Effect":"Allow","Action":["s3:GetObject","iam:PassRole"],"Resource":"*"}"#),
    });
    let got = assess(&p, &a);
    assert_eq!(
        (got.floor, got.expands_access),
        (Risk::Critical, Some(true))
    );
    assert!(got.reason().contains("iam:passrole"), "{}", got.reason());
    // A quarantine Deny: no new access, no floor.
    p.permission_change = Some(crate::domain::submission::PermissionChange {
        format: "json".into(),
        before: iam(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#),
        after: iam(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*"}"#,
        ),
    });
    let got = assess(&p, &a);
    assert_eq!((got.floor, got.expands_access), (Risk::Low, Some(false)));
    // The label can only raise, never lower.
    assert_eq!(got.effective(Risk::Critical), Risk::Critical);
}

fn floor(action: ActionKind, target: &str, policy: &Policy) -> (Risk, String) {
    let mut p = block(target, "low");
    p.action = action;
    let a = assess(&p, policy);
    (a.floor, a.reason())
}

/// Every spelling the issue found talked the gate down, and more of
/// each class: none may stay low.
#[test]
fn respelt_indicators_are_held() {
    let a = assets();
    for target in [
        "0/0",
        "10/8",
        "0.0.0.0/0.0.0.0",
        "0.0.0.0-255.255.255.255",
        "[::]/0",
        "203.0.113.5,10.0.0.0/8",
        "203.0.113.5 203.0.113.6",
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
        "ff02::1",
        "::",
        "2002::/16",
        "2002:c633:6400::/40",
        "10.1",
        "0177.0.0.1",
        "0x7f.1",
        "127.1",
        "10.0.0.1-10.0.0.9",
        ".com",
        "\u{ff43}\u{ff4f}\u{ff4d}",
        "co\u{3002}uk",
        "any",
        "?om",
        "%",
        "*",
        "all",
        "evil.local",
        "printer.internal",
        "1.2.3.4:443",
        "1.2.3.4/33",
        "256.1.1.1",
        "http://10.0.0.1/x",
        "*@gmail.com",
        "a.b.c.123",
        "login.microsoftonline.com",
        "microsoftonline.com",
        "pypi.org",
        "tenant.okta.com",
    ] {
        let (f, why) = floor(ActionKind::BlockIndicator, target, &a);
        assert!(f >= Risk::High, "{target:?} stayed {f}: {why}");
    }
}

/// Controls: ordinary indicators stay low, so the floor cannot pass by
/// holding everything.
#[test]
fn ordinary_indicators_stay_low() {
    let a = assets();
    for target in [
        "203.0.113.7",
        "203.0.113.7/32",
        "203.0.113.0/24",
        "2001:db8:1:2::/64",
        "evil-c2.example",
        "login.evil.co.uk",
        "xn--80ak6aa92e.com",
        "https://evil.example/payload",
        "phish@evil.example",
        "44d88612fea8a8f36de82e1278abb02f",
        "sha256:275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
        "dc.evil.example",
    ] {
        let (f, why) = floor(ActionKind::BlockIndicator, target, &a);
        assert_eq!(f, Risk::Low, "{target:?}: {why}");
    }
}

#[test]
fn crown_jewels_in_any_spelling() {
    let mut a = assets();
    a.assets.critical = vec!["srv-pay-*".into(), "DC-??".into()];
    for target in [
        "SRV-PAY-01",
        "DC-01.corp.example",
        " srv-pay-01",
        "corp\\srv-pay-01",
        "host:srv-pay-01",
        "srv\u{2010}pay-01",
        "srv-pay-01@CORP",
    ] {
        let (f, why) = floor(ActionKind::IsolateHost, target, &a);
        assert_eq!(f, Risk::Critical, "{target:?}: {why}");
    }
}

#[test]
fn sensitive_targets_and_wildcards() {
    let a = assets();
    use ActionKind::*;
    for (action, target, want) in [
        (DisableAccount, "*", Risk::High),
        (IsolateHost, "*", Risk::High),
        (RevokeToken, "*", Risk::High),
        (DisableAccount, "svc-%", Risk::High),
        (IsolateHost, "all", Risk::High),
        (KillProcess, "lsass.exe", Risk::Critical),
        (
            KillProcess,
            "C:\\Windows\\System32\\lsass.exe",
            Risk::Critical,
        ),
        (KillProcess, "1", Risk::Critical),
        (KillProcess, "PID 1", Risk::Critical),
        (KillProcess, "MsMpEng.exe", Risk::High),
        (
            QuarantineFile,
            "C:\\Windows\\System32\\ntoskrnl.exe",
            Risk::Critical,
        ),
        (QuarantineFile, "/", Risk::Critical),
        (QuarantineFile, "C:\\", Risk::Critical),
        (QuarantineFile, "/etc", Risk::Critical),
        (QuarantineFile, "/usr/bin/sudo", Risk::High),
        (ResetCredentials, "krbtgt", Risk::Critical),
        (ResetCredentials, "CORP\\krbtgt", Risk::Critical),
        (DisableAccount, "root", Risk::Critical),
        (DisableAccount, "Administrator", Risk::Critical),
        (DisableAccount, "breakglass-admin", Risk::Critical),
        (
            RotateSecret,
            "arn:aws:iam::111122223333:root",
            Risk::Critical,
        ),
        (IsolateHost, "DC01", Risk::Critical),
        (IsolateHost, "nyc-dc-02.corp.example", Risk::Critical),
        (Other("run_command".into()), "lsass.exe", Risk::Critical),
    ] {
        let (f, why) = floor(action.clone(), target, &a);
        assert_eq!(f, want, "{action} {target:?}: {why}");
    }
    // Controls: ordinary targets of the same actions stay low.
    for (action, target) in [
        (KillProcess, "mimikatz.exe"),
        (KillProcess, "mimikatz"),
        (QuarantineFile, "C:\\Users\\bob\\Downloads\\invoice.exe"),
        (QuarantineFile, "/home/bob/.cache/x.sh"),
        (DisableAccount, "alice"),
        (DisableAccount, "corp\\alice"),
        (ResetCredentials, "bob@corp.example"),
        (IsolateHost, "ws-0412"),
        (IsolateHost, "ws-0412.corp.example"),
        (RevokeToken, "tok_2f9a"),
    ] {
        let (f, why) = floor(action.clone(), target, &a);
        assert_eq!(f, Risk::Low, "{action} {target:?}: {why}");
    }
    // A team drops a built-in entry that does not fit it.
    let mut own = assets();
    own.assets.ignore_builtin = vec!["admin".into()];
    assert_eq!(floor(DisableAccount, "admin", &own).0, Risk::Low);
    assert_eq!(floor(DisableAccount, "admin", &a).0, Risk::High);
}

/// An attacker's review of the first version: each of these was low.
#[test]
fn lists_pids_paths_and_directory_names_are_read_too() {
    let a = assets();
    use ActionKind::*;
    for (action, target) in [
        (IsolateHost, "ws-1,srv-pay-01"),
        (IsolateHost, "ws-1 srv-pay-01"),
        (IsolateHost, "ws-1;dc-01"),
        (DisableAccount, "alice,Administrator"),
        (DisableAccount, "alice Administrator"),
        (ResetCredentials, "bob,krbtgt"),
        (KillProcess, "notepad.exe,lsass.exe"),
        (KillProcess, "1234,1"),
        (
            QuarantineFile,
            "C:\\Users\\bob\\a.exe;C:\\Windows\\System32\\ntoskrnl.exe",
        ),
        (QuarantineFile, "/tmp/x /etc"),
        (KillProcess, "-1"),
        (KillProcess, "0"),
        (KillProcess, "pid=0"),
        (KillProcess, "01"),
        (KillProcess, "+1"),
        (KillProcess, "0x1"),
        (KillProcess, "PID 01"),
        (KillProcess, "004"),
        (
            QuarantineFile,
            "\\\\localhost\\c$\\Windows\\System32\\ntoskrnl.exe",
        ),
        (QuarantineFile, "\\\\localhost\\c$"),
        (QuarantineFile, "\\SystemRoot\\System32\\ntoskrnl.exe"),
        (
            QuarantineFile,
            "\\Device\\HarddiskVolume3\\Windows\\System32\\ntoskrnl.exe",
        ),
        (QuarantineFile, "file:///C:/Windows/System32/ntoskrnl.exe"),
        (QuarantineFile, "$env:SystemRoot\\System32\\ntoskrnl.exe"),
        (QuarantineFile, "/proc/1/root/boot/vmlinuz-6.1.0"),
        (QuarantineFile, "/proc/self/root/etc/shadow"),
        (
            QuarantineFile,
            "C:\\Program Files\\CrowdStrike\\CSFalconService.exe",
        ),
        (QuarantineFile, "/opt/CrowdStrike/falcon-sensor"),
        (
            DisableAccount,
            "S-1-5-21-1004336348-1177238915-682003330-500",
        ),
        (
            ResetCredentials,
            "S-1-5-21-1004336348-1177238915-682003330-502",
        ),
        (
            DisableAccount,
            "CN=Administrator,CN=Users,DC=corp,DC=example",
        ),
        (ResetCredentials, "CN=krbtgt,CN=Users,DC=corp,DC=example"),
        (DisableAccount, "corp.example/Users/Administrator"),
        (DisableAccount, "\"krbtgt\""),
        (DisableAccount, "'root'"),
        (DisableAccount, "DC01$"),
        (DisableAccount, "MSOL_1a2b3c4d5e6f"),
        (DisableAccount, "AZUREADSSOACC$"),
        (DisableAccount, "glass-break"),
        (DisableAccount, "break glass"),
        (DisableAccount, "emergency_access"),
        (
            IsolateHost,
            "CN=DC01,OU=Domain Controllers,DC=corp,DC=example",
        ),
        (IsolateHost, "computer:dc-01"),
        (IsolateHost, "\"srv-pay-01\""),
        (KillProcess, "C:\\Windows\\System32\\lsass.exe --foo"),
        (KillProcess, "/lib/systemd/systemd --switched-root --system"),
        (KillProcess, "'lsass.exe'"),
        (KillProcess, "SenseIR.exe"),
        (KillProcess, "svchost.exe"),
        (KillProcess, "612"),
        (
            QuarantineFile,
            "sha256:275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
        ),
        (BlockIndicator, "0127.0.0.1"),
        (BlockIndicator, "010.0.0.1"),
        (BlockIndicator, "172.016.0.1"),
        (BlockIndicator, "100.064.0.1"),
        (BlockIndicator, "198.051.100.7"),
        (BlockIndicator, "168.63.129.16"),
        (BlockIndicator, "8.8.8.8"),
        (BlockIndicator, "2606:4700:4700::1111"),
        (BlockIndicator, "ts01-b.cloudsink.net"),
        (BlockIndicator, "login.microsoft.com"),
        (BlockIndicator, "sts.amazonaws.com"),
        (BlockIndicator, "amazonaws.com"),
        (BlockIndicator, "sharepoint.com"),
        (BlockIndicator, "@gmail.com"),
        (BlockIndicator, "github.com"),
    ] {
        let (f, why) = floor(action.clone(), target, &a);
        assert!(f >= Risk::Medium, "{action} {target:?} stayed {f}: {why}");
    }
    // A tenant on a shared service may still be blocked by policy.
    assert_eq!(
        floor(BlockIndicator, "evil-tenant.sharepoint.com", &a).0,
        Risk::Low
    );
    assert_eq!(floor(BlockIndicator, "evil.github.io", &a).0, Risk::Low);
}

#[test]
fn protected_and_gate_hosts() {
    let mut a = assets();
    a.assets.protected = vec!["idp-01".into()];
    a.assets.gate_hosts = vec!["gate-1".into(), "198.18.0.9".into()];
    a.assets.own_domains = vec!["corp.example".into()];
    use ActionKind::*;
    for (action, target, want) in [
        (IsolateHost, "IDP-01", Risk::High),
        (IsolateHost, "gate-1.corp.example", Risk::Critical),
        (BlockIndicator, "198.18.0.0/24", Risk::Critical),
        (BlockIndicator, "vpn.corp.example", Risk::High),
        (BlockIndicator, "deb.debian.org", Risk::High),
    ] {
        let (f, why) = floor(action.clone(), target, &a);
        assert_eq!(f, want, "{action} {target:?}: {why}");
    }
}

/// A team policy that approves anything low by policy alone.
fn lenient(extra: &str) -> Policy {
    let text = format!(
        "[defaults]\napprovals = 1\n[roles]\nleads = [\"*\"]\n[[rules]]\nname = \"low by policy\"\nrisk = \"low\"\nauto = true\n{extra}"
    );
    Policy::from_toml(&text, "t").unwrap()
}

fn change(action: &str, target: &str, pc: Option<(&str, String, String)>) -> ProposalSubmission {
    let mut v = serde_json::json!({
        "action": action, "target": target, "risk": "low", "rationale": "r"
    });
    if let Some((format, before, after)) = pc {
        v["permission_change"] =
            serde_json::json!({"format": format, "before": before, "after": after});
    }
    serde_json::from_value(v).unwrap()
}

/// (floor, approved by policy alone?)
fn judged(p: &ProposalSubmission, policy: &Policy) -> (Risk, bool, Assessment) {
    let a = assess(p, policy);
    let auto = policy.rule_for(&p.action, a.effective(p.risk)).auto;
    (a.floor, auto, a)
}

fn iam_doc(stmts: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{stmts}]}}"#)
}

#[test]
fn what_the_agent_asserts_never_lowers_the_floor() {
    let policy = lenient("");
    let held = |p: ProposalSubmission, want: Risk, class: &str| {
        let (floor, auto, a) = judged(&p, &policy);
        assert!(
            floor >= want && !auto,
            "{:?}: {floor:?} {:?}",
            p.permission_change,
            a.findings
        );
        assert!(
            a.findings
                .iter()
                .any(|f| f.class == class && f.floor >= want),
            "{class}: {:?}",
            a.findings
        );
    };
    // 1. modify_policy with no permission_change at all.
    held(
        change(
            "modify_policy",
            "arn:aws:iam::111122223333:role/OrganizationAccountAccessRole",
            None,
        ),
        Risk::High,
        "not_analysed",
    );
    // 2. The same admin document before and after.
    let admin = iam_doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#);
    held(
        change(
            "modify_policy",
            "arn:aws:iam::111122223333:role/intern",
            Some(("json", admin.clone(), admin)),
        ),
        Risk::Critical,
        "resulting_document",
    );
    let crb = "kind: ClusterRoleBinding\napiVersion: rbac.authorization.k8s.io/v1\nmetadata:\n  name: open\nsubjects:\n- kind: User\n  name: system:anonymous\nroleRef:\n  kind: ClusterRole\n  name: cluster-admin\n  apiGroup: rbac.authorization.k8s.io\n".to_owned();
    held(
        change(
            "modify_policy",
            "cluster/prod",
            Some(("yaml", crb.clone(), crb)),
        ),
        Risk::Critical,
        "resulting_document",
    );
    let owner = r#"{"bindings":[{"role":"roles/owner","members":["allUsers"]}]}"#.to_owned();
    held(
        change(
            "modify_policy",
            "projects/p",
            Some(("json", owner.clone(), owner)),
        ),
        Risk::Critical,
        "resulting_document",
    );
    // 3. IAM labelled text: a Deny * removed.
    let before = iam_doc(
        "{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"},\n{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::d/*\"}",
    );
    let after = iam_doc(
        "{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::d/*\"}",
    );
    held(
        change("modify_policy", "role/x", Some(("text", before, after))),
        Risk::High,
        "grants_new_access",
    );
    // 5. A Deny narrowed to a policy variable.
    let base = r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#;
    held(
        change(
            "modify_policy",
            "role/x",
            Some((
                "json",
                iam_doc(&format!(
                    r#"{base},{{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::payroll/*"}}"#
                )),
                iam_doc(&format!(
                    r#"{base},{{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::${{aws:username}}/*"}}"#
                )),
            )),
        ),
        Risk::High,
        "grants_new_access",
    );
    // 6. An aggregate-to-admin label on a secret-reading ClusterRole.
    let cr = |labels: &str| {
        format!(
            "kind: ClusterRole\nmetadata:\n  name: r\n{labels}rules:\n- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  verbs: [\"get\"]\n"
        )
    };
    held(
        change(
            "modify_policy",
            "cluster/prod",
            Some((
                "yaml",
                cr(""),
                cr("  labels:\n    rbac.authorization.k8s.io/aggregate-to-admin: \"true\"\n"),
            )),
        ),
        Risk::Critical,
        "grants_new_access",
    );
    // 7. GCP audit logging reduced.
    let audit = |types: &str| {
        format!(
            r#"{{"bindings":[],"auditConfigs":[{{"service":"allServices","auditLogConfigs":[{types}]}}]}}"#
        )
    };
    held(
        change(
            "modify_policy",
            "projects/p",
            Some((
                "json",
                audit(r#"{"logType":"DATA_READ"},{"logType":"DATA_WRITE"}"#),
                audit(r#"{"logType":"DATA_WRITE"}"#),
            )),
        ),
        Risk::High,
        "audit_logging_reduced",
    );
    // 8. What cannot be read is held.
    held(
        change(
            "modify_policy",
            "role/x",
            Some((
                "json",
                iam_doc(base),
                iam_doc(r#"{"Effect":"allow","Action":"*","Resource":"*"}"#),
            )),
        ),
        Risk::High,
        "not_analysed",
    );
}

#[test]
fn access_changing_kinds_come_from_the_policy() {
    let bare = change("grant_role", "user:ana", None);
    let named = lenient("[assets]\naccess_changing = [\"grant_role\"]\n");
    let (floor, auto, a) = judged(&bare, &named);
    assert_eq!((floor, auto), (Risk::High, false), "{:?}", a.findings);
    // Without the policy naming it: an unknown kind, medium.
    assert_eq!(judged(&bare, &lenient("")).0, Risk::Medium);
    // Other kinds without a change set no floor.
    let isolate = change("isolate_host", "ws-1", None);
    assert_eq!(judged(&isolate, &named).0, Risk::Low);
}

#[test]
fn ordinary_changes_stay_low() {
    let policy = lenient("");
    let read = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}"#;
    let list = r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::data"}"#;
    let quarantine = r#"{"Sid":"Quarantine","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:userid":"AIDAEXAMPLE"}}}"#;
    for (before, after) in [
        // A quarantine Deny added to an ordinary policy.
        (iam_doc(&format!("{read},{list}")), iam_doc(&format!("{read},{list},{quarantine}"))),
        // A read grant removed.
        (iam_doc(&format!("{read},{list}")), iam_doc(read)),
        // An Allow narrowed.
        (
            iam_doc(read),
            iam_doc(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/reports/*"}"#),
        ),
        // A GCP viewer removed.
        (
            r#"{"bindings":[{"role":"roles/viewer","members":["user:a@x.example","user:b@x.example"]}]}"#.to_owned(),
            r#"{"bindings":[{"role":"roles/viewer","members":["user:a@x.example"]}]}"#.to_owned(),
        ),
    ] {
        let p = change("modify_policy", "arn:aws:iam::111122223333:role/app", Some(("json", before, after)));
        let (floor, auto, a) = judged(&p, &policy);
        assert_eq!((floor, auto), (Risk::Low, true), "{:?}", a.findings);
    }
}
