//! The signing commands: checks before signing, the reason, note and
//! confirmation dialogs, and the draft handed to the effects runner.

use super::{Effect, flash};
use crate::domain::types::{Label, ProposalStatus, Risk, Verdict};
use crate::signing::payload::{DecisionDraft, GroupReview, PayloadVerdict, Review, Target};
use crate::tui::action::{Action, Mode};
use crate::tui::keymap::Keymap;
use crate::tui::state::{Dialog, GroupSend, Level, State, Tab};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_textarea::TextArea;

pub(super) fn editor(placeholder: &str) -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text(placeholder);
    t
}

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
    s.dialog = Some(Dialog::Reason {
        verdict,
        proposal_id: id,
        editor: editor("reason (Enter to sign, Esc to cancel)"),
        error: None,
    });
    vec![]
}

/// Sampled review: confirm what policy approved, signed at once.
pub(super) fn confirm_sample(s: &mut State) -> Vec<Effect> {
    let Some(id) = signable(s, Verdict::Confirm) else {
        return vec![];
    };
    sign(
        s,
        PayloadVerdict::Confirm,
        Target::Proposal(id),
        String::new(),
        vec![],
    )
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
                && i.proposal.groupable
        }) && !s.queue.sent.contains(id)
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
    let seconds = ((s.session.now_ms - opened_ms).max(0) as f64 / 100.0).round() / 10.0;
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
        }));
    }
    let note = if dropped.is_empty() {
        format!("{verdict}: {size} signed, one per proposal")
    } else {
        format!(
            "{verdict}: {size} signed; {} left out (changed since shown or already decided)",
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

pub(super) fn start_approve(s: &mut State) -> Vec<Effect> {
    let Some(id) = signable(s, Verdict::Approve) else {
        return vec![];
    };
    let risk = s
        .selected_item()
        .map(|i| i.proposal.risk)
        .unwrap_or(Risk::Low);
    let unviewed = if risk >= Risk::High {
        unviewed(s)
    } else {
        vec![]
    };
    if risk >= Risk::High {
        s.dialog = Some(Dialog::Confirm {
            proposal_id: id,
            typed: String::new(),
            unviewed,
        });
        return vec![];
    }
    sign(
        s,
        PayloadVerdict::Approve,
        Target::Proposal(id),
        String::new(),
        vec![],
    )
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
    let review = Review {
        seconds: ((s.session.now_ms - s.detail.review.opened_ms).max(0) as f64 / 1000.0 * 10.0)
            .round()
            / 10.0,
        panes: s
            .detail
            .review
            .panes
            .iter()
            .map(|t| t.name().to_owned())
            .collect(),
        group: None,
    };
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
    })]
}

/// A key while a dialog is open. The dialog is edited where it is; it is
/// closed (set to `None`) only when it is done.
pub(super) fn on_dialog_key(s: &mut State, k: KeyEvent, keys: &Keymap) -> Vec<Effect> {
    let action = keys.action(Mode::Dialog, &k);
    let Some(dialog) = s.dialog.as_mut() else {
        return vec![];
    };
    if matches!(dialog, Dialog::Help) || action == Some(Action::Cancel) {
        // Any key closes help.
        s.dialog = None;
        return vec![];
    }
    match dialog {
        Dialog::Help => vec![],
        // j/k (and the arrows) scroll; any other key closes it.
        Dialog::Oversight { scroll, .. } => {
            match k.code {
                KeyCode::Char('j') | KeyCode::Down => *scroll = scroll.saturating_add(1),
                KeyCode::Char('k') | KeyCode::Up => *scroll = scroll.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => *scroll = scroll.saturating_add(10),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                _ => s.dialog = None,
            }
            vec![]
        }
        Dialog::Reason {
            verdict,
            proposal_id,
            editor,
            error,
        } => {
            if action != Some(Action::Submit) {
                editor.input(k);
                *error = None;
                return vec![];
            }
            let reason = editor.lines().join("\n").trim().to_owned();
            if !crate::domain::machine::reason_ok(&reason) {
                *error = Some("a reason of at least two characters is required".into());
                return vec![];
            }
            let pv = PayloadVerdict::from(*verdict);
            let target = Target::Proposal(proposal_id.clone());
            s.dialog = None;
            sign(s, pv, target, reason, vec![])
        }
        Dialog::Group {
            verdict,
            editor,
            error,
            ..
        } => {
            if action != Some(Action::Submit) {
                if *verdict != Verdict::Approve {
                    editor.input(k);
                    *error = None;
                }
                return vec![];
            }
            let reason = editor.lines().join("\n").trim().to_owned();
            if *verdict != Verdict::Approve && !crate::domain::machine::reason_ok(&reason) {
                *error = Some("a reason of at least two characters is required".into());
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
        Dialog::Annotate {
            alert_id,
            editor,
            labels,
            error,
        } => {
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
            let note = editor.lines().join("\n").trim().to_owned();
            if !crate::domain::machine::reason_ok(&note) && labels.is_empty() {
                *error = Some("write a note or pick a label".into());
                return vec![];
            }
            let target = Target::Alert(alert_id.clone());
            let labels = std::mem::take(labels).into_iter().collect();
            s.dialog = None;
            sign(s, PayloadVerdict::Annotate, target, note, labels)
        }
        Dialog::Confirm {
            proposal_id, typed, ..
        } => {
            if action == Some(Action::Submit) {
                if !typed.trim().eq_ignore_ascii_case("yes") {
                    typed.clear();
                    return vec![];
                }
                let target = Target::Proposal(proposal_id.clone());
                s.dialog = None;
                return sign(s, PayloadVerdict::Approve, target, String::new(), vec![]);
            }
            match k.code {
                KeyCode::Backspace => {
                    typed.pop();
                }
                KeyCode::Char(c)
                    if !k.modifiers.contains(KeyModifiers::CONTROL) && typed.len() < 8 =>
                {
                    typed.push(c);
                }
                _ => {}
            }
            vec![]
        }
    }
}
