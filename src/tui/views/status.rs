//! The status bar (who, which key, which server, connection, counts) and
//! the bottom line (flash message or key hints).

use super::short_duration;
use crate::domain::types::ProposalStatus;
use crate::tui::action::Action;
use crate::tui::keymap::Keymap;
use crate::tui::state::{Conn, Level, State};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn render_top(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let role = s
        .session
        .me
        .role
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let fp: String = s.session.me.fingerprint.chars().take(19).collect();
    let conn = match &s.session.conn {
        Conn::Connecting => Span::styled("◌ connecting", t.status_warn),
        Conn::Online => {
            let age = s
                .session
                .last_update_ms
                .map(|u| short_duration(s.session.now_ms - u))
                .unwrap_or_default();
            Span::styled(format!("● online {age}"), t.status_ok)
        }
        Conn::Offline { .. } => Span::styled("✖ DISCONNECTED", t.status_error),
        Conn::Refused { .. } => Span::styled("✖ LOGIN REFUSED", t.status_error),
    };
    // Most important first: a narrow terminal cuts from the right.
    let unsent_style = if s.session.outbox > 0 {
        t.status_warn
    } else {
        t.muted
    };
    let mut spans = vec![
        Span::styled(format!("{}{role} ", s.session.me.principal), t.accent),
        conn,
    ];
    // What is frozen comes before the counts: a narrow terminal keeps it.
    spans.extend(super::freeze::status(s, t));
    spans.extend([
        Span::styled(
            format!(
                " │ pend {} · esc {} · 2nd {} · ",
                s.count(ProposalStatus::Pending),
                s.count(ProposalStatus::Escalated),
                s.count(ProposalStatus::AwaitingSecond)
            ),
            t.text,
        ),
        Span::styled(format!("unsent {}", s.session.outbox), unsent_style),
        Span::styled(format!(" │ {fp} {} ", s.session.server), t.muted),
    ]);
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub fn render_bottom(f: &mut Frame, area: Rect, s: &State, t: &Theme, keys: &Keymap) {
    let conn_line = match &s.session.conn {
        Conn::Offline { error } if s.queue.answered => Some(format!(
            "server unreachable — showing the last data; retrying. Decisions wait in the outbox. ({error})"
        )),
        Conn::Offline { error } => Some(format!(
            "not connected yet — server unreachable, retrying ({error})"
        )),
        Conn::Refused { error } => Some(format!("{error} · q quits")),
        _ => None,
    };
    if let Some(text) = conn_line
        && s.session.flash.is_none()
    {
        f.render_widget(
            Paragraph::new(crate::tui::sanitize::line(&text)).style(t.status_error),
            area,
        );
        return;
    }
    if let Some(fl) = &s.session.flash {
        let style = match fl.level {
            Level::Info => t.text,
            Level::Ok => t.status_ok,
            Level::Warn => t.status_warn,
            Level::Error => t.status_error,
        };
        f.render_widget(
            Paragraph::new(crate::tui::sanitize::line(&fl.text)).style(style),
            area,
        );
        return;
    }
    if s.queue.filtering {
        f.render_widget(
            Paragraph::new(format!(
                "filter: {}▏  (Enter keep, Esc clear)",
                crate::tui::sanitize::line(&s.queue.filter)
            ))
            .style(t.accent),
            area,
        );
        return;
    }
    let hint = |a: Action, label: &str| format!("{} {label}", keys.first_key(a));
    let text = [
        hint(Action::Approve, "approve"),
        hint(Action::Reject, "reject"),
        hint(Action::Escalate, "escalate"),
        hint(Action::Annotate, "note"),
        hint(Action::Halt, "halt"),
        hint(Action::Claim, "claim"),
        hint(Action::NextTab, "tab"),
        hint(Action::NextView, "view"),
        hint(Action::Filter, "filter"),
    ];
    let lead = s.session.me.role == Some(crate::domain::types::Role::Lead);
    // What ran can be undone: said where it is selected.
    let executed = s
        .selected_item()
        .is_some_and(|i| i.proposal.status == crate::domain::types::ProposalStatus::Executed);
    // ... and what holds on a timer can be kept longer.
    let timed = s
        .selected_proposal()
        .is_some_and(|p| executed && p.contain_until.is_some_and(|u| u > s.session.now_ms));
    let text = text
        .into_iter()
        .chain(lead.then(|| hint(Action::Freeze, "freeze")))
        .chain(executed.then(|| hint(Action::Revert, "revert")))
        .chain(timed.then(|| hint(Action::Extend, "extend")))
        .chain([hint(Action::Help, "help"), hint(Action::Quit, "quit")])
        .collect::<Vec<_>>()
        .join(" · ");
    f.render_widget(Paragraph::new(text).style(t.muted), area);
}
