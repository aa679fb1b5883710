//! What the server tells the outside world (webhooks, Slack, PagerDuty):
//! the event types, with their wire names, and the data each carries.
//! Receivers deduplicate on the event id (`webhook-id`), which stays the
//! same however often a delivery is retried.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! event_types {
    ($($(#[$meta:meta])* $variant:ident => $text:literal),+ $(,)?) => {
        /// A notifiable event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
        pub enum EventType {
            $($(#[$meta])* #[schema(rename = $text)] $variant,)+
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $text,)+
                }
            }
        }

        impl FromStr for EventType {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(EventType::$variant),)+
                    _ => Err(format!(
                        "unknown event `{s}`, expected one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

event_types! {
    /// A proposal waits for a person.
    Pending => "proposal.pending",
    /// Escalated to a lead (by a person or its escalation deadline).
    Escalated => "proposal.escalated",
    /// One approval counted; a second person is needed.
    AwaitingSecond => "proposal.awaiting_second",
    /// A reminder: most of the time to decide has passed.
    Expiring => "proposal.expiring",
    /// A person approved, rejected or halted it.
    Decided => "proposal.decided",
    /// An `auto` policy rule approved it, no person involved.
    AutoApproved => "proposal.auto_approved",
    /// Nobody decided before its deadline.
    Expired => "proposal.expired",
    /// Approved, but the agent did not start before `execute_by`.
    Lapsed => "proposal.lapsed",
    /// The agent reported that executing it failed.
    ExecutionFailed => "execution.failed",
    /// A lead froze an agent, or every agent (`agent` is `*`).
    AgentFrozen => "agent.frozen",
    /// A lead lifted a freeze.
    AgentUnfrozen => "agent.unfrozen",
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert!("proposal.approved".parse::<EventType>().is_err());
    }
}
