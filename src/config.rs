//! Configuration: flags and `COUNTERSIGN_*` variables (clap) over the config
//! file (`$XDG_CONFIG_HOME/countersign/config.toml`, or `--config`) over
//! built-in defaults. Paths follow the XDG base directories.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub client: ClientSection,
    #[serde(default)]
    pub tui: TuiSection,
    /// `[[notify]]`: where notifications go (`server::notify`).
    #[serde(default)]
    pub notify: Vec<NotifyConfig>,
}

/// `[tui]`: the console's look and keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuiSection {
    /// dark, light, high-contrast, or a path to a theme .toml
    pub theme: Option<String>,
    /// A theme file whose slots override the chosen theme's.
    pub theme_overrides: Option<PathBuf>,
    /// action = "key" or ["key", "key"]
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, KeyList>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            KeyList::One(k) => vec![k.clone()],
            KeyList::Many(v) => v.clone(),
        }
    }
}

/// `[server]`: what `countersign serve` and `token` use.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub db: Option<String>,
    pub listen: Option<String>,
    pub policy: Option<PathBuf>,
    pub max_body: Option<usize>,
    /// Longest long-poll (`?wait=`) in seconds; default 300.
    pub max_wait: Option<u64>,
    /// Remind (`proposal.expiring`) when this share of the time to decide
    /// has passed; default 0.75.
    pub remind_at: Option<f64>,
    /// Host names (or host:port) `/mcp` answers besides loopback.
    pub mcp_allowed_hosts: Option<Vec<String>>,
    pub signers: Option<PathBuf>,
    pub server_key: Option<PathBuf>,
    /// Submissions per second one agent may sustain (token bucket).
    pub agent_rate: Option<u32>,
    /// Submissions one agent may send at once.
    pub agent_burst: Option<u32>,
    /// Login challenges per minute from one client address.
    pub login_rate_per_addr: Option<u32>,
    /// Login challenges per minute for one principal.
    pub login_rate_per_principal: Option<u32>,
    /// Serve HTTPS with this certificate chain (PEM) ...
    pub tls_cert: Option<PathBuf>,
    /// ... and its key.
    pub tls_key: Option<PathBuf>,
}

/// `[client]`: what `submit` and the console use.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    pub server: Option<String>,
    pub token: Option<String>,
    pub principal: Option<String>,
    pub key: Option<PathBuf>,
    /// Trust this CA certificate (PEM) for the server, besides the
    /// system's roots.
    pub ca: Option<PathBuf>,
}

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

fn checked_url(field: &str, url: &str) -> Result<String, String> {
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

fn secret_value(
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

impl TryFrom<RawNotify> for NotifyConfig {
    type Error = String;

    fn try_from(raw: RawNotify) -> Result<Self, String> {
        use base64::Engine;
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
                let s = secret
                    .as_deref()
                    .ok_or("a webhook sink needs a secret (or secret_file): whsec_ and base64")?;
                let key = s
                    .strip_prefix("whsec_")
                    .ok_or("the webhook secret must start with whsec_ (Standard Webhooks)")?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(key)
                    .map_err(|e| format!("the webhook secret after whsec_ is not base64: {e}"))?;
                if !(24..=64).contains(&bytes.len()) {
                    return Err(
                        "the webhook secret must be 24 to 64 bytes (Standard Webhooks)".into(),
                    );
                }
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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}{where_}: {message}")]
    Parse {
        path: String,
        where_: String,
        message: String,
    },
}

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "countersign")
}

pub fn default_config_path() -> Option<PathBuf> {
    dirs().map(|d| d.config_dir().join("config.toml"))
}

/// `$XDG_CONFIG_HOME/countersign`.
pub fn config_dir() -> PathBuf {
    dirs().map_or_else(|| PathBuf::from("."), |d| d.config_dir().to_owned())
}

/// `$XDG_DATA_HOME/countersign`: the default database lives here.
pub fn data_dir() -> PathBuf {
    dirs().map_or_else(|| PathBuf::from("."), |d| d.data_dir().to_owned())
}

/// `$XDG_STATE_HOME/countersign`: the console's outbox lives here.
pub fn state_dir() -> PathBuf {
    dirs().map_or_else(
        || PathBuf::from("."),
        |d| d.state_dir().unwrap_or(d.data_local_dir()).to_owned(),
    )
}

pub fn default_db_url() -> String {
    format!("sqlite:{}", data_dir().join("countersign.db").display())
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8750";
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8750";

impl FileConfig {
    /// Loads `explicit` if given (it must exist), else the default path if it
    /// exists, else defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(p) => p.to_owned(),
            None => match default_config_path() {
                Some(p) if p.exists() => p,
                _ => return Ok(FileConfig::default()),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            where_: e
                .span()
                .map(|s| {
                    format!(
                        ", line {}",
                        text[..s.start.min(text.len())].matches('\n').count() + 1
                    )
                })
                .unwrap_or_default(),
            message: e.message().to_owned(),
        })?;
        let mut names = std::collections::HashSet::new();
        for n in &config.notify {
            if !names.insert(n.name.as_str()) {
                return Err(ConfigError::Parse {
                    path: origin.to_owned(),
                    where_: String::new(),
                    message: format!(
                        "two [[notify]] sinks are named `{}`; give each a distinct name",
                        n.name
                    ),
                });
            }
        }
        if let Some(share) = config.server.remind_at
            && !(0.0..1.0).contains(&share)
        {
            return Err(ConfigError::Parse {
                path: origin.to_owned(),
                where_: String::new(),
                message: format!("[server] remind_at = {share}: a share from 0 to 1 (e.g. 0.75)"),
            });
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn notify_blocks_are_checked_and_errors_name_the_line() {
        let ok = format!(
            "[[notify]]\nkind = \"webhook\"\nurl = \"https://hooks.soc.example/cs\"\nsecret = \"{SECRET}\"\nevents = [\"proposal.pending\", \"proposal.decided\"]\nmin_risk = \"high\"\n\n[[notify]]\nkind = \"pagerduty\"\nrouting_key = \"R0UT1NG\"\n"
        );
        let c = FileConfig::parse(&ok, "t.toml").unwrap();
        assert_eq!(c.notify.len(), 2);
        assert_eq!(c.notify[0].name, "webhook-hooks.soc.example");
        assert_eq!(c.notify[1].url, "https://events.pagerduty.com/v2/enqueue");
        for (bad, line, says) in [
            (
                format!(
                    "[server]\n\n[[notify]]\nkind = \"webhook\"\nurl = \"https://x.example\"\nsecret = \"{SECRET}\"\nevents = [\"proposal.approved\"]\n"
                ),
                3,
                "unknown event",
            ),
            (
                "[[notify]]\nkind = \"webhook\"\nurl = \"https://x.example\"\n".to_owned(),
                1,
                "needs a secret",
            ),
            (
                "[[notify]]\nkind = \"slack\"\nurl = \"http://hooks.slack.example\"\n".to_owned(),
                1,
                "use https",
            ),
            (
                "[[notify]]\nkind = \"pagerduty\"\n".to_owned(),
                1,
                "routing_key",
            ),
            (
                "[[notify]]\nkind = \"sms\"\nurl = \"https://x.example\"\n".to_owned(),
                2,
                "unknown variant",
            ),
            (
                format!(
                    "[[notify]]\nkind = \"webhook\"\nurl = \"https://x.example\"\nsecret = \"{SECRET}\"\ncolour = \"red\"\n"
                ),
                5,
                "unknown field",
            ),
        ] {
            let e = FileConfig::parse(&bad, "t.toml").unwrap_err().to_string();
            assert!(e.contains(&format!("line {line}")), "{e}");
            assert!(e.contains(says), "{e}");
        }
        let twice = "[[notify]]\nkind = \"slack\"\nurl = \"https://a.example/1\"\n[[notify]]\nkind = \"slack\"\nurl = \"https://a.example/2\"\n";
        assert!(
            FileConfig::parse(twice, "t")
                .unwrap_err()
                .to_string()
                .contains("named")
        );
    }

    #[test]
    fn parses_and_names_the_line() {
        let c = FileConfig::parse(
            "[server]\ndb = \"sqlite:/x.db\"\n[client]\nserver = \"http://h\"\n",
            "c",
        )
        .unwrap();
        assert_eq!(c.server.db.as_deref(), Some("sqlite:/x.db"));
        let err = FileConfig::parse("[server]\n\ndbb = 1\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("dbb"), "{err}");
    }
}
