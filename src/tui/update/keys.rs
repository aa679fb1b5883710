//! Keys in the queue and the detail, and while typing a filter.

use super::commands::{on_dialog_key, start_group};
use super::pending::begin;
use super::queue::{move_to, rebuild_rows, reselect, switch_view};
use super::{Effect, flash};
use crate::domain::types::Verdict;
use crate::tui::action::{Action, Mode};
use crate::tui::keymap::Keymap;
use crate::tui::state::{Command, Dialog, Level, State, TABS, Tab, VIEWS};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub(super) fn on_key(s: &mut State, k: KeyEvent, keys: &Keymap) -> Vec<Effect> {
    if s.dialog.is_some() {
        return on_dialog_key(s, k, keys);
    }
    if s.queue.filtering {
        return on_filter_key(s, k, keys);
    }
    let Some(action) = keys.action(Mode::Main, &k) else {
        return vec![];
    };
    let page = s.session.size.1.saturating_sub(6).max(1) as usize;
    match action {
        Action::Quit => {
            s.session.quit = true;
            vec![]
        }
        Action::Help => {
            s.dialog = Some(Dialog::Help { scroll: 0 });
            vec![]
        }
        Action::Down => move_to(s, s.queue.selected + 1),
        Action::Up => move_to(s, s.queue.selected.saturating_sub(1)),
        Action::PageDown => move_to(s, s.queue.selected + page),
        Action::PageUp => move_to(s, s.queue.selected.saturating_sub(page)),
        Action::Top => move_to(s, 0),
        Action::Bottom => move_to(s, usize::MAX),
        Action::NextView | Action::PrevView => {
            let i = VIEWS.iter().position(|v| *v == s.queue.view).unwrap_or(0);
            let n = VIEWS.len();
            let next = if action == Action::NextView {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            switch_view(s, VIEWS[next])
        }
        Action::NextTab | Action::PrevTab => {
            let i = TABS.iter().position(|t| *t == s.detail.tab).unwrap_or(0);
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
            s.detail.scroll = s.detail.scroll.saturating_add(5);
            vec![]
        }
        Action::ScrollUp => {
            s.detail.scroll = s.detail.scroll.saturating_sub(5);
            vec![]
        }
        Action::ScrollRight => {
            s.detail.hscroll = s.detail.hscroll.saturating_add(10);
            vec![]
        }
        Action::ScrollLeft => {
            s.detail.hscroll = s.detail.hscroll.saturating_sub(10);
            vec![]
        }
        Action::NextEvidence | Action::PrevEvidence => {
            let n = s.evidence_count();
            if n > 0 {
                s.detail.evidence_index = if action == Action::NextEvidence {
                    (s.detail.evidence_index + 1) % n
                } else {
                    (s.detail.evidence_index + n - 1) % n
                };
                s.detail.scroll = 0;
            }
            set_tab(s, Tab::Evidence);
            vec![]
        }
        Action::NextProposal => {
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
        Action::Filter => {
            s.queue.filtering = true;
            vec![]
        }
        Action::Sort => {
            s.queue.sort = s.queue.sort.next();
            let before = s.queue.rows.get(s.queue.selected).cloned();
            rebuild_rows(s);
            flash(s, Level::Info, format!("sorted by {}", s.queue.sort.name()));
            reselect(s, before)
        }
        Action::Refresh => {
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
        Action::Claim => {
            let Some(item) = s.selected_item() else {
                return vec![];
            };
            let release =
                item.proposal.claimed_by.as_deref() == Some(s.session.me.principal.as_str());
            vec![Effect::Claim {
                proposal_id: item.proposal.id.clone(),
                release,
            }]
        }
        Action::Approve if s.selected_group().is_some() => start_group(s, Verdict::Approve),
        Action::Reject if s.selected_group().is_some() => start_group(s, Verdict::Reject),
        Action::Approve => begin(s, Command::Approve),
        Action::Reject => begin(s, Command::Reason(Verdict::Reject)),
        Action::ConfirmSample => begin(s, Command::ConfirmSample),
        Action::Oversight => {
            if s.session.me.role != Some(crate::domain::types::Role::Lead) {
                flash(s, Level::Warn, "the oversight view is for leads");
                return vec![];
            }
            flash(s, Level::Info, "loading the oversight of the last 24 h…");
            vec![Effect::FetchOversight("24h".into())]
        }
        Action::FlagSample => begin(s, Command::Reason(Verdict::Flag)),
        Action::ToggleGroups => {
            s.queue.grouped = !s.queue.grouped;
            let before = s.queue.rows.get(s.queue.selected).cloned();
            rebuild_rows(s);
            let how = if s.queue.grouped {
                "alike proposals grouped"
            } else {
                "one row per proposal"
            };
            flash(s, Level::Info, how);
            reselect(s, before)
        }
        Action::GotoBurst => {
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
        Action::Escalate => begin(s, Command::Reason(Verdict::Escalate)),
        Action::Halt => begin(s, Command::Reason(Verdict::Halt)),
        Action::TabSummary => tab(s, Tab::Summary),
        Action::TabDiff => tab(s, Tab::Diff),
        Action::TabEvidence => tab(s, Tab::Evidence),
        Action::TabContext => tab(s, Tab::Context),
        Action::TabHistory => tab(s, Tab::History),
        Action::Dismiss => {
            s.session.flash = None;
            vec![]
        }
        // Read only in the filter or a dialog.
        Action::FilterDone
        | Action::FilterClear
        | Action::Submit
        | Action::Cancel
        | Action::LabelFalsePositive
        | Action::LabelTruePositive
        | Action::LabelBenign
        | Action::LabelNeedsInfo => vec![],
        Action::Annotate => begin(s, Command::Annotate),
    }
}

pub(super) fn set_tab(s: &mut State, t: Tab) {
    s.detail.tab = t;
    s.detail.scroll = 0;
    s.detail.hscroll = 0;
    s.detail.review.panes.insert(t);
}

fn tab(s: &mut State, t: Tab) -> Vec<Effect> {
    set_tab(s, t);
    vec![]
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
    let before = s.queue.rows.get(s.queue.selected).cloned();
    rebuild_rows(s);
    reselect(s, before)
}
