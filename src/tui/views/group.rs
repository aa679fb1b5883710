//! The group sheet: every member of a group row in one table, with the
//! facts that tell them apart. What the table shows is what a group
//! decision signs (see `update::commands::start_group`).

use super::{short_duration, split_main, untrusted, untrusted_target};
use crate::domain::types::EntityKind;
use crate::tui::state::{Group, State};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use std::collections::BTreeMap;

/// Lines above the member table inside the sheet's border.
const HEAD: u16 = 3;

/// How many members the sheet shows at once on a terminal of `size`.
pub fn visible_members(size: (u16, u16)) -> usize {
    let main = Rect::new(0, 1, size.0, size.1.saturating_sub(2));
    let (_, detail) = split_main(main);
    detail.height.saturating_sub(2 + HEAD + 1) as usize
}

/// The members on screen: from the sheet's scroll offset, as many as fit.
pub fn shown<'a>(s: &State, g: &'a Group) -> &'a [String] {
    let first = (s.detail.scroll as usize).min(g.members.len());
    let end = (first + visible_members(s.session.size)).min(g.members.len());
    &g.members[first..end]
}

pub fn render(f: &mut Frame, area: Rect, s: &State, g: &Group, t: &Theme) {
    let title = Line::from(vec![
        Span::styled(format!(" {} × ", g.members.len()), t.accent),
        Span::styled(g.action.as_str().to_owned(), t.text),
        Span::styled(" · ", t.muted),
        Span::styled(crate::tui::sanitize::line(&g.agent), t.text),
        Span::styled(
            super::freeze::row_mark(s, &g.agent, usize::MAX)
                .map(|m| format!(" {}", m.trim_end()))
                .unwrap_or_default(),
            t.status_error,
        ),
        Span::styled(" · ", t.muted),
        Span::styled(g.risk.as_str(), t.risk(g.risk)),
        Span::raw(" "),
    ]);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border_focus)
        .title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let parts = Layout::vertical([Constraint::Length(HEAD), Constraint::Min(1)]).split(inner);
    let on_screen = shown(s, g);
    let first = (s.detail.scroll as usize).min(g.members.len());
    let head = vec![
        Line::from(vec![
            Span::styled("rule     ", t.muted),
            Span::styled(crate::tui::sanitize::line(&g.rule), t.text),
        ]),
        Line::from(Span::styled(
            format!(
                "members {}–{} of {} shown · a group decision signs each shown member on its own digest",
                first + usize::from(!on_screen.is_empty()),
                first + on_screen.len(),
                g.members.len()
            ),
            t.muted,
        )),
        Line::from(Span::styled(
            "a approve shown · r reject shown (reason) · J/K scroll members",
            t.muted,
        )),
    ];
    f.render_widget(Paragraph::new(head), parts[0]);
    // A member whose entity is of another kind than most is marked: the
    // one thing left that can set a member apart (claimed, noted and
    // labelled proposals are never grouped).
    let mut kinds: BTreeMap<EntityKind, usize> = BTreeMap::new();
    for i in g.members.iter().filter_map(|id| s.queue.items.get(id)) {
        *kinds.entry(i.entity_kind).or_default() += 1;
    }
    let usual = kinds.into_iter().max_by_key(|(_, n)| *n).map(|(k, _)| k);
    let rows: Vec<Row> = on_screen
        .iter()
        .filter_map(|id| s.queue.items.get(id))
        .map(|i| {
            let p = &i.proposal;
            let mut entity = untrusted(&i.entity_id, t.text, t);
            if usual.is_some_and(|k| k != i.entity_kind) {
                entity.spans.insert(
                    0,
                    Span::styled(format!("≠{} ", i.entity_kind.as_str()), t.status_warn),
                );
            }
            Row::new(vec![
                Cell::from(untrusted_target(&p.target, t.text, t)),
                Cell::from(entity),
                Cell::from(Span::styled(
                    i.severity.as_str().chars().take(4).collect::<String>(),
                    t.severity(i.severity),
                )),
                Cell::from(Span::styled(
                    short_duration(s.session.now_ms - p.created_at),
                    t.muted,
                )),
                Cell::from(Span::styled(
                    short_duration(p.expires_at - s.session.now_ms),
                    t.muted,
                )),
                Cell::from(Span::styled(
                    format!("{:>3.0}%", i.confidence * 100.0),
                    t.muted,
                )),
                Cell::from(untrusted(&i.alert_title, t.text, t)),
                Cell::from(Span::styled(
                    p.digest.get(7..19).unwrap_or_default().to_owned(),
                    t.muted,
                )),
            ])
        })
        .collect();
    let header = Row::new([
        "target", "entity", "sev", "age", "due", "conf", "alert", "digest",
    ])
    .style(t.muted.add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Min(14),
        Constraint::Length(12),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Min(10),
        Constraint::Length(12),
    ];
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        parts[1],
    );
}
