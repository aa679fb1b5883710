//! Vocabulary shared by client and server: severities, risk tiers, action
//! kinds, proposal statuses, roles and verdicts.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Generates `as_str`, `Display`, `FromStr` and an `ALL` list for a
/// snake_case enum, so the wire name, the SQL column value and the TOML
/// spelling are one and the same.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName {
                        what: stringify!($name),
                        got: s.to_owned(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }
    };
}

/// A name that is not one of an enum's spellings.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {what} `{got}`, expected one of: {}", expected.join(", "))]
pub struct UnknownName {
    pub what: &'static str,
    pub got: String,
    pub expected: &'static [&'static str],
}

wire_enum!(
    /// How bad the alert is, as the source rated it.
    Severity {
        Info => "info",
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

wire_enum!(
    /// How much harm a proposed action can do if it is wrong.
    Risk {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

wire_enum!(
    /// What the agent wants done.
    ActionKind {
        IsolateHost => "isolate_host",
        DisableAccount => "disable_account",
        RevokeToken => "revoke_token",
        RotateSecret => "rotate_secret",
        ModifyPolicy => "modify_policy",
        BlockIndicator => "block_indicator",
        QuarantineFile => "quarantine_file",
        KillProcess => "kill_process",
        ResetCredentials => "reset_credentials",
    }
);

wire_enum!(
    /// Where a proposal is in its life. See DESIGN.md, "Proposal state machine".
    ProposalStatus {
        Pending => "pending",
        AwaitingSecond => "awaiting_second",
        Escalated => "escalated",
        Approved => "approved",
        Rejected => "rejected",
        Expired => "expired",
        Halted => "halted",
        Lapsed => "lapsed",
        Executing => "executing",
        Executed => "executed",
        Failed => "failed",
    }
);

impl ProposalStatus {
    /// No transition leaves a final state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Rejected
                | Self::Expired
                | Self::Halted
                | Self::Lapsed
                | Self::Executed
                | Self::Failed
        )
    }

    /// Still waiting for a human (or the clock) to decide.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::AwaitingSecond | Self::Escalated)
    }
}

wire_enum!(
    /// What a person may do.
    Role {
        Analyst => "analyst",
        Lead => "lead",
    }
);

wire_enum!(
    /// What an API token is for.
    TokenRole {
        Agent => "agent",
        Reviewer => "reviewer",
    }
);

wire_enum!(
    /// A human verdict on a proposal.
    Verdict {
        Approve => "approve",
        Reject => "reject",
        Escalate => "escalate",
        Halt => "halt",
    }
);

wire_enum!(
    /// Kinds of evidence an agent can attach.
    EvidenceKind {
        Log => "log",
        ProcessTree => "process_tree",
        NetworkFlow => "network_flow",
        Indicator => "indicator",
        RawJson => "raw_json",
        File => "file",
        Note => "note",
    }
);

wire_enum!(
    /// What an alert is about.
    EntityKind {
        Host => "host",
        User => "user",
        ServiceAccount => "service_account",
        Service => "service",
        CloudResource => "cloud_resource",
        Token => "token",
    }
);

wire_enum!(
    /// Labels an analyst can put on an alert.
    Label {
        FalsePositive => "false_positive",
        TruePositive => "true_positive",
        Benign => "benign",
        NeedsInfo => "needs_info",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in ProposalStatus::ALL {
            assert_eq!(s.as_str().parse::<ProposalStatus>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let err = "explode".parse::<ActionKind>().unwrap_err();
        assert!(err.to_string().contains("isolate_host"), "{err}");
    }

    #[test]
    fn final_and_open_are_disjoint() {
        for s in ProposalStatus::ALL {
            assert!(!(s.is_final() && s.is_open()), "{s}");
        }
    }
}
