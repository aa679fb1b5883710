//! Amendments on screen: the dialog a person narrows a proposal in before
//! approving it, the detail's line on an amended proposal (what was
//! replaced, from what, by whom), so a second approver sees it before
//! signing, and what the history tab adds to an `amended` entry. Values
//! come from the agent and the server and are sanitised like all other
//! text.

use super::untrusted_target;
use crate::domain::records::ProposalRecord;
use crate::tui::sanitize;
use crate::tui::state::{AmendCheck, AmendField, AmendForm, State};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use serde_json::{Map, Value};

/// Rows of the editor for a permission document.
const DOCUMENT_ROWS: u16 = 6;

/// The amend dialog: what was proposed, which field is amended, the
/// editor, what the amendment comes to (the change, whether it narrows,
/// the amended digest), a permission change's diff, and how to sign.
pub fn dialog(f: &mut Frame, area: Rect, s: &State, t: &Theme, form: &AmendForm) {
    let wide = form.diff.is_some();
    let width = if wide { 120 } else { 80 };
    let inner_w = usize::from(width.min(area.width.saturating_sub(2)).saturating_sub(2)).max(1);
    let rows = |lines: &[Line]| -> u16 {
        let n: usize = lines
            .iter()
            .map(|l| l.width().div_ceil(inner_w).max(1))
            .sum();
        u16::try_from(n).unwrap_or(u16::MAX)
    };
    let head = head(t, form);
    let check = check_lines(t, form);
    let foot = vec![footer(s, t, form)];
    let editor_rows = if form.field.one_line() {
        1
    } else {
        DOCUMENT_ROWS
    };
    let (head_rows, check_rows, foot_rows) = (rows(&head), rows(&check), rows(&foot));
    let height = if wide {
        area.height.saturating_sub(2)
    } else {
        head_rows + editor_rows + check_rows + foot_rows + 2
    };
    let r = super::overlay::centered(area, width, height);
    f.render_widget(Clear, r);
    let style = t.risk(form.risk());
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(Span::styled(
            " approve as amended (signed with your key) ",
            style,
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let parts = Layout::vertical([
        Constraint::Length(head_rows),
        Constraint::Length(editor_rows),
        Constraint::Length(check_rows),
        Constraint::Min(if wide { 4 } else { 0 }),
        Constraint::Length(foot_rows),
    ])
    .split(inner);
    f.render_widget(Paragraph::new(head).wrap(Wrap { trim: false }), parts[0]);
    f.render_widget(&form.editor, parts[1]);
    f.render_widget(Paragraph::new(check).wrap(Wrap { trim: false }), parts[2]);
    if let Some(model) = &form.diff {
        super::diff::render_model(f, parts[3], t, model, (form.scroll, 0));
    }
    f.render_widget(Paragraph::new(foot).wrap(Wrap { trim: true }), parts[4]);
}

fn kv(t: &Theme, k: &str, spans: Vec<Span<'static>>) -> Line<'static> {
    let mut all = vec![Span::styled(format!("{k:<9} "), t.muted)];
    all.extend(spans);
    Line::from(all)
}

/// What was proposed, at what risk; the fields it offers, the one being
/// amended marked.
fn head(t: &Theme, form: &AmendForm) -> Vec<Line<'static>> {
    let p = &form.record;
    let mut proposed = vec![
        Span::styled(p.action.as_str().to_owned(), t.accent),
        Span::styled(" → ", t.muted),
    ];
    proposed.extend(untrusted_target(&p.target, t.text, t).spans);
    proposed.push(Span::styled(" · ", t.muted));
    proposed.push(Span::styled(p.risk.as_str().to_uppercase(), t.risk(p.risk)));
    let mut fields = Vec::new();
    for (i, field) in form.fields.iter().enumerate() {
        if i > 0 {
            fields.push(Span::styled(" · ", t.muted));
        }
        if *field == form.field {
            fields.push(Span::styled(
                format!("[{}]", field.name()),
                t.accent.add_modifier(Modifier::BOLD),
            ));
        } else {
            fields.push(Span::styled(field.name().to_owned(), t.muted));
        }
    }
    if form.fields.len() > 1 {
        fields.push(Span::styled("   Tab: the next field", t.muted));
    }
    vec![kv(t, "proposed", proposed), kv(t, "amend", fields)]
}

/// The change from → to, whether it narrows (or why not), and the
/// amended digest.
fn check_lines(t: &Theme, form: &AmendForm) -> Vec<Line<'static>> {
    let change = match form.field {
        AmendField::After => vec![Span::styled(
            "the permission document as amended, against the proposed one (below) · PgUp/PgDn scroll",
            t.text,
        )],
        _ => from_to(t, &form.proposed_value(), &form.value()),
    };
    let (verdict, digest) = match &form.check {
        AmendCheck::Unchanged => (
            Span::styled("— the same as proposed: nothing to sign here", t.muted),
            None,
        ),
        AmendCheck::Refused(why) => (
            Span::styled(
                format!("✗ does not narrow: {}", sanitize::line(why)),
                t.status_error,
            ),
            None,
        ),
        AmendCheck::Narrows { amended_digest, .. } => (
            Span::styled("✓ narrows what was proposed", t.status_ok),
            Some(amended_digest.clone()),
        ),
    };
    let mut out = vec![kv(t, "change", change), kv(t, "narrows", vec![verdict])];
    if let Some(d) = digest {
        let short: String = d.chars().take(23).collect();
        out.push(kv(
            t,
            "digest",
            vec![
                Span::styled(format!("{short}… "), t.text),
                Span::styled("(of the amended document)", t.muted),
            ],
        ));
    }
    out
}

/// "185.220.101.0/24 → 185.220.101.4/32", each side shown as data.
fn from_to(t: &Theme, from: &str, to: &str) -> Vec<Span<'static>> {
    let mut spans = untrusted_target(from, t.diff_removed, t).spans;
    spans.push(Span::styled(" → ", t.muted));
    spans.extend(untrusted_target(to, t.diff_added, t).spans);
    spans
}

/// Why nothing was signed, or how long to wait, or how to sign.
fn footer(s: &State, t: &Theme, form: &AmendForm) -> Line<'static> {
    if let Some(e) = &form.error {
        return Line::from(Span::styled(sanitize::line(e), t.status_error));
    }
    let armed = form.armed(s.session.now_ms);
    let text = match &form.confirming {
        _ if !armed => super::overlay::waiting("Esc cancel"),
        Some(typed) => format!(
            "{} risk: type yes and Enter to approve as amended: {}▏ · Esc cancel",
            form.risk().as_str().to_uppercase(),
            sanitize::line(typed)
        ),
        None if matches!(form.check, AmendCheck::Narrows { .. }) => {
            "Enter approve as amended · Tab field · Esc cancel".to_owned()
        }
        None => "edit to narrow it · Tab field · Esc cancel".to_owned(),
    };
    Line::from(Span::styled(text, t.muted))
}

/// The detail's line on an amended proposal: "by alice: target
/// 185.220.101.0/24 → 185.220.101.4/32", highlighted, so whoever signs
/// next sees what was replaced before signing the amended digest.
pub fn detail_line(t: &Theme, p: &ProposalRecord) -> Option<Line<'static>> {
    let a = p.amended.as_ref()?;
    let mut spans = vec![Span::styled(
        sanitize::line(&format!("by {}: ", a.by)),
        t.status_warn.add_modifier(Modifier::BOLD),
    )];
    spans.extend(changes(t, &a.changed));
    Some(Line::from(spans))
}

/// Each replaced field: "target A → B", "after …", "expires_in_secs 3600 → 600".
fn changes(t: &Theme, changed: &Map<String, Value>) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    for (i, (field, c)) in changed.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(", ", t.muted));
        }
        spans.push(Span::styled(format!("{} ", sanitize::line(field)), t.text));
        spans.extend(from_to(t, &shown(&c["from"]), &shown(&c["to"])));
    }
    spans
}

/// A replaced value as text: a string as it is, a permission change by
/// its `after` (the diff tab shows the amended document whole).
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".to_owned(),
        Value::Object(o) if o.contains_key("after") => {
            let after = o["after"].as_str().unwrap_or_default();
            let one: String = after.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("after {}", crate::domain::text::truncate(&one, 60))
        }
        other => other.to_string(),
    }
}

/// What the history tab adds to an `amended` entry: " target A → B".
pub fn history_note(kind: &str, data: &Value) -> Option<String> {
    if kind != "amended" {
        return None;
    }
    let changed = data["changed"].as_object()?;
    let text: Vec<String> = changed
        .iter()
        .map(|(field, c)| format!("{field} {} → {}", shown(&c["from"]), shown(&c["to"])))
        .collect();
    Some(format!(" {}", text.join(", ")))
}
