use super::*;

#[test]
fn every_matching_rule_applies_strictest_field_wins() {
    let p = Policy::builtin();
    let r = p.rule_for(&ActionKind::BlockIndicator, Risk::Low);
    assert!(r.auto && r.approvals == 0);
    // The case from the issue: a critical policy change matches both
    // "critical: ... one a lead, short fuse" and "policy changes", and
    // needs the lead and the short fuse of the first.
    let r = p.rule_for(&ActionKind::ModifyPolicy, Risk::Critical);
    assert_eq!(
        r.name,
        "critical: two people, one a lead, short fuse + policy changes: always two people"
    );
    assert_eq!(
        (
            r.approvals,
            r.role,
            r.expiry_secs,
            r.escalate_after_secs,
            r.execution_window_secs
        ),
        (2, Role::Lead, 3600, Some(900), 600)
    );
    assert!(!r.auto);
    let r = p.rule_for(&ActionKind::IsolateHost, Risk::Critical);
    assert_eq!((r.approvals, r.role, r.expiry_secs), (2, Role::Lead, 3600));
    let r = p.rule_for(&ActionKind::IsolateHost, Risk::Low);
    assert_eq!(r.name, "defaults");
}

/// A table: rules, the proposal, and the requirement that results.
#[test]
fn combination_table() {
    let text = r#"
[defaults]
approvals = 1
expiry_secs = 7200
execution_window_secs = 900

[[rules]]
name = "low blocks by policy"
action = "block_indicator"
risk = "low"
auto = true

[[rules]]
name = "blocks get a lead"
action = "block_indicator"
role = "lead"

[[rules]]
name = "low: long fuse"
risk = "low"
expiry_secs = 86400
escalate_after_secs = 600

[[rules]]
name = "isolations: three people, quick"
action = "isolate_host"
approvals = 3
execution_window_secs = 60
"#;
    let p = Policy::from_toml(text, "t").unwrap();
    type Want = (u32, Role, bool, u64, Option<u64>, u64);
    let table: [(ActionKind, Risk, Want); 5] = [
        // An auto rule and a demanding one: not auto; a lead.
        (
            ActionKind::BlockIndicator,
            Risk::Low,
            (1, Role::Lead, false, 7200, Some(600), 900),
        ),
        (
            ActionKind::BlockIndicator,
            Risk::High,
            (1, Role::Lead, false, 7200, None, 900),
        ),
        (
            ActionKind::IsolateHost,
            Risk::Low,
            (3, Role::Analyst, false, 7200, Some(600), 60),
        ),
        (
            ActionKind::IsolateHost,
            Risk::Medium,
            (3, Role::Analyst, false, 7200, None, 60),
        ),
        // Nothing matches: [defaults].
        (
            ActionKind::RevokeToken,
            Risk::Medium,
            (1, Role::Analyst, false, 7200, None, 900),
        ),
    ];
    for (action, risk, want) in table {
        let r = p.rule_for(&action, risk);
        let got = (
            r.approvals,
            r.role,
            r.auto,
            r.expiry_secs,
            r.escalate_after_secs,
            r.execution_window_secs,
        );
        assert_eq!(got, want, "{action} {risk}: {}", r.name);
    }
    // Adding a rule never weakens: every field is at least as strict.
    let base = Policy::builtin();
    let more = Policy::from_toml(
        &format!("{DEFAULT_POLICY}\n[[rules]]\nname = \"x\"\nrisk = \"medium\"\napprovals = 1\nexpiry_secs = 999999\n"),
        "t",
    )
    .unwrap();
    for a in ActionKind::ALL {
        for &k in Risk::ALL {
            let (b, m) = (base.rule_for(a, k), more.rule_for(a, k));
            assert!(
                m.approvals >= b.approvals && m.expiry_secs <= b.expiry_secs,
                "{a} {k}"
            );
            assert!(m.role >= b.role || b.role == Role::Analyst, "{a} {k}");
            assert!(!m.auto || b.auto, "{a} {k}");
        }
    }
}

#[test]
fn errors_name_the_line() {
    let text = "[defaults]\napprovals = 1\n\n[[rules]]\nrisk = \"high\"\nauto = true\n";
    let err = Policy::from_toml(text, "p.toml").unwrap_err().to_string();
    assert!(err.contains("line 4") && err.contains("auto"), "{err}");

    let text = "[defaults]\napprovals = 1\nrole = \"boss\"\n";
    let err = Policy::from_toml(text, "p.toml").unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("boss"), "{err}");

    let text = "[defaults]\n[[rules]]\nrisk = \"low\"\n[[rules]]\nrisk = \"low\"\n";
    let err = Policy::from_toml(text, "p.toml").unwrap_err().to_string();
    assert!(err.contains("line 4") && err.contains("already"), "{err}");

    let text = "[defaults]\n\n[[rules]]\naction = \"isolate_hots\"\napprovals = 2\n";
    let err = Policy::from_toml(text, "p.toml").unwrap_err().to_string();
    assert!(
        err.contains("line 3") && err.contains("isolate_host"),
        "{err}"
    );
    let text = "[defaults]\n\n[[rules]]\naction = \"run_command\"\napprovals = 2\n";
    assert!(
        Policy::from_toml(text, "p.toml").is_ok(),
        "custom actions are allowed"
    );

    let text = "[defaults]\napprovals = 0\n";
    let err = Policy::from_toml(text, "p.toml").unwrap_err().to_string();
    assert!(err.contains("approvals"), "{err}");
}

#[test]
fn roles() {
    let text = "[defaults]\n[roles]\nleads = [\"carol\"]\nanalysts = [\"alice\"]\n";
    let p = Policy::from_toml(text, "p").unwrap();
    assert_eq!(p.role_of("carol"), Role::Lead);
    assert_eq!(p.role_of("alice"), Role::Analyst);
    assert_eq!(p.role_of("unknown"), Role::Analyst);
    let text = "[defaults]\n[roles]\nleads = [\"carol\"]\nanalysts = [\"carol\"]\n";
    assert!(Policy::from_toml(text, "p").is_err());
}
