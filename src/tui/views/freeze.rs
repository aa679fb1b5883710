//! Freezes on screen: the mark on every row of a frozen agent, the status
//! bar's list, the detail's line, and a lead's freeze dialog. Agent names,
//! leads' names and reasons come from the server and are sanitised like
//! every other untrusted text.

use super::untrusted;
use crate::api::freezes::Freeze;
use crate::tui::action::Action;
use crate::tui::keymap::Keymap;
use crate::tui::sanitize;
use crate::tui::state::{FreezeChoice, FreezeForm, State, agent_name, freeze_short};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// A target column narrower than this shows the short mark: the target
/// keeps most of it, and the mode is in the detail and the status bar.
const FULL_MARK_FROM: usize = 24;

/// The mark before a frozen agent's row in a target column `width` wide:
/// `❄hold `, `❄no_auto `, or `❄ ` where the column is narrow.
pub fn row_mark(s: &State, agent: &str, width: usize) -> Option<String> {
    let f = s.freezes.of(agent)?;
    Some(if width >= FULL_MARK_FROM {
        format!("❄{} ", f.mode)
    } else {
        "❄ ".to_owned()
    })
}

/// The status bar's part: what is frozen, or that it cannot be told.
/// Nothing while the first list is on its way, or when nothing is.
pub fn status(s: &State, t: &Theme) -> Vec<Span<'static>> {
    let listed = s
        .freezes
        .list
        .iter()
        .map(freeze_short)
        .collect::<Vec<_>>()
        .join(" · ");
    let listed = sanitize::line(&listed);
    match (&s.freezes.error, s.freezes.list.is_empty()) {
        (Some(_), true) => vec![Span::styled(" │ ⚠ freezes unknown", t.status_warn)],
        (Some(_), false) => vec![
            Span::styled(format!(" │ ❄ FROZEN {listed}"), t.status_error),
            Span::styled(" ⚠ as last loaded", t.status_warn),
        ],
        (None, false) => vec![Span::styled(
            format!(" │ ❄ FROZEN {listed}"),
            t.status_error,
        )],
        (None, true) => vec![],
    }
}

/// The detail's line for the proposal's agent: "soar-bot · frozen by
/// carol (hold): reason", or that the freezes could not be loaded.
pub fn detail_line(s: &State, t: &Theme, agent: &str) -> Option<Line<'static>> {
    let mut spans = untrusted(agent, t.text, t).spans;
    match (s.freezes.of(agent), &s.freezes.error) {
        (Some(f), error) => {
            spans.push(Span::styled(" · ", t.muted));
            spans.extend(frozen_by(f, t).spans);
            if error.is_some() {
                spans.push(Span::styled(" (as last loaded)", t.status_warn));
            }
        }
        (None, Some(e)) => spans.push(Span::styled(
            format!(" · frozen or not cannot be told: {}", sanitize::line(e)),
            t.status_warn,
        )),
        (None, None) => return None,
    }
    Some(Line::from(spans))
}

/// "frozen by carol (hold): reason"; "every agent frozen by …" for `*`.
fn frozen_by(f: &Freeze, t: &Theme) -> Line<'static> {
    let whom = if f.agent == crate::api::freezes::ALL_AGENTS {
        "every agent frozen"
    } else {
        "frozen"
    };
    let head = format!("{whom} by {} ({}): ", sanitize::line(&f.by), f.mode);
    let mut spans = vec![Span::styled(head, t.status_error)];
    spans.extend(untrusted(&f.reason, t.status_error, t).spans);
    Line::from(spans)
}

/// A lead's freeze dialog: the agent and what is frozen of it now, what
/// Enter signs, the reason, and the keys that change them.
pub fn dialog(f: &mut Frame, area: Rect, s: &State, t: &Theme, keys: &Keymap, form: &FreezeForm) {
    let agent = form.agent();
    let style = match form.choice {
        FreezeChoice::Unfreeze => t.status_warn,
        FreezeChoice::Freeze(_) => t.status_error,
    };
    let verb = match form.choice {
        FreezeChoice::Unfreeze => "unfreeze",
        FreezeChoice::Freeze(_) => "freeze",
    };
    let title = format!(
        " {verb} {} (signed with your key) ",
        sanitize::line(agent_name(agent))
    );
    let r = super::overlay::centered(area, 76, 13);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(Span::styled(title, style));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let parts = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .split(inner);
    f.render_widget(Paragraph::new(head(s, t, keys, form)), parts[0]);
    f.render_widget(&form.editor, parts[1]);
    let foot = Paragraph::new(footer(t, form)).wrap(Wrap { trim: true });
    f.render_widget(foot, parts[2]);
}

/// Three lines: the agent (and the key for every agent), what is frozen
/// of it now, and what Enter signs (and the key that changes it).
fn head(s: &State, t: &Theme, keys: &Keymap, form: &FreezeForm) -> Vec<Line<'static>> {
    let agent = form.agent();
    let mut who = vec![Span::styled("agent  ", t.muted)];
    who.extend(untrusted(agent_name(agent), t.accent, t).spans);
    if form.row_agent.is_some() {
        let other = if form.every {
            "the row's"
        } else {
            "every agent"
        };
        who.push(Span::styled(
            format!("   ({} {other})", keys.first_key(Action::ToggleAllAgents)),
            t.muted,
        ));
    }
    let now = match (s.freezes.on(agent), &s.freezes.error) {
        (Some(f), _) => frozen_by(f, t),
        (None, Some(_)) => Line::from(Span::styled(
            "cannot tell: the freezes could not be loaded",
            t.status_warn,
        )),
        (None, None) => Line::from(Span::styled("not frozen", t.muted)),
    };
    let mut now_line = vec![Span::styled("now    ", t.muted)];
    now_line.extend(now.spans);
    let does = vec![
        Span::styled("signs  ", t.muted),
        Span::styled(form.choice.name(), t.accent),
        Span::styled(format!(": {}", form.choice.meaning()), t.text),
        Span::styled(
            format!("   ({} mode)", keys.first_key(Action::CycleFreezeMode)),
            t.muted,
        ),
    ];
    vec![Line::from(who), Line::from(now_line), Line::from(does)]
}

/// Why it was not signed or recorded, or that it is on its way, or how to
/// sign.
fn footer(t: &Theme, form: &FreezeForm) -> Span<'static> {
    match (&form.error, form.sending) {
        (Some(e), _) => Span::styled(sanitize::line(e), t.status_error),
        (None, true) => Span::styled("signed; sending… (Esc closes this)", t.muted),
        (None, false) => Span::styled(
            "Enter sign & send now (never queued: needs the server) · Esc cancel",
            t.muted,
        ),
    }
}
