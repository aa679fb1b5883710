//! Dialogs over the main screen: reason and note editors (tui-textarea),
//! the deliberate confirmation for high and critical approvals, and help.

use crate::domain::types::{Label, Risk};
use crate::signing::payload::PayloadVerdict;
use crate::tui::keymap::Keymap;
use crate::tui::sanitize;
use crate::tui::state::{Command, Dialog, State};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub fn render(f: &mut Frame, area: Rect, s: &State, t: &Theme, keys: &Keymap) {
    let Some(d) = &s.dialog else { return };
    match d {
        Dialog::Oversight { report, scroll } => {
            let r = centered(
                area,
                area.width.saturating_sub(4),
                area.height.saturating_sub(2),
            );
            f.render_widget(Clear, r);
            let within = usize::from(r.width.saturating_sub(2));
            let (text, style) = match report {
                Ok(o) => (sanitize::text(&o.report_within(within)), t.text),
                Err(e) => (
                    format!("cannot load the oversight view: {}", sanitize::line(e)),
                    t.status_error,
                ),
            };
            f.render_widget(
                Paragraph::new(text)
                    .style(style)
                    .wrap(Wrap { trim: false })
                    .scroll((*scroll, 0))
                    .block(
                        Block::default()
                            .borders(Borders::ALL)
                            .border_style(t.border_focus)
                            .title(Span::styled(
                                " oversight · last 24 h · from the signed record ",
                                t.accent,
                            ))
                            .title_bottom(Span::styled(
                                " j/k scroll · any other key closes ",
                                t.muted,
                            )),
                    ),
                r,
            );
        }
        Dialog::Help { scroll } => {
            let entries = keys.help();
            let short = keys.help_short();
            let r = centered(area, 110, area.height.saturating_sub(2));
            f.render_widget(Clear, r);
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.border_focus)
                .title(" help ");
            let inner = block.inner(r);
            f.render_widget(block, r);
            // As many columns as fit with every entry whole; what does not
            // fit in height scrolls.
            let key_w = entries
                .iter()
                .map(|(k, _)| k.chars().count())
                .max()
                .unwrap_or(0)
                + 2;
            let entry_w = key_w
                + entries
                    .iter()
                    .map(|(_, d)| d.chars().count())
                    .max()
                    .unwrap_or(0)
                + 3;
            let width = usize::from(inner.width.max(1));
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
                for c in 0..cols {
                    let Some((k, desc)) = entries.get(c * per + row) else {
                        continue;
                    };
                    spans.push(Span::styled(format!("{k:<key_w$}"), t.accent));
                    let pad = entry_w.saturating_sub(key_w);
                    spans.push(Span::styled(format!("{desc:<pad$}"), t.text));
                }
                lines.push(Line::from(spans));
            }
            lines.push(Line::default());
            lines.extend(
                short
                    .iter()
                    .map(|l| Line::from(Span::styled(l.clone(), t.text))),
            );
            let needed: usize = lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
            let visible = usize::from(inner.height.saturating_sub(1));
            let fits = needed <= visible;
            // Never scrolled past the last line.
            let top = (*scroll).min(needed.saturating_sub(visible) as u16);
            let parts = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).split(inner);
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((top, 0)),
                parts[0],
            );
            let foot = if fits {
                "any key closes this"
            } else {
                "j/k scroll · any other key closes this"
            };
            f.render_widget(Paragraph::new(Span::styled(foot, t.muted)), parts[1]);
        }
        Dialog::Reason {
            verdict,
            editor,
            error,
            ..
        } => {
            let r = centered(area, 70, 9);
            f.render_widget(Clear, r);
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.border_focus)
                .title(Span::styled(
                    format!(" {verdict}: why? (signed with your key) "),
                    t.accent,
                ));
            let inner = block.inner(r);
            f.render_widget(block, r);
            let parts = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).split(inner);
            f.render_widget(editor, parts[0]);
            let foot = match error {
                Some(e) => Span::styled(e.clone(), t.status_error),
                None => Span::styled("Enter sign & send · Esc cancel", t.muted),
            };
            f.render_widget(Paragraph::new(foot), parts[1]);
        }
        Dialog::Group {
            verdict,
            members,
            editor,
            error,
            ..
        } => {
            let reject = *verdict != crate::domain::types::Verdict::Approve;
            let r = centered(area, 72, if reject { 10 } else { 7 });
            f.render_widget(Clear, r);
            let style = if reject { t.status_warn } else { t.accent };
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(style)
                .title(Span::styled(
                    format!(" {verdict} {} proposals of the group ", members.len()),
                    style,
                ));
            let inner = block.inner(r);
            f.render_widget(block, r);
            let parts = Layout::vertical([
                Constraint::Length(2),
                Constraint::Min(if reject { 3 } else { 0 }),
                Constraint::Length(1),
            ])
            .split(inner);
            f.render_widget(
                Paragraph::new(format!(
                    "One decision per proposal, each signed over its own digest: the {} shown in the sheet. A member that changed since drops out.",
                    members.len()
                ))
                .style(t.text)
                .wrap(Wrap { trim: true }),
                parts[0],
            );
            if reject {
                f.render_widget(editor, parts[1]);
            }
            let foot = match error {
                Some(e) => Span::styled(e.clone(), t.status_error),
                None if !d.armed(s.session.now_ms) => Span::styled(
                    "wait… (keys typed before this appeared are ignored) · Esc cancel",
                    t.muted,
                ),
                None => Span::styled("Enter sign & send · Esc cancel", t.muted),
            };
            f.render_widget(Paragraph::new(foot), parts[2]);
        }
        Dialog::Annotate {
            editor,
            labels,
            error,
            ..
        } => {
            let r = centered(area, 70, 11);
            f.render_widget(Clear, r);
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.border_focus)
                .title(Span::styled(" annotate the alert (signed) ", t.accent));
            let inner = block.inner(r);
            f.render_widget(block, r);
            let parts = Layout::vertical([
                Constraint::Min(3),
                Constraint::Length(1),
                Constraint::Length(1),
            ])
            .split(inner);
            f.render_widget(editor, parts[0]);
            let mark = |l: Label, key: &str| {
                let on = labels.contains(&l);
                Span::styled(
                    format!("[{}] {} (^{key})  ", if on { "x" } else { " " }, l.as_str()),
                    if on { t.accent } else { t.muted },
                )
            };
            f.render_widget(
                Paragraph::new(Line::from(vec![
                    mark(Label::FalsePositive, "F"),
                    mark(Label::TruePositive, "T"),
                    mark(Label::Benign, "B"),
                    mark(Label::NeedsInfo, "N"),
                ])),
                parts[1],
            );
            let foot = match error {
                Some(e) => Span::styled(e.clone(), t.status_error),
                None => Span::styled("Enter sign & send · Esc cancel", t.muted),
            };
            f.render_widget(Paragraph::new(foot), parts[2]);
        }
        Dialog::RejectAlso {
            members, reason, ..
        } => {
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
            for (_, _, what) in members.iter().take(6) {
                lines.push(Line::from(Span::styled(
                    format!("  {}", sanitize::line(what)),
                    t.accent,
                )));
            }
            if members.len() > 6 {
                lines.push(Line::from(Span::styled(
                    format!("  … and {} more", members.len() - 6),
                    t.muted,
                )));
            }
            lines.push(Line::from(vec![
                Span::styled("reason  ", t.muted),
                Span::styled(sanitize::line(reason), t.text),
            ]));
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                if d.armed(s.session.now_ms) {
                    "y or Enter rejects them · Esc leaves them open"
                } else {
                    "wait… (keys typed before this appeared are ignored) · Esc leaves them open"
                },
                t.muted,
            )));
            let r = centered(area, 76, lines.len() as u16 + 4);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(t.status_warn)
                        .title(Span::styled(
                            " labelled: reject its proposals? ",
                            t.status_warn,
                        )),
                ),
                r,
            );
        }
        Dialog::Pending { command, typed, .. } => {
            let r = centered(area, 64, 5);
            f.render_widget(Clear, r);
            let into = match command {
                Command::Reason(_) => "goes into the reason",
                Command::Annotate => "goes into the note",
                _ => "is not read as a command",
            };
            let lines = vec![
                Line::from(Span::styled(
                    format!("loading the proposal… ({} keys kept)", typed.len()),
                    t.text,
                )),
                Line::from(Span::styled(
                    format!("what you type now {into} · Esc cancels"),
                    t.muted,
                )),
            ];
            f.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: true }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(t.status_warn)
                        .title(Span::styled(
                            format!(" {}: waiting for the proposal ", command.name()),
                            t.status_warn,
                        )),
                ),
                r,
            );
        }
        Dialog::Notice { title, text } => {
            let lines = vec![
                Line::from(Span::styled(sanitize::line(text), t.text)),
                Line::default(),
                Line::from(Span::styled(
                    "Esc closes this (Enter too, once it is on screen); keys typed meanwhile are not read as commands",
                    t.muted,
                )),
            ];
            let r = centered(area, 70, 8);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: true }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(t.status_error)
                        .title(Span::styled(format!(" {title} "), t.status_error)),
                ),
                r,
            );
        }
        Dialog::Confirm {
            verdict,
            proposal_id,
            what: action_target,
            risk,
            digest,
            typed,
            unviewed,
            ..
        } => {
            let item = s.queue.items.get(proposal_id);
            let armed = d.armed(s.session.now_ms);
            let needs_yes = *verdict == PayloadVerdict::Approve && *risk >= Risk::High;
            let what = if *verdict == PayloadVerdict::Approve {
                "approving"
            } else {
                "confirming the policy approval of"
            };
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(format!("You are {what} a "), t.text),
                    Span::styled(
                        format!("{} risk", risk.as_str().to_uppercase()),
                        t.risk(*risk).add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(" action:", t.text),
                ]),
                Line::from(vec![
                    Span::styled("  ", t.muted),
                    Span::styled(sanitize::target(action_target), t.accent),
                ]),
            ];
            if needs_yes {
                lines.push(Line::from(Span::styled("  digest", t.muted)));
                lines.push(Line::from(Span::styled(digest.clone(), t.muted)));
            }
            if *verdict == PayloadVerdict::Approve
                && let Some(text) = item.and_then(|i| s.outlook_text(i))
            {
                lines.push(Line::from(Span::styled(
                    sanitize::line(&text),
                    t.status_warn,
                )));
            }
            for tab in unviewed {
                lines.push(Line::from(Span::styled(
                    format!(
                        "⚠ you have not opened the {} — review it first?",
                        tab.name()
                    ),
                    t.status_warn,
                )));
            }
            lines.push(Line::default());
            if !armed {
                lines.push(Line::from(Span::styled(
                    "wait… (keys typed before this appeared are ignored) · Esc cancels",
                    t.muted,
                )));
            } else if needs_yes {
                lines.push(Line::from(vec![
                    Span::styled("Type ", t.text),
                    Span::styled("yes", t.accent),
                    Span::styled(" and Enter to sign, Esc to go back: ", t.text),
                    Span::styled(format!("{}▏", sanitize::line(typed)), t.accent),
                ]));
            } else {
                lines.push(Line::from(vec![
                    Span::styled("y", t.accent),
                    Span::styled(" or ", t.text),
                    Span::styled("Enter", t.accent),
                    Span::styled(" signs · Esc goes back", t.text),
                ]));
            }
            // Borders, and every line as it wraps (a long target, the
            // digest): the prompt is never pushed out of the box.
            let inner_w = usize::from(area.width.min(72).saturating_sub(4).max(1));
            let rows: usize = lines
                .iter()
                .map(|l| l.width().div_ceil(inner_w).max(1))
                .sum();
            // One row of slack: words wrap a little later than characters.
            let r = centered(area, 72, rows as u16 + 3);
            f.render_widget(Clear, r);
            let title = if *verdict == PayloadVerdict::Approve {
                " confirm approval "
            } else {
                " confirm the sampled approval "
            };
            f.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(t.risk(*risk))
                        .title(Span::styled(title, t.risk(*risk))),
                ),
                r,
            );
        }
    }
}
