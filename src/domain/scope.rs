//! What an agent may propose: the action kinds and target patterns its
//! token or workload identity names. A proposal outside them is refused
//! before anything is stored, so an agent talked into asking for more
//! than it was meant to cannot even put the question to a person.
//!
//! Targets are read strictly, because an allow-list must fail closed:
//! - a pattern with a `/` that parses as a network (`10.0.0.0/8`), or a
//!   bare address, admits a target only if every reading a blocking
//!   system may make of it (`10/8` is two networks) lies inside;
//! - any other pattern (`ws-*`, `*.corp.example`) is matched, `*` and `?`
//!   as in the policy's `[assets]`, against the target's canonical form
//!   (full-width letters, case, look-alike dashes folded);
//! - a target listing several things (`ws-1,dc-01`) is in scope only if
//!   each of them is;
//! - a target that is itself a pattern to its executor (`ws-*`, `%`) is in
//!   scope only under the pattern `*`.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::risk::indicator::{self, Item};
use super::risk::names;
use super::types::ActionKind;

/// `None` for either part: any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<ActionKind>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
}

/// Why a proposal is outside the scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutOfScope {
    #[error("this agent may not propose `{0}` (its scope allows: {1})")]
    Action(String, String),
    #[error("target `{target}` of `{action}` is outside this agent's scope ({allowed})")]
    Target {
        action: String,
        target: String,
        allowed: String,
    },
}

/// A scope as written cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadScope(pub String);

impl Scope {
    /// Any action on any target.
    pub fn any() -> Self {
        Scope::default()
    }

    pub fn is_any(&self) -> bool {
        self.actions.is_none() && self.targets.is_none()
    }

    /// From the comma-separated lists of `--actions` and `--targets`;
    /// `None` or `*` for any.
    pub fn parse(actions: Option<&str>, targets: Option<&str>) -> Result<Self, BadScope> {
        let list = |s: &str| -> Vec<String> {
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let actions = match actions.map(str::trim) {
            None | Some("*") => None,
            Some(s) => {
                let names = list(s);
                if names.is_empty() {
                    return Err(BadScope("--actions names no action kind".into()));
                }
                Some(
                    names
                        .iter()
                        .map(|n| {
                            n.parse::<ActionKind>()
                                .map_err(|_| BadScope(format!("`{n}` is not an action kind")))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
        };
        let targets = match targets.map(str::trim) {
            None | Some("*") => None,
            Some(s) => {
                let patterns = list(s);
                if patterns.is_empty() {
                    return Err(BadScope("--targets names no target pattern".into()));
                }
                for p in &patterns {
                    let looks_like_net = p
                        .split_once('/')
                        .is_some_and(|(a, _)| a.parse::<std::net::IpAddr>().is_ok());
                    if looks_like_net && network(p).is_none() {
                        return Err(BadScope(format!("`{p}` is not a network")));
                    }
                }
                Some(patterns)
            }
        };
        Ok(Scope { actions, targets })
    }

    /// Checks one proposal.
    pub fn permits(&self, action: &ActionKind, target: &str) -> Result<(), OutOfScope> {
        if let Some(actions) = &self.actions
            && !actions.contains(action)
        {
            return Err(OutOfScope::Action(
                action.to_string(),
                actions
                    .iter()
                    .map(ActionKind::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        let Some(patterns) = &self.targets else {
            return Ok(());
        };
        if patterns.iter().any(|p| p == "*") {
            return Ok(());
        }
        let parts: Vec<&str> = target
            .split(|c: char| c == ',' || c == ';' || c == '|' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .collect();
        let inside = !parts.is_empty()
            && parts
                .iter()
                .all(|part| patterns.iter().any(|p| admits(p, part)));
        if inside {
            Ok(())
        } else {
            Err(OutOfScope::Target {
                action: action.to_string(),
                target: target.escape_debug().to_string(),
                allowed: patterns.join(", "),
            })
        }
    }

    /// For listings: `isolate_host,block_indicator on ws-*,10.0.0.0/8`.
    pub fn describe(&self) -> String {
        let actions = self.actions.as_ref().map_or("any action".to_owned(), |a| {
            a.iter()
                .map(ActionKind::as_str)
                .collect::<Vec<_>>()
                .join(",")
        });
        let targets = self
            .targets
            .as_ref()
            .map_or("any target".to_owned(), |t| t.join(","));
        format!("{actions} on {targets}")
    }
}

/// A network pattern: `10.0.0.0/8`, `2001:db8::/32`, or one address.
fn network(pattern: &str) -> Option<IpNet> {
    pattern
        .parse::<IpNet>()
        .ok()
        .or_else(|| pattern.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// Does one pattern admit one part of a target?
fn admits(pattern: &str, part: &str) -> bool {
    if let Some(net) = network(pattern) {
        let Ok(parsed) = indicator::parse(part) else {
            return false;
        };
        return !parsed.items.is_empty()
            && parsed.items.iter().all(|item| match item {
                Item::Nets(nets) => !nets.is_empty() && nets.iter().all(|n| net.contains(n)),
                _ => false,
            });
    }
    if part.contains(indicator::PATTERN) && part.contains(['*', '?', '%']) {
        return false;
    }
    let canon = names::canonical(part);
    let pattern = names::canonical(pattern);
    crate::domain::permissions::pattern::matches(&pattern, &canon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(a: Option<&str>, t: Option<&str>) -> Scope {
        Scope::parse(a, t).unwrap()
    }

    #[test]
    fn actions_and_targets() {
        let s = scope(
            Some("isolate_host, block_indicator"),
            Some("ws-*,10.0.0.0/8"),
        );
        let iso = ActionKind::IsolateHost;
        let block = ActionKind::BlockIndicator;
        assert!(s.permits(&iso, "ws-17").is_ok());
        assert!(s.permits(&iso, "WS-17").is_ok());
        assert!(s.permits(&iso, "ｗｓ－１７").is_ok());
        assert!(s.permits(&iso, "ws-1,ws-2").is_ok());
        assert!(s.permits(&block, "10.1.2.3").is_ok());
        assert!(s.permits(&block, "10.1.0.0/16").is_ok());
        for (action, target) in [
            (&iso, "dc-01"),
            (&iso, "ws-1,dc-01"),
            (&iso, "ws-*"),
            (&iso, "%"),
            (&iso, ""),
            (&block, "11.0.0.1"),
            (&block, "0.0.0.0/0"),
            // 10/8 is also read as 0.0.0.10/8 (inet_aton): not inside.
            (&block, "10/8"),
            (&block, "evil.example"),
        ] {
            assert!(
                matches!(s.permits(action, target), Err(OutOfScope::Target { .. })),
                "{action} {target}"
            );
        }
        assert!(matches!(
            s.permits(&ActionKind::DisableAccount, "ws-1"),
            Err(OutOfScope::Action(..))
        ));
    }

    #[test]
    fn any_and_errors() {
        assert!(scope(None, None).is_any());
        assert!(scope(Some("*"), Some("*")).is_any());
        let only = scope(Some("run_command"), None);
        assert!(
            only.permits(&ActionKind::Other("run_command".into()), "rm -rf /")
                .is_ok()
        );
        let star = scope(None, Some("*"));
        assert!(star.permits(&ActionKind::IsolateHost, "ws-*").is_ok());
        for (a, t) in [
            (Some("isolate host"), None),
            (Some(","), None),
            (None, Some(" , ")),
        ] {
            assert!(Scope::parse(a, t).is_err(), "{a:?} {t:?}");
        }
        let s = scope(Some("isolate_host"), Some("ws-*"));
        assert_eq!(s.describe(), "isolate_host on ws-*");
        let back: Scope = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
