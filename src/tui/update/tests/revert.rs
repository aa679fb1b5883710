//! Reverting what ran: `U` on an executed proposal, the preview it loads,
//! and the one signed revert it may send; refusals sign nothing.

use super::*;
use crate::api::{DecisionAccepted, DecisionView, RevertPreview};
use crate::tui::event::PreviewFailure;
use crate::tui::state::{Level, Preview, revert_outlook, revert_outlook_text};

/// The one proposal, p-1 (isolate_host → ws-1), executed, selected and
/// loaded; `alice` is an analyst.
pub(crate) fn executed() -> (State, Keymap) {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "SHA256:x".into(), "http://srv".into(), NOW);
    s.session.me.role = Some(Role::Analyst);
    s.session.conn = Conn::Online;
    let done = record(1, Risk::Medium, ProposalStatus::Executed, false);
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

/// What the server would create to revert p-1: release_host on ws-1,
/// under a rule asking `approvals`, one from `role`.
pub(crate) fn preview(approvals: u32, role: Role) -> RevertPreview {
    let alert = json!({"external_id": "revert:p-1", "source": "countersign", "severity": "high",
        "title": "Revert: alert 1", "entity": {"kind": "host", "id": "ws-1"},
        "summary": {"text": "Reverts proposal p-1", "model": "countersign", "confidence": 1.0},
        "context": {"reverts": {"proposal_id": "p-1", "alert_id": "a-1"}}});
    let proposal = json!({"action": "release_host", "target": "ws-1", "risk": "medium",
        "rationale": "Reverts proposal p-1 (isolate_host on ws-1), which was executed."});
    RevertPreview {
        reverts: "p-1".into(),
        action: "release_host".into(),
        target: "ws-1".into(),
        risk: Risk::Medium,
        rule: "defaults".into(),
        approvals,
        role,
        digest: digest::proposal_digest(&alert, &proposal).unwrap(),
        document: json!({"alert": alert, "proposal": proposal}),
    }
}

pub(crate) fn arrives(s: &mut State, keys: &Keymap, p: Result<RevertPreview, PreviewFailure>) {
    let msg = Msg::RevertPreview {
        proposal_id: "p-1".into(),
        result: p.map(Box::new),
    };
    assert!(update(s, msg, keys).is_empty());
}

fn typed(s: &mut State, keys: &Keymap, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| update(s, key(c), keys)).collect()
}

fn enter(s: &mut State, keys: &Keymap) -> Vec<Effect> {
    update(s, code(KeyCode::Enter), keys)
}

/// The open revert dialog's preview and error, or a panic naming the
/// dialog.
fn form(s: &State) -> (Preview, Option<String>) {
    match &s.dialog {
        Some(Dialog::Revert(f)) => (f.preview.clone(), f.error.clone()),
        other => panic!("{other:?}"),
    }
}

fn notice_text(s: &State) -> String {
    match &s.dialog {
        Some(Dialog::Notice { text, .. }) => text.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn u_on_a_proposal_that_did_not_run_signs_nothing_and_says_why() {
    let (mut s, keys) = loaded();
    assert!(update(&mut s, key('U'), &keys).is_empty());
    let text = notice_text(&s);
    assert!(
        text.contains("Only an executed proposal can be reverted; this one is pending"),
        "{text}"
    );
    assert!(text.contains("Nothing was signed"), "{text}");
    // A reason typed on is not read as commands (`a` approve, `r` reject).
    assert!(typed(&mut s, &keys, "a reason").is_empty());
    assert!(matches!(s.dialog, Some(Dialog::Notice { .. })));
    // A group row: one proposal at a time.
    let (mut s, keys) = groups_of_two();
    update(&mut s, key('U'), &keys);
    assert!(notice_text(&s).contains("A group row is selected"));
}

/// Two alike pending proposals: one group row, selected.
fn groups_of_two() -> (State, Keymap) {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "SHA256:x".into(), "http://srv".into(), NOW);
    let items = (1..=2)
        .map(|i| {
            let mut it = item(
                &record(i, Risk::Low, ProposalStatus::Pending, false),
                Severity::Low,
            );
            it.proposal.groupable = true;
            it
        })
        .collect();
    update(&mut s, queue_msg(items, 0), &keys);
    assert!(s.selected_group().is_some(), "{:?}", s.queue.rows);
    (s, keys)
}

#[test]
fn u_on_an_executed_proposal_loads_the_preview_and_enter_meanwhile_signs_nothing() {
    let (mut s, keys) = executed();
    let fx = update(&mut s, key('U'), &keys);
    assert_eq!(fx, vec![Effect::FetchRevertPreview("p-1".into())]);
    assert!(matches!(form(&s).0, Preview::Loading));
    shown(&mut s, &keys);
    // The reason may be typed meanwhile; Enter signs nothing.
    assert!(typed(&mut s, &keys, "backup server").is_empty());
    assert!(enter(&mut s, &keys).is_empty());
    let (_, error) = form(&s);
    assert!(error.unwrap().contains("still loading"));
    // A preview for another proposal (an older dialog's) is not this one's.
    let other = Msg::RevertPreview {
        proposal_id: "p-9".into(),
        result: Ok(Box::new(preview(1, Role::Analyst))),
    };
    update(&mut s, other, &keys);
    assert!(matches!(form(&s).0, Preview::Loading));
}

#[test]
fn the_preview_signs_once_it_has_been_on_screen_with_a_reason() {
    let (mut s, keys) = executed();
    let executed_digest = s.selected_proposal().unwrap().digest.clone();
    update(&mut s, key('U'), &keys);
    shown(&mut s, &keys);
    let shown_preview = preview(1, Role::Analyst);
    arrives(&mut s, &keys, Ok(shown_preview.clone()));
    assert!(matches!(form(&s).0, Preview::Shown(_)));
    // Enter before the preview was drawn and armed answers nothing.
    typed(&mut s, &keys, "x");
    assert!(enter(&mut s, &keys).is_empty());
    assert_eq!(form(&s).1, None);
    let fx = update(&mut s, Msg::Drawn(NOW), &keys);
    assert_eq!(
        fx,
        vec![Effect::WakeAt(NOW + crate::tui::state::ARM_MS)],
        "the screen is woken when Enter starts to count"
    );
    assert!(enter(&mut s, &keys).is_empty(), "not armed yet");
    update(&mut s, Msg::Tick(NOW + crate::tui::state::ARM_MS), &keys);
    // A one-character reason is refused.
    assert!(enter(&mut s, &keys).is_empty());
    assert!(form(&s).1.unwrap().contains("reason"));
    typed(&mut s, &keys, ": backup server");
    let fx = enter(&mut s, &keys);
    let [Effect::Send(draft)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(draft.target, Target::Proposal("p-1".into()));
    assert_eq!(draft.verdict, PayloadVerdict::Revert);
    assert_eq!(draft.digest, executed_digest);
    assert_eq!(
        draft.revert_digest.as_deref(),
        Some(shown_preview.digest.as_str())
    );
    assert_eq!(draft.reason, "x: backup server");
    assert!(s.dialog.is_none());
    assert!(s.reverts.sent.contains_key("p-1"));
    // While its answer is on its way, U again says so.
    assert!(update(&mut s, key('U'), &keys).is_empty());
    assert!(notice_text(&s).contains("on its way"));
}

#[test]
fn what_cannot_be_reverted_is_said_and_cannot_be_signed() {
    let (mut s, keys) = executed();
    update(&mut s, key('U'), &keys);
    let refusal = PreviewFailure {
        code: Some(ErrorCode::NotReversible),
        message: "`revoke_token` cannot be undone".into(),
    };
    arrives(&mut s, &keys, Err(refusal));
    let Preview::Failed(why) = form(&s).0 else {
        panic!("{:?}", s.dialog)
    };
    assert!(
        why.contains("It cannot be reverted: `revoke_token`"),
        "{why}"
    );
    arm(&mut s, &keys);
    typed(&mut s, &keys, "undo it");
    assert!(enter(&mut s, &keys).is_empty());
    assert!(form(&s).1.unwrap().contains("nothing can be signed"));
    update(&mut s, code(KeyCode::Esc), &keys);
    assert!(s.dialog.is_none());
    assert!(s.reverts.sent.is_empty());
}

#[test]
fn a_preview_that_is_not_its_own_document_is_refused() {
    let tampered = [
        RevertPreview {
            digest: "sha256:00".into(),
            ..preview(1, Role::Analyst)
        },
        RevertPreview {
            target: "ws-2".into(),
            ..preview(1, Role::Analyst)
        },
        RevertPreview {
            reverts: "p-2".into(),
            ..preview(1, Role::Analyst)
        },
    ];
    for p in tampered {
        let (mut s, keys) = executed();
        update(&mut s, key('U'), &keys);
        arrives(&mut s, &keys, Ok(p));
        let Preview::Failed(why) = form(&s).0 else {
            panic!("{:?}", s.dialog)
        };
        assert!(why.contains("refusing to sign"), "{why}");
        arm(&mut s, &keys);
        typed(&mut s, &keys, "undo it");
        assert!(enter(&mut s, &keys).is_empty());
    }
}

#[test]
fn keys_typed_while_the_proposal_loads_go_into_the_reason() {
    let (mut s, keys) = executed();
    // Loaded again (older than the queue's row): U waits for it.
    s.queue.items.get_mut("p-1").unwrap().proposal.change_seq += 1;
    let fx = update(&mut s, key('U'), &keys);
    assert_eq!(fx, vec![Effect::FetchAlert("a-1".into())]);
    assert!(matches!(s.dialog, Some(Dialog::Pending { .. })));
    assert!(typed(&mut s, &keys, "no").is_empty());
    assert!(enter(&mut s, &keys).is_empty());
    let mut fresh = record(1, Risk::Medium, ProposalStatus::Executed, false);
    fresh.change_seq += 1;
    let fx = update(
        &mut s,
        Msg::Detail {
            alert_id: "a-1".into(),
            result: Ok(detail(1, &fresh)),
        },
        &keys,
    );
    assert_eq!(fx, vec![Effect::FetchRevertPreview("p-1".into())]);
    let Some(Dialog::Revert(f)) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(f.editor.lines().join(""), "no");
}

#[test]
fn the_answer_says_what_the_revert_created() {
    let answer = |status: ProposalStatus| {
        let mut created = record(9, Risk::Medium, status, false);
        created.id = "p-9".into();
        Msg::Decision {
            proposal_id: Some("p-1".into()),
            verdict: "revert".into(),
            result: Ok(Box::new(DecisionAccepted {
                audit: crate::domain::records::AuditEntry {
                    seq: 12,
                    entry: "{}".into(),
                    prev_hash: "h".into(),
                    hash: "h".into(),
                },
                proposal: Some(DecisionView::from(&created)),
                event: "approved".into(),
            })),
        }
    };
    let signed = || {
        let (mut s, keys) = executed();
        update(&mut s, key('U'), &keys);
        shown(&mut s, &keys);
        arrives(&mut s, &keys, Ok(preview(1, Role::Analyst)));
        arm(&mut s, &keys);
        typed(&mut s, &keys, "backup server");
        assert_eq!(enter(&mut s, &keys).len(), 1);
        (s, keys)
    };
    let flash = |s: &State| s.session.flash.clone().unwrap();
    let (mut s, keys) = signed();
    let fx = update(&mut s, answer(ProposalStatus::Approved), &keys);
    assert_eq!(
        flash(&s).text,
        "reverted: release_host → ws-1 approved — proposal p-9 goes to bot · audit #12"
    );
    assert_eq!(flash(&s).level, Level::Ok);
    assert_eq!(fx, vec![Effect::FetchAlert("a-1".into())], "reloaded");
    assert!(s.reverts.sent.is_empty());

    let (mut s, keys) = signed();
    update(&mut s, answer(ProposalStatus::AwaitingSecond), &keys);
    assert!(
        flash(&s)
            .text
            .contains("release_host → ws-1 awaiting a second approval (proposal p-9)")
    );

    // Refusals, in words; a late one from the outbox too.
    for (code, said) in [
        (ErrorCode::Conflict, "already reverted"),
        (ErrorCode::StaleDigest, "press U again"),
    ] {
        let (mut s, keys) = signed();
        let queued = Msg::Decision {
            proposal_id: Some("p-1".into()),
            verdict: "revert".into(),
            result: Err(SendFailure::Queued("connection refused".into())),
        };
        update(&mut s, queued, &keys);
        assert!(flash(&s).text.contains("waiting in the outbox"));
        assert!(s.reverts.sent.contains_key("p-1"), "still on its way");
        let refused = Msg::Decision {
            proposal_id: Some("p-1".into()),
            verdict: "revert".into(),
            result: Err(SendFailure::Refused {
                code,
                message: "no".into(),
            }),
        };
        update(&mut s, refused, &keys);
        assert!(flash(&s).text.contains(said), "{}", flash(&s).text);
        assert_eq!(flash(&s).level, Level::Error);
        assert!(s.reverts.sent.is_empty());
    }
}

#[test]
fn who_else_must_approve_the_undo_is_said_before_signing() {
    let say = |approvals, role, me_role| {
        let o = revert_outlook(&preview(approvals, role), "alice", me_role, "SHA256:x");
        revert_outlook_text(&o, "soar-bot")
    };
    assert_eq!(
        say(1, Role::Analyst, Role::Analyst),
        "your signature approves it: it goes to soar-bot at once"
    );
    assert_eq!(
        say(2, Role::Lead, Role::Analyst),
        "your signature is the first of 2; a lead must approve too"
    );
    assert_eq!(
        say(2, Role::Analyst, Role::Analyst),
        "your signature is the first of 2; another person must approve too"
    );
    assert!(say(1, Role::Lead, Role::Analyst).starts_with("you cannot sign this revert"));
    // And such a revert is not signed.
    let (mut s, keys) = executed();
    update(&mut s, key('U'), &keys);
    shown(&mut s, &keys);
    arrives(&mut s, &keys, Ok(preview(1, Role::Lead)));
    arm(&mut s, &keys);
    typed(&mut s, &keys, "backup server");
    assert!(enter(&mut s, &keys).is_empty());
    assert!(form(&s).1.unwrap().contains("you cannot sign this revert"));
}
