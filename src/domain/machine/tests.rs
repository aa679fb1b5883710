use super::*;
use crate::domain::types::{ActionKind, Risk};
use proptest::prelude::*;

fn rule(approvals: u32, role: Role) -> Rule {
    Rule {
        name: "test".into(),
        action: Some(ActionKind::IsolateHost),
        risk: Some(Risk::High),
        approvals,
        role,
        auto: false,
        expiry_secs: 100,
        escalate_after_secs: Some(50),
        execution_window_secs: 10,
        sample: 0.0,
        sample_window_secs: 60,
        contain_for_secs: None,
        hardware_key: false,
    }
}

fn person(name: &str, role: Role) -> Actor {
    Actor::Person {
        principal: name.into(),
        role,
        key: Some(format!("SHA256:key-of-{name}")),
        hardware: false,
    }
}

/// Another name signed with someone else's key.
fn wearing(name: &str, role: Role, key_of: &str) -> Actor {
    Actor::Person {
        principal: name.into(),
        role,
        key: Some(format!("SHA256:key-of-{key_of}")),
        hardware: false,
    }
}

fn alice() -> Actor {
    person("alice", Role::Analyst)
}
fn bob() -> Actor {
    person("bob", Role::Analyst)
}
fn carol() -> Actor {
    person("carol", Role::Lead)
}

fn start(r: &Rule) -> ProposalState {
    initial(r, 0, None).state
}

#[test]
fn single_approval_approves() {
    let r = rule(1, Role::Analyst);
    let t = decide(&start(&r), &r, &alice(), Verdict::Approve, "", 5).unwrap();
    assert_eq!(t.state.status, ProposalStatus::Approved);
    assert_eq!(t.event, Event::Approved);
    assert_eq!(t.state.execute_by, Some(5 + 10_000));
}

#[test]
fn dual_control_table() {
    let r = rule(2, Role::Lead);
    let s0 = start(&r);
    let s1 = decide(&s0, &r, &alice(), Verdict::Approve, "", 1)
        .unwrap()
        .state;
    assert_eq!(s1.status, ProposalStatus::AwaitingSecond);
    // same person twice
    assert_eq!(
        decide(&s1, &r, &alice(), Verdict::Approve, "", 2),
        Err(Refusal::SamePrincipal("alice".into()))
    );
    // two analysts never satisfy a lead rule
    assert!(matches!(
        decide(&s1, &r, &bob(), Verdict::Approve, "", 2),
        Err(Refusal::RoleRequired { .. })
    ));
    // a lead completes it
    let s2 = decide(&s1, &r, &carol(), Verdict::Approve, "", 2).unwrap();
    assert_eq!(s2.state.status, ProposalStatus::Approved);
    assert_eq!(s2.state.approvals.len(), 2);
}

#[test]
fn escalation_goes_to_a_different_lead() {
    let r = rule(1, Role::Analyst);
    let s = decide(&start(&r), &r, &carol(), Verdict::Escalate, "unsure", 1)
        .unwrap()
        .state;
    assert_eq!(s.status, ProposalStatus::Escalated);
    assert_eq!(
        decide(&s, &r, &alice(), Verdict::Approve, "", 2),
        Err(Refusal::LeadRequired)
    );
    assert_eq!(
        decide(&s, &r, &carol(), Verdict::Approve, "", 2),
        Err(Refusal::SamePrincipal("carol".into()))
    );
    let dave = person("dave", Role::Lead);
    let t = decide(&s, &r, &dave, Verdict::Reject, "not ours", 2).unwrap();
    assert_eq!(t.state.status, ProposalStatus::Rejected);
}

#[test]
fn reasons_required() {
    let r = rule(1, Role::Analyst);
    let s = start(&r);
    for v in [Verdict::Reject, Verdict::Escalate] {
        for reason in ["", " ", "x", " y "] {
            assert_eq!(
                decide(&s, &r, &alice(), v, reason, 1),
                Err(Refusal::ReasonRequired(v))
            );
        }
        assert!(decide(&s, &r, &alice(), v, "ok", 1).is_ok());
    }
}

#[test]
fn agent_never_decides() {
    let r = rule(1, Role::Analyst);
    let agent = Actor::Agent { name: "bot".into() };
    for v in Verdict::ALL {
        assert_eq!(
            decide(&start(&r), &r, &agent, *v, "because", 1),
            Err(Refusal::AgentCannotDecide)
        );
    }
}

#[test]
fn deadlines() {
    let r = rule(1, Role::Analyst);
    let s = start(&r);
    assert_eq!(due(&s, 49_999), None);
    let esc = due(&s, 50_000).unwrap();
    assert_eq!(esc.event, Event::AutoEscalated);
    assert_eq!(due(&esc.state, 99_999), None);
    assert_eq!(due(&esc.state, 100_000).unwrap().event, Event::Expired);

    let a = decide(&s, &r, &alice(), Verdict::Approve, "", 0)
        .unwrap()
        .state;
    assert_eq!(due(&a, 10_000).unwrap().event, Event::Lapsed);
    assert_eq!(start_execution(&a, 10_000), Err(Refusal::WindowClosed));
    let ex = start_execution(&a, 9_999).unwrap().state;
    assert_eq!(due(&ex, 1_000_000), None);
    assert_eq!(
        finish_execution(&ex, false).unwrap().state.status,
        ProposalStatus::Failed
    );
}

#[test]
fn halt_only_before_start() {
    let r = rule(1, Role::Analyst);
    let a = decide(&start(&r), &r, &alice(), Verdict::Approve, "", 0)
        .unwrap()
        .state;
    let h = decide(&a, &r, &bob(), Verdict::Halt, "wrong host", 1).unwrap();
    assert_eq!(h.state.status, ProposalStatus::Halted);
    assert_eq!(
        start_execution(&h.state, 2),
        Err(Refusal::Final(ProposalStatus::Halted))
    );
    let ex = start_execution(&a, 1).unwrap().state;
    assert!(matches!(
        decide(&ex, &r, &bob(), Verdict::Halt, "too late", 2),
        Err(Refusal::WrongState { .. })
    ));
}

#[test]
fn auto_rule_approves_by_policy() {
    let mut r = rule(0, Role::Analyst);
    r.auto = true;
    let t = initial(&r, 0, Some(30));
    assert_eq!(t.event, Event::ApprovedByPolicy);
    assert_eq!(t.state.status, ProposalStatus::Approved);
    assert_eq!(t.state.expires_at, 30_000);
}

#[test]
fn revision_dismisses_approvals() {
    let r = rule(2, Role::Analyst);
    let s = decide(&start(&r), &r, &alice(), Verdict::Approve, "", 1)
        .unwrap()
        .state;
    let (next, dismissed) = revise(&s);
    assert_eq!(next.status, ProposalStatus::Pending);
    assert!(next.approvals.is_empty());
    assert_eq!(dismissed[0].principal, "alice");
    // alice can approve the new digest again
    assert!(decide(&next, &r, &alice(), Verdict::Approve, "", 2).is_ok());
}

// ---- property tests over random event sequences -------------------------

#[derive(Debug, Clone)]
enum Step {
    Decide(usize, Verdict, bool),
    Start,
    Finish(bool),
    Revise,
    Advance(i64),
}

const PEOPLE: [(&str, Role); 4] = [
    ("alice", Role::Analyst),
    ("bob", Role::Analyst),
    ("carol", Role::Lead),
    ("dave", Role::Lead),
];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..5usize, prop::sample::select(Verdict::ALL.to_vec()), any::<bool>())
            .prop_map(|(p, v, r)| Step::Decide(p, v, r)),
        1 => Just(Step::Start),
        1 => any::<bool>().prop_map(Step::Finish),
        1 => Just(Step::Revise),
        2 => (0..40_000i64).prop_map(Step::Advance),
    ]
}

fn any_rule() -> impl Strategy<Value = Rule> {
    (
        1..=3u32,
        any::<bool>(),
        1..200u64,
        prop::option::of(1..200u64),
        1..60u64,
    )
        .prop_map(|(approvals, lead, expiry, esc, window)| Rule {
            name: "r".into(),
            action: None,
            risk: None,
            approvals,
            role: if lead { Role::Lead } else { Role::Analyst },
            auto: false,
            expiry_secs: expiry,
            escalate_after_secs: esc,
            execution_window_secs: window,
            sample: 0.0,
            sample_window_secs: 60,
            contain_for_secs: None,
            hardware_key: false,
        })
}

proptest! {
    #[test]
    fn invariants_hold_over_random_sequences(
        r in any_rule(),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let mut now: Millis = 0;
        let mut s = start(&r);
        let mut ever_expired = false;
        for st in steps {
            // Deadlines first, as the store does before every command.
            if let Some(t) = due(&s, now) {
                prop_assert!(!s.status.is_final(), "deadline moved a final state");
                s = t.state;
            }
            ever_expired |= s.status == ProposalStatus::Expired;
            let before = s.clone();
            let result = match st {
                Step::Advance(ms) => { now += ms; continue; }
                Step::Revise => {
                    if s.status.is_open() { s = revise(&s).0; }
                    continue;
                }
                Step::Decide(who, verdict, with_reason) => {
                    let actor = match PEOPLE.get(who) {
                        Some((name, role)) => person(name, *role),
                        None => Actor::Agent { name: "bot".into() },
                    };
                    let reason = if with_reason { "a reason" } else { "" };
                    let res = decide(&s, &r, &actor, verdict, reason, now);
                    if matches!(actor, Actor::Agent { .. }) {
                        prop_assert_eq!(&res, &Err(Refusal::AgentCannotDecide));
                    }
                    res
                }
                Step::Start => start_execution(&s, now),
                Step::Finish(ok) => finish_execution(&s, ok),
            };
            match result {
                Ok(t) => {
                    prop_assert!(!before.status.is_final(), "left final state {}", before.status);
                    s = t.state;
                }
                Err(_) => prop_assert_eq!(&s, &before),
            }
            // No principal counts twice.
            let mut names: Vec<_> = s.approvals.iter().map(|a| a.principal.as_str()).collect();
            names.sort();
            let n = names.len();
            names.dedup();
            prop_assert_eq!(n, names.len());
            // The escalator never approves an escalated proposal.
            if let Some(e) = &s.escalated_by {
                prop_assert!(s.approvals.iter().all(|a| &a.principal != e));
            }
            // An expired proposal never runs.
            if ever_expired {
                prop_assert!(!matches!(s.status,
                    ProposalStatus::Executing | ProposalStatus::Executed | ProposalStatus::Failed));
            }
            // Approved means the rule is met.
            if s.status == ProposalStatus::Approved {
                prop_assert!(s.approvals.len() as u32 >= r.approvals);
                prop_assert!(r.role == Role::Analyst || s.approvals.iter().any(|a| a.role == Role::Lead));
            }
        }
    }
}

#[test]
fn one_key_is_one_person_whatever_the_name() {
    let r = rule(2, Role::Analyst);
    let s = start(&r);
    let t = decide(&s, &r, &alice(), Verdict::Approve, "", 1).unwrap();
    assert_eq!(t.event, Event::ApprovalCounted);
    // Alice's key under the name "dave": the same person.
    let dave = wearing("dave", Role::Analyst, "alice");
    assert_eq!(
        decide(&t.state, &r, &dave, Verdict::Approve, "", 2),
        Err(Refusal::SameKey("SHA256:key-of-alice".into()))
    );
    // The escalator's key cannot approve the escalation under a lead's name.
    let esc = decide(&s, &r, &alice(), Verdict::Escalate, "for a lead", 1).unwrap();
    let carol_with_alices_key = wearing("carol", Role::Lead, "alice");
    assert!(matches!(
        decide(
            &esc.state,
            &r,
            &carol_with_alices_key,
            Verdict::Approve,
            "",
            2
        ),
        Err(Refusal::SameKey(_))
    ));
    // Another person's own key counts.
    let t2 = decide(&t.state, &r, &bob(), Verdict::Approve, "", 2).unwrap();
    assert_eq!(t2.event, Event::Approved);
}

/// What one more approval would do, as `decide` answers it: a table.
#[test]
fn outlook_says_what_an_approval_would_do() {
    let one = rule(1, Role::Analyst);
    let two_lead = rule(2, Role::Lead);
    let one_lead = rule(1, Role::Lead);
    let after_alice = decide(
        &start(&two_lead),
        &two_lead,
        &alice(),
        Verdict::Approve,
        "",
        1,
    )
    .unwrap()
    .state;
    let escalated = decide(
        &start(&one),
        &one,
        &bob(),
        Verdict::Escalate,
        "lead decides",
        1,
    )
    .unwrap()
    .state;
    let cases: Vec<(&str, ProposalState, &Rule, Actor, Outlook)> = vec![
        (
            "one analyst",
            start(&one),
            &one,
            alice(),
            Outlook::Completes,
        ),
        (
            "first of two, no lead yet",
            start(&two_lead),
            &two_lead,
            alice(),
            Outlook::Counts {
                after: 1,
                of: 2,
                lead_missing: true,
            },
        ),
        (
            "a lead's first of two",
            start(&two_lead),
            &two_lead,
            carol(),
            Outlook::Counts {
                after: 1,
                of: 2,
                lead_missing: false,
            },
        ),
        (
            "the second analyst where a lead is missing",
            after_alice.clone(),
            &two_lead,
            bob(),
            Outlook::Refused(Refusal::RoleRequired {
                rule: "test".into(),
                role: Role::Lead,
            }),
        ),
        (
            "the lead completes it",
            after_alice.clone(),
            &two_lead,
            carol(),
            Outlook::Completes,
        ),
        (
            "the same person again",
            after_alice,
            &two_lead,
            alice(),
            Outlook::Refused(Refusal::SamePrincipal("alice".into())),
        ),
        (
            "an analyst on a rule for a lead",
            start(&one_lead),
            &one_lead,
            alice(),
            Outlook::Refused(Refusal::RoleRequired {
                rule: "test".into(),
                role: Role::Lead,
            }),
        ),
        (
            "an analyst on an escalation",
            escalated.clone(),
            &one,
            alice(),
            Outlook::Refused(Refusal::LeadRequired),
        ),
        (
            "a lead on an escalation",
            escalated,
            &one,
            carol(),
            Outlook::Completes,
        ),
    ];
    for (name, state, r, who, want) in cases {
        let mut got = outlook(&state, r.approvals, r.role, false, &who);
        // outlook() builds its own nameless rule: compare the refusal's kind.
        if let Outlook::Refused(Refusal::RoleRequired { rule, .. }) = &mut got {
            *rule = "test".into();
        }
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn a_hardware_key_rule_refuses_a_software_key_approval() {
    let mut r = rule(1, Role::Analyst);
    r.hardware_key = true;
    let s = initial(&r, 0, None).state;
    assert_eq!(
        decide(&s, &r, &alice(), Verdict::Approve, "", 1),
        Err(Refusal::HardwareKeyRequired("test".into()))
    );
    // Stopping never needs more than any key.
    assert!(decide(&s, &r, &alice(), Verdict::Reject, "not this one", 1).is_ok());
    let touched = Actor::Person {
        principal: "alice".into(),
        role: Role::Analyst,
        key: Some("SHA256:sk".into()),
        hardware: true,
    };
    let t = decide(&s, &r, &touched, Verdict::Approve, "", 1).unwrap();
    assert_eq!(t.state.status, ProposalStatus::Approved);
}
