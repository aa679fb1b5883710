//! What the console knows of the freezes (a lead's stop button for one
//! agent or every agent), and the dialog a lead signs one in.

use crate::api::freezes::{ALL_AGENTS, Freeze, FreezeMode};
use crate::domain::freeze::for_agent;
use tui_textarea::TextArea;

/// The freezes in force as the server last listed them (loaded with the
/// queue). A failed load keeps the last list but sets `error`: the
/// console then says it cannot tell, never that nothing is frozen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Freezes {
    pub list: Vec<Freeze>,
    /// The server listed them at least once in this session.
    pub loaded: bool,
    /// Why the last load failed, until one succeeds.
    pub error: Option<String>,
}

impl Freezes {
    /// Whether `list` is what is frozen now, as far as the server said.
    pub fn known(&self) -> bool {
        self.loaded && self.error.is_none()
    }

    /// The freeze that stops `agent` (the strictest; `*` included).
    pub fn of(&self, agent: &str) -> Option<&Freeze> {
        for_agent(&self.list, agent)
    }

    /// The freeze put on exactly `agent` (or on `*`): the one an unfreeze
    /// of that name lifts.
    pub fn on(&self, agent: &str) -> Option<&Freeze> {
        self.list.iter().find(|f| f.agent == agent)
    }
}

/// "soar-bot (hold)", "every agent (no_auto)": one freeze, short.
pub fn short(f: &Freeze) -> String {
    format!("{} ({})", agent_name(&f.agent), f.mode)
}

/// The agent as people read it: `*` is "every agent".
pub fn agent_name(agent: &str) -> &str {
    if agent == ALL_AGENTS {
        "every agent"
    } else {
        agent
    }
}

/// What the freeze dialog signs: a freeze in a mode, or the freeze lifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeChoice {
    Freeze(FreezeMode),
    Unfreeze,
}

impl FreezeChoice {
    /// The mode a freeze names; `None` for an unfreeze (as in the payload).
    pub fn mode(self) -> Option<FreezeMode> {
        match self {
            FreezeChoice::Freeze(m) => Some(m),
            FreezeChoice::Unfreeze => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FreezeChoice::Freeze(m) => m.as_str(),
            FreezeChoice::Unfreeze => "unfreeze",
        }
    }

    /// What it does, in a line.
    pub fn meaning(self) -> &'static str {
        match self {
            FreezeChoice::Freeze(FreezeMode::NoAuto) => {
                "policy approves nothing; every proposal waits for a person"
            }
            FreezeChoice::Freeze(FreezeMode::Hold) => "as no_auto, and nothing approved may start",
            FreezeChoice::Unfreeze => "lift the freeze put on it",
        }
    }
}

/// A lead's freeze or unfreeze being written: the agent (the selected
/// row's, or every agent), what to do, and the reason that is signed.
pub struct FreezeForm {
    /// The selected row's agent when the dialog opened; `None` when no
    /// row was selected (then only every agent can be frozen).
    pub row_agent: Option<String>,
    /// Every agent (`*`) instead of the row's.
    pub every: bool,
    pub choice: FreezeChoice,
    pub editor: TextArea<'static>,
    pub error: Option<String>,
    /// Signed and posted, the answer not back yet: Enter signs nothing
    /// again meanwhile.
    pub sending: bool,
}

impl FreezeForm {
    /// The agent name the payload carries: the row's, or `*`.
    pub fn agent(&self) -> &str {
        match (&self.row_agent, self.every) {
            (Some(a), false) => a,
            _ => ALL_AGENTS,
        }
    }
}
