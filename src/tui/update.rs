//! `update(&mut State, Msg) -> Vec<Effect>`: every change to the console's
//! state, with no IO and no async. The effects runner does the IO.

use super::action::Action;
use super::diff::DiffModel;
use super::event::{Msg, SendFailure};
use super::keymap::Keymap;
use super::state::{
    Conn, Detail, Dialog, Flash, Level, ReviewTrack, SortKey, State, TABS, Tab, VIEWS,
};
use crate::api::{ErrorCode, View};
use crate::domain::digest;
use crate::domain::records::QueueItem;
use crate::domain::types::Verdict;
use crate::signing::payload::DecisionDraft;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::cmp::Reverse;
use std::collections::BTreeSet;

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
    /// Sign (with the person's key), keep in the outbox, send.
    Send(DecisionDraft),
    Claim {
        proposal_id: String,
        release: bool,
    },
}

const FLASH_MS: i64 = 6_000;

pub(super) fn flash(s: &mut State, level: Level, text: impl Into<String>) {
    s.flash = Some(Flash {
        text: text.into(),
        level,
        until_ms: s.now_ms + FLASH_MS,
    });
}

pub fn update(s: &mut State, msg: Msg, keys: &Keymap) -> Vec<Effect> {
    match msg {
        Msg::Tick(now) => {
            s.now_ms = now;
            if s.flash.as_ref().is_some_and(|f| f.until_ms <= now) {
                s.flash = None;
            }
            vec![]
        }
        Msg::Resize(w, h) => {
            s.size = (w, h);
            vec![]
        }
        Msg::LoggedIn(Ok(login)) => {
            s.me.role = login.roles.first().copied();
            s.me.fingerprint = login.fingerprint;
            s.conn = Conn::Connecting;
            vec![Effect::Poll {
                view: s.view,
                after: 0,
            }]
        }
        Msg::LoggedIn(Err(e)) => {
            s.conn = Conn::Offline { error: e.clone() };
            flash(s, Level::Error, format!("login failed: {e}"));
            vec![]
        }
        Msg::Queue {
            view,
            after,
            result,
            now,
        } => on_queue(s, view, after, result, now),
        Msg::Detail { alert_id, result } => {
            on_detail(s, alert_id, result);
            vec![]
        }
        Msg::Decision {
            proposal_id,
            verdict,
            result,
        } => on_decision(s, proposal_id, &verdict, result),
        Msg::Claimed(Ok(c)) => {
            let text = match &c.claimed_by {
                Some(who) => format!("claimed by {who} for 10 minutes"),
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
            s.conn = Conn::Offline { error: e };
            vec![]
        }
        Msg::Terminate => {
            s.quit = true;
            vec![]
        }
        Msg::Outbox(n) => {
            s.outbox = n;
            vec![]
        }
        Msg::Delivered { verdict, seq } => {
            flash(
                s,
                Level::Ok,
                format!("{verdict} delivered from the outbox · audit #{seq}"),
            );
            vec![]
        }
        Msg::Key(k) => on_key(s, k, keys),
    }
}

fn on_queue(
    s: &mut State,
    view: View,
    after: i64,
    result: Result<crate::api::QueueResponse, String>,
    now: i64,
) -> Vec<Effect> {
    if view != s.view {
        return vec![]; // a poll for a view we left: latest wins
    }
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            s.conn = Conn::Offline { error: e };
            return vec![];
        }
    };
    s.conn = Conn::Online;
    s.last_update_ms = Some(now);
    if after == 0 {
        s.items.clear();
    }
    for id in &resp.page.gone {
        s.items.remove(id);
        s.sent.remove(id);
    }
    for item in resp.page.items {
        s.items.insert(item.proposal.id.clone(), item);
    }
    s.counts = resp.counts;
    // While more pages follow at once, sort only after the last one (a
    // first load of 100,000 items would otherwise sort 100 times).
    if resp.page.more && !s.rows.is_empty() {
        return vec![];
    }
    let before = s.rows.get(s.selected).cloned();
    rebuild_rows(s);
    reselect(s, before)
}

/// Filter and sort `items` into `rows`. Critical-first unless the person
/// picked another order.
pub fn rebuild_rows(s: &mut State) {
    let needle = s.filter.to_lowercase();
    let mut rows: Vec<&QueueItem> = s
        .items
        .values()
        .filter(|i| needle.is_empty() || matches_filter(i, &needle))
        .collect();
    // Comparisons borrow; nothing is allocated per comparison.
    match s.sort {
        SortKey::Priority => rows.sort_by(|a, b| {
            (
                Reverse(a.proposal.risk),
                Reverse(a.severity),
                a.proposal.expires_at,
                &a.proposal.id,
            )
                .cmp(&(
                    Reverse(b.proposal.risk),
                    Reverse(b.severity),
                    b.proposal.expires_at,
                    &b.proposal.id,
                ))
        }),
        SortKey::Deadline => rows.sort_by(|a, b| {
            (a.proposal.expires_at, &a.proposal.id).cmp(&(b.proposal.expires_at, &b.proposal.id))
        }),
        SortKey::Oldest => rows.sort_by(|a, b| {
            (a.proposal.created_at, &a.proposal.id).cmp(&(b.proposal.created_at, &b.proposal.id))
        }),
        SortKey::Confidence => rows.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then_with(|| a.proposal.id.cmp(&b.proposal.id))
        }),
    }
    s.rows = rows.into_iter().map(|i| i.proposal.id.clone()).collect();
}

fn matches_filter(i: &QueueItem, needle: &str) -> bool {
    [
        i.alert_title.as_str(),
        i.proposal.target.as_str(),
        i.proposal.action.as_str(),
        i.entity_id.as_str(),
        i.source.as_str(),
        i.proposal.risk.as_str(),
        i.severity.as_str(),
    ]
    .iter()
    .any(|f| f.to_lowercase().contains(needle))
}

/// Keeps the same proposal selected if it is still listed; fetches the
/// alert when the selection lands on another one.
fn reselect(s: &mut State, before: Option<String>) -> Vec<Effect> {
    if let Some(id) = &before
        && let Some(i) = s.rows.iter().position(|r| r == id)
    {
        s.selected = i;
    }
    if s.selected >= s.rows.len() {
        s.selected = s.rows.len().saturating_sub(1);
    }
    on_selection(s)
}

/// After the selection moved: load its alert if not loaded, start review
/// tracking for the proposal.
fn on_selection(s: &mut State) -> Vec<Effect> {
    let Some(item) = s.selected_item() else {
        s.detail = None;
        return vec![];
    };
    let (pid, aid) = (item.proposal.id.clone(), item.proposal.alert_id.clone());
    if s.review.proposal_id != pid {
        s.review = ReviewTrack {
            proposal_id: pid,
            opened_ms: s.now_ms,
            panes: BTreeSet::from([Tab::Summary]),
        };
        s.tab = Tab::Summary;
        s.scroll = 0;
        s.evidence_index = 0;
    }
    if s.detail.as_ref().is_some_and(|d| d.alert_id == aid) {
        return vec![];
    }
    s.detail = Some(Detail {
        alert_id: aid.clone(),
        data: None,
        error: None,
        digest_ok: Default::default(),
        alert_digest_ok: false,
    });
    vec![Effect::FetchAlert(aid)]
}

fn on_detail(
    s: &mut State,
    alert_id: String,
    result: Result<std::sync::Arc<crate::api::AlertDetail>, String>,
) {
    let Some(d) = s.detail.as_mut().filter(|d| d.alert_id == alert_id) else {
        return; // the selection moved on
    };
    match result {
        Ok(data) => {
            // Recompute every digest from the served documents; a mismatch
            // means what is shown is not what would be signed.
            d.digest_ok = data
                .proposals
                .iter()
                .map(|p| {
                    let ok = digest::proposal_digest(&data.alert.document, &p.document)
                        .is_ok_and(|dg| dg == p.digest);
                    (p.id.clone(), ok)
                })
                .collect();
            d.alert_digest_ok =
                digest::alert_digest(&data.alert.document).is_ok_and(|dg| dg == data.digest);
            for p in &data.proposals {
                if let Some(pc) = p.document.get("permission_change")
                    && !s.diffs.contains_key(&p.digest)
                {
                    let text = |k: &str| pc.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                    let model = DiffModel::compute(text("format"), text("before"), text("after"));
                    s.diffs.insert(p.digest.clone(), std::sync::Arc::new(model));
                }
            }
            // Keep the queue row's view of the proposal fresh too.
            for p in &data.proposals {
                if let Some(item) = s.items.get_mut(&p.id) {
                    item.proposal = p.into();
                }
            }
            d.data = Some(data);
            d.error = None;
        }
        Err(e) => d.error = Some(e),
    }
}

fn on_decision(
    s: &mut State,
    proposal_id: Option<String>,
    verdict: &str,
    result: Result<Box<crate::api::DecisionAccepted>, SendFailure>,
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
            if let Some(d) = &s.detail {
                fx.push(Effect::FetchAlert(d.alert_id.clone()));
                s.detail = None;
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
            if let Some(id) = &proposal_id {
                s.sent.remove(id);
            }
            flash(s, Level::Error, format!("not signed: {e}"));
            vec![]
        }
        Err(SendFailure::Refused { code, message }) => {
            if let Some(id) = &proposal_id {
                s.sent.remove(id);
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
            if let Some(d) = s.detail.as_mut() {
                d.data = None;
                fx.push(Effect::FetchAlert(d.alert_id.clone()));
            }
            fx
        }
    }
}

fn move_to(s: &mut State, index: usize) -> Vec<Effect> {
    if s.rows.is_empty() {
        return vec![];
    }
    s.selected = index.min(s.rows.len() - 1);
    on_selection(s)
}

fn set_tab(s: &mut State, t: Tab) {
    s.tab = t;
    s.scroll = 0;
    s.review.panes.insert(t);
}

fn switch_view(s: &mut State, v: View) -> Vec<Effect> {
    s.view = v;
    s.items.clear();
    s.rows.clear();
    s.selected = 0;
    s.detail = None;
    vec![Effect::Poll { view: v, after: 0 }]
}

fn on_key(s: &mut State, k: KeyEvent, keys: &Keymap) -> Vec<Effect> {
    if s.dialog.is_some() {
        return on_dialog_key(s, k);
    }
    if s.filtering {
        match k.code {
            KeyCode::Enter | KeyCode::Esc => s.filtering = false,
            KeyCode::Backspace => {
                s.filter.pop();
            }
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => s.filter.push(c),
            _ => {}
        }
        if k.code == KeyCode::Esc {
            s.filter.clear();
        }
        let before = s.rows.get(s.selected).cloned();
        rebuild_rows(s);
        return reselect(s, before);
    }
    let Some(action) = keys.action(&k) else {
        if k.code == KeyCode::Esc {
            s.flash = None;
        }
        if let KeyCode::Char(c @ '1'..='5') = k.code {
            set_tab(s, TABS[(c as u8 - b'1') as usize]);
        }
        return vec![];
    };
    let page = s.size.1.saturating_sub(6).max(1) as usize;
    match action {
        Action::Quit => {
            s.quit = true;
            vec![]
        }
        Action::Help => {
            s.dialog = Some(Dialog::Help);
            vec![]
        }
        Action::Down => move_to(s, s.selected + 1),
        Action::Up => move_to(s, s.selected.saturating_sub(1)),
        Action::PageDown => move_to(s, s.selected + page),
        Action::PageUp => move_to(s, s.selected.saturating_sub(page)),
        Action::Top => move_to(s, 0),
        Action::Bottom => move_to(s, usize::MAX),
        Action::NextView | Action::PrevView => {
            let i = VIEWS.iter().position(|v| *v == s.view).unwrap_or(0);
            let n = VIEWS.len();
            let next = if action == Action::NextView {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            switch_view(s, VIEWS[next])
        }
        Action::NextTab | Action::PrevTab => {
            let i = TABS.iter().position(|t| *t == s.tab).unwrap_or(0);
            let n = TABS.len();
            let next = if action == Action::NextTab {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            set_tab(s, TABS[next]);
            vec![]
        }
        Action::ScrollDown => {
            s.scroll = s.scroll.saturating_add(5);
            vec![]
        }
        Action::ScrollUp => {
            s.scroll = s.scroll.saturating_sub(5);
            vec![]
        }
        Action::NextEvidence | Action::PrevEvidence => {
            let n = s
                .detail
                .as_ref()
                .and_then(|d| d.data.as_ref())
                .and_then(|d| d.alert.document.get("evidence"))
                .and_then(|e| e.as_array())
                .map_or(0, Vec::len);
            if n > 0 {
                s.evidence_index = if action == Action::NextEvidence {
                    (s.evidence_index + 1) % n
                } else {
                    (s.evidence_index + n - 1) % n
                };
                s.scroll = 0;
            }
            set_tab(s, Tab::Evidence);
            vec![]
        }
        Action::NextProposal => {
            let Some(alert) = s.selected_item().map(|i| i.proposal.alert_id.clone()) else {
                return vec![];
            };
            let n = s.rows.len();
            let next = (1..n).map(|off| (s.selected + off) % n).find(|&i| {
                s.items
                    .get(&s.rows[i])
                    .is_some_and(|it| it.proposal.alert_id == alert)
            });
            match next {
                Some(i) => move_to(s, i),
                None => vec![],
            }
        }
        Action::Filter => {
            s.filtering = true;
            vec![]
        }
        Action::Sort => {
            s.sort = s.sort.next();
            let before = s.rows.get(s.selected).cloned();
            rebuild_rows(s);
            flash(s, Level::Info, format!("sorted by {}", s.sort.name()));
            reselect(s, before)
        }
        Action::Refresh => {
            let mut fx = vec![Effect::Poll {
                view: s.view,
                after: 0,
            }];
            if let Some(d) = s.detail.as_mut() {
                d.data = None;
                fx.push(Effect::FetchAlert(d.alert_id.clone()));
            }
            fx
        }
        Action::Claim => {
            let Some(item) = s.selected_item() else {
                return vec![];
            };
            let release = item.proposal.claimed_by.as_deref() == Some(s.me.principal.as_str());
            vec![Effect::Claim {
                proposal_id: item.proposal.id.clone(),
                release,
            }]
        }
        Action::Approve => start_approve(s),
        Action::Reject => start_reason(s, Verdict::Reject),
        Action::Escalate => start_reason(s, Verdict::Escalate),
        Action::Halt => start_reason(s, Verdict::Halt),
        Action::Annotate => {
            let Some(d) = s.detail.as_ref().filter(|d| d.data.is_some()) else {
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
    }
}

mod commands;

use commands::{editor, on_dialog_key, start_approve, start_reason};

#[cfg(test)]
pub(crate) mod tests;
