//! Keys never change meaning while the console is busy: a command pressed
//! while its proposal loads waits, and what is typed meanwhile lands in its
//! dialog, never in the queue, and never signs.

use super::*;
use crate::tui::state::Command;

/// `loaded()` with p-1 (low) selected and its alert not loaded yet.
fn loading_p1() -> (State, Keymap, ProposalRecord) {
    let (mut s, keys) = loaded();
    update(&mut s, key('j'), &keys);
    let fx = update(&mut s, key('j'), &keys);
    assert_eq!(fx.first(), Some(&Effect::FetchAlert("a-1".into())));
    let p1 = record(1, Risk::Low, ProposalStatus::Pending, false);
    (s, keys, p1)
}

fn arrives(s: &mut State, keys: &Keymap, p: &ProposalRecord, i: usize) -> Vec<Effect> {
    update(
        s,
        Msg::Detail {
            alert_id: p.alert_id.clone(),
            result: Ok(detail(i, p)),
        },
        keys,
    )
}

fn typed(s: &mut State, keys: &Keymap, text: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    for c in text.chars() {
        fx.extend(update(s, key(c), keys));
    }
    fx
}

fn sends(fx: &[Effect]) -> usize {
    fx.iter().filter(|e| matches!(e, Effect::Send(_))).count()
}

#[test]
fn a_reason_typed_while_loading_goes_into_the_reason_and_never_approves() {
    let (mut s, keys, p1) = loading_p1();
    let (view, sort, selected) = (s.queue.view, s.queue.sort, s.queue.selected);
    assert!(update(&mut s, key('r'), &keys).is_empty());
    assert!(matches!(
        s.dialog,
        Some(Dialog::Pending {
            command: Command::Reason(Verdict::Reject),
            ..
        })
    ));
    // Every letter of the sentence is a command key somewhere (a approve,
    // g e escalate, s sort, v view, n note, y confirm): none is read.
    let mut fx = typed(&mut s, &keys, "agent is wiping logs: no, very bad");
    fx.extend(update(&mut s, code(KeyCode::Enter), &keys));
    assert_eq!(sends(&fx), 0, "{fx:?}");
    assert_eq!(
        (s.queue.view, s.queue.sort, s.queue.selected),
        (view, sort, selected)
    );
    assert!(s.queue.sent.is_empty());
    // The alert arrives: the reject dialog opens with the text, and the
    // Enter typed before it was on screen did not sign.
    let fx = arrives(&mut s, &keys, &p1, 1);
    assert_eq!(sends(&fx), 0);
    let Some(Dialog::Reason {
        verdict: Verdict::Reject,
        editor,
        ..
    }) = &s.dialog
    else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(
        editor.lines().join(""),
        "agent is wiping logs: no, very bad"
    );
    // Enter in the same batch as the arrival, before the dialog was drawn,
    // signs nothing either.
    assert_eq!(sends(&update(&mut s, code(KeyCode::Enter), &keys)), 0);
    shown(&mut s, &keys);
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    let [Effect::Send(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(d.verdict, PayloadVerdict::Reject);
    assert_eq!(d.reason, "agent is wiping logs: no, very bad");
    assert_eq!(d.digest, p1.digest);
}

#[test]
fn approve_typed_ahead_while_loading_signs_nothing() {
    let (mut s, keys, p1) = loading_p1();
    let mut fx = update(&mut s, key('a'), &keys);
    fx.extend(typed(&mut s, &keys, "yyy"));
    fx.extend(update(&mut s, code(KeyCode::Enter), &keys));
    fx.extend(arrives(&mut s, &keys, &p1, 1));
    assert_eq!(sends(&fx), 0, "{fx:?}");
    assert!(matches!(
        s.dialog,
        Some(Dialog::Confirm { armed_at: None, .. })
    ));
    // Keys in the same batch as the arrival, before the line was drawn.
    assert_eq!(sends(&typed(&mut s, &keys, "yy")), 0);
    update(&mut s, Msg::Drawn(NOW), &keys);
    assert_eq!(sends(&typed(&mut s, &keys, "y")), 0, "still arming");
    update(&mut s, Msg::Tick(NOW + crate::tui::state::ARM_MS), &keys);
    assert_eq!(sends(&typed(&mut s, &keys, "y")), 1);
}

#[test]
fn a_second_draw_does_not_rearm_or_disarm() {
    let (mut s, keys) = loaded();
    update(&mut s, key('j'), &keys); // p-2: medium, one key to approve
    let p2 = record(2, Risk::Medium, ProposalStatus::Pending, true);
    arrives(&mut s, &keys, &p2, 2);
    update(&mut s, key('a'), &keys);
    update(&mut s, Msg::Drawn(NOW), &keys);
    update(&mut s, Msg::Drawn(NOW + 500), &keys);
    let Some(Dialog::Confirm { armed_at, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(*armed_at, Some(NOW + crate::tui::state::ARM_MS));
}

#[test]
fn a_failed_load_cancels_the_command_and_says_so() {
    let (mut s, keys, _) = loading_p1();
    update(&mut s, key('e'), &keys);
    typed(&mut s, &keys, "lead decides");
    let fx = update(
        &mut s,
        Msg::Detail {
            alert_id: "a-1".into(),
            result: Err("connection refused".into()),
        },
        &keys,
    );
    assert_eq!(sends(&fx), 0);
    // Said where the person is typing: the notice keeps taking keys, so
    // the rest of the sentence is never read as commands.
    let Some(Dialog::Notice { title, text }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(title, "escalate not started");
    assert!(text.contains("connection refused"), "{text}");
    let (view, sort) = (s.queue.view, s.queue.sort);
    assert_eq!(sends(&typed(&mut s, &keys, "a yes svy")), 0);
    assert_eq!(sends(&update(&mut s, code(KeyCode::Enter), &keys)), 0);
    assert_eq!((s.queue.view, s.queue.sort), (view, sort));
    assert!(
        matches!(s.dialog, Some(Dialog::Notice { .. })),
        "Enter before it was drawn"
    );
    shown(&mut s, &keys);
    update(&mut s, code(KeyCode::Enter), &keys);
    assert!(s.dialog.is_none());
    // Pressed again, the command fetches the alert again and waits.
    assert_eq!(
        update(&mut s, key('e'), &keys),
        vec![Effect::FetchAlert("a-1".into())]
    );
    assert!(matches!(s.dialog, Some(Dialog::Pending { .. })));
}

#[test]
fn esc_cancels_a_waiting_command_and_a_late_alert_opens_nothing() {
    let (mut s, keys, p1) = loading_p1();
    update(&mut s, key('a'), &keys);
    update(&mut s, code(KeyCode::Esc), &keys);
    assert!(s.dialog.is_none());
    arrives(&mut s, &keys, &p1, 1);
    assert!(s.dialog.is_none());
}

#[test]
fn a_proposal_that_leaves_the_queue_while_loading_cancels_the_command() {
    let (mut s, keys, _) = loading_p1();
    update(&mut s, key('n'), &keys);
    update(&mut s, gone_msg("p-1"), &keys);
    let Some(Dialog::Notice { text, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert!(text.contains("left the queue"), "{text}");
    // The selection is on the neighbour now: typing on never approves it.
    let mut fx = typed(&mut s, &keys, "a");
    s.session.now_ms += 10_000;
    fx.extend(typed(&mut s, &keys, "y"));
    assert_eq!(sends(&fx), 0);
    assert!(matches!(s.dialog, Some(Dialog::Notice { .. })));
}

#[test]
fn an_alert_older_than_its_row_is_fetched_again_before_anything_opens() {
    let (mut s, keys) = loaded();
    // p-3 (shown) is revised: the queue's row is newer than the detail.
    let mut newer = record(3, Risk::Critical, ProposalStatus::Pending, true);
    newer.change_seq += 10;
    let mut row = item(&newer, Severity::High);
    row.proposal.digest = "sha256:revised".into();
    let fx = update(&mut s, queue_msg(vec![row], 10), &keys);
    assert_eq!(
        fx.first(),
        Some(&Effect::FetchAlert("a-3".into())),
        "{fx:?}"
    );
    let fx = update(&mut s, key('r'), &keys);
    assert!(
        matches!(s.dialog, Some(Dialog::Pending { .. })),
        "{:?}",
        s.dialog
    );
    assert!(fx.contains(&Effect::FetchAlert("a-3".into())));
}

#[test]
fn a_reason_typed_while_the_proposal_changes_is_not_signed_over_the_new_one() {
    let (mut s, keys) = loaded();
    update(&mut s, key('e'), &keys);
    shown(&mut s, &keys);
    typed(&mut s, &keys, "lead decides");
    // A refetch brings a revised document while the dialog is open.
    let mut p3 = record(3, Risk::Critical, ProposalStatus::Pending, true);
    p3.change_seq += 5;
    p3.document["rationale"] = "revised".into();
    p3.digest = crate::domain::digest::proposal_digest(&alert_doc(3), &p3.document).unwrap();
    arrives(&mut s, &keys, &p3, 3);
    assert_eq!(sends(&update(&mut s, code(KeyCode::Enter), &keys)), 0);
    let Some(Dialog::Reason { error, editor, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert!(
        error
            .as_deref()
            .unwrap_or("")
            .contains("changed while you typed")
    );
    assert_eq!(
        editor.lines().join(""),
        "lead decides",
        "nothing typed is lost"
    );
}

#[test]
fn an_oversight_report_never_replaces_a_dialog() {
    let (mut s, keys) = loaded();
    s.session.me.role = Some(crate::domain::types::Role::Lead);
    update(&mut s, key('r'), &keys);
    update(
        &mut s,
        Msg::Oversight(Ok(super::groups::known_oversight())),
        &keys,
    );
    assert!(
        matches!(s.dialog, Some(Dialog::Reason { .. })),
        "{:?}",
        s.dialog
    );
}

#[test]
fn an_item_loaded_ahead_is_signed_at_once_also_while_disconnected() {
    let (mut s, keys) = loaded();
    // The alerts loaded ahead of the selection arrive.
    let p1 = record(1, Risk::Low, ProposalStatus::Pending, false);
    let p2 = record(2, Risk::Medium, ProposalStatus::Pending, true);
    arrives(&mut s, &keys, &p2, 2);
    arrives(&mut s, &keys, &p1, 1);
    update(&mut s, Msg::Offline("connection refused".into()), &keys);
    update(&mut s, key('j'), &keys);
    let fx = update(&mut s, key('j'), &keys);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Prefetch(_))),
        "nothing is loaded ahead while disconnected: {fx:?}"
    );
    assert!(
        s.selected_proposal().is_some(),
        "shown from what was loaded"
    );
    update(&mut s, key('r'), &keys);
    assert!(
        matches!(s.dialog, Some(Dialog::Reason { .. })),
        "{:?}",
        s.dialog
    );
    update(&mut s, code(KeyCode::Esc), &keys);
    // Its fetch fails while offline: it stays shown and signable.
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-1".into(),
            result: Err("connection refused".into()),
        },
        &keys,
    );
    update(&mut s, key('a'), &keys);
    arm(&mut s, &keys);
    let fx = update(&mut s, key('y'), &keys);
    assert!(
        matches!(&fx[..], [Effect::Send(d)] if d.digest == p1.digest),
        "{fx:?}"
    );
}

#[test]
fn an_alert_loaded_before_a_change_is_not_signed() {
    let (mut s, keys) = loaded();
    let p2 = record(2, Risk::Medium, ProposalStatus::Pending, true);
    arrives(&mut s, &keys, &p2, 2);
    // The queue says p-2 changed since (revised): what was loaded is old.
    let mut newer = item(&p2, Severity::High);
    newer.proposal.change_seq += 10;
    newer.proposal.digest = "sha256:revised".into();
    update(&mut s, queue_msg(vec![newer], 10), &keys);
    let fx = update(&mut s, key('j'), &keys);
    assert_eq!(fx.first(), Some(&Effect::FetchAlert("a-2".into())));
    assert!(
        s.selected_proposal().is_none(),
        "the old alert is not shown"
    );
    update(&mut s, key('a'), &keys);
    assert!(matches!(s.dialog, Some(Dialog::Pending { .. })));
}

/// The list loaded ahead follows the selection and skips what is loaded.
#[test]
fn alerts_are_loaded_ahead_once() {
    let (mut s, keys) = loaded();
    assert_eq!(s.detail.prefetching, ["a-2", "a-1"]);
    let p2 = record(2, Risk::Medium, ProposalStatus::Pending, true);
    arrives(&mut s, &keys, &p2, 2);
    // Moving onto a loaded item asks for nothing new ahead.
    let fx = update(&mut s, key('j'), &keys);
    assert_eq!(
        fx,
        vec![
            Effect::FetchAlert("a-2".into()),
            Effect::Prefetch(vec!["a-1".into()])
        ]
    );
    assert!(
        update(&mut s, key('k'), &keys)
            .iter()
            .all(|e| !matches!(e, Effect::Prefetch(_)))
    );
}
