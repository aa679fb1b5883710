//! What each sink sends, and what its answer means. Pure: a request body
//! and headers in, a verdict on the status out; the dispatcher does IO.

use crate::api::events::EventType;
use crate::config::{NotifyConfig, SinkKind};
use crate::domain::text::{is_control, is_invisible_format, truncate, visible};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// One HTTP request to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

/// What a receiver's status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again later (5xx, 408, 429, no answer).
    Retry,
    /// Will not get better by retrying (other 4xx).
    Refused,
    /// 410 from a webhook receiver: stop sending to this sink.
    Gone,
}

pub fn verdict(kind: SinkKind, status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        410 if kind == SinkKind::Webhook => Verdict::Gone,
        408 | 425 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Refused,
    }
}

/// Slack's own markup in attacker-controlled text (`<!channel>`,
/// `<http://x|y>`, entities) is escaped, and invisible characters made
/// visible.
pub fn slack_escape(s: &str) -> String {
    visible(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// PagerDuty shows `summary` and `custom_details` in its own web and mobile
/// apps and relays them to Slack, Teams and email: markup there
/// (`<!channel>`, `<https://x|y>`, HTML and its entities, `@channel`-style
/// mentions, `[text](url)` links) is made inert with look-alike characters
/// that read the same and mean nothing (‹ › ＆ ＠ ［ ］), and invisible
/// characters made visible.
pub fn pagerduty_escape(s: &str) -> String {
    visible(s)
        .chars()
        .map(|c| match c {
            '<' => '‹',
            '>' => '›',
            '&' => '＆',
            '@' => '＠',
            '[' => '［',
            ']' => '］',
            c => c,
        })
        .collect()
}

/// For a generic webhook (JSON, read by programs): markup means nothing,
/// so text is kept as it is, but invisible characters and controls other
/// than newline and tab are made visible (`\u{202e}`), as everywhere text
/// leaves the gate.
pub fn webhook_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (is_control(c) && c != '\n' && c != '\t') || is_invisible_format(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `v` with every string (not the keys: they are the gate's own) passed
/// through `escape`.
fn escape_strings(v: &Value, escape: &impl Fn(&str) -> String) -> Value {
    match v {
        Value::String(s) => Value::String(escape(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| escape_strings(x, escape)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), escape_strings(x, escape)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn secret_key(secret: &str) -> Vec<u8> {
    use base64::Engine;
    // Checked when the config was read.
    base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_default()
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (Standard Webhooks).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    use base64::Engine;
    // HMAC takes a key of any length; the error cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&secret_key(secret)) else {
        return "v1,".into();
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let tag = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

fn headline(kind: EventType) -> &'static str {
    match kind {
        EventType::Pending => "waits for a person",
        EventType::Escalated => "was escalated to a lead",
        EventType::AwaitingSecond => "needs a second approval",
        EventType::Expiring => "expires soon, undecided",
        EventType::Decided => "was decided",
        EventType::AutoApproved => "was approved by policy",
        EventType::Expired => "expired undecided",
        EventType::Lapsed => "lapsed: approved but not started in time",
        EventType::ExecutionFailed => "failed when executed",
        EventType::AgentFrozen => "frozen",
        EventType::AgentUnfrozen => "unfrozen",
    }
}

/// An event about an agent (a freeze), not a proposal.
fn about_agent(kind: EventType) -> bool {
    matches!(kind, EventType::AgentFrozen | EventType::AgentUnfrozen)
}

/// "Agent soar-bot frozen by carol (hold): reason", escaped by `esc`.
fn agent_line(kind: EventType, d: &Value, esc: &dyn Fn(&str) -> String) -> String {
    let agent = match s(d, "agent") {
        "*" => "Every agent".to_owned(),
        a => format!("Agent {}", esc(a)),
    };
    let mode = match (kind, s(d, "mode"), s(&d["lifted"], "mode")) {
        (EventType::AgentFrozen, m, _) | (_, _, m) if !m.is_empty() => format!(" ({})", esc(m)),
        _ => String::new(),
    };
    format!(
        "{agent} {} by {}{mode}: {}",
        headline(kind),
        esc(s(d, "by")),
        esc(&truncate(s(d, "reason"), 1000))
    )
}

fn s<'a>(d: &'a Value, k: &str) -> &'a str {
    d[k].as_str().unwrap_or("")
}

/// Who decided, in words.
fn decided_by(d: &Value) -> Option<String> {
    let by = &d["decided_by"];
    let who = match by["kind"].as_str()? {
        "person" => by["principal"].as_str()?.to_owned(),
        "policy" => format!("policy rule {}", by["rule"].as_str()?),
        "deadline" => "its deadline".to_owned(),
        "agent" => format!("agent {}", by["name"].as_str()?),
        "executor" => format!("executor {}", by["name"].as_str()?),
        _ => return None,
    };
    Some(who)
}

/// The body and headers for one delivery. `data` is the event's data with
/// the alert added (and text, if the sink opted in).
pub fn render(
    sink: &NotifyConfig,
    event_id: &str,
    kind: EventType,
    at_rfc3339: &str,
    data: &Value,
    now_secs: i64,
) -> Outgoing {
    match sink.kind {
        SinkKind::Webhook => {
            let data = escape_strings(data, &webhook_escape);
            let body =
                json!({"type": kind.as_str(), "timestamp": at_rfc3339, "data": data}).to_string();
            let signature = sign(
                sink.secret.as_deref().unwrap_or(""),
                event_id,
                now_secs,
                &body,
            );
            Outgoing {
                headers: vec![
                    ("webhook-id", event_id.to_owned()),
                    ("webhook-timestamp", now_secs.to_string()),
                    ("webhook-signature", signature),
                ],
                body,
            }
        }
        SinkKind::Slack => Outgoing {
            body: slack(sink, kind, data).to_string(),
            headers: Vec::new(),
        },
        SinkKind::Pagerduty => Outgoing {
            body: pagerduty(sink, kind, data).to_string(),
            headers: Vec::new(),
        },
    }
}

fn slack(sink: &NotifyConfig, kind: EventType, d: &Value) -> Value {
    if about_agent(kind) {
        let text = agent_line(kind, d, &slack_escape);
        return json!({"text": text, "blocks": [
            json!({"type": "section", "text": {"type": "plain_text", "text": text}}),
        ]});
    }
    let risk = s(d, "risk").to_uppercase();
    let action = slack_escape(s(d, "action"));
    let target = slack_escape(&truncate(s(d, "target"), 300));
    let title = slack_escape(&truncate(d["alert"]["title"].as_str().unwrap_or(""), 300));
    let text = format!("[{risk}] {action} → {target} {}", headline(kind));
    let mut fields = vec![
        json!({"type": "plain_text", "text": format!("Risk: {risk}")}),
        json!({"type": "plain_text", "text": format!("Action: {action}")}),
        json!({"type": "plain_text", "text": format!("Target: {target}")}),
        json!({"type": "plain_text", "text": format!("Status: {}", slack_escape(s(d, "status")))}),
        json!({"type": "plain_text", "text": format!("Deadline: {}", slack_escape(s(d, "expires_at")))}),
    ];
    if let Some(who) = decided_by(d) {
        fields.push(
            json!({"type": "plain_text", "text": format!("Decided by: {}", slack_escape(&who))}),
        );
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text",
               "text": truncate(&format!("{risk} {action} {}", headline(kind)), 150)}}),
        json!({"type": "section", "text": {"type": "plain_text", "text": format!("Alert: {title}")},
               "fields": fields}),
    ];
    if let Some(reason) = d["reason"].as_str().filter(|r| !r.is_empty()) {
        blocks.push(json!({"type": "section", "text": {"type": "plain_text",
            "text": format!("Reason: {}", slack_escape(&truncate(reason, 1000)))}}));
    }
    if let Some(summary) = d["summary"].as_str() {
        blocks.push(json!({"type": "section", "text": {"type": "plain_text",
            "text": format!("Summary: {}", slack_escape(&truncate(summary, 1500)))}}));
    }
    blocks.push(
        json!({"type": "context", "elements": [{"type": "plain_text",
        "text": format!("proposal {} · countersign", slack_escape(s(d, "proposal_id")))}]}),
    );
    // A link to the review, never an approval: decisions are signed in the
    // console with the person's key.
    if let Some(base) = &sink.review_url {
        let sep = if base.contains('?') { '&' } else { '?' };
        blocks.push(json!({"type": "actions", "elements": [{"type": "button",
            "text": {"type": "plain_text", "text": "Review in countersign"},
            "url": format!("{base}{sep}proposal={}", s(d, "proposal_id"))}]}));
    }
    json!({"text": text, "blocks": blocks})
}

fn pagerduty(sink: &NotifyConfig, kind: EventType, d: &Value) -> Value {
    let routing_key = sink.routing_key.as_deref().unwrap_or("");
    if about_agent(kind) {
        // One incident per frozen agent, resolved when it is lifted.
        let dedup_key = format!("freeze-{}", s(d, "agent"));
        if kind == EventType::AgentUnfrozen {
            return json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key});
        }
        return json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": truncate(&format!("countersign: {}", agent_line(kind, d, &pagerduty_escape)), 1024),
                "source": "countersign",
                "severity": "critical",
                "class": kind.as_str(),
                "custom_details": escape_strings(d, &pagerduty_escape),
            }
        });
    }
    let dedup_key = s(d, "proposal_id");
    let resolve = matches!(
        kind,
        EventType::Decided | EventType::AutoApproved | EventType::Expired | EventType::Lapsed
    );
    if resolve {
        return json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key});
    }
    let severity = match s(d, "risk") {
        "critical" => "critical",
        "high" => "error",
        "medium" => "warning",
        _ => "info",
    };
    let summary = truncate(
        &format!(
            "countersign: {} {} → {} {} ({})",
            pagerduty_escape(s(d, "risk")),
            pagerduty_escape(s(d, "action")),
            pagerduty_escape(s(d, "target")),
            headline(kind),
            pagerduty_escape(d["alert"]["title"].as_str().unwrap_or(""))
        ),
        1024,
    );
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": "countersign",
            "severity": severity,
            "component": pagerduty_escape(s(d, "action")),
            "class": kind.as_str(),
            "custom_details": escape_strings(d, &pagerduty_escape),
        }
    });
    if let Some(base) = &sink.review_url {
        let sep = if base.contains('?') { '&' } else { '?' };
        body["links"] = json!([{"href": format!("{base}{sep}proposal={dedup_key}"),
                                "text": "Review in countersign"}]);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_markup_in_attacker_text_is_escaped() {
        assert_eq!(
            slack_escape("<!channel> <http://evil|click> & co\u{202e}"),
            "&lt;!channel&gt; &lt;http://evil|click&gt; &amp; co\\u{202e}"
        );
    }

    #[test]
    fn each_sink_makes_markup_inert_in_its_own_way() {
        let hostile =
            "<!channel> <https://evil.example|ok> & @here [x](https://e.example)\u{202e}\n";
        assert_eq!(
            pagerduty_escape(hostile),
            "‹!channel› ‹https://evil.example|ok› ＆ ＠here ［x］(https://e.example)\\u{202e}\\n"
        );
        // JSON for programs: the text as it is, invisible characters shown.
        assert_eq!(
            webhook_escape(hostile),
            "<!channel> <https://evil.example|ok> & @here [x](https://e.example)\\u{202e}\n"
        );
        assert_eq!(
            escape_strings(
                &json!({"a": [hostile, 1], "b": {"c": "<x>"}}),
                &pagerduty_escape
            )["b"]["c"],
            "‹x›"
        );
    }

    #[test]
    fn pagerduty_triggers_then_resolves_by_proposal() {
        let text = "[[notify]]\nkind = \"pagerduty\"\nrouting_key = \"K\"\n";
        let sink = crate::config::FileConfig::parse(text, "t")
            .unwrap()
            .notify
            .remove(0);
        let d = json!({"proposal_id": "p1", "risk": "critical", "action": "isolate_host",
                       "target": "dc-01\u{202e}", "alert": {"title": "t"}});
        let t: Value =
            serde_json::from_str(&render(&sink, "e1", EventType::Escalated, "", &d, 0).body)
                .unwrap();
        assert_eq!(
            (
                &t["event_action"],
                &t["dedup_key"],
                &t["payload"]["severity"]
            ),
            (&json!("trigger"), &json!("p1"), &json!("critical"))
        );
        assert!(
            t["payload"]["summary"]
                .as_str()
                .unwrap()
                .contains("dc-01\\u{202e}")
        );
        let r: Value =
            serde_json::from_str(&render(&sink, "e2", EventType::Decided, "", &d, 0).body).unwrap();
        assert_eq!(
            r,
            json!({"routing_key": "K", "event_action": "resolve", "dedup_key": "p1"})
        );
    }

    #[test]
    fn a_freeze_is_one_line_per_sink_and_one_incident_per_agent() {
        let sinks = crate::config::FileConfig::parse(
            "[[notify]]\nkind = \"pagerduty\"\nrouting_key = \"K\"\n[[notify]]\nkind = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/X\"\n",
            "t",
        )
        .unwrap()
        .notify;
        let d = json!({"agent": "soar-bot", "mode": "hold", "by": "carol",
                       "reason": "<!channel> loops\u{202e}", "lifted": null});
        let page: Value =
            serde_json::from_str(&render(&sinks[0], "e1", EventType::AgentFrozen, "", &d, 0).body)
                .unwrap();
        assert_eq!(page["dedup_key"], "freeze-soar-bot");
        assert_eq!(page["event_action"], "trigger");
        let summary = page["payload"]["summary"].as_str().unwrap();
        assert!(
            summary.contains("Agent soar-bot frozen by carol (hold): ‹!channel› loops\\u{202e}"),
            "{summary}"
        );
        let slack: Value =
            serde_json::from_str(&render(&sinks[1], "e1", EventType::AgentFrozen, "", &d, 0).body)
                .unwrap();
        assert_eq!(
            slack["text"],
            "Agent soar-bot frozen by carol (hold): &lt;!channel&gt; loops\\u{202e}"
        );
        let lifted = json!({"agent": "*", "by": "dave", "reason": "fixed",
                            "lifted": {"mode": "no_auto", "by": "carol"}});
        let slack: Value = serde_json::from_str(
            &render(&sinks[1], "e2", EventType::AgentUnfrozen, "", &lifted, 0).body,
        )
        .unwrap();
        assert_eq!(
            slack["text"],
            "Every agent unfrozen by dave (no_auto): fixed"
        );
        let resolve: Value = serde_json::from_str(
            &render(&sinks[0], "e2", EventType::AgentUnfrozen, "", &d, 0).body,
        )
        .unwrap();
        assert_eq!(
            resolve,
            json!({"routing_key": "K", "event_action": "resolve", "dedup_key": "freeze-soar-bot"})
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(verdict(SinkKind::Webhook, 204), Verdict::Delivered);
        assert_eq!(verdict(SinkKind::Webhook, 410), Verdict::Gone);
        assert_eq!(verdict(SinkKind::Slack, 410), Verdict::Refused);
        assert_eq!(verdict(SinkKind::Pagerduty, 429), Verdict::Retry);
        assert_eq!(verdict(SinkKind::Webhook, 503), Verdict::Retry);
        assert_eq!(verdict(SinkKind::Pagerduty, 400), Verdict::Refused);
    }
}
