//! The detail pane: what the agent proposes and why, with tabs for the AI
//! summary, the permission diff, the evidence, the source's context and the
//! history. Every string from the alert is untrusted and sanitised.

use super::{short_duration, styled_marks, untrusted, untrusted_target};

/// A target longer than this is said to be long in the detail pane.
const LONG_TARGET: usize = 120;
use crate::api::AlertDetail;
use crate::domain::records::{AlertRecord, DecidedBy, ProposalRecord};
use crate::domain::types::ProposalStatus;
use crate::tui::sanitize;
use crate::tui::state::{State, TABS, Tab};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use serde_json::Value;

fn s_str<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Who brought the proposal to its status, unless the approvals already
/// said it: "· rejected by bob: benign", "· failed: EDR API 503 (soar-bot)"
/// (the agent's own report, never its approver's).
fn outcome(p: &ProposalRecord) -> Option<String> {
    let reason = p.reason.as_deref().filter(|r| !r.is_empty());
    Some(match p.decided_by.as_ref()? {
        DecidedBy::Person { principal }
            if matches!(
                p.status,
                ProposalStatus::Approved | ProposalStatus::AwaitingSecond
            ) && p.approvals.iter().any(|a| &a.principal == principal) =>
        {
            return None;
        }
        DecidedBy::Agent { name } | DecidedBy::Executor { name } => match reason {
            Some(r) => format!(" · {}: {r} ({name})", p.status),
            None => format!(" · {} ({name})", p.status),
        },
        by => {
            let who = match by {
                DecidedBy::Person { principal } => principal.clone(),
                DecidedBy::Policy { rule } => format!("policy \"{rule}\""),
                DecidedBy::Deadline => "deadline".into(),
                DecidedBy::Agent { name } => name.clone(),
                DecidedBy::Executor { name } => format!("executor {name}"),
            };
            let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
            format!(" · {} by {who}{reason}", p.status)
        }
    })
}

pub fn render(f: &mut Frame, area: Rect, s: &State, t: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border_focus);
    if let Some(g) = s.selected_group() {
        return super::group::render(f, area, s, g, t);
    }
    let Some(item) = s.selected_item() else {
        // A refused login is said in full where there is room for it.
        let text = match &s.session.conn {
            crate::tui::state::Conn::Refused { error } => vec![
                Line::from(Span::styled(sanitize::line(error), t.status_error)),
                Line::default(),
                Line::from(Span::styled(
                    "Check --principal and --key (or ssh-agent); an admin adds your public key to the server's allowed_signers. q quits.",
                    t.muted,
                )),
            ],
            _ => vec![],
        };
        f.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: true }).block(block),
            area,
        );
        return;
    };
    let loaded = s
        .detail
        .current
        .as_ref()
        .and_then(|d| d.data.as_ref().map(|x| (d, x)));
    let Some((detail, data)) = loaded else {
        let text = match s.detail.current.as_ref().and_then(|d| d.error.as_deref()) {
            Some(e) => format!("cannot load the alert: {}", sanitize::line(e)),
            None => "loading…".to_owned(),
        };
        f.render_widget(
            Paragraph::new(text)
                .style(t.muted)
                .block(block.title(untrusted(&item.alert_title, t.text, t))),
            area,
        );
        return;
    };
    let Some(p) = data.proposals.iter().find(|p| p.id == item.proposal.id) else {
        f.render_widget(
            Paragraph::new("proposal not found in its alert").block(block),
            area,
        );
        return;
    };
    let title = untrusted(&data.alert.title, t.text.add_modifier(Modifier::BOLD), t);
    let block = block.title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);

    let digest_ok = detail.digest_ok.get(&p.id).copied().unwrap_or(false);
    let head = header(s, t, data, p, digest_ok);
    // The header wraps: the state line can name several people and the
    // agent's report, none of it to be cut off.
    let width = usize::from(inner.width.max(1));
    let rows: usize = head.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
    let parts = Layout::vertical([
        Constraint::Length(rows as u16),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .split(inner);
    f.render_widget(Paragraph::new(head).wrap(Wrap { trim: false }), parts[0]);
    let tabs: Vec<Span> = TABS
        .iter()
        .enumerate()
        .flat_map(|(i, tab)| {
            let seen = s.detail.review.panes.contains(tab);
            let label = format!(" {}:{}{} ", i + 1, tab.name(), if seen { "" } else { "·" });
            let style = if *tab == s.detail.tab {
                t.accent.add_modifier(Modifier::REVERSED)
            } else {
                t.muted
            };
            [Span::styled(label, style), Span::raw(" ")]
        })
        .collect();
    f.render_widget(Paragraph::new(Line::from(tabs)), parts[1]);
    let body = parts[2];
    match s.detail.tab {
        Tab::Summary => f.render_widget(scrolled(summary(t, data, p), s.detail.scroll), body),
        Tab::Diff => super::diff::render(f, body, s, t, p),
        Tab::Evidence => evidence(f, body, s, t, &data.alert.document),
        Tab::Context => {
            let ctx = data.alert.document.get("context");
            let text = match ctx {
                Some(c) => serde_json::to_string_pretty(c).unwrap_or_default(),
                None => "(the source sent no context)".to_owned(),
            };
            f.render_widget(scrolled(lines(&text, t.text, t), s.detail.scroll), body);
        }
        Tab::History => f.render_widget(scrolled(history(s, t, data), s.detail.scroll), body),
    }
}

fn scrolled(lines: Vec<Line<'static>>, scroll: u16) -> Paragraph<'static> {
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
}

fn lines(text: &str, style: Style, t: &Theme) -> Vec<Line<'static>> {
    sanitize::lines(text)
        .iter()
        .map(|l| styled_marks(l, style, t))
        .collect()
}

fn kv(t: &Theme, k: &str, v: Line<'static>) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{k:<9}"), t.muted)];
    spans.extend(v.spans);
    Line::from(spans)
}

/// The proposal's head lines: the alert, what runs on what and how risky,
/// what people did to it, its state, what approving would do, the digest.
fn header(
    s: &State,
    t: &Theme,
    d: &AlertDetail,
    p: &ProposalRecord,
    digest_ok: bool,
) -> Vec<Line<'static>> {
    let mut out = vec![kv(t, "alert", alert_line(s, t, &d.alert))];
    out.extend(related_line(s, t, &d.alert).map(|l| kv(t, "related", l)));
    out.push(kv(t, "action", action_line(t, p)));
    out.push(kv(t, "risk", risk_line(p, t)));
    // The agent, where a lead froze it (or where that cannot be told).
    if let Some(line) = super::freeze::detail_line(s, t, &p.proposed_by) {
        out.push(kv(t, "agent", line));
    }
    // Amended: what a person replaced, so the next signer sees it.
    if let Some(line) = super::amend::detail_line(t, p) {
        out.push(kv(t, "amended", line));
    }
    // Executed and timed: until when it holds.
    if let Some(line) = super::extend::detail_line(s, t, p) {
        out.push(kv(t, "contain", line));
    }
    // Reverted, or reverting something: the chain of what ran and undid it.
    for (k, line) in super::revert::detail_lines(s, t, d, p) {
        out.push(kv(t, k, line));
    }
    out.extend(runs_line(t, p).map(|l| kv(t, "runs", l)));
    out.extend(target_note(t, p).map(|l| kv(t, "target", l)));
    out.extend(state_line(s, t, p).map(|l| kv(t, "state", l)));
    out.extend(needs_line(s, t, p).map(|l| kv(t, "needs", l)));
    out.push(kv(t, "digest", digest_line(t, p, digest_ok)));
    out
}

/// How severe, about what, from where, how long ago.
fn alert_line(s: &State, t: &Theme, a: &AlertRecord) -> Line<'static> {
    let mut spans = vec![
        Span::styled(a.severity.as_str().to_uppercase(), t.severity(a.severity)),
        Span::styled(format!(" · {} ", a.entity_kind), t.muted),
    ];
    spans.extend(untrusted(&a.entity_id, t.text, t).spans);
    spans.push(Span::styled(
        format!(
            " · from {} · {} ago",
            sanitize::line(&a.source),
            short_duration(s.session.now_ms - a.created_at)
        ),
        t.muted,
    ));
    Line::from(spans)
}

/// Other open alerts on the same entity, and proposals of other alerts
/// that target it.
fn related_line(s: &State, t: &Theme, a: &AlertRecord) -> Option<Line<'static>> {
    let (alerts, proposals) = s.related(&a.id, a.entity_kind, &a.entity_id);
    if alerts + proposals == 0 {
        return None;
    }
    let mut said = Vec::new();
    if alerts > 0 {
        said.push(format!(
            "{alerts} other open alert{} on",
            if alerts == 1 { "" } else { "s" }
        ));
    }
    let mut spans = vec![Span::styled(said.join(""), t.status_warn)];
    if alerts > 0 {
        spans.push(Span::raw(" "));
        spans.extend(untrusted(&a.entity_id, t.text, t).spans);
    }
    if proposals > 0 {
        spans.push(Span::styled(
            format!(
                "{}{proposals} proposal{} of other alerts target{} it",
                if alerts > 0 { " · " } else { "" },
                if proposals == 1 { "" } else { "s" },
                if proposals == 1 { "s" } else { "" },
            ),
            t.status_warn,
        ));
    }
    Some(Line::from(spans))
}

/// The action and its target.
fn action_line(t: &Theme, p: &ProposalRecord) -> Line<'static> {
    Line::from(
        vec![
            Span::styled(p.action.as_str().to_owned(), t.accent),
            Span::styled(" → ", t.muted),
        ]
        .into_iter()
        .chain(untrusted_target(&p.target, t.text, t).spans)
        .collect::<Vec<_>>(),
    )
}

/// What exactly runs, when the proposal says (`parameters.argv`): each
/// argument quoted, so where one ends is never a guess. Covered by the
/// digest like everything else shown.
fn runs_line(t: &Theme, p: &ProposalRecord) -> Option<Line<'static>> {
    let argv = p.document.get("parameters").and_then(|v| v.get("argv"))?;
    Some(Line::from(Span::styled(
        sanitize::line(&argv.to_string()),
        t.status_warn,
    )))
}

/// A long target, or one with whitespace runs, is said to be so: it is
/// shown whole above, wrapped, never cut.
fn target_note(t: &Theme, p: &ProposalRecord) -> Option<Line<'static>> {
    let length = p.target.chars().count();
    let runs = crate::tui::sanitize::target(&p.target).contains("␠×");
    if length <= LONG_TARGET && !runs {
        return None;
    }
    Some(Line::from(Span::styled(
        format!(
            "{length} characters, shown whole above (wrapped){}",
            if runs {
                "; ␠×N is a run of N blank characters"
            } else {
                ""
            }
        ),
        t.status_warn,
    )))
}

/// When it expires, who approved, escalated or is working on it, and how
/// it ended.
fn state_line(s: &State, t: &Theme, p: &ProposalRecord) -> Option<Line<'static>> {
    let mut state = Vec::new();
    if p.status.is_open() {
        let due = p.expires_at - s.session.now_ms;
        state.push(Span::styled(
            if due > 0 {
                format!("expires in {}", short_duration(due))
            } else {
                "expiring now".into()
            },
            if due < 15 * 60_000 {
                t.status_warn
            } else {
                t.muted
            },
        ));
    }
    if !p.approvals.is_empty() {
        let who: Vec<String> = p
            .approvals
            .iter()
            .map(|a| format!("{} ({})", a.principal, a.role))
            .collect();
        state.push(Span::styled(
            format!(" · approved by {}", sanitize::line(&who.join(", "))),
            t.status_ok,
        ));
    }
    // When the escalation is the latest decision, its line below names the
    // escalator with the reason; otherwise name them here.
    let escalation_is_latest = p.status == crate::domain::types::ProposalStatus::Escalated
        && matches!(&p.decided_by, Some(DecidedBy::Person { .. }));
    if let Some(e) = p.escalated_by.as_ref().filter(|_| !escalation_is_latest) {
        state.push(Span::styled(
            format!(" · escalated by {}", sanitize::line(e)),
            t.status_warn,
        ));
    }
    if let Some(c) = p
        .claimed_by
        .as_deref()
        .filter(|_| p.claim_until.is_some_and(|u| u > s.session.now_ms))
    {
        state.push(Span::styled(
            format!(" · {} is working on it", sanitize::line(c)),
            t.status_warn,
        ));
    }
    if let Some(text) = outcome(p) {
        state.push(Span::styled(sanitize::line(&text), t.text));
    }
    if let Some(first) = state.first_mut()
        && let Some(rest) = first.content.strip_prefix(" · ")
    {
        first.content = rest.to_owned().into();
    }
    (!state.is_empty()).then(|| Line::from(state))
}

/// What the rule asks for, and what this person's approval would do:
/// said before anyone types yes.
fn needs_line(s: &State, t: &Theme, p: &ProposalRecord) -> Option<Line<'static>> {
    let item = s.queue.items.get(&p.id)?;
    let needs = item.proposal.needs.filter(|_| p.status.is_open())?;
    let mut spans = vec![Span::styled(
        format!(
            "approvals {} of {}{}",
            p.approvals.len(),
            needs.approvals,
            if needs.role == crate::domain::types::Role::Lead {
                ", one a lead's"
            } else {
                ""
            }
        ),
        t.text,
    )];
    if let Some(text) = s.outlook_text(item) {
        spans.push(Span::styled(
            format!(" · {}", sanitize::line(&text)),
            t.status_warn,
        ));
    }
    Some(Line::from(spans))
}

/// The digest, and whether it matches what is shown (nothing is signed
/// if not).
fn digest_line(t: &Theme, p: &ProposalRecord, digest_ok: bool) -> Line<'static> {
    let short: String = p.digest.chars().take(23).collect();
    Line::from(if digest_ok {
        vec![
            Span::styled(format!("{short}… "), t.muted),
            Span::styled("✓ matches what is shown", t.status_ok),
        ]
    } else {
        vec![
            Span::styled(format!("{short}… "), t.muted),
            Span::styled("✗ MISMATCH — will not sign", t.status_error),
        ]
    })
}

fn summary(t: &Theme, d: &AlertDetail, p: &ProposalRecord) -> Vec<Line<'static>> {
    let doc = &d.alert.document;
    let sum = doc.get("summary").cloned().unwrap_or(Value::Null);
    let conf = sum.get("confidence").and_then(Value::as_f64).unwrap_or(0.0);
    let mut out = vec![Line::from(vec![
        Span::styled("AI summary ", t.accent),
        Span::styled(
            format!(
                "({}, confidence {:.0}%)",
                sanitize::line(s_str(&sum, "model")),
                conf * 100.0
            ),
            t.muted,
        ),
    ])];
    out.extend(lines(s_str(&sum, "text"), t.text, t));
    out.push(Line::default());
    out.push(Line::from(Span::styled("Rationale", t.accent)));
    out.extend(lines(s_str(&p.document, "rationale"), t.text, t));
    if let Some(params) = p.document.get("parameters").filter(|v| !v.is_null()) {
        out.push(Line::default());
        out.push(Line::from(vec![
            Span::styled("Parameters ", t.accent),
            Span::styled("(exactly what runs; covered by the digest)", t.muted),
        ]));
        let pretty = serde_json::to_string_pretty(params).unwrap_or_default();
        out.extend(lines(&pretty, t.text, t));
    }
    if let Some(pc) = p.document.get("permission_change") {
        out.push(Line::default());
        out.push(Line::from(vec![
            Span::styled("Permission change ", t.accent),
            Span::styled(
                format!(
                    "({}) — open the diff tab (2)",
                    sanitize::line(s_str(pc, "format"))
                ),
                t.muted,
            ),
        ]));
    }
    let others: Vec<&ProposalRecord> = d.proposals.iter().filter(|o| o.id != p.id).collect();
    if !others.is_empty() {
        out.push(Line::default());
        out.push(Line::from(Span::styled(
            "Other proposals on this alert (p to jump)",
            t.accent,
        )));
        for o in others {
            let mut spans = vec![Span::styled(
                format!("  {} {} → ", o.status, o.action),
                t.muted,
            )];
            spans.extend(untrusted_target(&o.target, t.text, t).spans);
            out.push(Line::from(spans));
        }
    }
    if !d.notes.is_empty() {
        out.push(Line::default());
        out.push(Line::from(Span::styled("Notes", t.accent)));
        for n in &d.notes {
            let labels: Vec<&str> = n.labels.iter().map(|l| l.as_str()).collect();
            let mut spans = vec![Span::styled(
                format!(
                    "  {} [{}] ",
                    sanitize::line(&n.principal),
                    labels.join(", ")
                ),
                t.muted,
            )];
            spans.extend(untrusted(&n.note, t.text, t).spans);
            out.push(Line::from(spans));
        }
    }
    out
}

fn evidence(f: &mut Frame, area: Rect, s: &State, t: &Theme, doc: &Value) {
    let items = doc
        .get("evidence")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        f.render_widget(
            Paragraph::new("(no evidence attached)").style(t.muted),
            area,
        );
        return;
    }
    let idx = s.detail.evidence_index.min(items.len() - 1);
    let tabs: Vec<Span> = items
        .iter()
        .enumerate()
        .flat_map(|(i, e)| {
            let label = format!(
                " {}:{} ",
                i + 1,
                sanitize::line(s_str(e, "title"))
                    .chars()
                    .take(24)
                    .collect::<String>()
            );
            let style = if i == idx {
                t.accent.add_modifier(Modifier::REVERSED)
            } else {
                t.muted
            };
            [Span::styled(label, style), Span::raw(" ")]
        })
        .collect();
    let parts = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .split(area);
    f.render_widget(Paragraph::new(Line::from(tabs)), parts[0]);
    let item = &items[idx];
    let kind = s_str(item, "kind");
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!("{} ", sanitize::line(kind)), t.muted),
            Span::styled("[ ] switch items · J/K scroll", t.muted),
        ])),
        parts[1],
    );
    let body = s_str(item, "body");
    let text = if kind == "raw_json" {
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| body.to_owned())
    } else {
        body.to_owned()
    };
    f.render_widget(scrolled(lines(&text, t.text, t), s.detail.scroll), parts[2]);
}

fn history(s: &State, t: &Theme, d: &AlertDetail) -> Vec<Line<'static>> {
    d.history
        .iter()
        .map(|h| {
            let e = &h.entry;
            let actor = e.get("actor").cloned().unwrap_or(Value::Null);
            let who = match s_str(&actor, "kind") {
                "person" => s_str(&actor, "principal").to_owned(),
                "agent" => format!("agent {}", s_str(&actor, "name")),
                "executor" => format!("executor {}", s_str(&actor, "name")),
                "policy" => format!("policy \"{}\"", s_str(&actor, "rule")),
                other => other.to_owned(),
            };
            // A decision's reason, a note's text, an agent's report.
            let data = e.get("data").cloned().unwrap_or(Value::Null);
            let reason = ["reason", "note", "detail"]
                .iter()
                .map(|k| s_str(&data, k))
                .find(|r| !r.is_empty())
                .map(str::to_owned);
            let labels: Vec<&str> = data
                .get("labels")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let at = s_str(e, "at").get(..19).unwrap_or("").replace('T', " ");
            let mut spans = vec![
                Span::styled(format!("#{:<6} {at} ", h.seq), t.muted),
                Span::styled(format!("{:<18} ", s_str(e, "kind")), t.text),
                Span::styled(sanitize::line(&who), t.accent),
            ];
            let kind = s_str(e, "kind");
            let note = super::revert::history_note(kind, &data)
                .or_else(|| super::amend::history_note(kind, &data))
                .or_else(|| super::extend::history_note(s, kind, &data));
            if let Some(note) = note {
                spans.push(Span::styled(sanitize::line(&note), t.status_warn));
            }
            if !labels.is_empty() {
                spans.push(Span::styled(
                    sanitize::line(&format!(" [{}]", labels.join(", "))),
                    t.status_warn,
                ));
            }
            if let Some(r) = reason {
                spans.push(Span::styled(": ", t.muted));
                spans.extend(untrusted(&r, t.text, t).spans);
            }
            Line::from(spans)
        })
        .collect()
}

/// "CRITICAL — agent said low; raised: … · pending · rule …": the gate's
/// judgement first, then what the agent claimed, then why.
fn risk_line<'a>(p: &crate::domain::records::ProposalRecord, t: &Theme) -> Line<'a> {
    let mut spans = vec![Span::styled(p.risk.as_str().to_uppercase(), t.risk(p.risk))];
    if p.declared_risk != p.risk {
        let why = p
            .assessment
            .as_ref()
            .map(|a| a.reason())
            .filter(|r| !r.is_empty())
            .map(|r| format!("; raised: {}", sanitize::line(&r)))
            .unwrap_or_default();
        spans.push(Span::styled(
            format!(" — agent said {}{why}", p.declared_risk),
            t.status_warn,
        ));
    }
    spans.push(Span::styled(
        format!(" · {} · rule \"{}\"", p.status, sanitize::line(&p.rule)),
        t.text,
    ));
    Line::from(spans)
}
