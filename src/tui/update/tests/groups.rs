//! Group rows, the pinned section, the burst banner, group signing and
//! sampled review, as tables of message -> state and effects.

use super::*;
use crate::domain::sample::Sample;
use crate::tui::state::GROUP_ROW;

/// `n` groupable low-risk blocks from one agent, made `age_ms` ago.
pub(crate) fn blocks(range: std::ops::Range<usize>, agent: &str, age_ms: i64) -> Vec<QueueItem> {
    range
        .map(|i| {
            let mut r = record(i, Risk::Low, ProposalStatus::Pending, false);
            r.action = ActionKind::BlockIndicator;
            r.target = format!("198.51.100.{i}");
            r.proposed_by = agent.into();
            r.created_at = NOW - age_ms;
            let mut it = item(&r, Severity::Low);
            it.proposal.groupable = true;
            it
        })
        .collect()
}

fn sorted_by(s: &mut State, keys: &Keymap, want: SortKey) {
    while s.queue.sort != want {
        update(s, key('s'), keys);
    }
}

#[test]
fn alike_proposals_collapse_into_one_group_row_and_critical_stays_pinned() {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let mut items = blocks(10..24, "soar-bot", 600_000);
    items.extend(blocks(30..32, "edr-bot", 600_000));
    // Not groupable (the server said so): listed on its own.
    let mut lone = blocks(40..41, "soar-bot", 600_000);
    lone[0].proposal.groupable = false;
    items.extend(lone);
    let mut crit = record(99, Risk::Critical, ProposalStatus::Pending, false);
    crit.created_at = NOW - 10 * 86_400_000; // oldest of all
    crit.expires_at = NOW + 86_400_000; // and not due first
    items.push(item(&crit, Severity::Critical));
    update(&mut s, queue_msg(items, 0), &keys);

    // Whatever the sort, the critical one is first (pinned).
    for sort in [
        SortKey::Priority,
        SortKey::Deadline,
        SortKey::Oldest,
        SortKey::Confidence,
    ] {
        sorted_by(&mut s, &keys, sort);
        assert_eq!(s.queue.rows[0], "p-99", "{sort:?}");
        assert_eq!(s.queue.pinned, 1);
    }
    assert_eq!(s.queue.rows.len(), 1 + 2 + 1, "{:?}", s.queue.rows);
    let group = s
        .queue
        .groups
        .values()
        .find(|g| g.agent == "soar-bot")
        .expect("group");
    assert_eq!(group.members.len(), 14);
    assert!(!group.members.contains(&"p-40".to_owned()));
    // Ungrouped: one row per proposal.
    update(&mut s, key('z'), &keys);
    assert_eq!(s.queue.rows.len(), 1 + 14 + 2 + 1);
    assert!(s.queue.groups.is_empty());
}

#[test]
fn a_burst_shows_a_banner_and_b_goes_to_its_group() {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let mut items = blocks(10..35, "soar-bot", 10_000); // 25 in the last minute
    items.extend(blocks(50..55, "edr-bot", 10_000));
    items.push(item(
        &record(99, Risk::Critical, ProposalStatus::Pending, false),
        Severity::Critical,
    ));
    update(&mut s, queue_msg(items, 0), &keys);
    let burst = s.queue.burst.clone().expect("burst");
    assert_eq!((burst.agent.as_str(), burst.count), ("soar-bot", 25));
    assert_eq!(s.queue.rows[0], "p-99");
    update(&mut s, key('b'), &keys);
    let g = s.selected_group().expect("the burst's group is selected");
    assert_eq!((g.agent.as_str(), g.members.len()), ("soar-bot", 25));
    // A minute later the banner is gone, poll or not.
    update(&mut s, Msg::Tick(NOW + 60_000), &keys);
    assert!(s.queue.burst.is_none());
    // Old proposals are no burst.
    let mut calm = State::new("alice".into(), "f".into(), "u".into(), NOW);
    update(
        &mut calm,
        queue_msg(blocks(10..35, "soar-bot", 120_000), 0),
        &keys,
    );
    assert!(calm.queue.burst.is_none());
}

#[test]
fn a_group_approval_signs_each_shown_member_on_its_own_digest() {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    s.session.size = (200, 60);
    update(
        &mut s,
        queue_msg(blocks(10..30, "soar-bot", 600_000), 0),
        &keys,
    );
    assert!(s.queue.rows[0].starts_with(GROUP_ROW));
    assert!(s.selected_group().is_some());
    update(&mut s, Msg::Tick(NOW + 42_000), &keys);
    assert!(update(&mut s, key('a'), &keys).is_empty());
    let Some(Dialog::Group { members, .. }) = &s.dialog else {
        panic!("group dialog: {:?}", s.dialog);
    };
    assert_eq!(members.len(), 20, "all 20 fit on a 60-line terminal");
    // One member changes (revised) before Enter: it drops out.
    let mut changed = s.queue.items["p-12"].clone();
    changed.proposal.digest = "sha256:new".into();
    update(&mut s, queue_msg(vec![changed], 10), &keys);
    assert!(
        update(&mut s, code(KeyCode::Enter), &keys).is_empty(),
        "Enter before the dialog is armed signs nothing"
    );
    arm(&mut s, &keys);
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    assert_eq!(
        fx.iter().filter(|e| matches!(e, Effect::Send(_))).count(),
        19
    );
    let mut seen = std::collections::BTreeSet::new();
    for e in &fx {
        let Effect::Send(d) = e else { continue };
        let Target::Proposal(id) = &d.target else {
            panic!("proposal")
        };
        assert_eq!(d.digest, s.queue.items[id].proposal.digest, "own digest");
        assert_eq!(d.verdict, PayloadVerdict::Approve);
        assert_eq!(d.review.group.map(|g| g.size), Some(19));
        assert_eq!(d.review.seconds, 42.6);
        assert!(seen.insert(id.clone()));
        assert_ne!(id, "p-12");
    }
    assert!(
        s.session
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("1 left out")
    );
    // The members' answers are counted into the group's one message, not
    // shown one by one (each would replace the summary).
    let ids: Vec<String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Send(d) => match &d.target {
                Target::Proposal(id) => Some(id.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let answer = |id: &str, result| Msg::Decision {
        proposal_id: Some(id.to_owned()),
        verdict: "approve".into(),
        result,
    };
    let accepted = |seq| {
        Ok(Box::new(crate::api::DecisionAccepted {
            audit: crate::domain::records::AuditEntry {
                seq,
                entry: "{}".into(),
                prev_hash: "h".into(),
                hash: "h".into(),
            },
            proposal: None,
            event: "approved".into(),
        }))
    };
    update(&mut s, answer(&ids[0], accepted(1)), &keys);
    let text = |s: &State| s.session.flash.as_ref().unwrap().text.clone();
    assert!(text(&s).ends_with("· 1 of 19 recorded"), "{}", text(&s));
    update(
        &mut s,
        answer(
            &ids[1],
            Err(SendFailure::Refused {
                code: crate::api::ErrorCode::StaleDigest,
                message: "changed".into(),
            }),
        ),
        &keys,
    );
    update(
        &mut s,
        answer(&ids[2], Err(SendFailure::Queued("down".into()))),
        &keys,
    );
    for (i, id) in ids.iter().enumerate().skip(3) {
        update(&mut s, answer(id, accepted(i as i64)), &keys);
    }
    let last = s.session.flash.as_ref().unwrap();
    assert!(
        last.text.starts_with("approve: 19 signed; 1 left out"),
        "{}",
        last.text
    );
    assert!(
        last.text
            .contains("17 of 19 recorded, 1 waiting in the outbox, 1 refused (last: not recorded: the proposal changed"),
        "{}",
        last.text
    );
    assert_eq!(last.level, Level::Error);
    assert!(s.queue.group_send.is_none(), "every member answered");
    // A decision outside the group speaks for itself again.
    update(&mut s, answer("p-99", accepted(99)), &keys);
    assert!(text(&s).starts_with("approve signed and recorded"));
}

#[test]
fn a_small_terminal_signs_only_the_members_on_screen_and_reject_needs_a_reason() {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    s.session.size = (120, 24);
    update(
        &mut s,
        queue_msg(blocks(10..40, "soar-bot", 600_000), 0),
        &keys,
    );
    let visible = crate::tui::views::group::visible_members(s.session.size);
    assert!(visible > 0 && visible < 30, "{visible}");
    update(&mut s, key('r'), &keys);
    shown(&mut s, &keys);
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    assert!(fx.is_empty(), "no reason, nothing signed");
    for c in "dup of INC-7".chars() {
        update(&mut s, key(c), &keys);
    }
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    assert_eq!(
        fx.iter().filter(|e| matches!(e, Effect::Send(_))).count(),
        visible
    );
    assert!(fx.iter().all(|e| match e {
        Effect::Send(d) => d.verdict == PayloadVerdict::Reject && d.reason == "dup of INC-7",
        _ => true,
    }));
}

#[test]
fn sampled_items_are_confirmed_or_flagged() {
    let (mut s, keys) = loaded();
    // p-3 (loaded, critical, pending) was not sampled: refused.
    assert!(update(&mut s, key('y'), &keys).is_empty());
    assert!(
        s.session
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("sampled view")
    );
    // Drawn for review: confirm asks on a confirm line, flag asks why.
    let sample = Sample {
        rate: 0.1,
        review_by: NOW + 3_600_000,
        outcome: None,
    };
    s.queue.items.get_mut("p-3").unwrap().proposal.sample = Some(sample);
    assert!(update(&mut s, key('y'), &keys).is_empty());
    assert!(matches!(s.dialog, Some(Dialog::Confirm { .. })));
    arm(&mut s, &keys);
    let fx = update(&mut s, key('y'), &keys);
    assert!(matches!(&fx[..], [Effect::Send(d)] if d.verdict == PayloadVerdict::Confirm));
    s.queue.sent.clear();
    update(&mut s, key('f'), &keys);
    assert!(matches!(
        s.dialog,
        Some(Dialog::Reason {
            verdict: Verdict::Flag,
            ..
        })
    ));
}

pub(crate) fn known_oversight() -> crate::api::oversight::Oversight {
    use crate::api::oversight::*;
    Oversight {
        since: NOW - 86_400_000,
        until: NOW,
        analysts: vec![AnalystRow {
            principal: "alice".into(),
            decisions: 12,
            approvals: 10,
            rejections: 2,
            in_groups: 6,
            median_review_secs: Some(14.5),
            unexamined_high_approvals: 1,
            approvals_halted_or_failed: 1,
            overturned_by_second: 0,
            disagreed_as_second: 0,
        }],
        agents: vec![AgentRow {
            agent: "soar-bot\u{1b}[2J".into(),
            proposals: 40,
            approved: 30,
            rejected: 5,
            expired: 5,
            approval_rate: Some(0.75),
            rejection_rate: Some(0.125),
            false_positives: 3,
        }],
        rules: vec![RuleRow {
            rule: "low-risk indicator blocks run by policy".into(),
            auto_approved: 100,
            sampled: 10,
            confirmed: 7,
            flagged: 1,
            unreviewed: 2,
            flag_rate: Some(0.125),
        }],
        findings: vec![SampleFinding {
            rule: "low-risk indicator blocks run by policy".into(),
            proposal_id: "p-7".into(),
            principal: "bob".into(),
            reason: "blocks a CDN range".into(),
            at: NOW - 3_600_000,
        }],
    }
}

#[test]
fn oversight_is_for_leads_and_opens_as_an_overlay() {
    let (mut s, keys) = loaded();
    assert!(update(&mut s, key('O'), &keys).is_empty());
    assert!(s.session.flash.as_ref().unwrap().text.contains("for leads"));
    s.session.me.role = Some(Role::Lead);
    assert_eq!(
        update(&mut s, key('O'), &keys),
        vec![Effect::FetchOversight("24h".into())]
    );
    update(&mut s, Msg::Oversight(Ok(known_oversight())), &keys);
    assert!(
        matches!(&s.dialog, Some(Dialog::Oversight { report: Ok(r), .. }) if r.report().contains("alice"))
    );
    update(&mut s, key('j'), &keys);
    assert!(matches!(
        s.dialog,
        Some(Dialog::Oversight { scroll: 1, .. })
    ));
    update(&mut s, key('x'), &keys);
    assert!(s.dialog.is_none());
}

/// The rows of a queue of `items`, as (row id is a group, members).
fn grouping(items: Vec<QueueItem>) -> (State, Vec<usize>) {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    update(&mut s, queue_msg(items, 0), &keys);
    let sizes = s.queue.groups.values().map(|g| g.members.len()).collect();
    (s, sizes)
}

#[test]
fn groups_never_carry_what_a_person_would_not_sign_one_by_one() {
    type Change = fn(&mut QueueItem);
    // One member changed: it is listed on its own, the other three group.
    let one: [(&str, Change, bool); 5] = [
        (
            "claimed by me",
            |i| {
                i.proposal.claimed_by = Some("alice".into());
                i.proposal.claim_until = Some(NOW + 600_000);
            },
            true,
        ),
        (
            "claimed by another analyst",
            |i| {
                i.proposal.claimed_by = Some("bob".into());
                i.proposal.claim_until = Some(NOW + 600_000);
            },
            true,
        ),
        ("its alert has a note or label", |i| i.noted = true, true),
        (
            "a claim that ran out",
            |i| {
                i.proposal.claimed_by = Some("bob".into());
                i.proposal.claim_until = Some(NOW - 1);
            },
            false,
        ),
        ("nothing", |_| {}, false),
    ];
    for (name, change, alone) in one {
        let mut items = blocks(10..14, "soar-bot", 600_000);
        change(&mut items[0]);
        let (s, sizes) = grouping(items);
        let want = if alone { vec![3] } else { vec![4] };
        assert_eq!(sizes, want, "{name}");
        assert_eq!(s.queue.rows.contains(&"p-10".to_owned()), alone, "{name}");
    }
    // Kinds that run code or change access never group, even when the
    // server's word says they may.
    for kind in [
        "run_command",
        "edr.contain_host",
        "modify_policy",
        "disable_account",
        "reset_credentials",
        "rotate_secret",
    ] {
        let mut items = blocks(10..14, "soar-bot", 600_000);
        for i in &mut items {
            i.proposal.action = kind.parse().unwrap();
        }
        let (s, sizes) = grouping(items);
        assert!(sizes.is_empty(), "{kind}: {sizes:?}");
        assert_eq!(s.queue.rows.len(), 4, "{kind}");
        let rule =
            crate::domain::policy::Policy::builtin().rule_for(&items_action(kind), Risk::Low);
        assert!(
            crate::domain::policy::group_refused(Risk::Low, &items_action(kind), &rule).is_some(),
            "{kind}: the server refuses it in a group too"
        );
    }
    for kind in [
        "block_indicator",
        "isolate_host",
        "quarantine_file",
        "kill_process",
        "revoke_token",
    ] {
        let mut items = blocks(10..14, "soar-bot", 600_000);
        for i in &mut items {
            i.proposal.action = kind.parse().unwrap();
        }
        assert_eq!(grouping(items).1, vec![4], "{kind}");
    }
}

fn items_action(kind: &str) -> ActionKind {
    kind.parse().unwrap()
}

#[test]
fn a_note_made_here_takes_its_alert_out_of_a_group() {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    update(
        &mut s,
        queue_msg(blocks(10..14, "soar-bot", 600_000), 0),
        &keys,
    );
    assert_eq!(s.queue.groups.len(), 1);
    // p-11's alert, loaded with a note on it.
    let mut r = record(11, Risk::Low, ProposalStatus::Pending, false);
    r.action = ActionKind::BlockIndicator;
    let mut d = (*detail(11, &r)).clone();
    d.notes.push(crate::domain::records::AnnotationRecord {
        id: "n1".into(),
        alert_id: "a-11".into(),
        principal: "alice".into(),
        note: "".into(),
        labels: vec![Label::FalsePositive],
        digest: d.digest.clone(),
        created_at: NOW,
        seq: 1,
    });
    s.detail.prefetching = vec!["a-11".into()];
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-11".into(),
            result: Ok(Arc::new(d)),
        },
        &keys,
    );
    crate::tui::update::rebuild_rows(&mut s);
    let g = s.queue.groups.values().next().unwrap();
    assert!(!g.members.contains(&"p-11".to_owned()), "{g:?}");
    assert_eq!(g.members.len(), 3);
}
