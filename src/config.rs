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
        toml::from_str(text).map_err(|e| ConfigError::Parse {
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
