//! `update(&mut State, Msg) -> Vec<Effect>`: every change to the console's
//! state, with no IO and no async. The effects runner does the IO.
//!
//! This file dispatches; `queue` merges, filters and sorts what the server
//! lists, `results` takes the answers of the network, `keys` reads keys in
//! the queue and the filter, `pending` holds commands that wait for their
//! proposal, `commands` runs the signing commands and their dialogs,
//! `freeze` the freezes and the lead's freeze dialog, `revert` the dialog
//! that undoes an executed proposal, `amend` the dialog that approves a
//! proposal as amended, `extend` the dialog that keeps a containment
//! longer.

mod amend;
mod commands;
mod compose;
mod extend;
mod freeze;
mod keys;
mod pending;
mod queue;
mod results;
mod revert;
#[cfg(test)]
pub(crate) mod tests;

use super::event::Msg;
use super::keymap::Keymap;
use super::state::{ARM_MS, Conn, Dialog, Flash, Level, State};
use crate::api::{CLAIM_TTL_MS, View};
use crate::signing::freeze::FreezeDraft;
use crate::signing::payload::DecisionDraft;

pub use queue::rebuild_rows;

/// What the runner must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Login,
    /// (Re)start the queue long-poll for a view from a cursor.
    Poll {
        view: View,
        after: i64,
    },
    FetchAlert(String),
    /// Load these alerts one after another, ahead of the selection; a newer
    /// list replaces this one.
    Prefetch(Vec<String>),
    /// Sign (with the person's key), keep in the outbox, send.
    Send(DecisionDraft),
    Claim {
        proposal_id: String,
        release: bool,
    },
    /// The lead's oversight figures since a time (`24h`, RFC 3339).
    FetchOversight(String),
    /// What is frozen (`GET /v1/freezes`); a newer load replaces this one.
    FetchFreezes,
    /// Sign a freeze or unfreeze with the person's key and post it at
    /// once: never kept in the outbox (see `freeze`).
    SendFreeze(FreezeDraft),
    /// What a revert of this executed proposal would create
    /// (`GET /v1/proposals/{id}/revert`).
    FetchRevertPreview(String),
    /// A tick at this time, so the screen shows what changes then (a
    /// confirmation arming).
    WakeAt(i64),
}

const FLASH_MS: i64 = 6_000;

pub(super) fn flash(s: &mut State, level: Level, text: impl Into<String>) {
    s.session.flash = Some(Flash {
        text: text.into(),
        level,
        until_ms: s.session.now_ms + FLASH_MS,
    });
}

pub fn update(s: &mut State, msg: Msg, keys: &Keymap) -> Vec<Effect> {
    let before = s.dialog.as_ref().map(std::mem::discriminant);
    let fx = on_msg(s, msg, keys);
    // Another dialog (or none): it has not been on screen yet.
    if s.dialog.as_ref().map(std::mem::discriminant) != before {
        s.dialog_shown = None;
    }
    fx
}

fn on_msg(s: &mut State, msg: Msg, keys: &Keymap) -> Vec<Effect> {
    match msg {
        Msg::Tick(now) => {
            s.session.now_ms = now;
            // A burst ends with time, not only with a poll.
            if s.queue.burst.is_some() {
                s.queue.burst = queue::burst(s.queue.items.values(), s.queue.burst_rule, now);
            }
            if s.session.flash.as_ref().is_some_and(|f| f.until_ms <= now) {
                s.session.flash = None;
            }
            vec![]
        }
        Msg::Drawn(now) => {
            if s.dialog.is_some() && s.dialog_shown.is_none() {
                s.dialog_shown = Some(now);
            }
            if matches!(s.dialog, Some(Dialog::Revert(_))) {
                return revert::on_drawn(s, now);
            }
            if matches!(s.dialog, Some(Dialog::Amend(_))) {
                return amend::on_drawn(s, now);
            }
            if matches!(s.dialog, Some(Dialog::Extend(_))) {
                return extend::on_drawn(s, now);
            }
            // A dialog that signs an approval starts reading keys ARM_MS
            // after it was first on screen.
            match s.dialog.as_mut() {
                Some(
                    Dialog::Confirm { armed_at, .. }
                    | Dialog::Group { armed_at, .. }
                    | Dialog::RejectAlso { armed_at, .. },
                ) if armed_at.is_none() => {
                    *armed_at = Some(now + ARM_MS);
                    vec![Effect::WakeAt(now + ARM_MS)]
                }
                _ => vec![],
            }
        }
        Msg::Resize(w, h) => {
            s.session.size = (w, h);
            vec![]
        }
        Msg::LoggedIn(Ok(login)) => {
            s.session.me.role = login.roles.first().copied();
            s.session.leads = login.leads;
            s.session.me.fingerprint = login.fingerprint;
            s.session.conn = Conn::Connecting;
            vec![Effect::Poll {
                view: s.queue.view,
                after: 0,
            }]
        }
        Msg::LoggedIn(Err(e)) => {
            s.session.conn = Conn::Refused { error: e };
            vec![]
        }
        Msg::Queue {
            view,
            after,
            result,
            now,
        } => {
            if let Err(e) = &result {
                freeze::on_queue_failed(s, e);
            }
            let mut fx = queue::on_queue(s, view, after, result, now);
            fx.extend(pending::resume_pending(s, keys));
            fx
        }
        Msg::Detail { alert_id, result } => {
            results::on_detail(s, alert_id, result);
            pending::resume_pending(s, keys)
        }
        Msg::Decision {
            proposal_id,
            verdict,
            result,
        } => results::on_decision(s, proposal_id, &verdict, result),
        Msg::Claimed(Ok(c)) => {
            let text = match &c.claimed_by {
                Some(who) => format!("claimed by {who} for {} minutes", CLAIM_TTL_MS / 60_000),
                None => "claim released".to_owned(),
            };
            flash(s, Level::Ok, text);
            vec![]
        }
        Msg::Claimed(Err(e)) => {
            flash(s, Level::Warn, e);
            vec![]
        }
        Msg::Offline(e) => {
            if !matches!(s.session.conn, Conn::Refused { .. }) {
                s.session.conn = Conn::Offline { error: e };
            }
            vec![]
        }
        Msg::Terminate => {
            s.session.quit = true;
            vec![]
        }
        Msg::Outbox(n) => {
            s.session.outbox = n;
            vec![]
        }
        Msg::Delivered {
            proposal_id,
            verdict,
            seq,
        } => {
            let text = match seq {
                Some(seq) => format!("{verdict} delivered from the outbox · audit #{seq}"),
                None => format!("{verdict} already delivered: the server had it"),
            };
            flash(s, Level::Ok, text);
            if let Some(id) = proposal_id {
                s.queue.sent.remove(&id);
                s.reverts.sent.remove(&id);
            }
            vec![]
        }
        Msg::Freezes(result) => {
            freeze::on_freezes(s, result);
            vec![]
        }
        Msg::FreezeSent { agent, result } => freeze::on_sent(s, &agent, result),
        Msg::RevertPreview {
            proposal_id,
            result,
        } => {
            revert::on_preview(s, &proposal_id, result);
            vec![]
        }
        Msg::Oversight(result) => {
            // Never over a dialog the person is typing into.
            if s.dialog.is_some() {
                flash(
                    s,
                    Level::Info,
                    "the oversight report arrived while a dialog was open; press O again",
                );
            } else {
                s.dialog = Some(Dialog::Oversight {
                    report: result,
                    scroll: 0,
                });
            }
            vec![]
        }
        Msg::Key(k) => keys::on_key(s, k, keys),
    }
}

/// Where a person finds what the one-proposal commands on executed
/// actions (revert, extend) work on.
pub(super) const IN_HISTORY: &str = " Executed proposals are listed in the history view (v).";

/// The one proposal a one-proposal command (amend, revert, extend) acts
/// on, or why there is none: a group row (`one` says what the command does
/// to one proposal) or nothing selected (`hint` says where to look).
pub(super) fn single<'a>(
    s: &'a State,
    one: &str,
    hint: &str,
) -> Result<&'a crate::domain::records::QueueItem, String> {
    if s.selected_group().is_some() {
        return Err(format!(
            "A group row is selected: {one}. List the rows one by one (z) and select it."
        ));
    }
    s.selected_item()
        .ok_or_else(|| format!("Nothing is selected.{hint}"))
}

/// Starts a one-proposal command's dialog (`pending` keeps the keys typed
/// while its alert loads), or says in a notice why it did not start.
pub(super) fn start_single(
    s: &mut State,
    title: &str,
    refusal: Option<String>,
    command: crate::tui::state::Command,
) -> Vec<Effect> {
    if let Some(why) = refusal {
        not_started(s, title, why);
        return vec![];
    }
    pending::begin(s, command)
}

/// A command that did not start, said in a notice that keeps taking keys
/// (the person may still be typing what was meant for its dialog).
pub(super) fn not_started(s: &mut State, title: &str, why: String) {
    s.dialog = Some(crate::tui::state::Dialog::Notice {
        title: title.into(),
        text: format!("{why} Nothing was signed."),
    });
}
