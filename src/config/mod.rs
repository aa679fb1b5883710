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
    /// `[tokens]`: how long `token create` and `token rotate` make them last.
    #[serde(default)]
    pub tokens: TokensSection,
    /// `[[notify]]`: where notifications go (`server::notify`).
    #[serde(default)]
    pub notify: Vec<NotifyConfig>,
    /// `[[executors]]`: who runs approved actions for the gate
    /// (`server::execute`).
    #[serde(default)]
    pub executors: Vec<ExecutorConfig>,
    /// `[gateway]`: `countersign gateway`'s own settings (`crate::gateway`).
    pub gateway: Option<crate::gateway::config::GatewaySection>,
    /// `[[upstreams]]`: the MCP servers `countersign gateway` fronts.
    #[serde(default)]
    pub upstreams: Vec<crate::gateway::config::UpstreamConfig>,
    /// `[agents]`: workload identities (`[[agents.oidc]]`,
    /// `server::oidc`).
    #[serde(default)]
    pub agents: AgentsSection,
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
    /// A burst banner shows when one agent sends more than `burst_count`
    /// proposals within `burst_secs` (default 20 in 60).
    pub burst_count: Option<usize>,
    pub burst_secs: Option<u64>,
}

/// A setting written as one string or a list of them (`action = "x"` or
/// `action = ["x", "y"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `action = "key"` or `["key", "key"]` in `[tui.keys]`.
pub type KeyList = OneOrMany;

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(k) => vec![k.clone()],
            OneOrMany::Many(v) => v.clone(),
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
    /// Request-body bytes of submissions one agent may send per minute.
    pub agent_bytes_per_min: Option<u32>,
    /// Long-polls one caller may hold open at once.
    pub max_waits_per_agent: Option<usize>,
    /// MCP sessions one agent may hold open ...
    pub mcp_sessions_per_agent: Option<usize>,
    /// ... and all agents together.
    pub mcp_sessions: Option<usize>,
    /// Seconds without a request after which an MCP session ends.
    pub mcp_idle_timeout: Option<u64>,
    /// Login challenges per minute from one client address.
    pub login_rate_per_addr: Option<u32>,
    /// Login challenges per minute for one principal.
    pub login_rate_per_principal: Option<u32>,
    /// Serve HTTPS with this certificate chain (PEM) ...
    pub tls_cert: Option<PathBuf>,
    /// ... and its key.
    pub tls_key: Option<PathBuf>,
}

/// `[tokens]`: the lifetimes `countersign token` gives when not told.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSection {
    /// How long a new token works (`30d`, `12h`, or `never`); default 90d.
    pub ttl: Option<String>,
    /// How long a rotated token keeps working beside its successor;
    /// default 24h.
    pub rotate_grace: Option<String>,
}

/// A token's lifetime when neither `--ttl` nor `[tokens] ttl` names one.
pub const DEFAULT_TOKEN_TTL: &str = "90d";
/// A rotation's grace when neither `--grace` nor `[tokens] rotate_grace` does.
pub const DEFAULT_ROTATE_GRACE: &str = "24h";

impl TokensSection {
    /// The lifetime in milliseconds (`None`: never expires) from `flag`,
    /// else the file, else [`DEFAULT_TOKEN_TTL`].
    pub fn ttl_ms(&self, flag: Option<&str>) -> Result<Option<i64>, String> {
        let (text, from) = match (flag, &self.ttl) {
            (Some(f), _) => (f, "--ttl"),
            (None, Some(t)) => (t.as_str(), "[tokens] ttl"),
            (None, None) => (DEFAULT_TOKEN_TTL, "the default ttl"),
        };
        if text.trim() == "never" {
            return Ok(None);
        }
        match crate::domain::time::parse_span_ms(text) {
            Some(ms) if ms > 0 => Ok(Some(ms)),
            _ => Err(format!(
                "{from} `{text}` is not a lifetime: a number and s, m, h or d (`30d`), or `never`"
            )),
        }
    }

    /// The grace in milliseconds from `flag`, else the file, else
    /// [`DEFAULT_ROTATE_GRACE`].
    pub fn grace_ms(&self, flag: Option<&str>) -> Result<i64, String> {
        let (text, from) = match (flag, &self.rotate_grace) {
            (Some(f), _) => (f, "--grace"),
            (None, Some(g)) => (g.as_str(), "[tokens] rotate_grace"),
            (None, None) => (DEFAULT_ROTATE_GRACE, "the default grace"),
        };
        crate::domain::time::parse_span_ms(text).ok_or_else(|| {
            format!("{from} `{text}` is not a span: a number and s, m, h or d (`24h`, `0s`)")
        })
    }
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

/// A flag or `COUNTERSIGN_*` variable that is set wins over the file: the
/// one place precedence is decided. Every field is named, so a new one
/// cannot be forgotten here.
impl ServerSection {
    /// These settings (the file's) with `flags` in front; lists add up.
    pub fn overlaid(self, flags: ServerSection) -> ServerSection {
        let ServerSection {
            db,
            listen,
            policy,
            max_body,
            max_wait,
            remind_at,
            mcp_allowed_hosts,
            signers,
            server_key,
            agent_rate,
            agent_burst,
            agent_bytes_per_min,
            max_waits_per_agent,
            mcp_sessions_per_agent,
            mcp_sessions,
            mcp_idle_timeout,
            login_rate_per_addr,
            login_rate_per_principal,
            tls_cert,
            tls_key,
        } = flags;
        let hosts = match (self.mcp_allowed_hosts, mcp_allowed_hosts) {
            (Some(mut file), Some(flags)) => {
                file.extend(flags);
                Some(file)
            }
            (file, flags) => flags.or(file),
        };
        ServerSection {
            db: db.or(self.db),
            listen: listen.or(self.listen),
            policy: policy.or(self.policy),
            max_body: max_body.or(self.max_body),
            max_wait: max_wait.or(self.max_wait),
            remind_at: remind_at.or(self.remind_at),
            mcp_allowed_hosts: hosts,
            signers: signers.or(self.signers),
            server_key: server_key.or(self.server_key),
            agent_rate: agent_rate.or(self.agent_rate),
            agent_burst: agent_burst.or(self.agent_burst),
            agent_bytes_per_min: agent_bytes_per_min.or(self.agent_bytes_per_min),
            max_waits_per_agent: max_waits_per_agent.or(self.max_waits_per_agent),
            mcp_sessions_per_agent: mcp_sessions_per_agent.or(self.mcp_sessions_per_agent),
            mcp_sessions: mcp_sessions.or(self.mcp_sessions),
            mcp_idle_timeout: mcp_idle_timeout.or(self.mcp_idle_timeout),
            login_rate_per_addr: login_rate_per_addr.or(self.login_rate_per_addr),
            login_rate_per_principal: login_rate_per_principal.or(self.login_rate_per_principal),
            tls_cert: tls_cert.or(self.tls_cert),
            tls_key: tls_key.or(self.tls_key),
        }
    }

    /// The database URL in force: the setting, else the default under the
    /// data directory.
    pub fn db_or_default(&self) -> String {
        self.db.clone().unwrap_or_else(default_db_url)
    }
}

impl ClientSection {
    /// These settings (the file's) with `flags` in front.
    pub fn overlaid(self, flags: ClientSection) -> ClientSection {
        let ClientSection {
            server,
            token,
            principal,
            key,
            ca,
        } = flags;
        ClientSection {
            server: server.or(self.server),
            token: token.or(self.token),
            principal: principal.or(self.principal),
            key: key.or(self.key),
            ca: ca.or(self.ca),
        }
    }

    /// The server URL in force: the setting, else the local default.
    pub fn server_or_default(&self) -> String {
        self.server
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
    }
}

mod executors;
mod notify;
pub mod oidc;
pub use executors::ExecutorConfig;
pub use notify::{NotifyConfig, SinkKind};
pub use oidc::{AgentsSection, OidcConfig};

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
    /// `[server]` with these flags in front.
    pub fn server_with(&self, flags: ServerSection) -> ServerSection {
        self.server.clone().overlaid(flags)
    }

    /// `[client]` with these flags in front.
    pub fn client_with(&self, flags: ClientSection) -> ClientSection {
        self.client.clone().overlaid(flags)
    }

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
        executors::check_all(&config.executors).map_err(|message| ConfigError::Parse {
            path: origin.to_owned(),
            where_: String::new(),
            message,
        })?;
        oidc::check_all(&config.agents.oidc).map_err(|message| ConfigError::Parse {
            path: origin.to_owned(),
            where_: String::new(),
            message,
        })?;
        crate::gateway::config::check(config.gateway.as_ref(), &config.upstreams).map_err(
            |message| ConfigError::Parse {
                path: origin.to_owned(),
                where_: String::new(),
                message,
            },
        )?;
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
    fn a_flag_that_is_set_wins_and_lists_add_up() {
        let file = FileConfig::parse(
            "[server]\ndb = \"sqlite:file.db\"\nlisten = \"127.0.0.1:1\"\nremind_at = 0.5\n\
             mcp_allowed_hosts = [\"a.example\"]\n\
             [client]\nserver = \"https://file.example\"\ntoken = \"cs_file\"\n",
            "test",
        )
        .unwrap();
        let s = file.server_with(ServerSection {
            listen: Some("127.0.0.1:2".into()),
            mcp_allowed_hosts: Some(vec!["b.example".into()]),
            ..ServerSection::default()
        });
        assert_eq!(s.listen.as_deref(), Some("127.0.0.1:2"));
        assert_eq!(s.db_or_default(), "sqlite:file.db");
        assert_eq!(s.remind_at, Some(0.5));
        assert_eq!(
            s.mcp_allowed_hosts,
            Some(vec!["a.example".to_owned(), "b.example".to_owned()])
        );
        let c = file.client_with(ClientSection {
            token: Some("cs_flag".into()),
            ..ClientSection::default()
        });
        assert_eq!(c.token.as_deref(), Some("cs_flag"));
        assert_eq!(c.server_or_default(), "https://file.example");
        let none = FileConfig::default().client_with(ClientSection::default());
        assert_eq!(none.server_or_default(), DEFAULT_SERVER);
        assert!(
            FileConfig::default()
                .server_with(ServerSection::default())
                .db_or_default()
                .starts_with("sqlite:")
        );
    }

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

    #[test]
    fn token_lifetimes_flag_over_file_over_default() {
        let none = TokensSection::default();
        assert_eq!(none.ttl_ms(None), Ok(Some(90 * 86_400_000)));
        assert_eq!(none.grace_ms(None), Ok(24 * 3_600_000));
        let file = FileConfig::parse("[tokens]\nttl = \"never\"\nrotate_grace = \"0s\"\n", "t")
            .unwrap()
            .tokens;
        assert_eq!(file.ttl_ms(None), Ok(None));
        assert_eq!(file.ttl_ms(Some("2s")), Ok(Some(2_000)));
        assert_eq!(file.grace_ms(None), Ok(0));
        assert_eq!(file.grace_ms(Some("1h")), Ok(3_600_000));
        for bad in ["0s", "-1d", "soon", "30", ""] {
            let err = none.ttl_ms(Some(bad)).unwrap_err();
            assert!(err.starts_with("--ttl") && err.contains("never"), "{err}");
        }
        assert!(none.grace_ms(Some("1w")).is_err());
    }
}
