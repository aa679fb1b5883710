//! The signing commands: checks before signing, the reason, note and
//! confirmation dialogs, and the draft handed to the effects runner.

use super::{Effect, flash};
use crate::domain::types::{Label, ProposalStatus, Risk, Verdict};
use crate::signing::payload::{DecisionDraft, PayloadVerdict, Review, Target};
use crate::tui::state::{Dialog, Level, State, Tab};
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
    if s.sent.contains(&id) {
        flash(
            s,
            Level::Warn,
            "already decided here; waiting for the server",
        );
        return None;
    }
    let Some(d) = s.detail.as_ref().filter(|d| d.data.is_some()) else {
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
    let ok = match verdict {
        Verdict::Halt => status == ProposalStatus::Approved,
        Verdict::Escalate => status == ProposalStatus::Pending,
        _ => status.is_open(),
    };
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

/// Panes with something in them that the person never opened.
fn unviewed(s: &State) -> Vec<Tab> {
    let Some(p) = s.selected_proposal() else {
        return vec![];
    };
    let mut out = Vec::new();
    if p.document.get("permission_change").is_some() && !s.review.panes.contains(&Tab::Diff) {
        out.push(Tab::Diff);
    }
    let has_evidence = s
        .detail
        .as_ref()
        .and_then(|d| d.data.as_ref())
        .and_then(|d| d.alert.document.get("evidence"))
        .and_then(|e| e.as_array())
        .is_some_and(|a| !a.is_empty());
    if has_evidence && !s.review.panes.contains(&Tab::Evidence) {
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
        seconds: ((s.now_ms - s.review.opened_ms).max(0) as f64 / 1000.0 * 10.0).round() / 10.0,
        panes: s.review.panes.iter().map(|t| t.name().to_owned()).collect(),
    };
    if let Target::Proposal(id) = &target {
        s.sent.insert(id.clone());
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

pub(super) fn on_dialog_key(s: &mut State, k: KeyEvent) -> Vec<Effect> {
    let Some(dialog) = s.dialog.take() else {
        return vec![];
    };
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    match dialog {
        Dialog::Help => {
            // Any key closes help.
            vec![]
        }
        Dialog::Reason {
            verdict,
            proposal_id,
            mut editor,
            ..
        } => match k.code {
            KeyCode::Esc => vec![],
            KeyCode::Enter if !k.modifiers.contains(KeyModifiers::ALT) => {
                let reason = editor.lines().join("\n").trim().to_owned();
                if !crate::domain::machine::reason_ok(&reason) {
                    s.dialog = Some(Dialog::Reason {
                        verdict,
                        proposal_id,
                        editor,
                        error: Some("a reason of at least two characters is required".into()),
                    });
                    return vec![];
                }
                let pv = match verdict {
                    Verdict::Reject => PayloadVerdict::Reject,
                    Verdict::Escalate => PayloadVerdict::Escalate,
                    Verdict::Halt => PayloadVerdict::Halt,
                    Verdict::Approve => PayloadVerdict::Approve,
                };
                sign(s, pv, Target::Proposal(proposal_id), reason, vec![])
            }
            _ => {
                editor.input(k);
                s.dialog = Some(Dialog::Reason {
                    verdict,
                    proposal_id,
                    editor,
                    error: None,
                });
                vec![]
            }
        },
        Dialog::Annotate {
            alert_id,
            mut editor,
            mut labels,
            ..
        } => {
            let toggle = match k.code {
                KeyCode::Char('f') if ctrl => Some(Label::FalsePositive),
                KeyCode::Char('t') if ctrl => Some(Label::TruePositive),
                KeyCode::Char('b') if ctrl => Some(Label::Benign),
                KeyCode::Char('n') if ctrl => Some(Label::NeedsInfo),
                _ => None,
            };
            if let Some(l) = toggle {
                if !labels.remove(&l) {
                    labels.insert(l);
                }
                s.dialog = Some(Dialog::Annotate {
                    alert_id,
                    editor,
                    labels,
                    error: None,
                });
                return vec![];
            }
            match k.code {
                KeyCode::Esc => vec![],
                KeyCode::Enter if !k.modifiers.contains(KeyModifiers::ALT) => {
                    let note = editor.lines().join("\n").trim().to_owned();
                    if !crate::domain::machine::reason_ok(&note) && labels.is_empty() {
                        s.dialog = Some(Dialog::Annotate {
                            alert_id,
                            editor,
                            labels,
                            error: Some("write a note or pick a label".into()),
                        });
                        return vec![];
                    }
                    sign(
                        s,
                        PayloadVerdict::Annotate,
                        Target::Alert(alert_id),
                        note,
                        labels.into_iter().collect(),
                    )
                }
                _ => {
                    editor.input(k);
                    s.dialog = Some(Dialog::Annotate {
                        alert_id,
                        editor,
                        labels,
                        error: None,
                    });
                    vec![]
                }
            }
        }
        Dialog::Confirm {
            proposal_id,
            mut typed,
            unviewed,
        } => match k.code {
            KeyCode::Esc => vec![],
            KeyCode::Enter => {
                if typed.trim().eq_ignore_ascii_case("yes") {
                    sign(
                        s,
                        PayloadVerdict::Approve,
                        Target::Proposal(proposal_id),
                        String::new(),
                        vec![],
                    )
                } else {
                    s.dialog = Some(Dialog::Confirm {
                        proposal_id,
                        typed: String::new(),
                        unviewed,
                    });
                    vec![]
                }
            }
            KeyCode::Backspace => {
                typed.pop();
                s.dialog = Some(Dialog::Confirm {
                    proposal_id,
                    typed,
                    unviewed,
                });
                vec![]
            }
            KeyCode::Char(c) if !ctrl => {
                if typed.len() < 8 {
                    typed.push(c);
                }
                s.dialog = Some(Dialog::Confirm {
                    proposal_id,
                    typed,
                    unviewed,
                });
                vec![]
            }
            _ => {
                s.dialog = Some(Dialog::Confirm {
                    proposal_id,
                    typed,
                    unviewed,
                });
                vec![]
            }
        },
    }
}
