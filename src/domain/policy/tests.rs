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

#[test]
fn lead_patterns() {
    let text = "[defaults]\n[roles]\nleads = [\"*@leads.soc\", \"!intern@leads.soc\"]\n";
    let p = Policy::from_toml(text, "p").unwrap();
    assert_eq!(p.role_of("carol@leads.soc"), Role::Lead);
    assert_eq!(p.role_of("intern@leads.soc"), Role::Analyst);
    assert_eq!(p.role_of("alice@soc"), Role::Analyst);
    // A named analyst a lead pattern matches: an error saying how to
    // leave them out.
    let text = "[defaults]\n[roles]\nleads = [\"*\"]\nanalysts = [\"alice\"]\n";
    let err = Policy::from_toml(text, "p").unwrap_err().to_string();
    assert!(err.contains("line 4") && err.contains("!alice"), "{err}");
    // The built-in: everyone who can sign is a lead until leads are named
    // (the demo names its own: `demo::tests`).
    assert_eq!(Policy::builtin().role_of("anyone"), Role::Lead);
}

#[test]
fn the_digest_is_of_the_exact_text() {
    let p = Policy::builtin();
    assert_eq!(p.text(), DEFAULT_POLICY);
    assert_eq!(p.digest(), policy_digest(DEFAULT_POLICY));
    assert!(p.digest().starts_with("sha256:") && p.digest().len() == 7 + 64);
    // One byte more (a comment, a newline) is another policy on record.
    let other = Policy::from_toml(&format!("{DEFAULT_POLICY}\n"), "x").unwrap();
    assert_ne!(other.digest(), p.digest());
    assert_eq!(other.rules(), p.rules());
}

/// allowed_signers as a policy check sees it: (principals, key) per line.
fn signers(lines: &[(&str, &str)]) -> SignerSet {
    SignerSet::new(
        lines
            .iter()
            .map(|(principals, key)| SignerLine {
                principals: principals.split(',').map(str::to_owned).collect(),
                key: (*key).to_owned(),
            })
            .collect(),
    )
}

#[test]
fn people_are_keys_and_names() {
    let s = signers(&[("alice", "k1"), ("dave,erin", "k2"), ("bob", "k3")]);
    assert_eq!((s.keys(), s.people()), (3, 3), "one key is one person");
    let s = signers(&[("alice", "k1"), ("alice", "k2")]);
    assert_eq!(s.people(), 1, "two keys, one name: one approval");
    let s = signers(&[("alice", "k1"), ("*@soc.example", "k2")]);
    assert_eq!(s.people(), 2, "a pattern is any number of names, one key");
    let s = signers(&[("alice,!alice", "k1"), ("bob", "k2")]);
    assert_eq!(s.people(), 1, "a name its own line rules out");
}

/// A table: a policy (and maybe allowed_signers), and the rule and reason
/// it can never be met, or none.
#[test]
fn rules_that_can_never_be_met() {
    let lead_rule =
        "[[rules]]\nname = \"high: a lead\"\nrisk = \"high\"\napprovals = 2\nrole = \"lead\"\n";
    let team = signers(&[("alice", "k1"), ("carol", "k2"), ("bob", "k3")]);
    type Want = Option<(Where, fn(&Why) -> bool)>;
    let rule = |n: &str| Where::Rule(n.to_owned());
    let table: Vec<(&str, String, Option<SignerSet>, Want)> = vec![
        (
            "a lead's approval, no lead named",
            format!("[defaults]\n{lead_rule}"),
            None,
            Some((rule("high: a lead"), |w| {
                matches!(w, Why::NoLead(LeadNeed::Approval))
            })),
        ),
        (
            "auto-escalation, no lead named",
            "[defaults]\nescalate_after_secs = 600\n".into(),
            None,
            Some((Where::Defaults, |w| {
                matches!(w, Why::NoLead(LeadNeed::Escalation(600)))
            })),
        ),
        (
            "leads named, none in allowed_signers",
            format!("[defaults]\n[roles]\nleads = [\"dave\"]\n{lead_rule}"),
            Some(team.clone()),
            Some((rule("high: a lead"), |w| {
                matches!(w, Why::NoLeadSigns { need: LeadNeed::Approval, leads } if leads == "dave")
            })),
        ),
        (
            "a lead pattern no line can match",
            format!("[defaults]\n[roles]\nleads = [\"*@leads.soc\"]\n{lead_rule}"),
            Some(team.clone()),
            Some((rule("high: a lead"), |w| matches!(w, Why::NoLeadSigns { .. }))),
        ),
        (
            "more approvals than people",
            "[defaults]\n[[rules]]\nname = \"four eyes x2\"\naction = \"modify_policy\"\napprovals = 4\n".into(),
            Some(team.clone()),
            Some((rule("four eyes x2"), |w| {
                matches!(w, Why::TooFewPeople { approvals: 4, people: 3 })
            })),
        ),
        (
            "[defaults] asks more than there are people",
            "[defaults]\napprovals = 2\n".into(),
            Some(signers(&[("alice", "k1"), ("alice@soc,alice", "k1")])),
            Some((Where::Defaults, |w| {
                matches!(w, Why::TooFewPeople { approvals: 2, people: 1 })
            })),
        ),
        (
            "escalation due at expiry",
            "[defaults]\n[roles]\nleads = [\"carol\"]\n[[rules]]\nname = \"slow\"\nrisk = \"medium\"\nexpiry_secs = 600\nescalate_after_secs = 600\n".into(),
            None,
            Some((rule("slow"), |w| {
                matches!(w, Why::EscalatesAfterExpiry { escalate: 600, expiry: 600 })
            })),
        ),
        (
            "escalation inherited from [defaults], past the rule's expiry",
            "[defaults]\nescalate_after_secs = 3600\n[roles]\nleads = [\"carol\"]\n[[rules]]\nname = \"short\"\naction = \"kill_process\"\nexpiry_secs = 900\n".into(),
            None,
            Some((rule("short"), |w| {
                matches!(w, Why::EscalatesAfterExpiry { escalate: 3600, expiry: 900 })
            })),
        ),
        (
            "two rules fine alone, never escalating together",
            "[defaults]\n[roles]\nleads = [\"carol\"]\n[[rules]]\nname = \"high escalates\"\nrisk = \"high\"\nescalate_after_secs = 1800\n[[rules]]\nname = \"kills expire soon\"\naction = \"kill_process\"\nexpiry_secs = 600\n".into(),
            None,
            Some((
                Where::Together {
                    rules: "high escalates + kills expire soon".into(),
                    action: ActionKind::KillProcess,
                    risk: Risk::High,
                },
                |w| matches!(w, Why::EscalatesAfterExpiry { escalate: 1800, expiry: 600 }),
            )),
        ),
        // Meetable ones.
        (
            "a lead who can sign",
            format!("[defaults]\n[roles]\nleads = [\"carol\", \"dave\"]\n{lead_rule}"),
            Some(team.clone()),
            None,
        ),
        (
            "a lead pattern a signer pattern overlaps",
            format!("[defaults]\n[roles]\nleads = [\"c*\"]\n{lead_rule}"),
            Some(signers(&[("alice", "k1"), ("*@soc.example", "k2")])),
            None,
        ),
        (
            "auto rules need nobody",
            "[defaults]\napprovals = 1\n[[rules]]\naction = \"block_indicator\"\nrisk = \"low\"\nauto = true\n".into(),
            Some(signers(&[("alice", "k1")])),
            None,
        ),
        (
            "the built-in, with two people",
            DEFAULT_POLICY.into(),
            Some(signers(&[("alice", "k1"), ("bob", "k2")])),
            None,
        ),
        ("the built-in alone", DEFAULT_POLICY.into(), None, None),
    ];
    for (case, text, set, want) in table {
        let p = Policy::from_toml(&text, "t").unwrap_or_else(|e| panic!("{case}: {e}"));
        let got = unmeetable(&p, set.as_ref());
        match want {
            None => assert!(got.is_empty(), "{case}: {got:?}"),
            Some((at, why)) => {
                assert_eq!(got.len(), 1, "{case}: {got:?}");
                assert_eq!(got[0].at, at, "{case}");
                assert!(why(&got[0].why), "{case}: {:?}", got[0].why);
            }
        }
    }
}

#[test]
fn problems_name_the_rule_and_idle_leads_are_found() {
    let text = "[defaults]\n[[rules]]\nname = \"high risk: two people, one a lead\"\nrisk = \"high\"\napprovals = 2\nrole = \"lead\"\n";
    let p = Policy::from_toml(text, "t").unwrap();
    let problems = unmeetable(&p, Some(&signers(&[("alice", "k1")])));
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "rule \"high risk: two people, one a lead\": it needs a lead among its approvers (role = \"lead\"), and the policy names no lead ([roles] leads)",
            "rule \"high risk: two people, one a lead\": it needs 2 approvals from distinct people, and allowed_signers lets only 1 person sign decisions (one key is one person)",
        ]
    );
    // What rules inherit from [defaults] is reported there, once.
    let p = Policy::from_toml(
        "[defaults]
expiry_secs = 600
escalate_after_secs = 900
[roles]
leads = [\"carol\"]
[[rules]]
name = \"high\"
risk = \"high\"
approvals = 2
",
        "t",
    )
    .unwrap();
    let problems = unmeetable(&p, None);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].at, Where::Defaults);

    // A lead no longer listed, while another can sign: not fatal, found.
    let p = Policy::from_toml(
        "[defaults]\nrole = \"lead\"\n[roles]\nleads = [\"carol\", \"dave\", \"*@leads.soc\"]\n",
        "t",
    )
    .unwrap();
    let team = signers(&[("alice", "k1"), ("carol", "k2")]);
    assert!(unmeetable(&p, Some(&team)).is_empty());
    assert_eq!(idle_leads(&p, &team), ["*@leads.soc", "dave"]);
    assert!(idle_leads(&Policy::builtin(), &team).is_empty());
}
