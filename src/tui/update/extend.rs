//! Keeping a containment longer: `X` on an executed proposal that holds
//! until a set time opens a dialog where the person picks how much longer
//! (Tab: +1h, +4h, +8h, +24h from that time, shown as the clock will
//! read) and signs an `extend` with a reason.
//!
//! Nothing signs before the dialog has been on screen for [`ARM_MS`]: a
//! reason typed ahead goes into the editor, and an Enter typed ahead
//! answers nothing. A refusal (not executed, not timed, a group row,
//! nothing selected) is a notice that keeps taking keys, so a reason typed
//! right after `X` is never read as commands.
//!
//! The signed extension goes through the outbox like every decision; one
//! delivered late is checked by the server against the proposal's digest
//! and state (`wrong_state` once the containment ended, `conflict` when
//! the time signed has passed).

use super::compose::{self, editor, review};
use super::{Effect, flash};
use crate::api::{DecisionAccepted, ErrorCode};
use crate::domain::time::to_rfc3339;
use crate::domain::types::ProposalStatus;
use crate::signing::payload::{DecisionDraft, PayloadVerdict, Target};
use crate::tui::action::Action;
use crate::tui::event::SendFailure;
use crate::tui::state::{ARM_MS, Command, Dialog, ExtendForm, Level, State, local_time};
use crossterm::event::{KeyCode, KeyEvent};

const NOT_STARTED: &str = "extend not started";

/// `X`: the extend dialog for the selected executed proposal, once its
/// alert is loaded (`pending` keeps the keys typed meanwhile). Anything
/// else is said in a notice, and nothing is signed.
pub(super) fn start(s: &mut State) -> Vec<Effect> {
    let why = refusal(s);
    super::start_single(s, NOT_STARTED, why, Command::Extend)
}

/// Why the selected row cannot be extended, as far as the queue tells.
fn refusal(s: &State) -> Option<String> {
    let item = match super::single(
        s,
        "an extension keeps one executed containment",
        super::IN_HISTORY,
    ) {
        Ok(item) => item,
        Err(why) => return Some(why),
    };
    let status = item.proposal.status;
    (status != ProposalStatus::Executed)
        .then(|| format!("Only an executed containment can be kept longer; this one is {status}."))
}

/// Opens the dialog for the selected proposal, loaded and fresh (called
/// by `pending`): only an executed containment that holds until a time
/// still ahead.
pub(super) fn open(s: &mut State) -> Vec<Effect> {
    if let Some(why) = refusal(s) {
        super::not_started(s, NOT_STARTED, why);
        return vec![];
    }
    let now = s.session.now_ms;
    let Some(p) = s.selected_proposal() else {
        super::not_started(s, NOT_STARTED, "The proposal is not loaded.".into());
        return vec![];
    };
    let why = match (p.status, p.contain_until) {
        (ProposalStatus::Executed, Some(until)) if until > now => None,
        (ProposalStatus::Executed, Some(_)) => Some(
            "Its time has run out: the gate proposes its release now (see the history).".into(),
        ),
        (ProposalStatus::Executed, None) => Some(
            "It holds until someone reverts it (U): no rule timed it, so there is nothing to extend."
                .into(),
        ),
        (status, _) => Some(format!(
            "Only an executed containment can be kept longer; this one is {status}."
        )),
    };
    if let Some(why) = why {
        super::not_started(s, NOT_STARTED, why);
        return vec![];
    }
    let verified = s
        .detail
        .current
        .as_ref()
        .is_some_and(|d| d.digest_ok.get(&p.id) == Some(&true));
    if !verified {
        super::not_started(
            s,
            NOT_STARTED,
            "Refusing to sign: the served digest does not match the document shown.".into(),
        );
        return vec![];
    }
    let form = ExtendForm {
        proposal_id: p.id.clone(),
        what: format!("{} → {}", p.action, p.target),
        digest: p.digest.clone(),
        from: p.contain_until.unwrap_or(now),
        step: 0,
        editor: editor("reason (Enter to sign, Esc to cancel)"),
        error: None,
        armed_at: None,
    };
    s.dialog = Some(Dialog::Extend(form));
    vec![]
}

/// The dialog was drawn at `now`: Enter counts from [`ARM_MS`] later.
pub(super) fn on_drawn(s: &mut State, now: i64) -> Vec<Effect> {
    let Some(Dialog::Extend(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    if form.armed_at.is_some() {
        return vec![];
    }
    form.armed_at = Some(now + ARM_MS);
    vec![Effect::WakeAt(now + ARM_MS)]
}

/// A key in the extend dialog, after `on_dialog_key` has taken Esc and
/// dropped an Enter typed before the dialog was on screen: Tab chooses
/// how much longer, text goes into the reason.
pub(super) fn on_key(s: &mut State, k: KeyEvent, action: Option<Action>) -> Vec<Effect> {
    let Some(Dialog::Extend(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    match (action, k.code) {
        (Some(Action::Submit), _) => return confirm(s),
        (_, KeyCode::Tab) => {
            form.cycle();
            form.error = None;
        }
        _ => {
            form.editor.input(k);
            form.error = None;
        }
    }
    vec![]
}

/// Enter: the signed extension, once armed, with a reason and a time
/// still ahead; otherwise why not, in the dialog, with the reason kept.
fn confirm(s: &mut State) -> Vec<Effect> {
    let now = s.session.now_ms;
    let offset = s.session.utc_offset_s;
    let review = review(s);
    let Some(Dialog::Extend(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    if !form.armed(now) {
        return vec![]; // not on screen long enough
    }
    let reason = match compose::reason(&form.editor) {
        Ok(reason) => reason,
        Err(why) => {
            form.error = Some(why.into());
            return vec![];
        }
    };
    let until = form.until();
    if until <= now {
        form.error =
            Some("that time has passed: Tab to choose a later one (nothing signed)".into());
        return vec![];
    }
    let draft = DecisionDraft {
        target: Target::Proposal(form.proposal_id.clone()),
        digest: form.digest.clone(),
        verdict: PayloadVerdict::Extend,
        reason,
        labels: vec![],
        review,
        revert_digest: None,
        amend: None,
        amended_digest: None,
        contain_until: Some(to_rfc3339(until)),
    };
    let text = format!(
        "extension signed: {} until {}; sending…",
        form.what,
        local_time(until, now, offset)
    );
    s.dialog = None;
    flash(s, Level::Info, text);
    vec![Effect::Send(draft)]
}

/// The server's answer to an extension signed here: until when it holds
/// now, or why not; what is shown is reloaded either way.
pub(super) fn on_decision(
    s: &mut State,
    result: Result<Box<DecisionAccepted>, SendFailure>,
) -> Vec<Effect> {
    let (now, offset) = (s.session.now_ms, s.session.utc_offset_s);
    let (level, text) = match result {
        Ok(acc) => {
            let until = acc.proposal.as_ref().and_then(|p| p.contain_until);
            let when = until.map_or("later".into(), |u| {
                format!("until {}", local_time(u, now, offset))
            });
            (
                Level::Ok,
                format!("containment extended {when} · audit #{}", acc.audit.seq),
            )
        }
        Err(SendFailure::Queued(e)) => {
            let text = format!(
                "extension signed, waiting in the outbox: {e} (when it arrives the server checks it still holds)"
            );
            flash(s, Level::Warn, text);
            return vec![];
        }
        Err(SendFailure::Unsigned(e)) => (Level::Error, format!("extension not signed: {e}")),
        Err(SendFailure::Refused { code, message }) => (Level::Error, refused(code, &message)),
    };
    flash(s, level, text);
    match s.detail.current.as_mut() {
        Some(d) => {
            d.data = None;
            vec![Effect::FetchAlert(d.alert_id.clone())]
        }
        None => vec![],
    }
}

/// A refusal of an extension in words.
fn refused(code: ErrorCode, message: &str) -> String {
    match code {
        ErrorCode::WrongState => format!(
            "extension not recorded: it no longer holds on a timer (ended or reverted): {message}"
        ),
        ErrorCode::Conflict => {
            format!("extension not recorded: the time signed has passed ({message}); press X again")
        }
        ErrorCode::StaleDigest => {
            format!("extension not recorded: the proposal changed since it was shown ({message})")
        }
        _ if code.status() == 403 => format!("extension refused by policy: {message}"),
        _ => format!("extension refused ({code}): {message}"),
    }
}
