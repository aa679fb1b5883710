//! The stop button: a lead freezes one agent, or every agent, until a lead
//! unfreezes it. `no_auto`: policy approves nothing for it, everything
//! waits for people. `hold`: also, nothing approved may start (an agent's
//! `started` is refused, executors are not called, the gateway forwards
//! nothing); approvals already given stay, and wait (or lapse at their
//! `execute_by`, as any unstarted approval does).

use crate::domain::time::rfc3339;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The agent name a freeze of every agent is recorded under. No agent can
/// be called this (names are letters, digits and `-_.@`).
pub const ALL_AGENTS: &str = "*";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FreezeMode {
    /// Policy approves nothing for the agent: everything waits for people.
    NoAuto,
    /// Also nothing approved may start.
    Hold,
}

impl FreezeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FreezeMode::NoAuto => "no_auto",
            FreezeMode::Hold => "hold",
        }
    }

    pub fn parse(s: &str) -> Option<FreezeMode> {
        match s {
            "no_auto" => Some(FreezeMode::NoAuto),
            "hold" => Some(FreezeMode::Hold),
            _ => None,
        }
    }
}

impl fmt::Display for FreezeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One freeze in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Freeze {
    /// The agent frozen, or `*` for every agent.
    pub agent: String,
    pub mode: FreezeMode,
    /// The lead who signed it.
    pub by: String,
    pub reason: String,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub since: i64,
    /// The audit entry that records it.
    pub seq: i64,
}

impl Freeze {
    /// Whether it stops `agent`.
    pub fn covers(&self, agent: &str) -> bool {
        self.agent == ALL_AGENTS || self.agent == agent
    }

    /// Whether approved actions wait.
    pub fn holds(&self) -> bool {
        self.mode == FreezeMode::Hold
    }

    /// What an agent is told: "frozen by carol (hold): <reason>".
    pub fn describe(&self) -> String {
        let whom = if self.agent == ALL_AGENTS {
            "every agent is frozen"
        } else {
            "frozen"
        };
        format!(
            "{whom} by {} ({}): {}",
            self.by,
            match self.mode {
                FreezeMode::NoAuto => "no_auto: nothing is approved by policy",
                FreezeMode::Hold => "hold: nothing approved may start",
            },
            crate::domain::text::truncate(&crate::domain::text::visible(&self.reason), 200)
        )
    }
}

/// The freeze that applies to `agent` among `all`: the strictest, and of
/// two alike the one on the agent itself.
pub fn for_agent<'a>(all: &'a [Freeze], agent: &str) -> Option<&'a Freeze> {
    all.iter()
        .filter(|f| f.covers(agent))
        .max_by_key(|f| (f.mode, f.agent != ALL_AGENTS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freeze(agent: &str, mode: FreezeMode) -> Freeze {
        Freeze {
            agent: agent.into(),
            mode,
            by: "carol".into(),
            reason: "runaway".into(),
            since: 0,
            seq: 1,
        }
    }

    #[test]
    fn the_strictest_freeze_applies() {
        let all = [
            freeze(ALL_AGENTS, FreezeMode::NoAuto),
            freeze("soar-bot", FreezeMode::Hold),
        ];
        assert_eq!(
            for_agent(&all, "soar-bot").map(|f| f.mode),
            Some(FreezeMode::Hold)
        );
        assert_eq!(
            for_agent(&all, "other").map(|f| f.agent.as_str()),
            Some(ALL_AGENTS)
        );
        assert_eq!(for_agent(&all[1..], "other"), None);
        let alike = [
            freeze(ALL_AGENTS, FreezeMode::NoAuto),
            freeze("soar-bot", FreezeMode::NoAuto),
        ];
        assert_eq!(
            for_agent(&alike, "soar-bot").map(|f| f.agent.as_str()),
            Some("soar-bot")
        );
    }

    #[test]
    fn an_agent_is_told_who_and_why_on_one_line() {
        let mut f = freeze("soar-bot", FreezeMode::Hold);
        f.reason = "loops\non\u{202e}host".into();
        let said = f.describe();
        assert!(said.starts_with("frozen by carol (hold"), "{said}");
        assert!(!said.contains('\n') && !said.contains('\u{202e}'), "{said}");
    }
}
