//! `[[executors]]`: services that run approved actions for the gate, so
//! agents never hold the credentials (`server::execute`).

use super::OneOrMany;
use super::notify::{checked_url, secret_value, webhook_secret};
use serde::Deserialize;
use std::path::PathBuf;

/// One `[[executors]]` block, checked as it is read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawExecutor")]
pub struct ExecutorConfig {
    /// Names it in receipts (`audience = "executor:<name>"`), the log and
    /// metrics.
    pub name: String,
    /// The action kinds it runs; an agent may not report execution of
    /// these itself.
    pub actions: Vec<String>,
    pub url: String,
    /// The Standard Webhooks `whsec_…` secret deliveries are signed with.
    pub secret: String,
    /// From the approval: retried until then, then recorded `failed`.
    pub timeout_secs: u64,
    /// One attempt's time limit, seconds.
    pub attempt_secs: u64,
}

impl ExecutorConfig {
    /// What receipts name as their audience.
    pub fn audience(&self) -> String {
        format!("executor:{}", self.name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExecutor {
    name: Option<String>,
    action: OneOrMany,
    url: String,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    timeout_secs: Option<u64>,
    attempt_secs: Option<u64>,
}

impl TryFrom<RawExecutor> for ExecutorConfig {
    type Error = String;

    fn try_from(raw: RawExecutor) -> Result<Self, String> {
        let url = checked_url("url", &raw.url)?;
        let secret = secret_value(raw.secret, raw.secret_file, "secret")?;
        webhook_secret(secret.as_deref())?;
        let actions = raw.action.to_vec();
        if actions.is_empty() {
            return Err("action: name at least one action kind".into());
        }
        for a in &actions {
            a.parse::<crate::domain::types::ActionKind>()
                .map_err(|e| format!("action: {e}"))?;
        }
        let host = reqwest::Url::parse(&url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let name = raw.name.unwrap_or_else(|| format!("executor-{host}"));
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(format!("name `{name}`: letters, digits and - _ . only"));
        }
        let timeout_secs = match raw.timeout_secs {
            None => 600,
            Some(t @ 1..=604_800) => t,
            Some(t) => return Err(format!("timeout_secs = {t}: from 1 to 604800 (a week)")),
        };
        let attempt_secs = match raw.attempt_secs {
            None => 30.min(timeout_secs),
            Some(t @ 1..=300) => t,
            Some(t) => return Err(format!("attempt_secs = {t}: from 1 to 300")),
        };
        Ok(ExecutorConfig {
            name,
            actions,
            url,
            secret: secret.unwrap_or_default(),
            timeout_secs,
            attempt_secs,
        })
    }
}

/// Two executors may not share a name, nor an action: who runs an
/// approved action must be one answer.
pub fn check_all(executors: &[ExecutorConfig]) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    let mut actions = std::collections::HashMap::new();
    for e in executors {
        if !names.insert(e.name.as_str()) {
            return Err(format!(
                "two [[executors]] are named `{}`; give each a distinct name",
                e.name
            ));
        }
        for a in &e.actions {
            if let Some(other) = actions.insert(a.as_str(), e.name.as_str()) {
                return Err(format!(
                    "action `{a}` has two [[executors]] (`{other}` and `{}`): one runs it",
                    e.name
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::FileConfig;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn executor_blocks_are_checked() {
        let ok = format!(
            "[[executors]]\nname = \"edr\"\naction = [\"isolate_host\", \"release_host\"]\nurl = \"http://127.0.0.1:9000/run\"\nsecret = \"{SECRET}\"\ntimeout_secs = 60\n"
        );
        let c = FileConfig::parse(&ok, "t").unwrap();
        assert_eq!(c.executors[0].actions, ["isolate_host", "release_host"]);
        assert_eq!(c.executors[0].attempt_secs, 30);
        assert_eq!(c.executors[0].audience(), "executor:edr");
        for (bad, says) in [
            (
                "[[executors]]\naction = \"isolate_host\"\nurl = \"http://edr.example/run\"\nsecret = \"S\"\n".to_owned(),
                "https",
            ),
            (
                "[[executors]]\naction = \"isolate_host\"\nurl = \"https://edr.example/run\"\n".to_owned(),
                "secret",
            ),
            (
                format!("[[executors]]\naction = []\nurl = \"https://edr.example/run\"\nsecret = \"{SECRET}\"\n"),
                "at least one",
            ),
            (
                format!("[[executors]]\naction = \"isolate_host\"\nurl = \"https://a.example/\"\nsecret = \"{SECRET}\"\n[[executors]]\nname = \"b\"\naction = \"isolate_host\"\nurl = \"https://b.example/\"\nsecret = \"{SECRET}\"\n"),
                "two [[executors]]",
            ),
            (
                format!("[[executors]]\naction = \"isolate_host\"\nurl = \"https://a.example/\"\nsecret = \"{SECRET}\"\nretries = 3\n"),
                "retries",
            ),
        ] {
            let e = FileConfig::parse(&bad, "t").unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
