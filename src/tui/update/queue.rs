//! The queue: merging what the server lists, filtering and sorting it,
//! and moving the selection.

use super::Effect;
use crate::api::{QueueResponse, View};
use crate::domain::records::QueueItem;
use crate::domain::types::{ActionKind, Risk};
use crate::tui::state::{
    Burst, BurstRule, Conn, Detail, GROUP_ROW, Group, ReviewTrack, SortKey, State, Tab,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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
    s.queue.answered = true;
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
    trim_cache(s);
    let before = s.queue.rows.get(s.queue.selected).cloned();
    rebuild_rows(s);
    let mut fx = reselect(s, before);
    // What is frozen is loaded with every answer of the queue: a row's
    // mark is never older than the row.
    fx.push(Effect::FetchFreezes);
    fx
}

/// Filter and sort `items` into `rows`: first the pinned section (open
/// high and critical proposals, by risk then time left, whatever the sort),
/// then the rest in the person's order, like groupable proposals collapsed
/// into one group row where its first member would be. Filtering compares
/// in place: no string is made per item.
pub fn rebuild_rows(s: &mut State) {
    let needle = s.queue.filter.to_lowercase();
    let (mut pinned, mut rows): (Vec<&QueueItem>, Vec<&QueueItem>) = s
        .queue
        .items
        .values()
        .filter(|i| needle.is_empty() || matches_filter(i, &needle))
        .partition(|i| i.proposal.status.is_open() && i.proposal.risk >= Risk::High);
    pinned.sort_by(|a, b| {
        (
            Reverse(a.proposal.risk),
            a.proposal.expires_at,
            &a.proposal.id,
        )
            .cmp(&(
                Reverse(b.proposal.risk),
                b.proposal.expires_at,
                &b.proposal.id,
            ))
    });
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
    s.queue.burst = burst(s.queue.items.values(), s.queue.burst_rule, s.session.now_ms);
    let groups = if s.queue.grouped {
        let alone = |i: &QueueItem| decided_alone(s, i);
        group(&rows, &alone)
    } else {
        HashMap::new()
    };
    let mut out: Vec<String> = pinned.iter().map(|i| i.proposal.id.clone()).collect();
    s.queue.pinned = out.len();
    let row_of: HashMap<&str, &String> = groups
        .iter()
        .flat_map(|(row, g)| g.members.iter().map(move |m| (m.as_str(), row)))
        .collect();
    let mut placed = HashSet::new();
    for i in rows {
        match row_of.get(i.proposal.id.as_str()) {
            Some(row) if placed.insert(*row) => out.push((*row).clone()),
            Some(_) => {}
            None => out.push(i.proposal.id.clone()),
        }
    }
    s.queue.rows = out;
    s.queue.groups = groups;
}

/// The key that makes proposals alike.
fn group_key(i: &QueueItem) -> (&ActionKind, &str, Risk, &str) {
    let p = &i.proposal;
    (&p.action, p.proposed_by.as_str(), p.risk, p.rule.as_str())
}

/// Whether a proposal must be decided on its own, never in a group: the
/// server did not call it groupable (risk, the kind of action, the rule, a
/// note on its alert), it is decided here already, someone holds a claim
/// on it, or a note or label is known here on its alert.
pub(crate) fn decided_alone(s: &State, i: &QueueItem) -> bool {
    let p = &i.proposal;
    !p.groupable
        || !p.action.groups_safely()
        || i.noted
        || s.queue.sent.contains(&p.id)
        || p.claimed_by.is_some() && p.claim_until.is_some_and(|u| u > s.session.now_ms)
        || s.detail
            .cache
            .get(&p.alert_id)
            .and_then(|d| d.data.as_ref())
            .is_some_and(|d| !d.notes.is_empty())
}

/// Group rows for every key shared by two or more proposals that may be
/// decided together; members in `rows` order.
fn group(rows: &[&QueueItem], alone: &dyn Fn(&QueueItem) -> bool) -> HashMap<String, Group> {
    let mut by_key: BTreeMap<(&ActionKind, &str, Risk, &str), Vec<&QueueItem>> = BTreeMap::new();
    for i in rows.iter().filter(|i| !alone(i)) {
        by_key.entry(group_key(i)).or_default().push(i);
    }
    by_key
        .into_iter()
        .filter(|(_, m)| m.len() >= 2)
        .map(|((action, agent, risk, rule), members)| {
            let row = format!("{GROUP_ROW}{action}/{agent}/{risk}/{rule}");
            let g = Group {
                action: action.clone(),
                agent: agent.to_owned(),
                risk,
                rule: rule.to_owned(),
                members: members.iter().map(|i| i.proposal.id.clone()).collect(),
            };
            (row, g)
        })
        .collect()
}

/// The agent with the most open proposals made in the last `rule.secs`,
/// if more than `rule.count`.
pub(super) fn burst<'a>(
    items: impl Iterator<Item = &'a QueueItem>,
    rule: BurstRule,
    now: i64,
) -> Option<Burst> {
    let since = now - (rule.secs as i64).saturating_mul(1000);
    let mut by_agent: HashMap<&str, usize> = HashMap::new();
    for i in items.filter(|i| i.proposal.status.is_open() && i.proposal.created_at >= since) {
        *by_agent.entry(i.proposal.proposed_by.as_str()).or_default() += 1;
    }
    by_agent
        .into_iter()
        .filter(|(_, n)| *n > rule.count)
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(agent, count)| Burst {
            agent: agent.to_owned(),
            count,
        })
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
    if s.selected_group().is_some() {
        // The sheet: its review clock starts when it is first shown.
        let row = s.queue.rows[s.queue.selected].clone();
        if s.detail.review.proposal_id != row {
            s.detail.review = ReviewTrack {
                proposal_id: row,
                opened_ms: s.session.now_ms,
                panes: BTreeSet::new(),
            };
            s.detail.scroll = 0;
        }
        s.detail.current = None;
        return prefetch(s);
    }
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
    if let Some(d) = s.detail.current.as_ref().filter(|d| d.alert_id == aid) {
        // Shown already; fetched again when the queue's row is newer than
        // what is shown (revised, or a proposal the alert did not have).
        let row_seq = s.selected_item().map_or(0, |i| i.proposal.change_seq);
        let stale =
            d.data.is_some() && s.selected_proposal().is_none_or(|p| p.change_seq < row_seq);
        let mut fx = if stale {
            vec![Effect::FetchAlert(aid)]
        } else {
            vec![]
        };
        fx.extend(prefetch(s));
        return fx;
    }
    // Shown at once from what was loaded before, if that is as new as the
    // queue's row; fetched again either way.
    let cached = s.selected_item().and_then(|item| cached(s, item)).cloned();
    s.detail.current = Some(cached.unwrap_or(Detail {
        alert_id: aid.clone(),
        data: None,
        error: None,
        digest_ok: Default::default(),
        alert_digest_ok: false,
    }));
    let mut fx = vec![Effect::FetchAlert(aid)];
    fx.extend(prefetch(s));
    fx
}

/// Rows loaded ahead of the selection: the pinned ones, this many before
/// it and this many after it.
const PREFETCH_BEHIND: usize = 20;
const PREFETCH_AHEAD: usize = 100;
/// Alerts kept beyond the ones the queue lists are dropped past this.
const CACHE_MAX: usize = 2_000;

/// The alert loaded for `item`, if it is as new as the queue's row.
fn cached<'a>(s: &'a State, item: &QueueItem) -> Option<&'a Detail> {
    let d = s.detail.cache.get(&item.proposal.alert_id)?;
    let p = d
        .data
        .as_ref()?
        .proposals
        .iter()
        .find(|p| p.id == item.proposal.id)?;
    (p.change_seq >= item.proposal.change_seq).then_some(d)
}

/// Asks for the alerts of the rows around the selection that are not
/// loaded (or older than their row), so that they can be shown and signed
/// at once, also when the server goes away. Only when the list changed.
fn prefetch(s: &mut State) -> Vec<Effect> {
    if s.session.conn != Conn::Online {
        return vec![];
    }
    let current = s.detail.current.as_ref().map(|d| d.alert_id.as_str());
    let from = s.queue.selected.saturating_sub(PREFETCH_BEHIND);
    let rows = s.queue.rows[..s.queue.pinned.min(s.queue.rows.len())]
        .iter()
        .chain(
            s.queue
                .rows
                .iter()
                .skip(from)
                .take(PREFETCH_BEHIND + PREFETCH_AHEAD),
        );
    let mut want: Vec<String> = Vec::new();
    let members = rows.flat_map(|row| match s.queue.groups.get(row) {
        Some(g) => g.members.iter().take(PREFETCH_AHEAD).collect(),
        None => vec![row],
    });
    for id in members.take(PREFETCH_BEHIND + PREFETCH_AHEAD) {
        let Some(item) = s.queue.items.get(id) else {
            continue;
        };
        let alert = &item.proposal.alert_id;
        if Some(alert.as_str()) != current && cached(s, item).is_none() && !want.contains(alert) {
            want.push(alert.clone());
        }
    }
    if want == s.detail.prefetching {
        return vec![];
    }
    s.detail.prefetching = want.clone();
    if want.is_empty() {
        return vec![];
    }
    vec![Effect::Prefetch(want)]
}

/// Drops loaded alerts the queue no longer lists, once there are many.
fn trim_cache(s: &mut State) {
    if s.detail.cache.len() <= CACHE_MAX {
        return;
    }
    let listed: HashSet<&str> = s
        .queue
        .items
        .values()
        .map(|i| i.proposal.alert_id.as_str())
        .collect();
    s.detail.cache.retain(|id, _| listed.contains(id.as_str()));
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
    s.queue.answered = false;
    s.queue.items.clear();
    s.queue.rows.clear();
    s.queue.selected = 0;
    s.detail.current = None;
    vec![Effect::Poll { view: v, after: 0 }]
}
