//! Keys in the queue and the detail, and while typing a filter.
//!
//! `on_key` hands a key to the open dialog, the filter line or the main
//! screen; there an action goes to the code for what it changes: the
//! selection, the listing, the detail pane, a signing command, the screen.

use super::commands::{on_dialog_key, start_group};
use super::pending::begin;
use super::queue::{move_to, rebuild_rows, reselect, switch_view};
use super::{Effect, flash};
use crate::domain::types::{Role, Verdict};
use crate::tui::action::{Action, Mode};
use crate::tui::keymap::Keymap;
use crate::tui::state::{Command, Dialog, Level, State, TABS, Tab, VIEWS};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key goes to the open dialog, else to the filter being typed, else to
/// the main screen as the keymap names it there.
pub(super) fn on_key(s: &mut State, k: KeyEvent, keys: &Keymap) -> Vec<Effect> {
    if s.dialog.is_some() {
        return on_dialog_key(s, k, keys);
    }
    if s.queue.filtering {
        return on_filter_key(s, k, keys);
    }
    match keys.action(Mode::Main, &k) {
        Some(action) => on_main(s, action),
        None => vec![],
    }
}

/// An action of the queue and the detail, handed on by what it changes.
/// Every action is named here, so a new one must be placed.
fn on_main(s: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Down
        | Action::Up
        | Action::PageDown
        | Action::PageUp
        | Action::Top
        | Action::Bottom
        | Action::NextProposal
        | Action::GotoBurst => on_selection_key(s, action),
        Action::NextView
        | Action::PrevView
        | Action::Filter
        | Action::Sort
        | Action::ToggleGroups
        | Action::Refresh => on_listing_key(s, action),
        Action::NextTab
        | Action::PrevTab
        | Action::TabSummary
        | Action::TabDiff
        | Action::TabEvidence
        | Action::TabContext
        | Action::TabHistory
        | Action::ScrollDown
        | Action::ScrollUp
        | Action::ScrollRight
        | Action::ScrollLeft
        | Action::NextEvidence
        | Action::PrevEvidence => on_detail_key(s, action),
        Action::Approve
        | Action::Reject
        | Action::ConfirmSample
        | Action::FlagSample
        | Action::Escalate
        | Action::Halt
        | Action::Annotate
        | Action::Claim => on_command_key(s, action),
        Action::Quit | Action::Help | Action::Oversight | Action::Dismiss => {
            on_screen_key(s, action)
        }
        Action::Freeze => super::freeze::start(s),
        Action::Revert => super::revert::start(s),
        Action::Amend => super::amend::start(s),
        Action::Extend => super::extend::start(s),
        // Read only in the filter or a dialog.
        Action::FilterDone
        | Action::FilterClear
        | Action::Submit
        | Action::Cancel
        | Action::LabelFalsePositive
        | Action::LabelTruePositive
        | Action::LabelBenign
        | Action::LabelNeedsInfo
        | Action::ToggleAllAgents
        | Action::CycleFreezeMode => vec![],
    }
}

/// Moves the selection: by a row or a page, to an end, to the alert's next
/// proposal, to the bursting agent's group.
fn on_selection_key(s: &mut State, action: Action) -> Vec<Effect> {
    let page = s.session.size.1.saturating_sub(6).max(1) as usize;
    match action {
        Action::Down => move_to(s, s.queue.selected + 1),
        Action::Up => move_to(s, s.queue.selected.saturating_sub(1)),
        Action::PageDown => move_to(s, s.queue.selected + page),
        Action::PageUp => move_to(s, s.queue.selected.saturating_sub(page)),
        Action::Top => move_to(s, 0),
        Action::Bottom => move_to(s, usize::MAX),
        Action::NextProposal => next_of_alert(s),
        Action::GotoBurst => goto_burst(s),
        _ => vec![],
    }
}

/// The next row, wrapping around, that is a proposal of the selected
/// one's alert.
fn next_of_alert(s: &mut State) -> Vec<Effect> {
    let Some(alert) = s.selected_item().map(|i| i.proposal.alert_id.clone()) else {
        return vec![];
    };
    let n = s.queue.rows.len();
    let next = (1..n).map(|off| (s.queue.selected + off) % n).find(|&i| {
        s.queue
            .items
            .get(&s.queue.rows[i])
            .is_some_and(|it| it.proposal.alert_id == alert)
    });
    match next {
        Some(i) => move_to(s, i),
        None => vec![],
    }
}

/// The biggest group of the agent in a burst: where most of it can be
/// decided at once.
fn goto_burst(s: &mut State) -> Vec<Effect> {
    let Some(b) = s.queue.burst.clone() else {
        flash(s, Level::Info, "no burst right now");
        return vec![];
    };
    let biggest = s
        .queue
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, id)| s.queue.groups.get(id).map(|g| (i, g)))
        .filter(|(_, g)| g.agent == b.agent)
        .max_by_key(|(_, g)| g.members.len())
        .map(|(i, _)| i);
    match biggest {
        Some(i) => move_to(s, i),
        None => {
            flash(
                s,
                Level::Info,
                "nothing from that agent can be decided as a group",
            );
            vec![]
        }
    }
}

/// What the queue lists and how: the view, the filter, the sort, groups,
/// a reload from the server.
fn on_listing_key(s: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::NextView | Action::PrevView => {
            let i = VIEWS.iter().position(|v| *v == s.queue.view).unwrap_or(0);
            let next = step(i, VIEWS.len(), action == Action::NextView);
            switch_view(s, VIEWS[next])
        }
        Action::Filter => {
            s.queue.filtering = true;
            vec![]
        }
        Action::Sort => {
            s.queue.sort = s.queue.sort.next();
            flash(s, Level::Info, format!("sorted by {}", s.queue.sort.name()));
            relist(s)
        }
        Action::ToggleGroups => {
            s.queue.grouped = !s.queue.grouped;
            let how = if s.queue.grouped {
                "alike proposals grouped"
            } else {
                "one row per proposal"
            };
            flash(s, Level::Info, how);
            relist(s)
        }
        Action::Refresh => refresh(s),
        _ => vec![],
    }
}

/// The rows again after the filter, sort or grouping changed, the same
/// proposal selected where it is still listed.
fn relist(s: &mut State) -> Vec<Effect> {
    let before = s.queue.rows.get(s.queue.selected).cloned();
    rebuild_rows(s);
    reselect(s, before)
}

/// The view polled again from the start, and the alert shown reloaded.
fn refresh(s: &mut State) -> Vec<Effect> {
    let mut fx = vec![Effect::Poll {
        view: s.queue.view,
        after: 0,
    }];
    if let Some(d) = s.detail.current.as_mut() {
        d.data = None;
        fx.push(Effect::FetchAlert(d.alert_id.clone()));
    }
    fx
}

/// The detail pane: its tab, how far it is scrolled, which evidence item
/// it shows. Nothing here asks the runner for anything.
fn on_detail_key(s: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::NextTab | Action::PrevTab => {
            let i = TABS.iter().position(|t| *t == s.detail.tab).unwrap_or(0);
            set_tab(s, TABS[step(i, TABS.len(), action == Action::NextTab)]);
        }
        Action::TabSummary => set_tab(s, Tab::Summary),
        Action::TabDiff => set_tab(s, Tab::Diff),
        Action::TabEvidence => set_tab(s, Tab::Evidence),
        Action::TabContext => set_tab(s, Tab::Context),
        Action::TabHistory => set_tab(s, Tab::History),
        Action::ScrollDown => s.detail.scroll = s.detail.scroll.saturating_add(5),
        Action::ScrollUp => s.detail.scroll = s.detail.scroll.saturating_sub(5),
        Action::ScrollRight => s.detail.hscroll = s.detail.hscroll.saturating_add(10),
        Action::ScrollLeft => s.detail.hscroll = s.detail.hscroll.saturating_sub(10),
        Action::NextEvidence | Action::PrevEvidence => {
            let n = s.evidence_count();
            if n > 0 {
                let forward = action == Action::NextEvidence;
                s.detail.evidence_index = step(s.detail.evidence_index, n, forward);
                s.detail.scroll = 0;
            }
            set_tab(s, Tab::Evidence);
        }
        _ => {}
    }
    vec![]
}

/// The index after (or before) `i` of `n`, wrapping around.
fn step(i: usize, n: usize, forward: bool) -> usize {
    if forward {
        (i + 1) % n
    } else {
        (i + n - 1) % n
    }
}

/// Shows tab `t` from its top, and counts it as looked at (the panes a
/// decision says were opened, and the confirmation's warnings).
pub(super) fn set_tab(s: &mut State, t: Tab) {
    s.detail.tab = t;
    s.detail.scroll = 0;
    s.detail.hscroll = 0;
    s.detail.review.panes.insert(t);
}

/// The signing commands, for the selected group or proposal (a proposal
/// still loading keeps the keys typed meanwhile, `pending`), and claims.
fn on_command_key(s: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Approve if s.selected_group().is_some() => start_group(s, Verdict::Approve),
        Action::Reject if s.selected_group().is_some() => start_group(s, Verdict::Reject),
        Action::Approve => begin(s, Command::Approve),
        Action::Reject => begin(s, Command::Reason(Verdict::Reject)),
        Action::ConfirmSample => begin(s, Command::ConfirmSample),
        Action::FlagSample => begin(s, Command::Reason(Verdict::Flag)),
        Action::Escalate => begin(s, Command::Reason(Verdict::Escalate)),
        Action::Halt => begin(s, Command::Reason(Verdict::Halt)),
        Action::Annotate => begin(s, Command::Annotate),
        Action::Claim => claim(s),
        _ => vec![],
    }
}

/// Claims the selected proposal, or releases it if the claim is this
/// person's.
fn claim(s: &mut State) -> Vec<Effect> {
    let Some(item) = s.selected_item() else {
        return vec![];
    };
    let release = item.proposal.claimed_by.as_deref() == Some(s.session.me.principal.as_str());
    vec![Effect::Claim {
        proposal_id: item.proposal.id.clone(),
        release,
    }]
}

/// The screen itself: quit, help, the leads' oversight report, the
/// message line.
fn on_screen_key(s: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => {
            s.session.quit = true;
            vec![]
        }
        Action::Help => {
            s.dialog = Some(Dialog::Help { scroll: 0 });
            vec![]
        }
        Action::Oversight => oversight(s),
        Action::Dismiss => {
            s.session.flash = None;
            vec![]
        }
        _ => vec![],
    }
}

/// Asks for the oversight report of the last 24 h; it opens when it
/// arrives. Leads only.
fn oversight(s: &mut State) -> Vec<Effect> {
    if s.session.me.role != Some(Role::Lead) {
        flash(s, Level::Warn, "the oversight view is for leads");
        return vec![];
    }
    flash(s, Level::Info, "loading the oversight of the last 24 h…");
    vec![Effect::FetchOversight("24h".into())]
}

/// Typing a filter: the keymap's filter keys end it; other characters are
/// typed into it, Backspace deletes.
fn on_filter_key(s: &mut State, k: KeyEvent, keys: &Keymap) -> Vec<Effect> {
    match keys.action(Mode::Filter, &k) {
        Some(Action::FilterDone) => s.queue.filtering = false,
        Some(Action::FilterClear) => {
            s.queue.filtering = false;
            s.queue.filter.clear();
        }
        _ => match k.code {
            KeyCode::Backspace => {
                s.queue.filter.pop();
            }
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => {
                s.queue.filter.push(c)
            }
            _ => return vec![],
        },
    }
    relist(s)
}
