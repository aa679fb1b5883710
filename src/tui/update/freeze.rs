//! The stop button in the console: the freezes loaded with the queue, a
//! lead's freeze dialog, and the server's answer to what was signed there.
//!
//! A freeze is sent at once or not at all; it never waits in the outbox.
//! Decisions queue because each one is bound to a proposal's digest and
//! still means the same when delivered later; a freeze delivered after an
//! outage would stop an agent at a moment nobody chose, and a console that
//! said "queued" would let a lead believe the agent was stopped while it
//! ran. So with the server unreachable the dialog says so and signs
//! nothing, and a post that got no answer is said to be unknown, with the
//! freezes reloaded to show what the server holds.

use super::compose::{self, editor};
use super::{Effect, flash};
use crate::api::{ErrorCode, FreezeAccepted, FreezeList, FreezeMode};
use crate::domain::types::Role;
use crate::signing::freeze::{FreezeDraft, agent_problem};
use crate::tui::action::Action;
use crate::tui::event::FreezeFailure;
use crate::tui::state::{
    Conn, Dialog, FreezeChoice, FreezeForm, Freezes, Level, State, agent_name,
};
use crossterm::event::KeyEvent;

/// The server listed what is frozen (or could not).
pub(super) fn on_freezes(s: &mut State, result: Result<FreezeList, String>) {
    match result {
        Ok(list) => {
            s.freezes.list = list.freezes;
            s.freezes.loaded = true;
            s.freezes.error = None;
        }
        // The last list stays on screen, said to be unsure.
        Err(e) => s.freezes.error = Some(e),
    }
}

/// The queue could not be loaded: nor, then, can the freezes be known.
pub(super) fn on_queue_failed(s: &mut State, error: &str) {
    s.freezes.error = Some(error.to_owned());
}

/// `F`: a lead's freeze dialog, on the selected row's agent. Anyone else,
/// or anyone offline, is told so in a notice that keeps taking keys: a
/// reason typed right after `F` is never read as commands.
pub(super) fn start(s: &mut State) -> Vec<Effect> {
    let title = "freeze not started".to_owned();
    if let Some(why) = refusal(s) {
        s.dialog = Some(Dialog::Notice {
            title,
            text: format!("{why} Nothing was signed."),
        });
        return vec![];
    }
    let row_agent = match s.selected_group() {
        Some(g) => Some(g.agent.clone()),
        None => s.selected_item().map(|i| i.proposal.proposed_by.clone()),
    };
    let mut form = FreezeForm {
        row_agent,
        every: false,
        choice: FreezeChoice::Freeze(FreezeMode::NoAuto),
        editor: editor("reason (Enter to sign, Esc to cancel)"),
        error: None,
        sending: false,
    };
    form.choice = first_choice(&s.freezes, form.agent());
    s.dialog = Some(Dialog::Freeze(form));
    vec![]
}

/// Why this console cannot freeze now, if it cannot.
fn refusal(s: &State) -> Option<String> {
    match s.session.me.role {
        Some(Role::Lead) => {}
        Some(role) => {
            return Some(format!(
                "Only a lead can freeze or unfreeze an agent; you are signed in as {role}."
            ));
        }
        None => {
            return Some(
                "Only a lead can freeze an agent, and the login has not said your role yet.".into(),
            );
        }
    }
    (s.session.conn != Conn::Online).then(|| unreachable_text().to_owned())
}

fn unreachable_text() -> &'static str {
    "The server is unreachable. A freeze is sent at once or not at all (it never waits in the outbox), so it needs the server."
}

/// What the dialog offers first for `agent`: the mode of the freeze on it,
/// so Enter on a frozen agent never weakens it; else `no_auto`.
fn first_choice(freezes: &Freezes, agent: &str) -> FreezeChoice {
    let mode = freezes.on(agent).map_or(FreezeMode::NoAuto, |f| f.mode);
    FreezeChoice::Freeze(mode)
}

/// What can be signed for `agent`: both modes, and an unfreeze where a
/// freeze is on it (or where the console cannot tell).
fn choices(freezes: &Freezes, agent: &str) -> Vec<FreezeChoice> {
    let mut all = vec![
        FreezeChoice::Freeze(FreezeMode::NoAuto),
        FreezeChoice::Freeze(FreezeMode::Hold),
    ];
    if freezes.on(agent).is_some() || !freezes.known() {
        all.push(FreezeChoice::Unfreeze);
    }
    all
}

/// A key in the freeze dialog, after `on_dialog_key` has taken Esc and
/// dropped an Enter typed before the dialog was on screen.
pub(super) fn on_key(s: &mut State, k: KeyEvent, action: Option<Action>) -> Vec<Effect> {
    let Some(Dialog::Freeze(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    if form.sending {
        return vec![]; // the answer comes back to this dialog
    }
    form.error = None;
    match action {
        Some(Action::ToggleAllAgents) => toggle_agent(form, &s.freezes),
        Some(Action::CycleFreezeMode) => {
            let all = choices(&s.freezes, form.agent());
            let at = all.iter().position(|c| *c == form.choice);
            form.choice = all[at.map_or(0, |i| (i + 1) % all.len())];
        }
        Some(Action::Submit) => return confirm(s),
        _ => {
            form.editor.input(k);
        }
    }
    vec![]
}

/// The row's agent or every agent; a choice the other one does not offer
/// (an unfreeze of what is not frozen) falls back to its first.
fn toggle_agent(form: &mut FreezeForm, freezes: &Freezes) {
    if form.row_agent.is_none() {
        form.error = Some("no row is selected: only every agent (*) can be frozen here".into());
        return;
    }
    form.every = !form.every;
    if !choices(freezes, form.agent()).contains(&form.choice) {
        form.choice = first_choice(freezes, form.agent());
    }
}

/// Enter in the dialog: the draft to sign and post, once the reason is
/// one and the server is there; otherwise why not, in the dialog, with
/// the reason kept.
fn confirm(s: &mut State) -> Vec<Effect> {
    let online = s.session.conn == Conn::Online;
    let Some(Dialog::Freeze(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    let reason = compose::typed(&form.editor);
    let agent = form.agent().to_owned();
    let problem = if !crate::domain::machine::reason_ok(&reason) {
        Some(format!("{} (nothing signed)", compose::REASON_REQUIRED))
    } else if !online {
        Some(format!("{} Nothing signed.", unreachable_text()))
    } else {
        agent_problem(&agent).map(|p| format!("{p} (nothing signed)"))
    };
    if let Some(p) = problem {
        form.error = Some(p);
        return vec![];
    }
    form.sending = true;
    vec![Effect::SendFreeze(FreezeDraft {
        agent,
        mode: form.choice.mode(),
        reason,
    })]
}

/// The server's answer to a signed freeze: recorded (the list it sends is
/// what is frozen now), or why not, said in the dialog where the reason
/// is still typed, or on the message line if the dialog was closed.
pub(super) fn on_sent(
    s: &mut State,
    agent: &str,
    result: Result<Box<FreezeAccepted>, FreezeFailure>,
) -> Vec<Effect> {
    let waiting = matches!(&s.dialog, Some(Dialog::Freeze(f)) if f.sending);
    let (text, fx) = match result {
        Ok(acc) => {
            s.freezes.list = acc.freezes;
            s.freezes.loaded = true;
            s.freezes.error = None;
            if waiting {
                s.dialog = None;
            }
            flash(s, Level::Ok, recorded(s, agent, &acc.event, acc.audit.seq));
            return vec![];
        }
        Err(FreezeFailure::Unsigned(e)) => (format!("not signed: {e}"), vec![]),
        Err(FreezeFailure::Refused { code, message }) => (refused(code, &message), vec![]),
        // Perhaps recorded, perhaps not: the list says which.
        Err(FreezeFailure::NoAnswer(e)) => (
            format!(
                "no answer from the server ({e}): it may not be recorded; the freezes are reloaded — look before signing again"
            ),
            vec![Effect::FetchFreezes],
        ),
    };
    match s.dialog.as_mut() {
        Some(Dialog::Freeze(form)) if waiting => {
            form.sending = false;
            form.error = Some(text);
        }
        _ => flash(s, Level::Error, text),
    }
    fx
}

/// "soar-bot frozen (hold) · audit #12", "every agent unfrozen · audit #13".
fn recorded(s: &State, agent: &str, event: &str, seq: i64) -> String {
    let who = agent_name(agent);
    match (event, s.freezes.on(agent)) {
        ("agent_frozen", Some(f)) => format!(
            "{who} frozen ({}) · signed and recorded · audit #{seq}",
            f.mode
        ),
        ("agent_unfrozen", _) => format!("{who} unfrozen · signed and recorded · audit #{seq}"),
        _ => format!("{event}: {who} · signed and recorded · audit #{seq}"),
    }
}

/// A refusal in words: who may, what was not frozen, or the server's own.
fn refused(code: ErrorCode, message: &str) -> String {
    match code {
        ErrorCode::LeadRequired => format!("refused: only a lead may freeze ({message})"),
        ErrorCode::NotFrozen => format!("not recorded: {message}"),
        ErrorCode::ReasonRequired => format!("refused: {message}"),
        _ => format!("refused ({code}): {message}"),
    }
}
