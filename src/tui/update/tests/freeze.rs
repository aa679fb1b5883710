//! The stop button: freezes loaded with the queue, the lead's freeze
//! dialog, and what the server answers.

use super::*;
use crate::api::freezes::{ALL_AGENTS, Freeze, FreezeAccepted, FreezeList, FreezeMode};
use crate::signing::freeze::FreezeDraft;
use crate::tui::event::FreezeFailure;
use crate::tui::state::{FreezeChoice, Level};

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn typed(s: &mut State, keys: &Keymap, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| update(s, key(c), keys)).collect()
}

fn freeze(agent: &str, mode: FreezeMode) -> Freeze {
    Freeze {
        agent: agent.into(),
        mode,
        by: "carol".into(),
        reason: "runaway loop".into(),
        since: NOW - 1_000,
        seq: 7,
    }
}

/// `loaded()` as `role`, with the freezes listed as `frozen`.
fn as_role(role: Role, frozen: Vec<Freeze>) -> (State, Keymap) {
    let (mut s, keys) = loaded();
    s.session.me.role = Some(role);
    let list = FreezeList { freezes: frozen };
    update(&mut s, Msg::Freezes(Ok(list)), &keys);
    (s, keys)
}

/// The open freeze dialog's (agent, choice), or a panic naming the dialog.
fn form(s: &State) -> (String, FreezeChoice) {
    match &s.dialog {
        Some(Dialog::Freeze(f)) => (f.agent().to_owned(), f.choice),
        other => panic!("{other:?}"),
    }
}

fn form_error(s: &State) -> Option<String> {
    match &s.dialog {
        Some(Dialog::Freeze(f)) => f.error.clone(),
        other => panic!("{other:?}"),
    }
}

fn accepted(event: &str, freezes: Vec<Freeze>) -> Result<Box<FreezeAccepted>, FreezeFailure> {
    Ok(Box::new(FreezeAccepted {
        audit: crate::domain::records::AuditEntry {
            seq: 12,
            entry: "{}".into(),
            prev_hash: "h".into(),
            hash: "h".into(),
        },
        event: event.into(),
        freezes,
    }))
}

#[test]
fn the_freezes_load_with_the_queue_and_a_failure_hides_nothing() {
    let (mut s, keys) = loaded();
    assert!(
        !s.freezes.loaded,
        "nothing said before the server lists them"
    );
    update(
        &mut s,
        Msg::Freezes(Ok(FreezeList {
            freezes: vec![freeze("bot", FreezeMode::Hold)],
        })),
        &keys,
    );
    assert!(s.freezes.known());
    assert_eq!(s.freezes.of("bot").map(|f| f.mode), Some(FreezeMode::Hold));
    // A failed load keeps the queue and the last list, said to be unsure.
    update(&mut s, Msg::Freezes(Err("503 unavailable".into())), &keys);
    assert!(!s.freezes.known());
    assert_eq!(s.freezes.list.len(), 1);
    assert_eq!(s.queue.rows.len(), 3);
    // Every answer of the queue loads them again; a failed one makes them
    // unknown too.
    let fx = update(&mut s, queue_msg(vec![], 10), &keys);
    assert!(fx.contains(&Effect::FetchFreezes), "{fx:?}");
    let failed = Msg::Queue {
        view: View::Pending,
        after: 10,
        result: Err("connection refused".into()),
        now: NOW,
    };
    update(&mut s, Msg::Freezes(Ok(FreezeList::default())), &keys);
    update(&mut s, failed, &keys);
    assert_eq!(s.freezes.error.as_deref(), Some("connection refused"));
}

#[test]
fn an_analyst_pressing_f_signs_nothing_and_the_reason_after_it_is_no_command() {
    let (mut s, keys) = as_role(Role::Analyst, vec![]);
    assert!(update(&mut s, key('F'), &keys).is_empty());
    let Some(Dialog::Notice { text, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert!(text.contains("Only a lead"), "{text}");
    assert!(text.contains("Nothing was signed"), "{text}");
    // "approve" typed on: kept out of the queue (no `a`, no `v`).
    assert!(typed(&mut s, &keys, "approve").is_empty());
    assert_eq!(s.queue.view, View::Pending);
    assert!(matches!(s.dialog, Some(Dialog::Notice { .. })));
    update(&mut s, code(KeyCode::Esc), &keys);
    assert!(s.dialog.is_none());
    // Before the login said the role: no freeze either.
    let (mut s, keys) = loaded();
    update(&mut s, key('F'), &keys);
    assert!(matches!(&s.dialog, Some(Dialog::Notice { text, .. }) if text.contains("lead")));
}

#[test]
fn a_lead_opens_it_on_the_selected_rows_agent_and_may_take_every_agent() {
    let (mut s, keys) = as_role(Role::Lead, vec![]);
    assert!(update(&mut s, key('F'), &keys).is_empty());
    assert_eq!(
        form(&s),
        ("bot".into(), FreezeChoice::Freeze(FreezeMode::NoAuto))
    );
    update(&mut s, ctrl('e'), &keys);
    assert_eq!(form(&s).0, ALL_AGENTS);
    update(&mut s, ctrl('e'), &keys);
    assert_eq!(form(&s).0, "bot");
    // Nothing frozen, and the console knows it: no unfreeze offered.
    update(&mut s, code(KeyCode::Tab), &keys);
    assert_eq!(form(&s).1, FreezeChoice::Freeze(FreezeMode::Hold));
    update(&mut s, code(KeyCode::Tab), &keys);
    assert_eq!(form(&s).1, FreezeChoice::Freeze(FreezeMode::NoAuto));
}

#[test]
fn unfreeze_is_offered_where_a_freeze_is_on_the_agent() {
    let (mut s, keys) = as_role(Role::Lead, vec![freeze("bot", FreezeMode::Hold)]);
    update(&mut s, key('F'), &keys);
    // It opens on the freeze in force: Enter never weakens it unseen.
    assert_eq!(form(&s).1, FreezeChoice::Freeze(FreezeMode::Hold));
    update(&mut s, code(KeyCode::Tab), &keys);
    assert_eq!(form(&s).1, FreezeChoice::Unfreeze);
    // Every agent is not frozen: its unfreeze is not offered.
    update(&mut s, ctrl('e'), &keys);
    assert_eq!(
        form(&s),
        (ALL_AGENTS.into(), FreezeChoice::Freeze(FreezeMode::NoAuto))
    );
    let cycle: Vec<FreezeChoice> = (0..3)
        .map(|_| {
            update(&mut s, code(KeyCode::Tab), &keys);
            form(&s).1
        })
        .collect();
    assert!(!cycle.contains(&FreezeChoice::Unfreeze), "{cycle:?}");
    // Where the console cannot tell, it offers the unfreeze too (the
    // server answers not_frozen if there is none).
    let (mut s, keys) = as_role(Role::Lead, vec![]);
    update(&mut s, Msg::Freezes(Err("timeout".into())), &keys);
    update(&mut s, key('F'), &keys);
    update(&mut s, code(KeyCode::Tab), &keys);
    update(&mut s, code(KeyCode::Tab), &keys);
    assert_eq!(form(&s).1, FreezeChoice::Unfreeze);
}

#[test]
fn a_reason_of_less_than_two_characters_is_refused_in_the_dialog() {
    let (mut s, keys) = as_role(Role::Lead, vec![]);
    update(&mut s, key('F'), &keys);
    shown(&mut s, &keys);
    assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    assert!(form_error(&s).is_some_and(|e| e.contains("reason")));
    typed(&mut s, &keys, " x ");
    assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    assert!(form_error(&s).is_some_and(|e| e.contains("nothing signed")));
}

#[test]
fn confirming_signs_the_draft_once_and_the_answer_is_what_is_frozen() {
    let (mut s, keys) = as_role(Role::Lead, vec![]);
    update(&mut s, key('F'), &keys);
    shown(&mut s, &keys);
    update(&mut s, code(KeyCode::Tab), &keys);
    assert!(typed(&mut s, &keys, "runaway loop").is_empty());
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    assert_eq!(
        fx,
        vec![Effect::SendFreeze(FreezeDraft {
            agent: "bot".into(),
            mode: Some(FreezeMode::Hold),
            reason: "runaway loop".into(),
        })]
    );
    assert!(
        update(&mut s, code(KeyCode::Enter), &keys).is_empty(),
        "on its way: Enter signs nothing twice"
    );
    let now = vec![freeze("bot", FreezeMode::Hold)];
    let answer = Msg::FreezeSent {
        agent: "bot".into(),
        result: accepted("agent_frozen", now.clone()),
    };
    assert!(update(&mut s, answer, &keys).is_empty());
    assert!(s.dialog.is_none());
    assert_eq!(s.freezes.list, now);
    let flash = s.session.flash.clone().unwrap();
    assert_eq!(flash.level, Level::Ok);
    assert!(flash.text.contains("bot frozen (hold)"), "{}", flash.text);
    assert!(flash.text.contains("audit #12"), "{}", flash.text);
}

#[test]
fn enter_typed_before_the_dialog_is_drawn_signs_nothing() {
    let (mut s, keys) = as_role(Role::Lead, vec![]);
    update(&mut s, key('F'), &keys);
    // Typed ahead in one burst: the reason lands, the Enter answers nothing.
    assert!(typed(&mut s, &keys, "runaway").is_empty());
    assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    let Some(Dialog::Freeze(f)) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(f.editor.lines().join(""), "runaway");
    shown(&mut s, &keys);
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    assert!(
        matches!(fx.as_slice(), [Effect::SendFreeze(d)] if d.reason == "runaway"),
        "{fx:?}"
    );
}

#[test]
fn offline_nothing_is_signed_and_nothing_is_queued() {
    let (mut s, keys) = as_role(Role::Lead, vec![]);
    update(&mut s, Msg::Offline("connection refused".into()), &keys);
    update(&mut s, key('F'), &keys);
    assert!(matches!(&s.dialog, Some(Dialog::Notice { text, .. }) if text.contains("unreachable")));
    // Gone while the reason was typed: said in the dialog, reason kept.
    let (mut s, keys) = as_role(Role::Lead, vec![]);
    update(&mut s, key('F'), &keys);
    shown(&mut s, &keys);
    typed(&mut s, &keys, "runaway");
    update(&mut s, Msg::Offline("connection refused".into()), &keys);
    assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    assert!(form_error(&s).is_some_and(|e| e.contains("never waits in the outbox")));
    assert_eq!(s.session.outbox, 0);
}

#[test]
fn refusals_and_silence_are_said_where_the_reason_still_is() {
    let (mut s, keys) = as_role(Role::Lead, vec![]);
    update(&mut s, key('F'), &keys);
    shown(&mut s, &keys);
    typed(&mut s, &keys, "runaway");
    update(&mut s, code(KeyCode::Enter), &keys);
    let refused = Msg::FreezeSent {
        agent: "bot".into(),
        result: Err(FreezeFailure::Refused {
            code: ErrorCode::LeadRequired,
            message: "only a lead may freeze".into(),
        }),
    };
    assert!(update(&mut s, refused, &keys).is_empty());
    assert!(form_error(&s).is_some_and(|e| e.contains("only a lead")));
    // Enter again signs again (a new nonce): the person chose to.
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    assert!(matches!(fx.as_slice(), [Effect::SendFreeze(_)]), "{fx:?}");
    // No answer: perhaps recorded; the list is reloaded to tell.
    let silent = Msg::FreezeSent {
        agent: "bot".into(),
        result: Err(FreezeFailure::NoAnswer("timed out".into())),
    };
    assert_eq!(update(&mut s, silent, &keys), vec![Effect::FetchFreezes]);
    assert!(form_error(&s).is_some_and(|e| e.contains("may not be recorded")));
    // Closed before the answer: the message line says it.
    update(&mut s, code(KeyCode::Enter), &keys);
    update(&mut s, code(KeyCode::Esc), &keys);
    let not_frozen = Msg::FreezeSent {
        agent: "bot".into(),
        result: Err(FreezeFailure::Refused {
            code: ErrorCode::NotFrozen,
            message: "agent bot is not frozen".into(),
        }),
    };
    update(&mut s, not_frozen, &keys);
    let flash = s.session.flash.clone().unwrap();
    assert_eq!(flash.level, Level::Error);
    assert!(flash.text.contains("not frozen"), "{}", flash.text);
}
