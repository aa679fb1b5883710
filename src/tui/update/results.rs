//! Answers from the network: an alert's detail, a decision's fate.

use super::queue::on_selection;
use super::{Effect, flash};
use crate::api::{AlertDetail, DecisionAccepted, ErrorCode};
use crate::domain::digest;
use crate::tui::diff::DiffModel;
use crate::tui::event::SendFailure;
use crate::tui::state::{Detail, Level, State};
use std::sync::Arc;

/// An alert arrived (the selection's, or one loaded ahead of it): its
/// digests are checked once and it is kept for the queue's items.
pub(super) fn on_detail(s: &mut State, alert_id: String, result: Result<Arc<AlertDetail>, String>) {
    let current = s.detail.current.as_mut().filter(|d| d.alert_id == alert_id);
    let data = match result {
        Ok(data) => data,
        Err(e) => {
            // What was loaded before stays on screen, and signable.
            if let Some(d) = current {
                d.error = Some(e);
            }
            return;
        }
    };
    let is_current = current.is_some();
    if !is_current && !s.detail.prefetching.contains(&alert_id) {
        return; // the selection moved on
    }
    let entry = checked(alert_id.clone(), data.clone());
    for p in &data.proposals {
        if let Some(pc) = p.document.get("permission_change")
            && !s.detail.diffs.contains_key(&p.digest)
        {
            let text = |k: &str| pc.get(k).and_then(|v| v.as_str()).unwrap_or_default();
            let model = DiffModel::compute(text("format"), text("before"), text("after"));
            s.detail.diffs.insert(p.digest.clone(), Arc::new(model));
        }
    }
    // Keep the queue row's view of the proposal fresh too, never older;
    // what only the queue says (groupable, what the rule needs) stays.
    for p in &data.proposals {
        if let Some(item) = s.queue.items.get_mut(&p.id)
            && p.change_seq > item.proposal.change_seq
        {
            let (groupable, needs) = (item.proposal.groupable, item.proposal.needs);
            item.proposal = p.into();
            item.proposal.groupable = groupable;
            item.proposal.needs = needs;
        }
    }
    if is_current {
        s.detail.current = Some(entry.clone());
    }
    s.detail.cache.insert(alert_id, entry);
}

/// The alert with every digest recomputed from the served documents: a
/// mismatch means what is shown is not what would be signed.
fn checked(alert_id: String, data: Arc<AlertDetail>) -> Detail {
    let digest_ok = data
        .proposals
        .iter()
        .map(|p| {
            let ok = digest::proposal_digest(&data.alert.document, &p.document)
                .is_ok_and(|dg| dg == p.digest);
            (p.id.clone(), ok)
        })
        .collect();
    let alert_digest_ok =
        digest::alert_digest(&data.alert.document).is_ok_and(|dg| dg == data.digest);
    Detail {
        alert_id,
        data: Some(data),
        error: None,
        digest_ok,
        alert_digest_ok,
    }
}

pub(super) fn on_decision(
    s: &mut State,
    proposal_id: Option<String>,
    verdict: &str,
    result: Result<Box<DecisionAccepted>, SendFailure>,
) -> Vec<Effect> {
    if verdict == "revert" {
        return super::revert::on_decision(s, proposal_id.as_deref(), result);
    }
    if verdict == "extend" {
        return super::extend::on_decision(s, result);
    }
    let answered = match &result {
        Ok(_) => Answered::Recorded,
        Err(SendFailure::Queued(_)) => Answered::Queued,
        Err(_) => Answered::Refused,
    };
    let fx = on_one_decision(s, proposal_id.as_deref(), verdict, result);
    if let Some(id) = &proposal_id {
        count_into_group(s, id, answered);
    }
    fx
}

enum Answered {
    Recorded,
    Queued,
    Refused,
}

/// A member of the group signed last: its answer is counted into the
/// group's one message (which replaces the member's own).
fn count_into_group(s: &mut State, id: &str, answered: Answered) {
    let Some(g) = s.queue.group_send.as_mut() else {
        return;
    };
    if !g.waiting.remove(id) {
        return;
    }
    match answered {
        Answered::Recorded => g.recorded += 1,
        Answered::Queued => g.queued += 1,
        Answered::Refused => {
            g.refused += 1;
            g.last_refusal = s.session.flash.as_ref().map(|f| f.text.clone());
        }
    }
    let mut text = format!("{} · {} of {} recorded", g.summary, g.recorded, g.size);
    if g.queued > 0 {
        text.push_str(&format!(", {} waiting in the outbox", g.queued));
    }
    if g.refused > 0 {
        text.push_str(&format!(", {} refused", g.refused));
        if let Some(why) = &g.last_refusal {
            text.push_str(&format!(" (last: {why})"));
        }
    }
    let level = match (g.refused, g.queued) {
        (0, 0) => Level::Ok,
        (0, _) => Level::Warn,
        _ => Level::Error,
    };
    if g.waiting.is_empty() {
        s.queue.group_send = None;
    }
    flash(s, level, text);
}

fn on_one_decision(
    s: &mut State,
    proposal_id: Option<&str>,
    verdict: &str,
    result: Result<Box<DecisionAccepted>, SendFailure>,
) -> Vec<Effect> {
    match result {
        Ok(acc) => {
            let status = acc
                .proposal
                .as_ref()
                .map(|p| format!(" → {}", p.status))
                .unwrap_or_default();
            flash(
                s,
                Level::Ok,
                format!(
                    "{verdict} signed and recorded{status} · audit #{}",
                    acc.audit.seq
                ),
            );
            let mut fx = Vec::new();
            if let Some(d) = &s.detail.current {
                fx.push(Effect::FetchAlert(d.alert_id.clone()));
                s.detail.current = None;
            }
            fx.extend(on_selection(s));
            fx
        }
        Err(SendFailure::Queued(e)) => {
            flash(
                s,
                Level::Warn,
                format!("{verdict} signed, waiting in the outbox: {e}"),
            );
            vec![]
        }
        Err(SendFailure::Unsigned(e)) => {
            if let Some(id) = proposal_id {
                s.queue.sent.remove(id);
            }
            flash(s, Level::Error, format!("not signed: {e}"));
            vec![]
        }
        Err(SendFailure::Refused { code, message }) => {
            if let Some(id) = proposal_id {
                s.queue.sent.remove(id);
            }
            let text = match (code.status(), code) {
                (_, ErrorCode::StaleDigest) => format!(
                    "not recorded: the proposal changed since you saw it ({message}); reloaded — review it again"
                ),
                (409, _) => format!("not recorded: {message}"),
                (403, _) => format!("refused by policy: {message}"),
                _ => format!("refused ({code}): {message}"),
            };
            flash(s, Level::Error, text);
            // Reload what is shown so the person sees what changed.
            let mut fx = Vec::new();
            if let Some(d) = s.detail.current.as_mut() {
                d.data = None;
                fx.push(Effect::FetchAlert(d.alert_id.clone()));
            }
            fx
        }
    }
}
