//! Dialogs over the main screen: reason and note editors (tui-textarea),
//! the deliberate confirmation for high and critical approvals, and help.
//!
//! `render` picks the open dialog; each kind is drawn by a function named
//! for it, over the box and footer helpers they share.

use super::overlay::{centered, waiting};
use crate::domain::types::{Label, Risk, Verdict};
use crate::signing::payload::PayloadVerdict;
use crate::tui::keymap::Keymap;
use crate::tui::sanitize;
use crate::tui::state::{Command, Dialog, State, Tab};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use std::collections::BTreeSet;
use tui_textarea::TextArea;

/// Draws the open dialog, if any, over `area`: each kind by the function
/// named for it.
pub fn render(f: &mut Frame, area: Rect, s: &State, t: &Theme, keys: &Keymap) {
    let Some(d) = &s.dialog else { return };
    let armed = d.armed(s.session.now_ms);
    match d {
        Dialog::Oversight { report, scroll } => oversight(f, area, t, report, *scroll),
        Dialog::Help { scroll } => help(f, area, t, keys, *scroll),
        Dialog::Reason {
            verdict,
            editor,
            error,
            ..
        } => reason(f, area, t, *verdict, editor, footer(t, error, armed)),
        Dialog::Group {
            verdict,
            members,
            editor,
            error,
            ..
        } => {
            let foot = footer(t, error, armed);
            group(f, area, t, *verdict, members.len(), editor, foot);
        }
        Dialog::Annotate {
            editor,
            labels,
            error,
            ..
        } => annotate(f, area, t, editor, labels, footer(t, error, armed)),
        Dialog::RejectAlso {
            members, reason, ..
        } => reject_also(f, area, t, members, reason, armed),
        Dialog::Pending { command, typed, .. } => pending(f, area, t, *command, typed.len()),
        Dialog::Notice { title, text } => notice(f, area, t, title, text),
        Dialog::Confirm { .. } => confirm(f, area, s, t, d),
        Dialog::Freeze(form) => super::freeze::dialog(f, area, s, t, keys, form),
        Dialog::Revert(form) => super::revert::dialog(f, area, s, t, form),
        Dialog::Amend(form) => super::amend::dialog(f, area, s, t, form),
        Dialog::Extend(form) => super::extend::dialog(f, area, s, t, form),
    }
}

/// Every dialog's border; its colour says what kind of dialog it is.
fn bordered<'a>(style: Style, title: impl Into<Line<'a>>) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(title)
}

/// Clears `r` of the screen below and draws `block` there; returns the
/// inside, for dialogs laid out in parts.
fn open(f: &mut Frame, r: Rect, block: Block) -> Rect {
    f.render_widget(Clear, r);
    let inner = block.inner(r);
    f.render_widget(block, r);
    inner
}

/// Clears `r` and draws a dialog that is one paragraph in a box.
fn boxed<'a>(f: &mut Frame, r: Rect, text: Paragraph<'a>, block: Block<'a>) {
    f.render_widget(Clear, r);
    f.render_widget(text.block(block), r);
}

/// The last line of an editor dialog: why signing failed, or that keys
/// are not read yet, or how to sign.
fn footer(t: &Theme, error: &Option<String>, armed: bool) -> Span<'static> {
    match error {
        Some(e) => Span::styled(e.clone(), t.status_error),
        None if !armed => Span::styled(waiting("Esc cancel"), t.muted),
        None => Span::styled("Enter sign & send · Esc cancel", t.muted),
    }
}

/// A lead's report, laid out at the width of the box, or why it could not
/// be had.
fn oversight(
    f: &mut Frame,
    area: Rect,
    t: &Theme,
    report: &Result<crate::api::oversight::Oversight, String>,
    scroll: u16,
) {
    let r = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let within = usize::from(r.width.saturating_sub(2));
    let (text, style) = match report {
        Ok(o) => (sanitize::text(&o.report_within(within)), t.text),
        Err(e) => (
            format!("cannot load the oversight view: {}", sanitize::line(e)),
            t.status_error,
        ),
    };
    let title = " oversight · last 24 h · from the signed record ";
    let block = bordered(t.border_focus, Span::styled(title, t.accent))
        .title_bottom(Span::styled(" j/k scroll · any other key closes ", t.muted));
    let text = Paragraph::new(text)
        .style(style)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0));
    boxed(f, r, text, block);
}

/// The keys; what does not fit in height scrolls (j/k), never past the
/// last line.
fn help(f: &mut Frame, area: Rect, t: &Theme, keys: &Keymap, scroll: u16) {
    let r = centered(area, 110, area.height.saturating_sub(2));
    let inner = open(f, r, bordered(t.border_focus, " help "));
    let width = usize::from(inner.width.max(1));
    let lines = help_lines(t, keys, width);
    let needed: usize = lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
    let visible = usize::from(inner.height.saturating_sub(1));
    let top = scroll.min(needed.saturating_sub(visible) as u16);
    let parts = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).split(inner);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((top, 0)),
        parts[0],
    );
    let foot = if needed <= visible {
        "any key closes this"
    } else {
        "j/k scroll · any other key closes this"
    };
    f.render_widget(Paragraph::new(Span::styled(foot, t.muted)), parts[1]);
}

/// The keymap in force, in as many columns as fit `width` with every entry
/// whole, then the keys read in the dialogs and the filter.
fn help_lines(t: &Theme, keys: &Keymap, width: usize) -> Vec<Line<'static>> {
    let entries = keys.help();
    let key_w = entries
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let desc_w = entries
        .iter()
        .map(|(_, d)| d.chars().count())
        .max()
        .unwrap_or(0);
    let entry_w = key_w + desc_w + 3;
    let cols = (width / entry_w.max(1)).clamp(1, 3);
    let per = entries.len().div_ceil(cols).max(1);
    let mut lines = vec![
        Line::from(Span::styled(
            "Keys from the keymap in force (change them in config.toml [tui.keys])",
            t.accent,
        )),
        Line::default(),
    ];
    for row in 0..per {
        let mut spans = Vec::new();
        for (k, desc) in (0..cols).filter_map(|c| entries.get(c * per + row)) {
            spans.push(Span::styled(format!("{k:<key_w$}"), t.accent));
            let pad = entry_w.saturating_sub(key_w);
            spans.push(Span::styled(format!("{desc:<pad$}"), t.text));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::default());
    lines.extend(
        keys.help_short()
            .into_iter()
            .map(|l| Line::from(Span::styled(l, t.text))),
    );
    lines
}

/// Reject, escalate, halt or flag: the reason, signed with the verdict.
fn reason(f: &mut Frame, area: Rect, t: &Theme, verdict: Verdict, editor: &TextArea, foot: Span) {
    let title = format!(" {verdict}: why? (signed with your key) ");
    let block = bordered(t.border_focus, Span::styled(title, t.accent));
    let inner = open(f, centered(area, 70, 9), block);
    let parts = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).split(inner);
    f.render_widget(editor, parts[0]);
    f.render_widget(Paragraph::new(foot), parts[1]);
}

/// One decision for every member of a group shown in the sheet; a
/// rejection (in the warning colour) asks for the reason.
fn group(
    f: &mut Frame,
    area: Rect,
    t: &Theme,
    verdict: Verdict,
    members: usize,
    editor: &TextArea,
    foot: Span,
) {
    let reject = verdict != Verdict::Approve;
    let style = if reject { t.status_warn } else { t.accent };
    let title = format!(" {verdict} {members} proposals of the group ");
    let r = centered(area, 72, if reject { 10 } else { 7 });
    let inner = open(f, r, bordered(style, Span::styled(title, style)));
    let parts = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(if reject { 3 } else { 0 }),
        Constraint::Length(1),
    ])
    .split(inner);
    f.render_widget(
        Paragraph::new(format!(
            "One decision per proposal, each signed over its own digest: the {members} shown in the sheet. A member that changed since drops out."
        ))
        .style(t.text)
        .wrap(Wrap { trim: true }),
        parts[0],
    );
    if reject {
        f.render_widget(editor, parts[1]);
    }
    f.render_widget(Paragraph::new(foot), parts[2]);
}

/// A signed note on the alert, and the labels toggled with their keys.
fn annotate(
    f: &mut Frame,
    area: Rect,
    t: &Theme,
    editor: &TextArea,
    labels: &BTreeSet<Label>,
    foot: Span,
) {
    let block = bordered(
        t.border_focus,
        Span::styled(" annotate the alert (signed) ", t.accent),
    );
    let inner = open(f, centered(area, 70, 11), block);
    let parts = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .split(inner);
    f.render_widget(editor, parts[0]);
    f.render_widget(Paragraph::new(label_marks(t, labels)), parts[1]);
    f.render_widget(Paragraph::new(foot), parts[2]);
}

/// `[x] false_positive (^F)` for each label, lit when it is set.
fn label_marks(t: &Theme, labels: &BTreeSet<Label>) -> Line<'static> {
    let mark = |l: Label, key: &str| {
        let on = labels.contains(&l);
        Span::styled(
            format!("[{}] {} (^{key})  ", if on { "x" } else { " " }, l.as_str()),
            if on { t.accent } else { t.muted },
        )
    };
    Line::from(vec![
        mark(Label::FalsePositive, "F"),
        mark(Label::TruePositive, "T"),
        mark(Label::Benign, "B"),
        mark(Label::NeedsInfo, "N"),
    ])
}

/// After a label that says the alert needs no action: reject its open
/// proposals too? The box grows with the (at most six) proposals listed.
fn reject_also(
    f: &mut Frame,
    area: Rect,
    t: &Theme,
    members: &[(String, String, String)],
    reason: &str,
    armed: bool,
) {
    let mut lines = vec![
        Line::from(Span::styled(
            format!(
                "Reject the {} open proposal{} of this alert too, one signed rejection each?",
                members.len(),
                if members.len() == 1 { "" } else { "s" }
            ),
            t.text,
        )),
        Line::default(),
    ];
    lines.extend(listed(t, members));
    lines.push(Line::from(vec![
        Span::styled("reason  ", t.muted),
        Span::styled(sanitize::line(reason), t.text),
    ]));
    lines.push(Line::default());
    let prompt = if armed {
        "y or Enter rejects them · Esc leaves them open".to_owned()
    } else {
        waiting("Esc leaves them open")
    };
    lines.push(Line::from(Span::styled(prompt, t.muted)));
    let r = centered(area, 76, lines.len() as u16 + 4);
    let title = Span::styled(" labelled: reject its proposals? ", t.status_warn);
    let text = Paragraph::new(lines).wrap(Wrap { trim: false });
    boxed(f, r, text, bordered(t.status_warn, title));
}

/// The proposals a rejection would reach: six at most, then how many more.
fn listed(t: &Theme, members: &[(String, String, String)]) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = members
        .iter()
        .take(6)
        .map(|(_, _, what)| {
            Line::from(Span::styled(
                format!("  {}", sanitize::line(what)),
                t.accent,
            ))
        })
        .collect();
    if members.len() > 6 {
        lines.push(Line::from(Span::styled(
            format!("  … and {} more", members.len() - 6),
            t.muted,
        )));
    }
    lines
}

/// A command waiting for its proposal to load: how many keys are kept,
/// and where they will go.
fn pending(f: &mut Frame, area: Rect, t: &Theme, command: Command, typed: usize) {
    let into = match command {
        Command::Reason(_) | Command::Revert | Command::Extend => "goes into the reason",
        Command::Annotate => "goes into the note",
        Command::Amend => "goes into the amendment",
        _ => "is not read as a command",
    };
    let lines = vec![
        Line::from(Span::styled(
            format!("loading the proposal… ({typed} keys kept)"),
            t.text,
        )),
        Line::from(Span::styled(
            format!("what you type now {into} · Esc cancels"),
            t.muted,
        )),
    ];
    let title = Span::styled(
        format!(" {}: waiting for the proposal ", command.name()),
        t.status_warn,
    );
    let text = Paragraph::new(lines).wrap(Wrap { trim: true });
    boxed(
        f,
        centered(area, 64, 5),
        text,
        bordered(t.status_warn, title),
    );
}

/// A command that could not start, said where the person is typing.
fn notice(f: &mut Frame, area: Rect, t: &Theme, title: &str, text: &str) {
    let lines = vec![
        Line::from(Span::styled(sanitize::line(text), t.text)),
        Line::default(),
        Line::from(Span::styled(
            "Esc closes this (Enter too, once it is on screen); keys typed meanwhile are not read as commands",
            t.muted,
        )),
    ];
    let title = Span::styled(format!(" {title} "), t.status_error);
    let text = Paragraph::new(lines).wrap(Wrap { trim: true });
    boxed(
        f,
        centered(area, 70, 8),
        text,
        bordered(t.status_error, title),
    );
}

/// An approval (or a sampled one confirmed): what is signed, at what risk,
/// what the person has not looked at, and the key that signs; high and
/// critical show the digest and need `yes`. It reads most of the dialog,
/// so it takes the dialog whole.
fn confirm(f: &mut Frame, area: Rect, s: &State, t: &Theme, d: &Dialog) {
    let Dialog::Confirm {
        verdict,
        proposal_id,
        what,
        risk,
        digest,
        typed,
        unviewed,
        ..
    } = d
    else {
        return;
    };
    let approve = *verdict == PayloadVerdict::Approve;
    let needs_yes = approve && *risk >= Risk::High;
    let mut lines = confirm_action(t, approve, *risk, what);
    if needs_yes {
        lines.push(Line::from(Span::styled("  digest", t.muted)));
        lines.push(Line::from(Span::styled(digest.clone(), t.muted)));
    }
    if approve
        && let Some(text) = s
            .queue
            .items
            .get(proposal_id)
            .and_then(|i| s.outlook_text(i))
    {
        lines.push(Line::from(Span::styled(
            sanitize::line(&text),
            t.status_warn,
        )));
    }
    lines.extend(unviewed.iter().map(|tab| unviewed_line(t, *tab)));
    lines.push(Line::default());
    let armed = d.armed(s.session.now_ms);
    lines.push(confirm_prompt(t, armed, needs_yes, typed));
    let title = if approve {
        " confirm approval "
    } else {
        " confirm the sampled approval "
    };
    let block = bordered(t.risk(*risk), Span::styled(title, t.risk(*risk)));
    confirm_box(f, area, lines, block);
}

/// "You are approving a HIGH risk action:" and the action's target.
fn confirm_action(t: &Theme, approve: bool, risk: Risk, target: &str) -> Vec<Line<'static>> {
    let what = if approve {
        "approving"
    } else {
        "confirming the policy approval of"
    };
    vec![
        Line::from(vec![
            Span::styled(format!("You are {what} a "), t.text),
            Span::styled(
                format!("{} risk", risk.as_str().to_uppercase()),
                t.risk(risk).add_modifier(Modifier::BOLD),
            ),
            Span::styled(" action:", t.text),
        ]),
        Line::from(vec![
            Span::styled("  ", t.muted),
            Span::styled(sanitize::target(target), t.accent),
        ]),
    ]
}

/// A pane with content the person never opened.
fn unviewed_line(t: &Theme, tab: Tab) -> Line<'static> {
    Line::from(Span::styled(
        format!(
            "⚠ you have not opened the {} — review it first?",
            tab.name()
        ),
        t.status_warn,
    ))
}

/// The last line: wait, or type `yes` (shown as typed), or `y` / Enter.
fn confirm_prompt(t: &Theme, armed: bool, needs_yes: bool, typed: &str) -> Line<'static> {
    if !armed {
        Line::from(Span::styled(waiting("Esc cancels"), t.muted))
    } else if needs_yes {
        Line::from(vec![
            Span::styled("Type ", t.text),
            Span::styled("yes", t.accent),
            Span::styled(" and Enter to sign, Esc to go back: ", t.text),
            Span::styled(format!("{}▏", sanitize::line(typed)), t.accent),
        ])
    } else {
        Line::from(vec![
            Span::styled("y", t.accent),
            Span::styled(" or ", t.text),
            Span::styled("Enter", t.accent),
            Span::styled(" signs · Esc goes back", t.text),
        ])
    }
}

/// Sized for borders and every line as it wraps (a long target, the
/// digest), so the prompt is never pushed out of the box.
fn confirm_box<'a>(f: &mut Frame, area: Rect, lines: Vec<Line<'a>>, block: Block<'a>) {
    let inner_w = usize::from(area.width.min(72).saturating_sub(4).max(1));
    let rows: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(inner_w).max(1))
        .sum();
    // One row of slack: words wrap a little later than characters.
    let r = centered(area, 72, rows as u16 + 3);
    boxed(
        f,
        r,
        Paragraph::new(lines).wrap(Wrap { trim: false }),
        block,
    );
}
