//! The signing commands and their dialogs, and what the server answers.

use super::*;
use crate::tui::state::ARM_MS;

#[test]
fn approve_low_signs_on_an_armed_confirm_line_with_review_depth() {
    let (mut s, keys) = loaded();
    update(&mut s, key('j'), &keys);
    update(&mut s, key('j'), &keys);
    let p1 = record(1, Risk::Low, ProposalStatus::Pending, false);
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-1".into(),
            result: Ok(detail(1, &p1)),
        },
        &keys,
    );
    update(&mut s, Msg::Tick(NOW + 12_000), &keys);
    // The confirm line opens; it reads no key before it is armed.
    assert!(update(&mut s, key('a'), &keys).is_empty());
    assert!(matches!(s.dialog, Some(Dialog::Confirm { .. })));
    assert!(update(&mut s, key('y'), &keys).is_empty(), "not drawn yet");
    update(&mut s, Msg::Drawn(NOW + 12_000), &keys);
    update(&mut s, Msg::Tick(NOW + 12_000 + ARM_MS - 1), &keys);
    assert!(update(&mut s, key('y'), &keys).is_empty(), "not armed yet");
    assert!(s.dialog.is_some());
    update(&mut s, Msg::Tick(NOW + 12_000 + ARM_MS), &keys);
    let fx = update(&mut s, key('y'), &keys);
    let [Effect::Send(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(d.verdict, PayloadVerdict::Approve);
    assert_eq!(d.target, Target::Proposal("p-1".into()));
    assert_eq!(d.digest, p1.digest);
    assert_eq!(d.review.seconds, 12.6);
    assert_eq!(d.review.panes, ["summary"]);
    // Pressing again while it is in flight signs nothing twice.
    assert!(update(&mut s, key('a'), &keys).is_empty());
}

#[test]
fn critical_approval_needs_typed_yes_and_warns_about_unopened_panes() {
    let (mut s, keys) = loaded();
    assert!(update(&mut s, key('a'), &keys).is_empty());
    let Some(Dialog::Confirm { unviewed, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(unviewed, &[Tab::Diff, Tab::Evidence]);
    // "yes" typed ahead, before the dialog was armed, is not read.
    for c in "yes".chars() {
        update(&mut s, key(c), &keys);
    }
    assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    arm(&mut s, &keys);
    // Enter without "yes" signs nothing; nor does y alone.
    assert!(update(&mut s, key('y'), &keys).is_empty());
    assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    assert!(s.dialog.is_some());
    for c in "yes".chars() {
        update(&mut s, key(c), &keys);
    }
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    assert!(matches!(fx.as_slice(), [Effect::Send(d)] if d.verdict == PayloadVerdict::Approve));
    assert!(s.dialog.is_none());
}

#[test]
fn reject_needs_a_reason_typed_in_the_editor() {
    let (mut s, keys) = loaded();
    update(&mut s, key('r'), &keys);
    shown(&mut s, &keys);
    assert!(matches!(
        s.dialog,
        Some(Dialog::Reason {
            verdict: Verdict::Reject,
            ..
        })
    ));
    update(&mut s, key('x'), &keys);
    assert!(
        update(&mut s, code(KeyCode::Enter), &keys).is_empty(),
        "one character is not a reason"
    );
    assert!(matches!(
        &s.dialog,
        Some(Dialog::Reason { error: Some(_), .. })
    ));
    for c in "-ray of a backup job".chars() {
        update(&mut s, key(c), &keys);
    }
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    let [Effect::Send(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(
        (d.verdict, d.reason.as_str()),
        (PayloadVerdict::Reject, "x-ray of a backup job")
    );
    // Esc cancels a dialog without signing.
    let (mut s, keys) = loaded();
    update(&mut s, key('e'), &keys);
    assert!(update(&mut s, code(KeyCode::Esc), &keys).is_empty());
    assert!(s.dialog.is_none());
}

#[test]
fn annotate_with_labels() {
    let (mut s, keys) = loaded();
    update(&mut s, key('n'), &keys);
    shown(&mut s, &keys);
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL)),
        &keys,
    );
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    let [Effect::Send(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(d.verdict, PayloadVerdict::Annotate);
    assert_eq!(d.labels, vec![Label::FalsePositive]);
    assert_eq!(d.target, Target::Alert("a-3".into()));
}

#[test]
fn refuses_to_sign_on_digest_mismatch_or_wrong_state() {
    let (mut s, keys) = loaded();
    // The server served a digest that does not match the document.
    let mut p3 = record(3, Risk::Critical, ProposalStatus::Pending, true);
    p3.digest = "sha256:00".into();
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-3".into(),
            result: Ok(detail(3, &p3)),
        },
        &keys,
    );
    assert!(update(&mut s, key('a'), &keys).is_empty());
    assert!(s.dialog.is_none());
    assert!(
        s.session
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("does not match")
    );
    // Halt needs an approved proposal.
    let (mut s, keys) = loaded();
    assert!(update(&mut s, key('h'), &keys).is_empty());
    assert!(
        s.session
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("cannot halt")
    );
}

#[test]
fn decision_results() {
    let (mut s, keys) = loaded();
    s.queue.sent.insert("p-3".into());
    let refused = Msg::Decision {
        proposal_id: Some("p-3".into()),
        verdict: "approve".into(),
        result: Err(SendFailure::Refused {
            code: ErrorCode::StaleDigest,
            message: "changed".into(),
        }),
    };
    let fx = update(&mut s, refused, &keys);
    assert_eq!(
        fx,
        vec![Effect::FetchAlert("a-3".into())],
        "reloads what is shown"
    );
    assert!(
        s.session
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("changed since you saw it")
    );
    assert!(
        !s.queue.sent.contains("p-3"),
        "can be decided again after review"
    );
    let queued = Msg::Decision {
        proposal_id: Some("p-3".into()),
        verdict: "approve".into(),
        result: Err(SendFailure::Queued("down".into())),
    };
    update(&mut s, queued, &keys);
    assert!(s.session.flash.as_ref().unwrap().text.contains("outbox"));
    let forbidden = Msg::Decision {
        proposal_id: Some("p-3".into()),
        verdict: "approve".into(),
        result: Err(SendFailure::Refused {
            code: ErrorCode::RoleRequired,
            message: "rule \"x\" needs a lead".into(),
        }),
    };
    update(&mut s, forbidden, &keys);
    assert!(
        s.session
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("needs a lead")
    );
}

#[test]
fn a_replayed_delivery_shows_as_already_delivered() {
    let (mut s, keys) = loaded();
    s.queue.sent.insert("p-3".into());
    update(
        &mut s,
        Msg::Delivered {
            proposal_id: Some("p-3".into()),
            verdict: "approve".into(),
            seq: None,
        },
        &keys,
    );
    let f = s.session.flash.as_ref().unwrap();
    assert!(f.text.contains("already delivered"), "{}", f.text);
    assert!(!s.queue.sent.contains("p-3"));
    update(
        &mut s,
        Msg::Delivered {
            proposal_id: None,
            verdict: "annotate".into(),
            seq: Some(42),
        },
        &keys,
    );
    assert!(s.session.flash.as_ref().unwrap().text.contains("audit #42"));
}

#[test]
fn a_false_positive_label_offers_to_reject_the_alerts_open_proposals() {
    let (mut s, keys) = loaded();
    update(&mut s, key('n'), &keys);
    shown(&mut s, &keys);
    for c in "scanner window".chars() {
        update(&mut s, key(c), &keys);
    }
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL)),
        &keys,
    );
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    assert!(matches!(&fx[..], [Effect::Send(d)] if d.verdict == PayloadVerdict::Annotate));
    let Some(Dialog::RejectAlso {
        members, reason, ..
    }) = &s.dialog
    else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(members.len(), 1);
    assert_eq!(reason, "scanner window");
    // Not armed yet: typed-ahead keys reject nothing.
    assert!(update(&mut s, key('y'), &keys).is_empty());
    arm(&mut s, &keys);
    let fx = update(&mut s, key('y'), &keys);
    let [Effect::Send(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(d.verdict, PayloadVerdict::Reject);
    assert_eq!(d.reason, "scanner window");
    assert_eq!(d.target, Target::Proposal("p-3".into()));
    assert!(s.dialog.is_none());

    // A label that is not a false positive offers nothing; Esc says no.
    let (mut s, keys) = loaded();
    update(&mut s, key('n'), &keys);
    shown(&mut s, &keys);
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL)),
        &keys,
    );
    update(&mut s, code(KeyCode::Enter), &keys);
    assert!(s.dialog.is_none(), "{:?}", s.dialog);
    let (mut s, keys) = loaded();
    update(&mut s, key('n'), &keys);
    shown(&mut s, &keys);
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('b'), KeyModifiers::CONTROL)),
        &keys,
    );
    update(&mut s, code(KeyCode::Enter), &keys);
    let Some(Dialog::RejectAlso { reason, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(reason, "alert labelled benign");
    assert!(update(&mut s, code(KeyCode::Esc), &keys).is_empty());
    assert!(s.dialog.is_none());
}
