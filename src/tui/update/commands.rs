//! The signing commands: checks before signing, the reason, note and
//! confirmation dialogs, and the draft handed to the effects runner.

use super::compose::{self, editor, review, seconds_since};
use super::{Effect, flash};
use crate::domain::types::{Label, ProposalStatus, Risk, Verdict};
use crate::signing::payload::{DecisionDraft, GroupReview, PayloadVerdict, Review, Target};
use crate::tui::action::{Action, Mode};
use crate::tui::keymap::Keymap;
use crate::tui::state::{Dialog, GroupSend, Level, State, Tab};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeSet;

/// Checks that the selected proposal can be signed now: loaded, digest
/// verified, and in a state the verdict applies to.
fn signable(s: &mut State, verdict: Verdict) -> Option<String> {
    let Some(item) = s.selected_item() else {
        flash(s, Level::Warn, "nothing selected");
        return None;
    };
    let id = item.proposal.id.clone();
    let status = item.proposal.status;
    if s.queue.sent.contains(&id) {
        flash(
            s,
            Level::Warn,
            "already decided here; waiting for the server",
        );
        return None;
    }
    let Some(d) = s.detail.current.as_ref().filter(|d| d.data.is_some()) else {
        flash(s, Level::Warn, "the proposal is still loading");
        return None;
    };
    if d.digest_ok.get(&id) != Some(&true) {
        flash(
            s,
            Level::Error,
            "refusing to sign: the served digest does not match the document shown",
        );
        return None;
    }
    let waiting = item.proposal.sample.as_ref().map(|x| x.outcome.is_none());
    let ok = match verdict {
        Verdict::Halt => status == ProposalStatus::Approved,
        Verdict::Escalate => status == ProposalStatus::Pending,
        Verdict::Confirm | Verdict::Flag => waiting == Some(true),
        _ => status.is_open(),
    };
    if matches!(verdict, Verdict::Confirm | Verdict::Flag) && !ok {
        flash(
            s,
            Level::Warn,
            "confirm and flag are for policy approvals drawn for review (the sampled view)",
        );
        return None;
    }
    if !ok {
        flash(
            s,
            Level::Warn,
            format!("cannot {verdict} a proposal that is {status}"),
        );
        return None;
    }
    Some(id)
}

pub(super) fn start_reason(s: &mut State, verdict: Verdict) -> Vec<Effect> {
    let Some(id) = signable(s, verdict) else {
        return vec![];
    };
    let Some(digest) = s.selected_proposal().map(|p| p.digest.clone()) else {
        return vec![];
    };
    s.dialog = Some(Dialog::Reason {
        verdict,
        proposal_id: id,
        digest,
        editor: editor("reason (Enter to sign, Esc to cancel)"),
        error: None,
    });
    vec![]
}

pub(super) fn start_annotate(s: &mut State) -> Vec<Effect> {
    let Some(d) = s.detail.current.as_ref().filter(|d| d.data.is_some()) else {
        flash(s, Level::Warn, "the alert is still loading");
        return vec![];
    };
    if !d.alert_digest_ok {
        flash(
            s,
            Level::Error,
            "refusing to sign: the alert's digest does not match its document",
        );
        return vec![];
    }
    s.dialog = Some(Dialog::Annotate {
        alert_id: d.alert_id.clone(),
        editor: editor("note (Enter to sign, Esc to cancel)"),
        labels: BTreeSet::new(),
        error: None,
    });
    vec![]
}

/// Opens the group dialog over the members the sheet shows now.
pub(super) fn start_group(s: &mut State, verdict: Verdict) -> Vec<Effect> {
    let Some(g) = s.selected_group() else {
        return vec![];
    };
    let members: Vec<(String, String)> = crate::tui::views::group::shown(s, g)
        .iter()
        .filter_map(|id| s.queue.items.get(id))
        .map(|i| (i.proposal.id.clone(), i.proposal.digest.clone()))
        .collect();
    if members.is_empty() {
        flash(s, Level::Warn, "no member of the group is on screen");
        return vec![];
    }
    let placeholder = match verdict {
        Verdict::Approve => "Enter signs one approval per member shown · Esc cancels",
        _ => "reason for every member (Enter to sign, Esc to cancel)",
    };
    s.dialog = Some(Dialog::Group {
        verdict,
        members,
        opened_ms: s.detail.review.opened_ms,
        editor: editor(placeholder),
        error: None,
        armed_at: None,
    });
    vec![]
}

/// Signs the group decision: one payload per member still as it was shown
/// (same digest, still pending, not already decided here); the rest drop
/// out with a note.
fn sign_group(
    s: &mut State,
    verdict: Verdict,
    members: Vec<(String, String)>,
    opened_ms: i64,
    reason: String,
) -> Vec<Effect> {
    let (keep, dropped): (Vec<_>, Vec<_>) = members.into_iter().partition(|(id, digest)| {
        s.queue.items.get(id).is_some_and(|i| {
            &i.proposal.digest == digest
                && i.proposal.status == ProposalStatus::Pending
                && !super::queue::decided_alone(s, i)
        })
    });
    if keep.is_empty() {
        flash(
            s,
            Level::Warn,
            "every member changed since it was shown; nothing signed",
        );
        return vec![];
    }
    let size = keep.len() as u32;
    let waiting = keep.iter().map(|(id, _)| id.clone()).collect();
    let seconds = seconds_since(s, opened_ms);
    let mut fx = Vec::new();
    for (id, digest) in keep {
        s.queue.sent.insert(id.clone());
        fx.push(Effect::Send(DecisionDraft {
            target: Target::Proposal(id),
            digest,
            verdict: PayloadVerdict::from(verdict),
            reason: reason.clone(),
            labels: vec![],
            review: Review {
                seconds,
                panes: vec!["group".into()],
                group: Some(GroupReview { size }),
            },
            revert_digest: None,
            amend: None,
            amended_digest: None,
            contain_until: None,
        }));
    }
    let note = if dropped.is_empty() {
        format!("{verdict}: {size} signed, one per proposal")
    } else {
        format!(
            "{verdict}: {size} signed; {} left out (changed, claimed, noted or decided since shown)",
            dropped.len()
        )
    };
    flash(s, Level::Ok, note.clone());
    s.queue.group_send = Some(GroupSend {
        summary: note,
        size: size as usize,
        waiting,
        ..GroupSend::default()
    });
    let before = s.queue.rows.get(s.queue.selected).cloned();
    super::queue::rebuild_rows(s);
    fx.extend(super::queue::reselect(s, before));
    fx
}

/// Panes with something in them that the person never opened.
fn unviewed(s: &State) -> Vec<Tab> {
    let Some(p) = s.selected_proposal() else {
        return vec![];
    };
    let mut out = Vec::new();
    if p.document.get("permission_change").is_some() && !s.detail.review.panes.contains(&Tab::Diff)
    {
        out.push(Tab::Diff);
    }
    if s.evidence_count() > 0 && !s.detail.review.panes.contains(&Tab::Evidence) {
        out.push(Tab::Evidence);
    }
    out
}

/// After a false-positive or benign label: the alert's proposals still
/// open and not decided here, as shown, offered for rejection.
fn offer_reject(s: &mut State, reason: String) {
    let Some(d) = s.detail.current.as_ref() else {
        return;
    };
    let Some(data) = d.data.as_ref() else {
        return;
    };
    let members: Vec<(String, String, String)> = data
        .proposals
        .iter()
        .filter(|p| p.status.is_open())
        .filter(|p| d.digest_ok.get(&p.id) == Some(&true) && !s.queue.sent.contains(&p.id))
        // As new as the queue's row: what is offered is what is signed.
        .filter(|p| {
            s.queue
                .items
                .get(&p.id)
                .is_some_and(|i| i.proposal.digest == p.digest)
        })
        .map(|p| {
            (
                p.id.clone(),
                p.digest.clone(),
                format!("{} → {}", p.action, p.target),
            )
        })
        .collect();
    if !members.is_empty() {
        s.dialog = Some(Dialog::RejectAlso {
            members,
            reason,
            armed_at: None,
        });
    }
}

/// One signed rejection per proposal offered, each over the digest shown.
fn reject_also(
    s: &mut State,
    members: Vec<(String, String, String)>,
    reason: String,
) -> Vec<Effect> {
    let review = review(s);
    let n = members.len();
    let fx = members
        .into_iter()
        .map(|(id, digest, _)| {
            s.queue.sent.insert(id.clone());
            Effect::Send(DecisionDraft {
                target: Target::Proposal(id),
                digest,
                verdict: PayloadVerdict::Reject,
                reason: reason.clone(),
                labels: vec![],
                review: review.clone(),
                revert_digest: None,
                amend: None,
                amended_digest: None,
                contain_until: None,
            })
        })
        .collect();
    flash(
        s,
        Level::Ok,
        format!("reject: {n} signed, one per proposal"),
    );
    fx
}

/// Opens the confirmation line of an approval (or of a sampled
/// confirmation). It reads no key until it has been on screen for
/// [`ARM_MS`](crate::tui::state::ARM_MS).
pub(super) fn start_confirm(s: &mut State, verdict: Verdict) -> Vec<Effect> {
    let Some(id) = signable(s, verdict) else {
        return vec![];
    };
    if verdict == Verdict::Approve
        && let Some(item) = s.selected_item()
        && let Some(crate::domain::machine::Outlook::Refused(_)) = s.outlook(item)
    {
        let why = s.outlook_text(item).unwrap_or_default();
        flash(s, Level::Warn, format!("you cannot approve this: {why}"));
        return vec![];
    }
    let Some(p) = s.selected_proposal() else {
        return vec![];
    };
    let (risk, digest) = (p.risk, p.digest.clone());
    let what = format!("{} → {}", p.action, p.target);
    let unviewed = if verdict == Verdict::Approve && risk >= Risk::High {
        unviewed(s)
    } else {
        vec![]
    };
    s.dialog = Some(Dialog::Confirm {
        verdict: PayloadVerdict::from(verdict),
        proposal_id: id,
        what,
        risk,
        digest,
        typed: String::new(),
        unviewed,
        armed_at: None,
    });
    vec![]
}

fn sign(
    s: &mut State,
    verdict: PayloadVerdict,
    target: Target,
    reason: String,
    labels: Vec<Label>,
) -> Vec<Effect> {
    let digest = match &target {
        Target::Proposal(id) => s
            .selected_proposal()
            .filter(|p| &p.id == id)
            .map(|p| p.digest.clone()),
        Target::Alert(_) => s
            .detail
            .current
            .as_ref()
            .and_then(|d| d.data.as_ref())
            .map(|d| d.digest.clone()),
    };
    let Some(digest) = digest else {
        flash(
            s,
            Level::Error,
            "the proposal is no longer shown; nothing signed",
        );
        return vec![];
    };
    let review = review(s);
    if let Target::Proposal(id) = &target {
        s.queue.sent.insert(id.clone());
    }
    vec![Effect::Send(DecisionDraft {
        target,
        digest,
        verdict,
        reason,
        labels,
        review,
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: None,
    })]
}

/// At most this many keys are kept while a command waits.
const PENDING_KEYS: usize = 500;

/// A key while a dialog is open. The dialog is edited where it is; it is
/// closed (set to `None`) only when it is done.
pub(super) fn on_dialog_key(s: &mut State, k: KeyEvent, keys: &Keymap) -> Vec<Effect> {
    let action = keys.action(Mode::Dialog, &k);
    let now = s.session.now_ms;
    let Some(dialog) = s.dialog.as_mut() else {
        return vec![];
    };
    if action == Some(Action::Cancel) {
        // Esc cancels any dialog, armed or not.
        s.dialog = None;
        return vec![];
    }
    if !dialog.armed(now) {
        // Typed before the dialog was on screen long enough to be read.
        return vec![];
    }
    if action == Some(Action::Submit) && s.dialog_shown.is_none_or(|shown| now < shown) {
        // Enter typed before this dialog was on screen answers nothing.
        return vec![];
    }
    let Some(dialog) = s.dialog.as_mut() else {
        return vec![];
    };
    match dialog {
        Dialog::Freeze(_) => super::freeze::on_key(s, k, action),
        Dialog::Revert(_) => super::revert::on_key(s, k, action),
        Dialog::Amend(_) => super::amend::on_key(s, k, action),
        Dialog::Extend(_) => super::extend::on_key(s, k, action),
        Dialog::Notice { .. } => {
            if action == Some(Action::Submit) {
                s.dialog = None;
            }
            vec![]
        }
        // A command waiting for its proposal (`pending`): Esc cancelled
        // it above; every other key is kept for its dialog.
        Dialog::Pending { typed, .. } => {
            if typed.len() < PENDING_KEYS {
                typed.push(k);
            }
            vec![]
        }
        // j/k (and the arrows) scroll; any other key closes it.
        Dialog::Help { scroll } | Dialog::Oversight { scroll, .. } => {
            match k.code {
                KeyCode::Char('j') | KeyCode::Down => *scroll = scroll.saturating_add(1),
                KeyCode::Char('k') | KeyCode::Up => *scroll = scroll.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => *scroll = scroll.saturating_add(10),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                _ => s.dialog = None,
            }
            vec![]
        }
        Dialog::Reason { .. } => on_reason_key(s, k, action),
        Dialog::Group { .. } => on_group_key(s, k, action),
        Dialog::Annotate { .. } => on_annotate_key(s, k, action),
        Dialog::RejectAlso { .. } => on_reject_also_key(s, k, action),
        Dialog::Confirm { .. } => on_confirm_key(s, k, action),
    }
}

/// A reason for a verdict: typed, then signed with the digest shown when
/// the dialog opened.
fn on_reason_key(s: &mut State, k: KeyEvent, action: Option<Action>) -> Vec<Effect> {
    let Some(Dialog::Reason {
        verdict,
        proposal_id,
        digest,
        editor,
        error,
    }) = s.dialog.as_mut()
    else {
        return vec![];
    };
    if action != Some(Action::Submit) {
        editor.input(k);
        *error = None;
        return vec![];
    }
    let reason = match compose::reason(editor) {
        Ok(reason) => reason,
        Err(why) => {
            *error = Some(why.into());
            return vec![];
        }
    };
    let current = s
        .detail
        .current
        .as_ref()
        .and_then(|d| d.data.as_ref())
        .and_then(|d| d.proposals.iter().find(|p| &p.id == proposal_id))
        .map(|p| &p.digest);
    if current != Some(&*digest) {
        *error = Some(
            "the proposal changed while you typed; Esc and look at it again (nothing signed)"
                .into(),
        );
        return vec![];
    }
    let pv = PayloadVerdict::from(*verdict);
    let target = Target::Proposal(proposal_id.clone());
    s.dialog = None;
    sign(s, pv, target, reason, vec![])
}

/// A group decision: its reason (none to approve), then each shown member
/// signed on its own digest.
fn on_group_key(s: &mut State, k: KeyEvent, action: Option<Action>) -> Vec<Effect> {
    let Some(Dialog::Group {
        verdict,
        editor,
        error,
        ..
    }) = s.dialog.as_mut()
    else {
        return vec![];
    };
    if action != Some(Action::Submit) {
        if *verdict != Verdict::Approve {
            editor.input(k);
            *error = None;
        }
        return vec![];
    }
    let reason = compose::typed(editor);
    if *verdict != Verdict::Approve && !crate::domain::machine::reason_ok(&reason) {
        *error = Some(compose::REASON_REQUIRED.into());
        return vec![];
    }
    let Some(Dialog::Group {
        verdict,
        members,
        opened_ms,
        ..
    }) = s.dialog.take()
    else {
        return vec![];
    };
    sign_group(s, verdict, members, opened_ms, reason)
}

/// A note on the alert, or labels: signed; a false-positive or benign label
/// offers to reject what it proposed.
fn on_annotate_key(s: &mut State, k: KeyEvent, action: Option<Action>) -> Vec<Effect> {
    let Some(Dialog::Annotate {
        alert_id,
        editor,
        labels,
        error,
    }) = s.dialog.as_mut()
    else {
        return vec![];
    };
    if let Some(l) = action.and_then(Action::label) {
        if !labels.remove(&l) {
            labels.insert(l);
        }
        *error = None;
        return vec![];
    }
    if action != Some(Action::Submit) {
        editor.input(k);
        *error = None;
        return vec![];
    }
    let note = compose::typed(editor);
    if !crate::domain::machine::reason_ok(&note) && labels.is_empty() {
        *error = Some("write a note or pick a label".into());
        return vec![];
    }
    let target = Target::Alert(alert_id.clone());
    let labels: Vec<Label> = std::mem::take(labels).into_iter().collect();
    s.dialog = None;
    let offer = labels
        .iter()
        .find(|l| matches!(l, Label::FalsePositive | Label::Benign))
        .map(|l| {
            if crate::domain::machine::reason_ok(&note) {
                note.clone()
            } else {
                format!("alert labelled {}", l.as_str())
            }
        });
    let fx = sign(s, PayloadVerdict::Annotate, target, note, labels);
    if let Some(reason) = offer
        && !fx.is_empty()
    {
        offer_reject(s, reason);
    }
    fx
}

/// After a false-positive or benign label: y or Enter rejects the alert's
/// open proposals too.
fn on_reject_also_key(s: &mut State, k: KeyEvent, action: Option<Action>) -> Vec<Effect> {
    let Some(Dialog::RejectAlso { .. }) = s.dialog.as_mut() else {
        return vec![];
    };
    let yes = action == Some(Action::Submit)
        || matches!(k.code, KeyCode::Char('y' | 'Y'))
            && !k.modifiers.contains(KeyModifiers::CONTROL);
    if !yes {
        return vec![];
    }
    let Some(Dialog::RejectAlso {
        members, reason, ..
    }) = s.dialog.take()
    else {
        return vec![];
    };
    reject_also(s, members, reason)
}

/// An approval or a verdict without a reason: y or Enter signs; a high-risk
/// approval asks for "yes" typed out.
fn on_confirm_key(s: &mut State, k: KeyEvent, action: Option<Action>) -> Vec<Effect> {
    let Some(Dialog::Confirm {
        verdict,
        proposal_id,
        risk,
        digest,
        typed,
        ..
    }) = s.dialog.as_mut()
    else {
        return vec![];
    };
    let needs_yes = *verdict == PayloadVerdict::Approve && *risk >= Risk::High;
    let sign_now = if needs_yes {
        action == Some(Action::Submit) && typed.trim().eq_ignore_ascii_case("yes")
    } else {
        action == Some(Action::Submit)
            || matches!(k.code, KeyCode::Char('y' | 'Y'))
                && !k.modifiers.contains(KeyModifiers::CONTROL)
    };
    if sign_now {
        let (verdict, target) = (*verdict, Target::Proposal(proposal_id.clone()));
        let shown = digest.clone();
        s.dialog = None;
        if s.selected_proposal().map(|p| &p.digest) != Some(&shown) {
            flash(
                s,
                Level::Error,
                "the proposal changed while you were confirming; nothing signed",
            );
            return vec![];
        }
        return sign(s, verdict, target, String::new(), vec![]);
    }
    match k.code {
        _ if action == Some(Action::Submit) => typed.clear(),
        KeyCode::Backspace => {
            typed.pop();
        }
        KeyCode::Char(c)
            if needs_yes && !k.modifiers.contains(KeyModifiers::CONTROL) && typed.len() < 8 =>
        {
            typed.push(c);
        }
        _ => {}
    }
    vec![]
}
