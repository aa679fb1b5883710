//! The queue: one row per proposal. Only the visible rows are built, so a
//! queue of 100,000 costs the same per frame as one of 20.

use super::short_duration;
use crate::domain::records::QueueItem;
use crate::domain::types::ProposalStatus;
use crate::tui::state::{Conn, Group, State, VIEWS, view_name};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

/// Index of the first visible row, keeping the selection in view.
pub fn first_visible(selected: usize, len: usize, height: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    let half = height / 2;
    selected.saturating_sub(half).min(len - height)
}

fn marker(idx: usize, i: &QueueItem, s: &State) -> &'static str {
    if s.queue.sent.contains(&i.proposal.id) {
        "✓"
    } else if i.proposal.claimed_by.as_deref() == Some(s.session.me.principal.as_str()) {
        "◆"
    } else if i.proposal.claimed_by.is_some()
        && i.proposal.claim_until.is_some_and(|t| t > s.session.now_ms)
    {
        "◇"
    } else if matches!(
        s.outlook(i),
        Some(crate::domain::machine::Outlook::Refused(_))
    ) {
        // This person cannot approve it (a lead must, or they did).
        "⊘"
    } else if idx < s.queue.pinned {
        // The pinned section: urgent whatever the sort.
        "▲"
    } else {
        " "
    }
}

fn status_short(st: ProposalStatus) -> &'static str {
    match st {
        ProposalStatus::Pending => "pend",
        ProposalStatus::AwaitingSecond => "2nd",
        ProposalStatus::Escalated => "esc",
        ProposalStatus::Approved => "appr",
        ProposalStatus::Rejected => "rej",
        ProposalStatus::Expired => "exp",
        ProposalStatus::Halted => "halt",
        ProposalStatus::Lapsed => "laps",
        ProposalStatus::Executing => "run",
        ProposalStatus::Executed => "done",
        ProposalStatus::Failed => "fail",
    }
}

pub fn render(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let tabs: Vec<Span> = VIEWS
        .iter()
        .flat_map(|v| {
            let style = if *v == s.queue.view {
                t.accent.add_modifier(Modifier::REVERSED)
            } else {
                t.muted
            };
            [
                Span::styled(format!(" {} ", view_name(*v)), style),
                Span::raw(" "),
            ]
        })
        .collect();
    let title = Line::from(tabs);
    let filter = if s.queue.filter.is_empty() {
        String::new()
    } else {
        format!(" /{}", crate::tui::sanitize::line(&s.queue.filter))
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(title)
        .title_bottom(Line::from(Span::styled(
            format!(
                " {} of {} · sort {}{filter} ",
                s.queue.rows.len().min(s.queue.selected + 1),
                s.queue.rows.len(),
                s.queue.sort.name()
            ),
            t.muted,
        )));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if s.queue.rows.is_empty() {
        // Clear only if the server said so in this session.
        let msg = match &s.session.conn {
            Conn::Refused { .. } => "login refused — no data",
            _ if !s.queue.answered => "not connected yet — no data yet",
            _ if !s.queue.filter.is_empty() => "nothing matches the filter",
            Conn::Offline { .. } => "the queue was clear when the server last answered",
            _ => "nothing here — the queue is clear",
        };
        f.render_widget(Paragraph::new(msg).style(t.muted), inner);
        return;
    }
    let inner = match &s.queue.burst {
        Some(b) => {
            let banner = Line::from(vec![
                Span::styled(" burst ", t.status_warn.add_modifier(Modifier::REVERSED)),
                Span::styled(
                    format!(
                        " {} sent {} proposals in {}s — alike ones are grouped below",
                        crate::tui::sanitize::line(&b.agent),
                        b.count,
                        s.queue.burst_rule.secs
                    ),
                    t.status_warn,
                ),
            ]);
            let parts =
                ratatui::layout::Layout::vertical([Constraint::Length(1), Constraint::Min(1)])
                    .split(inner);
            f.render_widget(Paragraph::new(banner), parts[0]);
            parts[1]
        }
        None => inner,
    };
    let height = inner.height.saturating_sub(1) as usize;
    let first = first_visible(s.queue.selected, s.queue.rows.len(), height);
    let visible = &s.queue.rows[first..(first + height).min(s.queue.rows.len())];
    // The target column: what the fixed columns and their spacing leave.
    let target_w = usize::from(inner.width.saturating_sub(48)).max(8);
    let targets: Vec<String> = visible
        .iter()
        .filter_map(|id| s.queue.items.get(id))
        .map(|i| crate::tui::sanitize::target(&i.proposal.target))
        .collect();
    let rows: Vec<Row> = visible
        .iter()
        .enumerate()
        .filter_map(|(off, id)| {
            let idx = first + off;
            if let Some(g) = s.queue.groups.get(id) {
                let row = group_row(g, super::freeze::row_mark(s, &g.agent, target_w), t);
                return Some(if idx == s.queue.selected {
                    row.style(t.selection)
                } else {
                    row
                });
            }
            s.queue.items.get(id).map(|i| (idx, i)).map(|(idx, i)| {
                // A frozen agent's row says so first; the target gives way.
                let mark = super::freeze::row_mark(s, &i.proposal.proposed_by, target_w);
                let room = target_w.saturating_sub(mark.as_ref().map_or(0, |m| m.chars().count()));
                let shown = fit(
                    &crate::tui::sanitize::target(&i.proposal.target),
                    room.max(3),
                    &targets,
                );
                item_row(s, idx, i, (mark, shown), t)
            })
        })
        .collect();
    let header = Row::new([
        "", "sev", "risk", "st", "action", "target", "age", "due", "conf",
    ])
    .style(t.muted.add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(15),
        Constraint::Min(8),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
    ];
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
}

/// "14 × soar-bot" in the target column, after the freeze mark if its
/// agent is frozen; the group sign in the marker.
fn group_row<'a>(g: &Group, frozen: Option<String>, t: &Theme) -> Row<'a> {
    let mut who = Vec::new();
    if let Some(mark) = frozen {
        who.push(Span::styled(mark, t.status_error));
    }
    who.push(Span::styled(
        format!(
            "{} × {}",
            g.members.len(),
            crate::tui::sanitize::line(&g.agent)
        ),
        t.accent,
    ));
    Row::new(vec![
        Cell::from(Span::styled("▤", t.accent)),
        Cell::from(Span::styled("", t.muted)),
        Cell::from(Span::styled(
            g.risk.as_str().chars().take(4).collect::<String>(),
            t.risk(g.risk),
        )),
        Cell::from(Span::styled("grp", t.accent)),
        Cell::from(Span::styled(g.action.as_str().to_owned(), t.text)),
        Cell::from(Line::from(who)),
        Cell::from(""),
        Cell::from(""),
        Cell::from(""),
    ])
}

/// A target cut to `width` so that what sets it apart stays: what it
/// shares with the target on screen most like it gives way, around where
/// they differ ("…/role/intern", "…1.0.…"); alone, its middle gives way
/// ("rm -…/log").
fn fit(target: &str, width: usize, others: &[String]) -> String {
    let chars: Vec<char> = target.chars().collect();
    if chars.len() <= width || width < 3 {
        return target.to_owned();
    }
    let shared = others
        .iter()
        .filter(|o| o.as_str() != target)
        .map(|o| o.chars().zip(&chars).take_while(|(a, b)| a == *b).count())
        .max()
        .unwrap_or(0);
    let keep = width - 1;
    if shared > 0 {
        // Show where it differs from the target it is most like.
        let start = shared.saturating_sub(2);
        if chars.len() - start <= keep {
            let tail: String = chars[chars.len() - keep..].iter().collect();
            return format!("…{tail}");
        }
        return if start == 0 {
            let head: String = chars[..keep].iter().collect();
            format!("{head}…")
        } else {
            let mid: String = chars[start..start + keep - 1].iter().collect();
            format!("…{mid}…")
        };
    }
    let head = keep / 2;
    let tail = keep - head;
    let h: String = chars[..head].iter().collect();
    let t: String = chars[chars.len() - tail..].iter().collect();
    format!("{h}…{t}")
}

/// One proposal's row; `target` is its freeze mark (if its agent is
/// frozen) and its target cut to fit.
fn item_row<'a>(
    s: &State,
    idx: usize,
    i: &'a QueueItem,
    target: (Option<String>, String),
    t: &Theme,
) -> Row<'a> {
    let (frozen, target) = target;
    let mut target_cell = Vec::new();
    if let Some(mark) = frozen {
        target_cell.push(Span::styled(mark, t.status_error));
    }
    target_cell.extend(super::styled_marks(&target, t.text, t).spans);
    let p = &i.proposal;
    let due = p.expires_at - s.session.now_ms;
    let due_text = if !p.status.is_open() {
        "-".to_owned()
    } else if due <= 0 {
        "due".to_owned()
    } else {
        short_duration(due)
    };
    let status_style = match p.status {
        ProposalStatus::Escalated | ProposalStatus::AwaitingSecond => t.status_warn,
        ProposalStatus::Approved | ProposalStatus::Executing | ProposalStatus::Executed => {
            t.status_ok
        }
        ProposalStatus::Pending => t.muted,
        _ => t.status_error,
    };
    let row = Row::new(vec![
        Cell::from(marker(idx, i, s)),
        Cell::from(Span::styled(
            i.severity.as_str().chars().take(4).collect::<String>(),
            t.severity(i.severity),
        )),
        Cell::from(Span::styled(
            p.risk.as_str().chars().take(4).collect::<String>(),
            t.risk(p.risk),
        )),
        Cell::from(Span::styled(status_short(p.status), status_style)),
        Cell::from(Span::styled(p.action.as_str(), t.text)),
        Cell::from(Line::from(target_cell)),
        Cell::from(Span::styled(
            short_duration(s.session.now_ms - p.created_at),
            t.muted,
        )),
        Cell::from(Span::styled(
            due_text,
            if p.status.is_open() && due < 15 * 60_000 {
                t.status_warn
            } else {
                t.muted
            },
        )),
        Cell::from(Span::styled(
            format!("{:>3.0}%", i.confidence * 100.0),
            t.muted,
        )),
    ]);
    if idx == s.queue.selected {
        row.style(t.selection)
    } else {
        row
    }
}

#[cfg(test)]
mod tests {
    use super::{first_visible, fit};

    #[test]
    fn long_targets_keep_what_sets_them_apart() {
        let arns = [
            "arn:aws:iam::111122223333:role/intern".to_owned(),
            "arn:aws:iam::111122223333:role/OrganizationAccountAccessRole".to_owned(),
        ];
        assert_eq!(fit(&arns[0], 14, &arns), "…3:role/intern");
        assert_eq!(fit(&arns[0], 14, &arns).chars().count(), 14);
        assert!(fit(&arns[0], 14, &arns).ends_with("role/intern"));
        assert!(fit(&arns[1], 20, &arns).starts_with("…e/Organization"));
        assert_eq!(fit("rm -rf /var/log", 9, &[]), "rm -…/log");
        // Alike but for a part in the middle: that part stays in view.
        let ips = [
            "10.20.1.15".to_owned(),
            "10.20.2.15".to_owned(),
            "10.20.3.15".to_owned(),
        ];
        let shown: Vec<String> = ips.iter().map(|ip| fit(ip, 8, &ips)).collect();
        assert_eq!(shown, ["…20.1.15", "…20.2.15", "…20.3.15"]);
        let long = [
            "host-aaaa-1-bbbbbbbbbbbb".to_owned(),
            "host-aaaa-2-bbbbbbbbbbbb".to_owned(),
        ];
        assert_eq!(fit(&long[0], 8, &long), "…a-1-bb…");
        assert_eq!(fit("ws-1", 9, &[]), "ws-1");
    }

    #[test]
    fn selection_stays_visible() {
        assert_eq!(first_visible(0, 10, 20), 0);
        assert_eq!(first_visible(50, 100, 20), 40);
        assert_eq!(first_visible(99, 100, 20), 80);
        assert_eq!(first_visible(3, 100, 20), 0);
    }
}
