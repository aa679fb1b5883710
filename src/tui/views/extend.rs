//! Timed containment on screen: the dialog a person signs an extension
//! in, the detail's line on an executed proposal that holds until a set
//! time, and what the history tab adds to the entries of its end and its
//! extensions. Times read as the person's clock does ([`local_time`]).

use super::untrusted_target;
use crate::domain::records::ProposalRecord;
use crate::domain::time::parse_rfc3339;
use crate::domain::types::ProposalStatus;
use crate::tui::sanitize;
use crate::tui::state::{EXTEND_STEPS_H, ExtendForm, State, local_time, time_left};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use serde_json::Value;

/// Rows of the reason editor.
const EDITOR_ROWS: u16 = 3;

/// The extend dialog: what holds and until when, the choice of how much
/// longer with the time it comes to, the reason, and how to sign.
pub fn dialog(f: &mut Frame, area: Rect, s: &State, t: &Theme, form: &ExtendForm) {
    let width = 80;
    let inner_w = usize::from(width.min(area.width.saturating_sub(2)).saturating_sub(2)).max(1);
    let head = head(s, t, form);
    let head_rows: usize = head
        .iter()
        .map(|l| l.width().div_ceil(inner_w).max(1))
        .sum();
    let foot = footer(s, t, form);
    let foot_rows = foot.width().div_ceil(inner_w).max(1) as u16;
    let height = head_rows as u16 + EDITOR_ROWS + foot_rows + 2;
    let r = super::overlay::centered(area, width, height);
    f.render_widget(Clear, r);
    let style = t.status_warn;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(Span::styled(
            " extend: keep the containment longer (signed with your key) ",
            style,
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let parts = Layout::vertical([
        Constraint::Length(head_rows as u16),
        Constraint::Length(EDITOR_ROWS),
        Constraint::Length(foot_rows),
    ])
    .split(inner);
    f.render_widget(Paragraph::new(head).wrap(Wrap { trim: false }), parts[0]);
    f.render_widget(&form.editor, parts[1]);
    f.render_widget(Paragraph::new(foot).wrap(Wrap { trim: true }), parts[2]);
}

fn kv(t: &Theme, k: &str, spans: Vec<Span<'static>>) -> Line<'static> {
    let mut all = vec![Span::styled(format!("{k:<8} "), t.muted)];
    all.extend(spans);
    Line::from(all)
}

/// What holds, until when now, and until when it would.
fn head(s: &State, t: &Theme, form: &ExtendForm) -> Vec<Line<'static>> {
    let (now, offset) = (s.session.now_ms, s.session.utc_offset_s);
    let mut held = untrusted_target(&form.what, t.text, t).spans;
    held.push(Span::styled(" · executed", t.muted));
    let choices: Vec<Span<'static>> = EXTEND_STEPS_H
        .iter()
        .enumerate()
        .flat_map(|(i, h)| {
            // Marked in plain text too, not by colour alone.
            if i == form.step % EXTEND_STEPS_H.len() {
                let style = t.accent.add_modifier(Modifier::REVERSED);
                [Span::styled(format!("[+{h}h]"), style), Span::raw(" ")]
            } else {
                [Span::styled(format!(" +{h}h "), t.muted), Span::raw(" ")]
            }
        })
        .collect();
    let until = form.until();
    vec![
        kv(t, "holds", held),
        kv(
            t,
            "until",
            vec![Span::styled(
                format!(
                    "{} (in {}), then the gate proposes its release",
                    local_time(form.from, now, offset),
                    time_left(form.from, now)
                ),
                t.text,
            )],
        ),
        kv(t, "longer", choices),
        kv(
            t,
            "new end",
            vec![Span::styled(
                format!(
                    "{} (in {})",
                    local_time(until, now, offset),
                    time_left(until, now)
                ),
                t.status_warn.add_modifier(Modifier::BOLD),
            )],
        ),
    ]
}

/// Why nothing was signed, or how long to wait, or how to sign.
fn footer(s: &State, t: &Theme, form: &ExtendForm) -> Line<'static> {
    let text = match &form.error {
        Some(e) => return Line::from(Span::styled(sanitize::line(e), t.status_error)),
        None if !form.armed(s.session.now_ms) => super::overlay::waiting("Tab longer · Esc cancel"),
        None => "Tab longer · Enter sign & send · Esc cancel".to_owned(),
    };
    Line::from(Span::styled(text, t.muted))
}

/// The detail's line on an executed proposal that holds until a set
/// time: "until 23:40 (in 7h 12m), then the gate proposes its release".
pub fn detail_line(s: &State, t: &Theme, p: &ProposalRecord) -> Option<Line<'static>> {
    let until = p
        .contain_until
        .filter(|_| p.status == ProposalStatus::Executed)?;
    let (now, offset) = (s.session.now_ms, s.session.utc_offset_s);
    let text = if until > now {
        format!(
            "until {} (in {}), then the gate proposes its release",
            local_time(until, now, offset),
            time_left(until, now)
        )
    } else {
        format!(
            "until {}: ended, the gate proposes its release",
            local_time(until, now, offset)
        )
    };
    Some(Line::from(Span::styled(text, t.status_warn)))
}

/// What a history entry of a timed containment says besides its kind and
/// actor: "containment ended: release proposed → proposal …" and
/// "extended until …" (the reason follows, as on every decision).
pub fn history_note(s: &State, kind: &str, data: &Value) -> Option<String> {
    let (now, offset) = (s.session.now_ms, s.session.utc_offset_s);
    let at = |k: &str| {
        data[k]
            .as_str()
            .and_then(parse_rfc3339)
            .map(|ms| local_time(ms, now, offset))
    };
    match kind {
        "containment_ended" => Some(if let Some(by) = data["reverted_by"].as_str() {
            format!(": release proposed → proposal {by}")
        } else if data["already_reverted"].is_object() {
            ": it was reverted already".into()
        } else {
            ": no release could be proposed".into()
        }),
        "containment_extended" => {
            at("contain_until").map(|until| format!(" extended until {until}"))
        }
        _ => None,
    }
}
