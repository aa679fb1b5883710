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
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
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

/// What the agent wants done: a built-in kind, or another one the agent
/// names (a runtime's tool, `run_command`). A policy may name either; a
/// kind the policy does not know is held at medium risk at least.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    IsolateHost,
    DisableAccount,
    RevokeToken,
    RotateSecret,
    ModifyPolicy,
    BlockIndicator,
    QuarantineFile,
    KillProcess,
    ResetCredentials,
    /// Any other name: letters, digits, `_ . : -`, at most 128 bytes.
    Other(String),
}

const BUILTIN_ACTIONS: [(ActionKind, &str); 9] = [
    (ActionKind::IsolateHost, "isolate_host"),
    (ActionKind::DisableAccount, "disable_account"),
    (ActionKind::RevokeToken, "revoke_token"),
    (ActionKind::RotateSecret, "rotate_secret"),
    (ActionKind::ModifyPolicy, "modify_policy"),
    (ActionKind::BlockIndicator, "block_indicator"),
    (ActionKind::QuarantineFile, "quarantine_file"),
    (ActionKind::KillProcess, "kill_process"),
    (ActionKind::ResetCredentials, "reset_credentials"),
];

impl ActionKind {
    /// Kinds that contain (and whose revert releases): what `contain_for`
    /// may time.
    pub fn is_containment(&self) -> bool {
        matches!(
            self,
            ActionKind::IsolateHost
                | ActionKind::DisableAccount
                | ActionKind::BlockIndicator
                | ActionKind::QuarantineFile
        )
    }

    /// Whether alike proposals of this kind may be decided as a group: not
    /// those that run code (a custom kind: `run_command`, a runtime's tool)
    /// or change who can do what.
    pub fn groups_safely(&self) -> bool {
        !matches!(
            self,
            ActionKind::Other(_)
                | ActionKind::ModifyPolicy
                | ActionKind::DisableAccount
                | ActionKind::ResetCredentials
                | ActionKind::RotateSecret
        )
    }

    /// The built-in kinds.
    pub const ALL: &'static [ActionKind] = &[
        ActionKind::IsolateHost,
        ActionKind::DisableAccount,
        ActionKind::RevokeToken,
        ActionKind::RotateSecret,
        ActionKind::ModifyPolicy,
        ActionKind::BlockIndicator,
        ActionKind::QuarantineFile,
        ActionKind::KillProcess,
        ActionKind::ResetCredentials,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            ActionKind::Other(name) => name,
            builtin => BUILTIN_ACTIONS
                .iter()
                .find(|(k, _)| k == builtin)
                .map_or("", |(_, n)| n),
        }
    }

    pub fn is_builtin(&self) -> bool {
        !matches!(self, ActionKind::Other(_))
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        if let Some((k, _)) = BUILTIN_ACTIONS.iter().find(|(_, n)| *n == s) {
            return Ok(k.clone());
        }
        let ok = (1..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if ok {
            Ok(ActionKind::Other(s.to_owned()))
        } else {
            Err(UnknownName {
                what: "ActionKind",
                got: s.to_owned(),
                expected: &[
                    "isolate_host",
                    "disable_account",
                    "revoke_token",
                    "rotate_secret",
                    "modify_policy",
                    "block_indicator",
                    "quarantine_file",
                    "kill_process",
                    "reset_credentials",
                    "or another name of letters, digits and _ . : - (at most 128)",
                ],
            })
        }
    }
}

/// A string: a built-in kind or another name of letters, digits and
/// `_ . : -`.
impl utoipa::PartialSchema for ActionKind {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
        let builtins: Vec<&str> = BUILTIN_ACTIONS.iter().map(|(_, n)| *n).collect();
        utoipa::openapi::RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9_.:-]{1,128}$"))
                .examples(["isolate_host", "run_command"])
                .description(Some(format!(
                    "Built-in kinds: {}. Any other name (a runtime's tool, `run_command`) is held at medium risk at least unless the policy names it.",
                    builtins.join(", ")
                )))
                .build(),
        ))
    }
}

impl utoipa::ToSchema for ActionKind {}

impl Serialize for ActionKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActionKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

wire_enum!(
    /// Where a proposal is in its life (the transitions are `domain::machine`).
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
    /// A human verdict on a proposal. `confirm` and `flag` are the
    /// sampled review of a policy approval (see `domain::sample`).
    Verdict {
        Approve => "approve",
        Reject => "reject",
        Escalate => "escalate",
        Halt => "halt",
        Confirm => "confirm",
        Flag => "flag",
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
        Ip => "ip",
        Domain => "domain",
        Url => "url",
        FileHash => "file_hash",
        Email => "email",
        Process => "process",
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
        let err = "explode now!".parse::<ActionKind>().unwrap_err();
        assert!(err.to_string().contains("isolate_host"), "{err}");
        assert_eq!(
            "run_command".parse::<ActionKind>().unwrap(),
            ActionKind::Other("run_command".into())
        );
        for a in ActionKind::ALL {
            assert_eq!(a.as_str().parse::<ActionKind>().unwrap(), *a);
            assert!(a.is_builtin());
        }
    }

    #[test]
    fn final_and_open_are_disjoint() {
        for s in ProposalStatus::ALL {
            assert!(!(s.is_final() && s.is_open()), "{s}");
        }
    }
}
