//! The permission diff: first what the change really grants (the verdict,
//! new grants by class, removed grants, added and removed denies), then the
//! text, before | after side by side with word-level emphasis and the lines
//! that carry a new grant marked `!`; unified when the pane is narrow.

use crate::domain::records::ProposalRecord;
use crate::tui::diff::{DiffModel, Kind, Side};
use crate::tui::sanitize;
use crate::tui::state::State;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

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

/// One side of a row: its line number and mark, then its text from column
/// `skip` (scrolled sideways), as much as fits in `width`.
fn side_line(t: &Theme, side: Option<&Side>, width: usize, skip: usize) -> Line<'static> {
    let Some(side) = side else {
        return Line::from(Span::styled("~".to_owned(), t.muted));
    };
    let (style, mark) = style_for(t, side);
    let mut spans = vec![
        Span::styled(format!("{:>4}", side.line_no), t.muted),
        Span::styled(mark.to_owned(), style),
    ];
    let mut used = 5;
    let mut skip = skip;
    for (emph, text) in &side.segments {
        if used >= width {
            break;
        }
        let len = text.chars().count();
        if skip >= len {
            skip -= len;
            continue;
        }
        let take: String = text.chars().skip(skip).take(width - used).collect();
        skip = 0;
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
    render_model(f, area, t, model, (s.detail.scroll, s.detail.hscroll));
}

/// A diff in `area`, scrolled (down, sideways) by `scroll`: the detail's
/// diff tab, and the permission change a revert would make.
pub(super) fn render_model(
    f: &mut Frame,
    area: Rect,
    t: &Theme,
    model: &DiffModel,
    scroll: (u16, u16),
) {
    // What the change grants matters more than its text: the findings
    // take the room they need (wrapped, never cut), leaving the text diff
    // at least two rows; J/K scroll them when even that is too little.
    let analysis = analysis_lines(t, model);
    let width = usize::from(area.width.max(1));
    let needed: usize = analysis
        .iter()
        .map(|l| l.width().div_ceil(width).max(1))
        .sum();
    let room = usize::from(area.height.saturating_sub(2)).max(1);
    let parts = Layout::vertical([
        Constraint::Length(needed.min(room) as u16),
        Constraint::Min(1),
    ])
    .split(area);
    let mut findings = Paragraph::new(analysis).wrap(Wrap { trim: false });
    if needed > room {
        // Scrolled with the text below it when it does not fit.
        findings = findings.scroll((scroll.0, 0));
    }
    f.render_widget(findings, parts[0]);
    let body = parts[1];
    let start = (scroll.0 as usize).min(model.rows.len().saturating_sub(1));
    let skip = usize::from(scroll.1);
    if body.width >= SIDE_BY_SIDE_MIN {
        side_by_side(f, body, t, model, start, skip);
    } else {
        unified(f, body, t, model, start, skip);
    }
}

/// From row `start`, each line from column `skip`, as many as `area` holds.
fn side_by_side(f: &mut Frame, area: Rect, t: &Theme, m: &DiffModel, start: usize, skip: usize) {
    let height = area.height as usize;
    let cols = Layout::horizontal([
        Constraint::Percentage(50),
        Constraint::Length(1),
        Constraint::Percentage(50),
    ])
    .split(area);
    let w = cols[0].width as usize;
    let mut left = vec![Line::from(vec![
        Span::styled("before", t.muted.add_modifier(Modifier::BOLD)),
        Span::styled(legend(skip), t.muted),
    ])];
    let mut right = vec![Line::from(Span::styled(
        "after",
        t.muted.add_modifier(Modifier::BOLD),
    ))];
    for row in m.rows.iter().skip(start).take(height.saturating_sub(1)) {
        left.push(side_line(t, row.left.as_ref(), w, skip));
        right.push(side_line(t, row.right.as_ref(), w, skip));
    }
    let sep: Vec<Line> = (0..height)
        .map(|_| Line::from(Span::styled("│", t.border)))
        .collect();
    f.render_widget(Paragraph::new(left), cols[0]);
    f.render_widget(Paragraph::new(sep), cols[1]);
    f.render_widget(Paragraph::new(right), cols[2]);
}

/// From row `start`, each line from column `skip`, as many as `area` holds.
fn unified(f: &mut Frame, area: Rect, t: &Theme, m: &DiffModel, start: usize, skip: usize) {
    let height = area.height as usize;
    let w = area.width as usize;
    let mut out = vec![Line::from(Span::styled(
        legend(skip).trim_start().to_owned(),
        t.muted,
    ))];
    for row in m.rows.iter().skip(start) {
        match (&row.left, &row.right) {
            (Some(l), Some(_)) if l.kind == Kind::Equal => out.push(side_line(t, Some(l), w, skip)),
            (l, r) => {
                if let Some(l) = l {
                    out.push(side_line(t, Some(l), w, skip));
                }
                if let Some(r) = r {
                    out.push(side_line(t, Some(r), w, skip));
                }
            }
        }
        if out.len() >= height {
            break;
        }
    }
    f.render_widget(Paragraph::new(out), area);
}

/// The key to the marks, and how far the text is scrolled sideways.
fn legend(skip: usize) -> String {
    match skip {
        0 => "  ! new grant · < > sideways".to_owned(),
        n => format!("  ! new grant · from col {} (< >)", n + 1),
    }
}

/// The analysis, most severe first.
fn analysis_lines(t: &Theme, m: &DiffModel) -> Vec<Line<'static>> {
    use crate::domain::permissions::Verdict;
    let a = &m.analysis;
    let head = match a.verdict {
        Verdict::NoNewAccess => t.status_ok,
        _ => t.diff_risk,
    };
    let mut out = vec![Line::from(Span::styled(m.summary(), head))];
    for g in &a.new_grants {
        let mut text = format!(
            "  {} {}: {} on {}",
            if g.certain { "!" } else { "?" },
            g.class.text(),
            g.action,
            g.resource
        );
        if let Some(p) = &g.principal {
            text.push_str(&format!(" to {p}"));
        }
        if !g.why.is_empty() {
            text.push_str(&format!(" ({})", g.why));
        }
        let style = if g.class.is_severe() {
            t.diff_risk
        } else {
            t.diff_added
        };
        out.push(Line::from(Span::styled(sanitize::line(&text), style)));
    }
    for d in &a.removed_denies {
        out.push(Line::from(Span::styled(
            sanitize::line(&format!("  ! deny removed: {d}")),
            t.diff_risk,
        )));
    }
    for d in &a.audit_reduced {
        out.push(Line::from(Span::styled(
            sanitize::line(&format!("  ! audit logging reduced: {d}")),
            t.diff_risk,
        )));
    }
    if let Some(why) = &a.unreadable {
        out.push(Line::from(Span::styled(
            sanitize::line(&format!("  ? not analysed: {why}")),
            t.diff_risk,
        )));
    }
    for g in &a.resulting {
        out.push(Line::from(Span::styled(
            sanitize::line(&format!(
                "  ! the resulting document on its own {}",
                g.describe()
            )),
            t.diff_risk,
        )));
    }
    for d in &a.added_denies {
        out.push(Line::from(Span::styled(
            sanitize::line(&format!("  + deny added: {d}")),
            t.text,
        )));
    }
    for r in &a.removed {
        out.push(Line::from(Span::styled(
            sanitize::line(&format!("  − no longer granted: {r}")),
            t.diff_removed,
        )));
    }
    out
}
