//! Commands that wait for their proposal: a command key pressed while the
//! alert it needs is loading (or older than the queue's row) waits in
//! [`Dialog::Pending`], keeping every key typed meanwhile for its dialog;
//! when the alert arrives the dialog opens with them, and when it cannot
//! open a [`Dialog::Notice`] says why where the person is typing.

use super::commands::{on_dialog_key, start_annotate, start_confirm, start_reason};
use super::{Effect, flash};
use crate::domain::types::Verdict;
use crate::tui::action::{Action, Mode};
use crate::tui::keymap::Keymap;
use crate::tui::state::{Command, Dialog, Level, State};

/// Starts a signing command on the selected proposal. When the proposal
/// it needs is still loading, the command waits in [`Dialog::Pending`]:
/// the keys typed meanwhile are kept for its dialog, never read as
/// commands.
pub(super) fn begin(s: &mut State, command: Command) -> Vec<Effect> {
    let Some(item) = s.selected_item() else {
        flash(s, Level::Warn, "nothing selected");
        return vec![];
    };
    let (proposal_id, alert_id) = (item.proposal.id.clone(), item.proposal.alert_id.clone());
    if shown_fresh(s) || s.queue.sent.contains(&proposal_id) {
        return open(s, command);
    }
    // Not loaded, older than the queue's row, or the last fetch failed:
    // fetch it again unless a fetch is on its way, and wait for it.
    let mut fx = vec![];
    if let Some(d) = s.detail.current.as_mut().filter(|d| d.alert_id == alert_id)
        && (d.error.take().is_some() || d.data.is_some())
    {
        fx.push(Effect::FetchAlert(alert_id.clone()));
    }
    s.dialog = Some(Dialog::Pending {
        command,
        proposal_id,
        alert_id,
        typed: Vec::new(),
    });
    fx
}

/// Whether the selected proposal's alert is loaded and at least as new as
/// the queue's row: only then is what the detail shows what gets signed.
fn shown_fresh(s: &State) -> bool {
    let Some(item) = s.selected_item() else {
        return false;
    };
    s.selected_proposal()
        .is_some_and(|p| p.change_seq >= item.proposal.change_seq)
}

/// A command that cannot start, said in a dialog that keeps taking keys:
/// the person may still be typing what was meant for it.
fn notice(s: &mut State, title: String, text: String) {
    s.dialog = Some(Dialog::Notice { title, text });
}

/// Opens the dialog of a command whose proposal is loaded.
fn open(s: &mut State, command: Command) -> Vec<Effect> {
    match command {
        Command::Approve => start_confirm(s, Verdict::Approve),
        Command::ConfirmSample => start_confirm(s, Verdict::Confirm),
        Command::Reason(v) => start_reason(s, v),
        Command::Annotate => start_annotate(s),
        Command::Revert => super::revert::open(s),
        Command::Amend => super::amend::open(s),
        Command::Extend => super::extend::open(s),
    }
}

/// The selected proposal's alert arrived (or failed): a command waiting for
/// it opens its dialog now, with the keys typed meanwhile in its editor.
pub(super) fn resume_pending(s: &mut State, keys: &Keymap) -> Vec<Effect> {
    let Some(Dialog::Pending {
        proposal_id,
        alert_id,
        ..
    }) = &s.dialog
    else {
        return vec![];
    };
    let selected = s.selected_item().map(|i| i.proposal.id.as_str()) == Some(proposal_id);
    let detail = s
        .detail
        .current
        .as_ref()
        .filter(|d| &d.alert_id == alert_id);
    let error = detail.and_then(|d| d.error.clone());
    let loaded = shown_fresh(s);
    if selected && !loaded && error.is_none() {
        return vec![]; // still loading
    }
    let Some(Dialog::Pending { command, typed, .. }) = s.dialog.take() else {
        return vec![];
    };
    let title = format!("{} not started", command.name());
    if !selected {
        notice(
            s,
            title,
            "The proposal left the queue while it loaded (decided or changed elsewhere). Nothing was signed.".into(),
        );
        return vec![];
    }
    if !loaded {
        notice(
            s,
            title,
            format!(
                "The proposal could not be loaded: {}. Nothing was signed.",
                error.unwrap_or_default()
            ),
        );
        return vec![];
    }
    let fx = open(s, command);
    if s.dialog.is_none() {
        // It could not open (refused, already decided…): say why where the
        // person is typing, not on the message line.
        let why = s
            .session
            .flash
            .take()
            .map(|f| f.text)
            .unwrap_or_else(|| "it cannot be done now".into());
        notice(s, title, format!("{why}. Nothing was signed."));
        return fx;
    }
    for k in typed {
        if s.dialog.is_none() {
            break;
        }
        // Typed before the dialog was on screen: text for its editor, never
        // the key that signs or cancels it.
        if matches!(
            keys.action(Mode::Dialog, &k),
            Some(Action::Submit | Action::Cancel)
        ) {
            continue;
        }
        on_dialog_key(s, k, keys);
    }
    fx
}
