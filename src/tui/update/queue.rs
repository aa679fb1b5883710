//! The queue: merging what the server lists, filtering and sorting it,
//! and moving the selection.

use super::Effect;
use crate::api::{QueueResponse, View};
use crate::domain::records::QueueItem;
use crate::tui::state::{Conn, Detail, ReviewTrack, SortKey, State, Tab};
use std::cmp::Reverse;
use std::collections::BTreeSet;

pub(super) fn on_queue(
    s: &mut State,
    view: View,
    after: i64,
    result: Result<QueueResponse, String>,
    now: i64,
) -> Vec<Effect> {
    if view != s.queue.view {
        return vec![]; // a poll for a view we left: latest wins
    }
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            s.session.conn = Conn::Offline { error: e };
            return vec![];
        }
    };
    s.session.conn = Conn::Online;
    s.session.last_update_ms = Some(now);
    if after == 0 {
        s.queue.items.clear();
    }
    for id in &resp.page.gone {
        s.queue.items.remove(id);
        s.queue.sent.remove(id);
    }
    for item in resp.page.items {
        s.queue.items.insert(item.proposal.id.clone(), item);
    }
    s.queue.counts = resp.counts;
    // While more pages follow at once, sort only after the last one (a
    // first load of 100,000 items would otherwise sort 100 times).
    if resp.page.more && !s.queue.rows.is_empty() {
        return vec![];
    }
    let before = s.queue.rows.get(s.queue.selected).cloned();
    rebuild_rows(s);
    reselect(s, before)
}

/// Filter and sort `items` into `rows`. Critical-first unless the person
/// picked another order. Filtering compares in place: no string is made per
/// item.
pub fn rebuild_rows(s: &mut State) {
    let needle = s.queue.filter.to_lowercase();
    let mut rows: Vec<&QueueItem> = s
        .queue
        .items
        .values()
        .filter(|i| needle.is_empty() || matches_filter(i, &needle))
        .collect();
    // Comparisons borrow; nothing is allocated per comparison.
    match s.queue.sort {
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
    s.queue.rows = rows.into_iter().map(|i| i.proposal.id.clone()).collect();
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
    .any(|f| contains_folded(f, needle))
}

/// Whether `hay` contains `needle` (already lower-case), ignoring case.
/// ASCII needles compare byte by byte without allocating; others fall back
/// to Unicode lower-casing.
pub(crate) fn contains_folded(hay: &str, needle: &str) -> bool {
    if !needle.is_ascii() {
        return hay.to_lowercase().contains(needle);
    }
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Keeps the same proposal selected if it is still listed; fetches the
/// alert when the selection lands on another one.
pub(super) fn reselect(s: &mut State, before: Option<String>) -> Vec<Effect> {
    if let Some(id) = &before
        && let Some(i) = s.queue.rows.iter().position(|r| r == id)
    {
        s.queue.selected = i;
    }
    if s.queue.selected >= s.queue.rows.len() {
        s.queue.selected = s.queue.rows.len().saturating_sub(1);
    }
    on_selection(s)
}

/// After the selection moved: load its alert if not loaded, start review
/// tracking for the proposal.
pub(super) fn on_selection(s: &mut State) -> Vec<Effect> {
    let Some(item) = s.selected_item() else {
        s.detail.current = None;
        return vec![];
    };
    let (pid, aid) = (item.proposal.id.clone(), item.proposal.alert_id.clone());
    if s.detail.review.proposal_id != pid {
        s.detail.review = ReviewTrack {
            proposal_id: pid,
            opened_ms: s.session.now_ms,
            panes: BTreeSet::from([Tab::Summary]),
        };
        s.detail.tab = Tab::Summary;
        s.detail.scroll = 0;
        s.detail.evidence_index = 0;
    }
    if s.detail.current.as_ref().is_some_and(|d| d.alert_id == aid) {
        return vec![];
    }
    s.detail.current = Some(Detail {
        alert_id: aid.clone(),
        data: None,
        error: None,
        digest_ok: Default::default(),
        alert_digest_ok: false,
    });
    vec![Effect::FetchAlert(aid)]
}

pub(super) fn move_to(s: &mut State, index: usize) -> Vec<Effect> {
    if s.queue.rows.is_empty() {
        return vec![];
    }
    s.queue.selected = index.min(s.queue.rows.len() - 1);
    on_selection(s)
}

pub(super) fn switch_view(s: &mut State, v: View) -> Vec<Effect> {
    s.queue.view = v;
    s.queue.items.clear();
    s.queue.rows.clear();
    s.queue.selected = 0;
    s.detail.current = None;
    vec![Effect::Poll { view: v, after: 0 }]
}
