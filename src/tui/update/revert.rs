//! Reverting what ran: `U` on an executed proposal opens a dialog that
//! asks the server what a revert would create (the compensating proposal
//! and its digest), shows it, and signs a `revert` with a reason once the
//! person has seen it.
//!
//! Nothing signs while the preview is loading or failed, nor before it
//! has been on screen for [`ARM_MS`]: a reason typed ahead goes into the
//! editor, and an Enter typed ahead answers nothing. A refusal (not
//! executed, a group row, nothing selected) is a notice that keeps taking
//! keys, so a reason typed right after `U` is never read as commands.
//!
//! The signed revert goes through the outbox like every decision. A
//! revert delivered late still means what was shown: the server refuses
//! it (`stale_digest`) when the compensating proposal it would create is
//! no longer the one signed over, and (`conflict`) when it was reverted
//! meanwhile.

use super::compose::{self, editor, review};
use super::{Effect, flash};
use crate::api::{DecisionAccepted, ErrorCode, RevertPreview};
use crate::domain::digest;
use crate::domain::machine::Outlook;
use crate::domain::types::ProposalStatus;
use crate::signing::payload::{DecisionDraft, PayloadVerdict, Target};
use crate::tui::action::Action;
use crate::tui::diff::DiffModel;
use crate::tui::event::{PreviewFailure, SendFailure};
use crate::tui::state::{
    ARM_MS, Command, Dialog, Level, Preview, RevertForm, SentRevert, State, revert_outlook,
};
use crossterm::event::{KeyCode, KeyEvent};
use std::sync::Arc;

const NOT_STARTED: &str = "revert not started";

/// `U`: the revert dialog for the selected executed proposal, once its
/// alert is loaded (`pending` keeps the keys typed meanwhile). Anything
/// else is said in a notice, and nothing is signed.
pub(super) fn start(s: &mut State) -> Vec<Effect> {
    let why = refusal(s);
    super::start_single(s, NOT_STARTED, why, Command::Revert)
}

/// Why the selected row cannot be reverted, if it cannot.
fn refusal(s: &State) -> Option<String> {
    let item = match super::single(
        s,
        "a revert undoes one executed proposal",
        super::IN_HISTORY,
    ) {
        Ok(item) => item,
        Err(why) => return Some(why),
    };
    let status = item.proposal.status;
    if status != ProposalStatus::Executed {
        return Some(format!(
            "Only an executed proposal can be reverted; this one is {status}. Before it runs, halt (h) or reject (r) it instead."
        ));
    }
    s.reverts
        .sent
        .contains_key(&item.proposal.id)
        .then(|| "A revert of it was signed here; the server's answer is on its way.".into())
}

/// Opens the dialog for the selected proposal, loaded and fresh (called
/// by `pending`), and asks the server for the preview.
pub(super) fn open(s: &mut State) -> Vec<Effect> {
    if let Some(why) = refusal(s) {
        super::not_started(s, NOT_STARTED, why);
        return vec![];
    }
    let Some(p) = s.selected_proposal() else {
        super::not_started(s, NOT_STARTED, "The proposal is not loaded.".into());
        return vec![];
    };
    // As loaded, not only as the queue listed it.
    if p.status != ProposalStatus::Executed {
        let why = format!(
            "Only an executed proposal can be reverted; this one is {}.",
            p.status
        );
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
    let form = RevertForm {
        proposal_id: p.id.clone(),
        what: format!("{} → {}", p.action, p.target),
        agent: p.proposed_by.clone(),
        digest: p.digest.clone(),
        preview: Preview::Loading,
        diff: None,
        scroll: 0,
        editor: editor("reason (Enter to sign, Esc to cancel)"),
        error: None,
        armed_at: None,
    };
    let id = form.proposal_id.clone();
    s.dialog = Some(Dialog::Revert(form));
    vec![Effect::FetchRevertPreview(id)]
}

/// The preview arrived (or why not): shown in the dialog that asked for
/// it, checked first; dropped when that dialog is gone.
pub(super) fn on_preview(
    s: &mut State,
    proposal_id: &str,
    result: Result<Box<RevertPreview>, PreviewFailure>,
) {
    let Some(Dialog::Revert(form)) = s.dialog.as_mut() else {
        return;
    };
    if form.proposal_id != proposal_id || !matches!(form.preview, Preview::Loading) {
        return;
    }
    form.preview = match result.map_err(|f| failure_text(&f)) {
        Ok(p) => match problem(&p, proposal_id) {
            Some(why) => Preview::Failed(why),
            None => {
                form.diff = diff_of(&p);
                Preview::Shown(p)
            }
        },
        Err(why) => Preview::Failed(why),
    };
}

/// Why a preview must not be signed: it previews another proposal, or
/// what it says (action, target) is not what its document says, or its
/// digest is not the document's. What is shown is what is signed.
fn problem(p: &RevertPreview, proposal_id: &str) -> Option<String> {
    if p.reverts != proposal_id {
        return Some(format!(
            "The server previewed the revert of another proposal ({}); refusing to sign.",
            p.reverts
        ));
    }
    let (alert, proposal) = (&p.document["alert"], &p.document["proposal"]);
    if proposal["action"].as_str() != Some(p.action.as_str())
        || proposal["target"].as_str() != Some(p.target.as_str())
    {
        return Some(
            "The preview's action and target are not its document's; refusing to sign.".into(),
        );
    }
    let matches = digest::proposal_digest(alert, proposal).is_ok_and(|d| d == p.digest);
    (!matches)
        .then(|| "The preview's digest does not match its document; refusing to sign.".to_owned())
}

/// A permission change's diff, as the compensating proposal makes it.
fn diff_of(p: &RevertPreview) -> Option<Arc<DiffModel>> {
    let pc = p.document["proposal"].get("permission_change")?;
    let text = |k: &str| pc.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let model = DiffModel::compute(text("format"), text("before"), text("after"));
    Some(Arc::new(model))
}

/// Why there is no preview, in words.
fn failure_text(f: &PreviewFailure) -> String {
    match f.code {
        Some(ErrorCode::NotReversible) => format!("It cannot be reverted: {}", f.message),
        Some(ErrorCode::WrongState) => format!("It cannot be reverted now: {}", f.message),
        Some(code) => format!("The server refused the preview ({code}): {}", f.message),
        None => format!("No preview: {}", f.message),
    }
}

/// The dialog was drawn at `now`: once it shows the preview, Enter counts
/// from [`ARM_MS`] later.
pub(super) fn on_drawn(s: &mut State, now: i64) -> Vec<Effect> {
    let Some(Dialog::Revert(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    if form.shown().is_none() || form.armed_at.is_some() {
        return vec![];
    }
    form.armed_at = Some(now + ARM_MS);
    vec![Effect::WakeAt(now + ARM_MS)]
}

/// A key in the revert dialog, after `on_dialog_key` has taken Esc and
/// dropped an Enter typed before the dialog was on screen. Text goes into
/// the reason even while the preview loads; PgUp/PgDn scroll the diff.
pub(super) fn on_key(s: &mut State, k: KeyEvent, action: Option<Action>) -> Vec<Effect> {
    let Some(Dialog::Revert(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    match (action, k.code) {
        (Some(Action::Submit), _) => return confirm(s),
        (_, KeyCode::PageDown) if form.diff.is_some() => {
            form.scroll = form.scroll.saturating_add(5);
        }
        (_, KeyCode::PageUp) if form.diff.is_some() => {
            form.scroll = form.scroll.saturating_sub(5);
        }
        _ => {
            form.editor.input(k);
            form.error = None;
        }
    }
    vec![]
}

/// Enter: the signed revert, once the preview is shown and armed, the
/// reason is one and this person may sign it; otherwise why not, in the
/// dialog, with the reason kept.
fn confirm(s: &mut State) -> Vec<Effect> {
    let now = s.session.now_ms;
    let me = s.session.me.clone();
    let review = review(s);
    let Some(Dialog::Revert(form)) = s.dialog.as_mut() else {
        return vec![];
    };
    let preview = match &form.preview {
        Preview::Loading => {
            form.error = Some("the preview is still loading: nothing to sign yet".into());
            return vec![];
        }
        Preview::Failed(_) => {
            form.error = Some("nothing can be signed here; Esc closes".into());
            return vec![];
        }
        Preview::Shown(p) => p,
    };
    if !form.armed(now) {
        return vec![]; // the preview has not been on screen long enough
    }
    let reason = match compose::reason(&form.editor) {
        Ok(reason) => reason,
        Err(why) => {
            form.error = Some(why.into());
            return vec![];
        }
    };
    if let Some(role) = me.role
        && let Outlook::Refused(r) = revert_outlook(preview, &me.principal, role, &me.fingerprint)
    {
        form.error = Some(format!("you cannot sign this revert: {r} (nothing signed)"));
        return vec![];
    }
    let id = form.proposal_id.clone();
    let sent = SentRevert {
        creates: format!("{} → {}", preview.action, preview.target),
        agent: form.agent.clone(),
    };
    let draft = DecisionDraft {
        target: Target::Proposal(id.clone()),
        digest: form.digest.clone(),
        verdict: PayloadVerdict::Revert,
        reason,
        labels: vec![],
        review,
        revert_digest: Some(preview.digest.clone()),
        amend: None,
        amended_digest: None,
        contain_until: None,
    };
    s.dialog = None;
    flash(
        s,
        Level::Info,
        format!("revert signed: {}; sending…", sent.creates),
    );
    s.reverts.sent.insert(id, sent);
    vec![Effect::Send(draft)]
}

/// The server's answer to a revert signed here: what it created, or why
/// not; what is shown is reloaded either way.
pub(super) fn on_decision(
    s: &mut State,
    proposal_id: Option<&str>,
    result: Result<Box<DecisionAccepted>, SendFailure>,
) -> Vec<Effect> {
    let queued = matches!(result, Err(SendFailure::Queued(_)));
    let sent = match proposal_id {
        Some(id) if queued => s.reverts.sent.get(id).cloned(),
        Some(id) => s.reverts.sent.remove(id),
        None => None,
    };
    let (level, text) = match result {
        Ok(acc) => (Level::Ok, recorded(sent.as_ref(), &acc)),
        Err(SendFailure::Queued(e)) => (
            Level::Warn,
            format!(
                "revert signed, waiting in the outbox: {e} (when it arrives the server checks it still creates what was shown)"
            ),
        ),
        Err(SendFailure::Unsigned(e)) => (Level::Error, format!("revert not signed: {e}")),
        Err(SendFailure::Refused { code, message }) => (Level::Error, refused(code, &message)),
    };
    flash(s, level, text);
    if queued {
        return vec![];
    }
    reload(s)
}

/// The alert shown, loaded again: its history now says what happened.
fn reload(s: &mut State) -> Vec<Effect> {
    match s.detail.current.as_mut() {
        Some(d) => {
            d.data = None;
            vec![Effect::FetchAlert(d.alert_id.clone())]
        }
        None => vec![],
    }
}

/// "reverted: release_host → ws-0412 approved — proposal 0190… goes to
/// soar-bot · audit #12", or that it awaits a second approval. Ids are
/// whole: a UUIDv7's first characters are its time, alike in both.
fn recorded(sent: Option<&SentRevert>, acc: &DecisionAccepted) -> String {
    let what = sent.map_or("the undo", |r| r.creates.as_str());
    let seq = acc.audit.seq;
    let Some(p) = &acc.proposal else {
        return format!("reverted: {what} · audit #{seq}");
    };
    let id = &p.proposal_id;
    match p.status {
        ProposalStatus::Approved => {
            let agent = sent.map_or("its agent", |r| r.agent.as_str());
            format!("reverted: {what} approved — proposal {id} goes to {agent} · audit #{seq}")
        }
        ProposalStatus::AwaitingSecond => {
            format!("reverted: {what} awaiting a second approval (proposal {id}) · audit #{seq}")
        }
        status => format!("reverted: {what} {status} (proposal {id}) · audit #{seq}"),
    }
}

/// A refusal of a revert in words.
fn refused(code: ErrorCode, message: &str) -> String {
    match code {
        ErrorCode::Conflict => format!("revert not recorded: it was already reverted ({message})"),
        ErrorCode::StaleDigest => format!(
            "revert not recorded: what it would create changed since it was shown ({message}); press U again to see it anew"
        ),
        ErrorCode::NotReversible => format!("revert not recorded: it cannot be undone ({message})"),
        _ if code.status() == 403 => format!("revert refused by policy: {message}"),
        _ if code.status() == 409 => format!("revert not recorded: {message}"),
        _ => format!("revert refused ({code}): {message}"),
    }
}
