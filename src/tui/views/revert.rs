//! Reverts on screen: the dialog a person signs a revert in, the detail's
//! line on a reverted proposal and on the proposal that reverts one, and
//! what the history tab adds to the entries of a revert. Targets, reasons
//! and names come from the server and are sanitised like all other text.

use super::{untrusted, untrusted_target};
use crate::api::{AlertDetail, RevertPreview};
use crate::domain::records::ProposalRecord;
use crate::domain::types::{ProposalStatus, Role};
use crate::tui::sanitize;
use crate::tui::state::{Preview, RevertForm, State, revert_outlook, revert_outlook_text};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use serde_json::Value;

/// Rows of the reason editor.
const EDITOR_ROWS: u16 = 3;

/// The revert dialog: what ran, what would undo it (or that it is
/// loading, or why there is nothing to sign), its risk and who else must
/// approve, a permission change's diff, the reason, and how to sign.
pub fn dialog(f: &mut Frame, area: Rect, s: &State, t: &Theme, form: &RevertForm) {
    let wide = form.diff.is_some();
    let width = if wide { 120 } else { 80 };
    let inner_w = usize::from(width.min(area.width.saturating_sub(2)).saturating_sub(2)).max(1);
    let head = head(s, t, form);
    let head_rows: usize = head
        .iter()
        .map(|l| l.width().div_ceil(inner_w).max(1))
        .sum();
    let foot = footer(s, t, form);
    let foot_rows = foot.width().div_ceil(inner_w).max(1) as u16;
    // Nothing to sign, nothing to write the reason into.
    let editor_rows = match form.preview {
        Preview::Failed(_) => 0,
        _ => EDITOR_ROWS,
    };
    let height = if wide {
        area.height.saturating_sub(2)
    } else {
        head_rows as u16 + editor_rows + foot_rows + 2
    };
    let r = super::overlay::centered(area, width, height);
    f.render_widget(Clear, r);
    let style = t.status_warn;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(Span::styled(
            " revert: undo what ran (signed with your key) ",
            style,
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let parts = Layout::vertical([
        Constraint::Length(head_rows as u16),
        Constraint::Min(if wide { 4 } else { 0 }),
        Constraint::Length(editor_rows),
        Constraint::Length(foot_rows),
    ])
    .split(inner);
    f.render_widget(Paragraph::new(head).wrap(Wrap { trim: false }), parts[0]);
    if let Some(model) = &form.diff {
        super::diff::render_model(f, parts[1], t, model, (form.scroll, 0));
    }
    if editor_rows > 0 {
        f.render_widget(&form.editor, parts[2]);
    }
    f.render_widget(Paragraph::new(foot).wrap(Wrap { trim: true }), parts[3]);
}

fn kv(t: &Theme, k: &str, spans: Vec<Span<'static>>) -> Line<'static> {
    let mut all = vec![Span::styled(format!("{k:<8} "), t.muted)];
    all.extend(spans);
    Line::from(all)
}

/// "action → target" with the target shown as untrusted text.
fn action_target(t: &Theme, action: &str, target: &str) -> Vec<Span<'static>> {
    let mut spans = vec![
        Span::styled(sanitize::line(action), t.accent),
        Span::styled(" → ", t.muted),
    ];
    spans.extend(untrusted_target(target, t.text, t).spans);
    spans
}

/// What ran; then what would undo it, or that it is loading, or why not.
fn head(s: &State, t: &Theme, form: &RevertForm) -> Vec<Line<'static>> {
    let mut ran = untrusted_target(&form.what, t.text, t).spans;
    ran.push(Span::styled(
        format!(" · executed · by {}", sanitize::line(&form.agent)),
        t.muted,
    ));
    let mut out = vec![kv(t, "ran", ran)];
    match &form.preview {
        Preview::Loading => out.push(kv(
            t,
            "undo",
            vec![Span::styled(
                "asking the server what would undo it…",
                t.muted,
            )],
        )),
        Preview::Failed(why) => out.push(kv(
            t,
            "undo",
            vec![Span::styled(
                format!("✗ {}", sanitize::line(why)),
                t.status_error,
            )],
        )),
        Preview::Shown(p) => out.extend(shown(s, t, form, p)),
    }
    out
}

/// The compensating proposal: what, at what risk, who else must approve,
/// its digest, and the diff below where it changes a permission.
fn shown(s: &State, t: &Theme, form: &RevertForm, p: &RevertPreview) -> Vec<Line<'static>> {
    let risk = vec![
        Span::styled(p.risk.as_str().to_uppercase(), t.risk(p.risk)),
        Span::styled(
            format!(" · rule \"{}\" · a new proposal", sanitize::line(&p.rule)),
            t.text,
        ),
    ];
    let digest: String = p.digest.chars().take(23).collect();
    let mut out = vec![
        kv(t, "undo", action_target(t, &p.action, &p.target)),
        kv(t, "risk", risk),
        kv(t, "needs", needs(s, t, form, p)),
        kv(
            t,
            "digest",
            vec![
                Span::styled(format!("{digest}… "), t.muted),
                Span::styled("✓ matches the document", t.status_ok),
            ],
        ),
    ];
    if form.diff.is_some() {
        out.push(kv(
            t,
            "change",
            vec![Span::styled(
                "the permission change as it will be made (before and after swapped) · PgUp/PgDn scroll",
                t.text,
            )],
        ));
    }
    out
}

/// Who must approve the undo besides this person's signature.
fn needs(s: &State, t: &Theme, form: &RevertForm, p: &RevertPreview) -> Vec<Span<'static>> {
    let me = &s.session.me;
    let text = match me.role {
        Some(role) => {
            let o = revert_outlook(p, &me.principal, role, &me.fingerprint);
            revert_outlook_text(&o, &form.agent)
        }
        None => format!(
            "{} approval{}{}",
            p.approvals,
            if p.approvals == 1 { "" } else { "s" },
            if p.role == Role::Lead {
                ", one a lead's"
            } else {
                ""
            }
        ),
    };
    let style = if p.approvals > 1 || p.role == Role::Lead {
        t.status_warn
    } else {
        t.text
    };
    vec![Span::styled(sanitize::line(&text), style)]
}

/// Why nothing was signed, or how long to wait, or how to sign.
fn footer(s: &State, t: &Theme, form: &RevertForm) -> Line<'static> {
    let text = match (&form.error, &form.preview) {
        (Some(e), _) => return Line::from(Span::styled(sanitize::line(e), t.status_error)),
        (None, Preview::Loading) => {
            "loading the preview: nothing can be signed yet (type the reason meanwhile) · Esc cancel"
                .to_owned()
        }
        (None, Preview::Failed(_)) => "nothing can be signed here · Esc closes".to_owned(),
        (None, Preview::Shown(_)) if !form.armed(s.session.now_ms) => {
            super::overlay::waiting("Esc cancel")
        }
        (None, Preview::Shown(_)) => "Enter sign & send · Esc cancel".to_owned(),
    };
    Line::from(Span::styled(text, t.muted))
}

/// The detail's lines about reverts, as (key, line): on an executed
/// proposal, who reverted it and with which proposal (from its `reverted`
/// entry), or that a revert signed here is on its way; on a compensating
/// proposal, what it reverts. That is read from the alert's external id,
/// which only the gate may give (`revert:<id>`); an agent's own alert
/// context could say anything.
pub fn detail_lines(
    s: &State,
    t: &Theme,
    d: &AlertDetail,
    p: &ProposalRecord,
) -> Vec<(&'static str, Line<'static>)> {
    let mut out = Vec::new();
    if let Some(e) = reverted_entry(d, &p.id) {
        let who = e["actor"]["principal"].as_str().unwrap_or("?");
        let by = e["data"]["reverted_by"].as_str().unwrap_or("?");
        let mut spans = vec![Span::styled(
            sanitize::line(&format!("by {who} → proposal {by}")),
            t.status_warn.add_modifier(Modifier::BOLD),
        )];
        if let Some(reason) = e["data"]["reason"].as_str().filter(|r| !r.is_empty()) {
            spans.push(Span::styled(": ", t.muted));
            spans.extend(untrusted(reason, t.text, t).spans);
        }
        out.push(("reverted", Line::from(spans)));
    } else if p.status == ProposalStatus::Executed && s.reverts.sent.contains_key(&p.id) {
        out.push((
            "reverted",
            Line::from(Span::styled(
                "a revert signed here is on its way to the server",
                t.status_warn,
            )),
        ));
    }
    if let Some(original) = crate::domain::revert::reverts(&d.alert.external_id) {
        let mut text = format!("proposal {original}, which was executed");
        if let Some(who) = reverter(d) {
            text.push_str(&format!(" · revert signed by {who}"));
        }
        out.push((
            "reverts",
            Line::from(Span::styled(sanitize::line(&text), t.status_warn)),
        ));
    }
    out
}

/// The `reverted` entry of proposal `id` in its alert's history.
fn reverted_entry<'a>(d: &'a AlertDetail, id: &str) -> Option<&'a Value> {
    d.history
        .iter()
        .map(|h| &h.entry)
        .find(|e| e["kind"] == "reverted" && e["proposal_id"].as_str() == Some(id))
}

/// Who signed the revert that made this (compensating) alert: the person
/// its `alert_received` entry names.
fn reverter(d: &AlertDetail) -> Option<&str> {
    d.history
        .iter()
        .map(|h| &h.entry)
        .find(|e| e["kind"] == "alert_received" && e["data"]["reverts"].is_string())
        .and_then(|e| e["actor"]["principal"].as_str())
}

/// What a history entry of a revert says besides its kind and actor:
/// "→ proposal …" on the `reverted` entry, "reverts proposal …" where the
/// compensating alert arrived, "(revert of proposal …)" on its approval.
pub fn history_note(kind: &str, data: &Value) -> Option<String> {
    let reverts = data["reverts"].as_str();
    match kind {
        "reverted" => data["reverted_by"]
            .as_str()
            .map(|by| format!(" → proposal {by}")),
        "alert_received" => reverts.map(|id| format!(" reverts proposal {id}")),
        _ if data["verdict"] == "revert" => reverts.map(|id| format!(" (revert of proposal {id})")),
        _ => None,
    }
}
