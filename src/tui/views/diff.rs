//! The permission diff: before | after side by side with word-level
//! emphasis, added broad grants marked `!`, and a `+N −M permissions`
//! line; a unified view when the pane is narrow.

use crate::domain::records::ProposalRecord;
use crate::tui::diff::{DiffModel, Kind, Side};
use crate::tui::state::State;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Below this width the diff is shown unified.
pub const SIDE_BY_SIDE_MIN: u16 = 70;

fn style_for(t: &Theme, side: &Side) -> (Style, &'static str) {
    match side.kind {
        Kind::Equal => (t.text, " "),
        Kind::Removed => (t.diff_removed, "-"),
        Kind::Added if side.risk => (t.diff_risk, "!"),
        Kind::Added => (t.diff_added, "+"),
    }
}

fn side_line(t: &Theme, side: Option<&Side>, width: usize) -> Line<'static> {
    let Some(side) = side else {
        return Line::from(Span::styled("~".to_owned(), t.muted));
    };
    let (style, mark) = style_for(t, side);
    let mut spans = vec![
        Span::styled(format!("{:>4}", side.line_no), t.muted),
        Span::styled(mark.to_owned(), style),
    ];
    let mut used = 5;
    for (emph, text) in &side.segments {
        if used >= width {
            break;
        }
        let take: String = text.chars().take(width - used).collect();
        used += take.chars().count();
        let st = if *emph && side.kind != Kind::Equal {
            style.add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            style
        };
        spans.push(Span::styled(take, st));
    }
    Line::from(spans)
}

pub fn render(f: &mut Frame, area: Rect, s: &State, t: &Theme, p: &ProposalRecord) {
    let Some(model) = s.detail.diffs.get(&p.digest) else {
        f.render_widget(
            Paragraph::new("This proposal changes no permission document.").style(t.muted),
            area,
        );
        return;
    };
    let parts = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).split(area);
    let summary_style = if model.risky > 0 { t.diff_risk } else { t.text };
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(model.summary(), summary_style),
            Span::styled("   ! = broad grant added", t.muted),
        ])),
        parts[0],
    );
    let body = parts[1];
    let height = body.height as usize;
    let start = (s.detail.scroll as usize).min(model.rows.len().saturating_sub(1));
    if body.width >= SIDE_BY_SIDE_MIN {
        side_by_side(f, body, t, model, start, height);
    } else {
        unified(f, body, t, model, start, height);
    }
}

fn side_by_side(f: &mut Frame, area: Rect, t: &Theme, m: &DiffModel, start: usize, height: usize) {
    let cols = Layout::horizontal([
        Constraint::Percentage(50),
        Constraint::Length(1),
        Constraint::Percentage(50),
    ])
    .split(area);
    let w = cols[0].width as usize;
    let mut left = vec![Line::from(Span::styled(
        "before",
        t.muted.add_modifier(Modifier::BOLD),
    ))];
    let mut right = vec![Line::from(Span::styled(
        "after",
        t.muted.add_modifier(Modifier::BOLD),
    ))];
    for row in m.rows.iter().skip(start).take(height.saturating_sub(1)) {
        left.push(side_line(t, row.left.as_ref(), w));
        right.push(side_line(t, row.right.as_ref(), w));
    }
    let sep: Vec<Line> = (0..height)
        .map(|_| Line::from(Span::styled("│", t.border)))
        .collect();
    f.render_widget(Paragraph::new(left), cols[0]);
    f.render_widget(Paragraph::new(sep), cols[1]);
    f.render_widget(Paragraph::new(right), cols[2]);
}

fn unified(f: &mut Frame, area: Rect, t: &Theme, m: &DiffModel, start: usize, height: usize) {
    let w = area.width as usize;
    let mut out = Vec::new();
    for row in m.rows.iter().skip(start) {
        match (&row.left, &row.right) {
            (Some(l), Some(_)) if l.kind == Kind::Equal => out.push(side_line(t, Some(l), w)),
            (l, r) => {
                if let Some(l) = l {
                    out.push(side_line(t, Some(l), w));
                }
                if let Some(r) = r {
                    out.push(side_line(t, Some(r), w));
                }
            }
        }
        if out.len() >= height {
            break;
        }
    }
    f.render_widget(Paragraph::new(out), area);
}
