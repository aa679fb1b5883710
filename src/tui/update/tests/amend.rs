//! Approving as amended: `m` on an open proposal, the amendment judged as
//! the server judges it, and the one signed approval it may send; what
//! does not narrow, and Enter before the dialog is armed, sign nothing.

use super::*;
use crate::domain::amend;
use crate::tui::state::{ARM_MS, AmendCheck, AmendField};

/// Alice's one pending block of 185.220.101.0/24 (`risk`), p-1, selected
/// and loaded; alice is an analyst.
pub(crate) fn block(risk: Risk) -> (State, Keymap) {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "SHA256:x".into(), "http://srv".into(), NOW);
    s.session.me.role = Some(Role::Analyst);
    s.session.conn = Conn::Online;
    let mut p = record(1, risk, ProposalStatus::Pending, false);
    p.action = ActionKind::BlockIndicator;
    p.target = "185.220.101.0/24".into();
    p.document["action"] = json!("block_indicator");
    p.document["target"] = json!("185.220.101.0/24");
    p.digest = digest::proposal_digest(&alert_doc(1), &p.document).unwrap();
    update(&mut s, queue_msg(vec![item(&p, Severity::High)], 0), &keys);
    let msg = Msg::Detail {
        alert_id: "a-1".into(),
        result: Ok(detail(1, &p)),
    };
    update(&mut s, msg, &keys);
    (s, keys)
}

fn typed(s: &mut State, keys: &Keymap, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| update(s, key(c), keys)).collect()
}

fn backspaces(s: &mut State, keys: &Keymap, n: usize) {
    for _ in 0..n {
        update(s, code(KeyCode::Backspace), keys);
    }
}

fn enter(s: &mut State, keys: &Keymap) -> Vec<Effect> {
    update(s, code(KeyCode::Enter), keys)
}

/// The open amend dialog's check and error, or a panic naming the dialog.
fn form(s: &State) -> (AmendCheck, Option<String>) {
    match &s.dialog {
        Some(Dialog::Amend(f)) => (f.check.clone(), f.error.clone()),
        other => panic!("{other:?}"),
    }
}

/// Opens the dialog with `m` and narrows the target to `to` (from the
/// end of `185.220.101.0/24`, four characters off).
fn amended_to(s: &mut State, keys: &Keymap, tail: &str) {
    assert!(update(s, key('m'), keys).is_empty());
    backspaces(s, keys, 4);
    typed(s, keys, tail);
}

#[test]
fn m_on_a_proposal_that_is_not_open_signs_nothing_and_says_why() {
    let (mut s, keys) = super::revert::executed();
    assert!(update(&mut s, key('m'), &keys).is_empty());
    let Some(Dialog::Notice { text, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert!(text.contains("Only an open proposal"), "{text}");
    assert!(text.contains("Nothing was signed"), "{text}");
    // What is typed on is not read as commands (`a` approve).
    assert!(typed(&mut s, &keys, "a4/32").is_empty());
    arm(&mut s, &keys);
    assert!(enter(&mut s, &keys).is_empty());
    assert!(s.queue.sent.is_empty());
}

#[test]
fn the_dialog_computes_the_servers_amended_digest() {
    let (mut s, keys) = block(Risk::Medium);
    amended_to(&mut s, &keys, "4/32");
    let (
        AmendCheck::Narrows {
            amend: signed,
            amended_digest,
            changed,
        },
        None,
    ) = form(&s)
    else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(signed, json!({"target": "185.220.101.4/32"}));
    // As the server computes it, from the documents it serves.
    let p = s.selected_proposal().unwrap();
    let alert = &s
        .detail
        .current
        .as_ref()
        .unwrap()
        .data
        .as_ref()
        .unwrap()
        .alert;
    let (doc, _) = amend::apply(&p.document, &signed).unwrap();
    let sub = amend::submission(&alert.document, &doc).unwrap();
    assert_eq!(amended_digest, sub.proposals[0].digest);
    assert_eq!(changed["target"]["from"], "185.220.101.0/24");
    assert_eq!(changed["target"]["to"], "185.220.101.4/32");
}

#[test]
fn a_wider_target_cannot_be_confirmed_and_says_why() {
    let (mut s, keys) = block(Risk::Medium);
    update(&mut s, key('m'), &keys);
    arm(&mut s, &keys);
    // Unchanged: nothing to sign.
    assert!(enter(&mut s, &keys).is_empty());
    assert!(form(&s).1.unwrap().contains("nothing is amended"));
    backspaces(&mut s, &keys, 8);
    typed(&mut s, &keys, "0.0/16");
    let (AmendCheck::Refused(why), _) = form(&s) else {
        panic!("{:?}", s.dialog)
    };
    assert!(why.contains("is not within `185.220.101.0/24`"), "{why}");
    assert!(enter(&mut s, &keys).is_empty());
    assert!(form(&s).1.unwrap().contains("does not narrow"));
    assert!(s.queue.sent.is_empty());
}

#[test]
fn enter_before_the_dialog_is_armed_signs_nothing() {
    let (mut s, keys) = block(Risk::Medium);
    amended_to(&mut s, &keys, "4/32");
    assert!(matches!(form(&s).0, AmendCheck::Narrows { .. }));
    // Not drawn yet, then drawn but not on screen for ARM_MS.
    assert!(enter(&mut s, &keys).is_empty());
    let fx = update(&mut s, Msg::Drawn(NOW), &keys);
    assert_eq!(fx, vec![Effect::WakeAt(NOW + ARM_MS)]);
    assert!(enter(&mut s, &keys).is_empty());
    update(&mut s, Msg::Tick(NOW + ARM_MS - 1), &keys);
    assert!(enter(&mut s, &keys).is_empty());
    assert!(matches!(s.dialog, Some(Dialog::Amend(_))));
    assert!(s.queue.sent.is_empty());
    // A target is one line: Ctrl-J adds none.
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::CONTROL)),
        &keys,
    );
    let Some(Dialog::Amend(f)) = &s.dialog else {
        panic!()
    };
    assert_eq!(f.editor.lines(), ["185.220.101.4/32"]);
}

#[test]
fn confirm_sends_one_approval_with_the_amendment() {
    let (mut s, keys) = block(Risk::Medium);
    let shown_digest = s.selected_proposal().unwrap().digest.clone();
    amended_to(&mut s, &keys, "4/32");
    let (AmendCheck::Narrows { amended_digest, .. }, _) = form(&s) else {
        panic!()
    };
    arm(&mut s, &keys);
    let fx = enter(&mut s, &keys);
    let [Effect::Send(draft)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(draft.target, Target::Proposal("p-1".into()));
    assert_eq!(draft.verdict, PayloadVerdict::Approve);
    assert_eq!(draft.digest, shown_digest);
    assert_eq!(draft.amend, Some(json!({"target": "185.220.101.4/32"})));
    assert_eq!(draft.amended_digest, Some(amended_digest));
    assert_eq!(draft.revert_digest, None);
    assert!(s.dialog.is_none());
    assert!(s.queue.sent.contains("p-1"));
    // Decided here: m again says so and signs nothing.
    assert!(update(&mut s, key('m'), &keys).is_empty());
    assert!(matches!(s.dialog, Some(Dialog::Notice { .. })));
}

#[test]
fn high_risk_asks_for_yes_armed_anew() {
    let (mut s, keys) = block(Risk::High);
    amended_to(&mut s, &keys, "4/32");
    arm(&mut s, &keys);
    assert!(enter(&mut s, &keys).is_empty(), "Enter opens the yes stage");
    // Typed before the yes stage was on screen: not read.
    typed(&mut s, &keys, "yes");
    assert!(enter(&mut s, &keys).is_empty());
    arm(&mut s, &keys);
    typed(&mut s, &keys, "yes");
    let fx = enter(&mut s, &keys);
    assert!(
        matches!(fx.as_slice(), [Effect::Send(d)] if d.amend.is_some()),
        "{fx:?}"
    );
}

#[test]
fn tab_offers_the_expiry_and_a_shorter_one_narrows() {
    let (mut s, keys) = block(Risk::Medium);
    update(&mut s, key('m'), &keys);
    update(&mut s, code(KeyCode::Tab), &keys);
    let Some(Dialog::Amend(f)) = &s.dialog else {
        panic!()
    };
    assert_eq!(f.field, AmendField::Expiry);
    assert_eq!(f.editor.lines(), ["3660"]);
    backspaces(&mut s, &keys, 4);
    typed(&mut s, &keys, "600");
    let (AmendCheck::Narrows { amend, .. }, _) = form(&s) else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(amend, json!({"expires_in_secs": 600}));
    typed(&mut s, &keys, "0");
    assert!(matches!(form(&s).0, AmendCheck::Refused(_)));
}
