//! Approving as amended: `m` on an open proposal the person could approve
//! opens a dialog with its target (or a permission change's `after`, or
//! its expiry; Tab changes which) in an editor. As it is edited the dialog
//! shows the change, whether it narrows (judged by `domain::amend`, as the
//! server judges it) and the amended digest; Enter signs one approval over
//! the digest shown and the amended one.
//!
//! Nothing signs unless the amendment narrows and differs from what was
//! proposed, nor before the dialog has been on screen for [`ARM_MS`]: keys
//! typed while the proposal loads go into the editor, and an Enter typed
//! ahead answers nothing. High and critical risk ask for `yes` after
//! Enter, as the approve confirmation does, armed again. A refusal (not
//! open, a group row, not this person's to approve) is a notice that keeps
//! taking keys, so nothing typed after `m` is read as commands.
//!
//! The approval goes through the outbox like every decision; delivered
//! late, the server refuses it (`stale_digest`) when the proposal is no
//! longer the one shown.

use super::compose::review;
use super::{Effect, flash};
use crate::domain::machine::Outlook;
use crate::signing::payload::{DecisionDraft, PayloadVerdict, Target};
use crate::tui::action::Action;
use crate::tui::state::{ARM_MS, AmendCheck, AmendForm, Command, Dialog, Level, State};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const NOT_STARTED: &str = "amend not started";

/// `m`: the amend dialog for the selected proposal, once it is loaded
/// (`pending` keeps the keys typed meanwhile). Anything else is said in a
/// notice, and nothing is signed.
pub(super) fn start(s: &mut State) -> Vec<Effect> {
    let why = refusal(s);
    super::start_single(s, NOT_STARTED, why, Command::Amend)
}

/// Why the selected row cannot be approved as amended, if it cannot: as
/// the queue lists it (`open` checks the loaded proposal again).
fn refusal(s: &State) -> Option<String> {
    let item = match super::single(s, "an amendment narrows one proposal", "") {
        Ok(item) => item,
        Err(why) => return Some(why),
    };
    let status = item.proposal.status;
    if !status.is_open() {
        return Some(format!(
            "Only an open proposal can be approved as amended; this one is {status}."
        ));
    }
    if s.queue.sent.contains(&item.proposal.id) {
        return Some("It was decided here; the server's answer is on its way.".into());
    }
    if let Some(Outlook::Refused(_)) = s.outlook(item) {
        let why = s.outlook_text(item).unwrap_or_default();
        return Some(format!("You cannot approve this: {why}."));
    }
    None
}

/// Opens the dialog over the selected proposal, loaded and fresh (called
/// by `pending`).
pub(super) fn open(s: &mut State) -> Vec<Effect> {
    if let Some(why) = refusal(s) {
        super::not_started(s, NOT_STARTED, why);
        return vec![];
    }
    let Some(p) = s.selected_proposal() else {
        super::not_started(s, NOT_STARTED, "The proposal is not loaded.".into());
        return vec![];
    };
    if !p.status.is_open() {
        let why = format!(
            "Only an open proposal can be approved as amended; this one is {}.",
            p.status
        );
        super::not_started(s, NOT_STARTED, why);
        return vec![];
    }
    let Some(d) = s.detail.current.as_ref() else {
        super::not_started(s, NOT_STARTED, "The proposal is not loaded.".into());
        return vec![];
    };
    let (Some(data), Some(true)) = (d.data.as_ref(), d.digest_ok.get(&p.id)) else {
        super::not_started(
            s,
            NOT_STARTED,
            "Refusing to sign: the served digest does not match the document shown.".into(),
        );
        return vec![];
    };
    let form = AmendForm::new(p.clone(), data.alert.document.clone());
    s.dialog = Some(Dialog::Amend(Box::new(form)));
    vec![]
}

/// The dialog was drawn at `now`: Enter counts from [`ARM_MS`] later (and
/// again after the `yes` stage opens).
pub(super) fn on_drawn(s: &mut State, now: i64) -> Vec<Effect> {
    let Some(Dialog::Amend(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    if form.armed_at.is_some() {
        return vec![];
    }
    form.armed_at = Some(now + ARM_MS);
    vec![Effect::WakeAt(now + ARM_MS)]
}

/// A key in the amend dialog, after `on_dialog_key` has taken Esc and
/// dropped an Enter typed before the dialog was on screen.
pub(super) fn on_key(s: &mut State, k: KeyEvent, action: Option<Action>) -> Vec<Effect> {
    let now = s.session.now_ms;
    let Some(Dialog::Amend(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    if action == Some(Action::Submit) {
        return confirm(s);
    }
    if form.confirming.is_some() && !form.armed(now) {
        return vec![]; // typed before the `yes` stage could be read
    }
    if let Some(typed) = form.confirming.as_mut() {
        match k.code {
            KeyCode::Backspace => {
                typed.pop();
            }
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) && typed.len() < 8 => {
                typed.push(c);
            }
            _ => {}
        }
        return vec![];
    }
    match k.code {
        KeyCode::Tab => form.next_field(),
        KeyCode::PageDown if form.diff.is_some() => form.scroll = form.scroll.saturating_add(5),
        KeyCode::PageUp if form.diff.is_some() => form.scroll = form.scroll.saturating_sub(5),
        _ if form.field.one_line() && newline(&k) => {}
        _ => {
            form.editor.input(k);
            form.error = None;
            form.recheck();
        }
    }
    vec![]
}

/// Keys the editor would read as a new line (Enter is the dialog's): a
/// target and an expiry are one line.
fn newline(k: &KeyEvent) -> bool {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    matches!(k.code, KeyCode::Enter) || ctrl && matches!(k.code, KeyCode::Char('m' | 'j'))
}

/// Enter: once armed and the amendment narrows, the signed approval (for
/// high and critical risk, first the `yes` stage); otherwise why not, in
/// the dialog, with the amendment kept.
fn confirm(s: &mut State) -> Vec<Effect> {
    let now = s.session.now_ms;
    let shown = s.selected_proposal().map(|p| p.digest.clone());
    let review = review(s);
    let Some(Dialog::Amend(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    if !form.armed(now) {
        return vec![]; // not on screen long enough
    }
    let (amend, amended_digest) = match &form.check {
        AmendCheck::Narrows {
            amend,
            amended_digest,
            ..
        } => (amend.clone(), amended_digest.clone()),
        AmendCheck::Unchanged => {
            form.error =
                Some("nothing is amended yet (to approve it as proposed, Esc and a)".into());
            return vec![];
        }
        AmendCheck::Refused(why) => {
            form.error = Some(format!("it does not narrow: {why} (nothing signed)"));
            return vec![];
        }
    };
    if shown.as_deref() != Some(form.digest()) {
        form.error = Some(
            "the proposal changed while you were amending; Esc and look again (nothing signed)"
                .into(),
        );
        return vec![];
    }
    match form.confirming.as_deref() {
        None if form.needs_yes() => {
            form.confirming = Some(String::new());
            form.armed_at = None; // the `yes` stage is armed anew
            return vec![];
        }
        Some(typed) if !typed.trim().eq_ignore_ascii_case("yes") => {
            form.confirming = Some(String::new());
            return vec![];
        }
        _ => {}
    }
    let draft = DecisionDraft {
        target: Target::Proposal(form.proposal_id.clone()),
        digest: form.digest().to_owned(),
        verdict: PayloadVerdict::Approve,
        reason: String::new(),
        labels: vec![],
        review,
        revert_digest: None,
        amend: Some(amend),
        amended_digest: Some(amended_digest),
        contain_until: None,
    };
    let id = form.proposal_id.clone();
    s.dialog = None;
    s.queue.sent.insert(id);
    flash(s, Level::Info, "approval as amended signed; sending…");
    vec![Effect::Send(draft)]
}
