//! Keeping a containment longer: `X` on an executed, timed proposal, the
//! time chosen with Tab, and the one signed extension it may send;
//! refusals sign nothing.

use super::*;
use crate::domain::time::{parse_rfc3339, to_rfc3339};

const HOUR: i64 = 3_600_000;

/// The one proposal, p-1 (isolate_host → ws-1), executed, holding until
/// `until` (if timed), selected and loaded.
pub(crate) fn contained(until: Option<i64>) -> (State, Keymap) {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "SHA256:x".into(), "http://srv".into(), NOW);
    s.session.me.role = Some(Role::Analyst);
    s.session.conn = Conn::Online;
    let mut done = record(1, Risk::Medium, ProposalStatus::Executed, false);
    done.contain_until = until;
    update(
        &mut s,
        queue_msg(vec![item(&done, Severity::High)], 0),
        &keys,
    );
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-1".into(),
            result: Ok(detail(1, &done)),
        },
        &keys,
    );
    (s, keys)
}

fn typed(s: &mut State, keys: &Keymap, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| update(s, key(c), keys)).collect()
}

fn notice_text(s: &State) -> String {
    match &s.dialog {
        Some(Dialog::Notice { text, .. }) => text.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn x_where_nothing_holds_on_a_timer_signs_nothing_and_says_why() {
    let refusals: [(&str, (State, Keymap)); 4] = [
        ("this one is pending", loaded()),
        ("no rule timed it", contained(None)),
        ("Its time has run out", contained(Some(NOW - 1))),
        ("Only an executed containment", {
            let (mut s, keys) = contained(Some(NOW + HOUR));
            s.queue.items.get_mut("p-1").unwrap().proposal.status = ProposalStatus::Failed;
            (s, keys)
        }),
    ];
    for (says, (mut s, keys)) in refusals {
        assert!(update(&mut s, key('X'), &keys).is_empty(), "{says}");
        let text = notice_text(&s);
        assert!(text.contains(says), "{says}: {text}");
        assert!(text.contains("Nothing was signed"), "{text}");
        // A reason typed on is not read as commands (`a` approve).
        assert!(typed(&mut s, &keys, "a reason").is_empty());
        assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    }
}

#[test]
fn enter_before_the_dialog_is_armed_signs_nothing() {
    let (mut s, keys) = contained(Some(NOW + 2 * HOUR));
    update(&mut s, key('X'), &keys);
    assert!(
        matches!(s.dialog, Some(Dialog::Extend(_))),
        "{:?}",
        s.dialog
    );
    // Typed before it was drawn: the reason, and an Enter that is dropped.
    assert!(typed(&mut s, &keys, "still open").is_empty());
    assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    shown(&mut s, &keys);
    assert!(
        update(&mut s, code(KeyCode::Enter), &keys).is_empty(),
        "drawn, not armed yet"
    );
    assert!(matches!(s.dialog, Some(Dialog::Extend(_))));
}

#[test]
fn confirm_signs_one_extend_with_the_time_chosen() {
    let until = NOW + 2 * HOUR;
    let (mut s, keys) = contained(Some(until));
    let digest = s.selected_proposal().unwrap().digest.clone();
    update(&mut s, key('X'), &keys);
    arm(&mut s, &keys);
    // Tab: +1h → +4h → +8h.
    update(&mut s, code(KeyCode::Tab), &keys);
    update(&mut s, code(KeyCode::Tab), &keys);
    // One character is no reason.
    typed(&mut s, &keys, "x");
    assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    let Some(Dialog::Extend(form)) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert!(form.error.as_deref().unwrap().contains("reason"));
    typed(&mut s, &keys, ": incident still open");
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    let [Effect::Send(draft)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(draft.target, Target::Proposal("p-1".into()));
    assert_eq!(draft.verdict, PayloadVerdict::Extend);
    assert_eq!(draft.digest, digest);
    assert_eq!(draft.reason, "x: incident still open");
    let expected = to_rfc3339(until + 8 * HOUR);
    assert_eq!(draft.contain_until.as_deref(), Some(expected.as_str()));
    // The payload signed carries it.
    let payload = draft.payload("alice", NOW);
    assert_eq!(
        payload.contain_until.as_deref().and_then(parse_rfc3339),
        Some(until + 8 * HOUR)
    );
    assert!(s.dialog.is_none());
    assert!(
        s.session
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("extension signed")
    );
}
