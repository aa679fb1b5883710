//! `[[notify]]` blocks: where notifications go, checked as they are read.

use serde::Deserialize;
use std::path::PathBuf;

/// Where a `[[notify]]` sink sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// Standard Webhooks: signed JSON to any receiver.
    Webhook,
    /// A Slack incoming webhook: a Block Kit message.
    Slack,
    /// PagerDuty Events API v2: trigger and resolve by proposal.
    Pagerduty,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::Slack => "slack",
            SinkKind::Pagerduty => "pagerduty",
        }
    }
}

/// One `[[notify]]` block, checked as it is read (an error names its line).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawNotify")]
pub struct NotifyConfig {
    /// Names the sink in metrics, logs and `notify test`.
    pub name: String,
    pub kind: SinkKind,
    pub url: String,
    /// Webhook: the `whsec_…` signing secret.
    pub secret: Option<String>,
    /// PagerDuty: the integration's routing key.
    pub routing_key: Option<String>,
    /// Empty: every event type.
    pub events: Vec<crate::api::events::EventType>,
    pub min_risk: crate::domain::types::Risk,
    /// Empty: every action kind.
    pub actions: Vec<String>,
    /// Add the alert's summary and the proposal's rationale (attacker-
    /// influenced text; off by default).
    pub include_text: bool,
    /// Stop retrying a delivery after this long; it is then `failed`.
    pub give_up_after_secs: u64,
    /// One attempt's time limit, seconds (default 10).
    pub timeout_secs: u64,
    /// Slack: a link to the review (never an approve button).
    pub review_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    name: Option<String>,
    kind: SinkKind,
    url: Option<String>,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    routing_key: Option<String>,
    routing_key_file: Option<PathBuf>,
    #[serde(default)]
    events: Vec<String>,
    min_risk: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    include_text: bool,
    give_up_after_secs: Option<u64>,
    timeout_secs: Option<u64>,
    review_url: Option<String>,
}

const PAGERDUTY_EVENTS: &str = "https://events.pagerduty.com/v2/enqueue";

pub(super) fn checked_url(field: &str, url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{field} `{url}`: {e}"))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(url.to_owned()),
        "http" if loopback => Ok(url.to_owned()),
        other => Err(format!(
            "{field} `{url}`: {other} is not allowed; use https (http only to loopback)"
        )),
    }
}

pub(super) fn secret_value(
    inline: Option<String>,
    file: Option<PathBuf>,
    what: &str,
) -> Result<Option<String>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!("give {what} or {what}_file, not both")),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|e| format!("{what}_file {}: {e}", path.display())),
        (None, None) => Ok(None),
    }
}

/// A Standard Webhooks signing secret: `whsec_` and 24 to 64 bytes of
/// base64.
pub(super) fn webhook_secret(secret: Option<&str>) -> Result<(), String> {
    use base64::Engine;
    let s = secret.ok_or("a webhook needs a secret (or secret_file): whsec_ and base64")?;
    let key = s
        .strip_prefix("whsec_")
        .ok_or("the webhook secret must start with whsec_ (Standard Webhooks)")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|e| format!("the webhook secret after whsec_ is not base64: {e}"))?;
    if !(24..=64).contains(&bytes.len()) {
        return Err("the webhook secret must be 24 to 64 bytes (Standard Webhooks)".into());
    }
    Ok(())
}

impl TryFrom<RawNotify> for NotifyConfig {
    type Error = String;

    fn try_from(raw: RawNotify) -> Result<Self, String> {
        let kind = raw.kind;
        let url = match (kind, raw.url) {
            (_, Some(u)) => checked_url("url", &u)?,
            (SinkKind::Pagerduty, None) => PAGERDUTY_EVENTS.to_owned(),
            (_, None) => return Err(format!("a {} sink needs a url", kind.as_str())),
        };
        let secret = secret_value(raw.secret, raw.secret_file, "secret")?;
        let routing_key = secret_value(raw.routing_key, raw.routing_key_file, "routing_key")?;
        match kind {
            SinkKind::Webhook => {
                webhook_secret(secret.as_deref())?;
            }
            SinkKind::Pagerduty if routing_key.is_none() => {
                return Err("a pagerduty sink needs a routing_key (or routing_key_file)".into());
            }
            _ => {}
        }
        if kind != SinkKind::Webhook && secret.is_some() {
            return Err("secret is for webhook sinks".into());
        }
        let events = raw
            .events
            .iter()
            .map(|e| e.parse())
            .collect::<Result<Vec<_>, _>>()?;
        let min_risk = match raw.min_risk {
            Some(r) => r
                .parse()
                .map_err(|e: crate::domain::types::UnknownName| e.to_string())?,
            None => crate::domain::types::Risk::Low,
        };
        for a in &raw.actions {
            a.parse::<crate::domain::types::ActionKind>()
                .map_err(|e| format!("actions: {e}"))?;
        }
        let review_url = match raw.review_url {
            Some(u) => Some(checked_url("review_url", &u)?),
            None => None,
        };
        let host = reqwest::Url::parse(&url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let name = raw
            .name
            .unwrap_or_else(|| format!("{}-{host}", kind.as_str()));
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(format!("name `{name}`: letters, digits and - _ . : only"));
        }
        Ok(NotifyConfig {
            name,
            kind,
            url,
            secret,
            routing_key,
            events,
            min_risk,
            actions: raw.actions,
            include_text: raw.include_text,
            give_up_after_secs: raw.give_up_after_secs.unwrap_or(24 * 3600),
            timeout_secs: match raw.timeout_secs {
                None => 10,
                Some(t @ 1..=60) => t,
                Some(t) => return Err(format!("timeout_secs = {t}: from 1 to 60")),
            },
            review_url,
        })
    }
}
