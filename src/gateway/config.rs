//! The gateway's configuration file: where the gate is, and the upstream
//! MCP servers it fronts, each with its own credentials and what is
//! allowed, gated or denied.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the gateway does with a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A person approves each call first (the default).
    #[default]
    Gate,
    /// Forwarded at once.
    Allow,
    /// Never listed, never forwarded.
    Deny,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// The countersign server (COUNTERSIGN_SERVER otherwise).
    pub server: Option<String>,
    /// An agent token (or `token_file`, or COUNTERSIGN_TOKEN).
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    /// Trust this CA for an https:// server.
    pub ca: Option<PathBuf>,
    /// How long one call waits for a decision before answering "held".
    #[serde(default = "default_hold")]
    pub hold_secs: u64,
    /// The longest an upstream call may take.
    #[serde(default = "default_call_timeout")]
    pub call_timeout_secs: u64,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            server: None,
            token: None,
            token_file: None,
            ca: None,
            hold_secs: default_hold(),
            call_timeout_secs: default_call_timeout(),
        }
    }
}

fn default_hold() -> u64 {
    20
}

fn default_call_timeout() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Names it in actions (`mcp:<name>.<tool>`) and clashing tool names.
    pub name: String,
    /// A stdio server: the program and its arguments.
    pub command: Option<Vec<String>>,
    /// The stdio server's environment (its credentials live here).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Or a streamable-HTTP server.
    pub url: Option<String>,
    /// Its headers (an `Authorization` bearer token, for one).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// For tools not named in `tools`.
    #[serde(default)]
    pub default: Mode,
    #[serde(default)]
    pub tools: BTreeMap<String, Mode>,
}

impl UpstreamConfig {
    pub fn mode_of(&self, tool: &str) -> Mode {
        self.tools.get(tool).copied().unwrap_or(self.default)
    }
}

/// Checks `[gateway]` and `[[upstreams]]` as the config file is read.
pub fn check(gateway: Option<&GatewaySection>, upstreams: &[UpstreamConfig]) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    for u in upstreams {
        let ok_name = !u.name.is_empty()
            && u.name.len() <= 64
            && u.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
        if !ok_name {
            return Err(format!(
                "upstream name `{}`: 1 to 64 letters, digits, _ and -",
                u.name
            ));
        }
        if !names.insert(u.name.as_str()) {
            return Err(format!("two [[upstreams]] are named `{}`", u.name));
        }
        match (&u.command, &u.url) {
            (Some(c), None) if !c.is_empty() => {}
            (None, Some(_)) => {}
            _ => {
                return Err(format!(
                    "upstream `{}` needs either command = [\"program\", …] or url = \"…\"",
                    u.name
                ));
            }
        }
    }
    if let Some(g) = gateway {
        if !(1..=600).contains(&g.hold_secs) {
            return Err(format!(
                "[gateway] hold_secs = {}: from 1 to 600 (MCP clients often cut a call at 60 s)",
                g.hold_secs
            ));
        }
        if !(1..=3600).contains(&g.call_timeout_secs) {
            return Err(format!(
                "[gateway] call_timeout_secs = {}: from 1 to 3600",
                g.call_timeout_secs
            ));
        }
    }
    Ok(())
}

/// Where the gateway's own settings come from, decided here once:
/// `[gateway]` first, then the environment, then `[client]`.
impl GatewaySection {
    /// `[gateway] server`, else `COUNTERSIGN_SERVER`, else `[client] server`.
    pub fn server_or(&self, client: &crate::config::ClientSection) -> Result<String, String> {
        self.server
            .clone()
            .or_else(|| std::env::var("COUNTERSIGN_SERVER").ok())
            .or_else(|| client.server.clone())
            .ok_or_else(|| "no server: set [gateway] server or COUNTERSIGN_SERVER".to_owned())
    }

    /// `[gateway] token` or `token_file` (not both), else
    /// `COUNTERSIGN_TOKEN`.
    pub fn token(&self) -> Result<String, String> {
        match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => Err("[gateway]: give token or token_file, not both".into()),
            (Some(t), None) => Ok(t.clone()),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|t| t.trim().to_owned())
                .map_err(|e| format!("token_file {}: {e}", path.display())),
            (None, None) => std::env::var("COUNTERSIGN_TOKEN").map_err(|_| {
                "no agent token: set [gateway] token or token_file, or COUNTERSIGN_TOKEN".to_owned()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::FileConfig;

    #[test]
    fn configs_are_checked() {
        let ok = "[gateway]\nserver = \"http://127.0.0.1:8750\"\nhold_secs = 5\n\n[[upstreams]]\nname = \"edr\"\ncommand = [\"edr-mcp\"]\nenv = { EDR_KEY = \"k\" }\n[upstreams.tools]\nwipe_disk = \"deny\"\nread_file = \"allow\"\n";
        let f = FileConfig::parse(ok, "t").unwrap();
        assert_eq!(f.upstreams[0].mode_of("wipe_disk"), Mode::Deny);
        assert_eq!(f.upstreams[0].mode_of("read_file"), Mode::Allow);
        assert_eq!(f.upstreams[0].mode_of("isolate_host"), Mode::Gate);
        for (bad, says) in [
            ("[gateway]\n[[upstreams]]\nname = \"a\"\n", "command"),
            (
                "[gateway]\n[[upstreams]]\nname = \"a b\"\ncommand = [\"x\"]\n",
                "upstream name",
            ),
            (
                "[gateway]\n[[upstreams]]\nname = \"a\"\ncommand = [\"x\"]\n[[upstreams]]\nname = \"a\"\nurl = \"http://x\"\n",
                "two [[upstreams]]",
            ),
            ("[gateway]\nhold_secs = 0\n", "hold_secs"),
            (
                "[gateway]\n[[upstreams]]\nname = \"a\"\ncommand = [\"x\"]\ndefault = \"maybe\"\n",
                "line 5",
            ),
        ] {
            let e = FileConfig::parse(bad, "t").unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
