//! A lead's freeze or unfreeze: which freeze it puts in force or lifts,
//! and the audit entry that records it with the signed payload.

use super::{FreezeCommand, StoreError};
use crate::audit::chain::{NewEntry, actor_person};
use crate::domain::freeze::{ALL_AGENTS, Freeze};
use serde_json::json;

/// What a freeze command changes.
#[derive(Debug, Clone, PartialEq)]
pub enum FreezeChange {
    /// In force from the entry that records it (its `seq` set on write).
    Put(Freeze),
    /// The freeze of this agent (or `*`) lifted.
    Lift(String),
}

/// The change `cmd` makes to the freezes in force (`current`), and its
/// entry. Freezing a frozen agent again replaces its freeze (another mode
/// or reason, by whoever signed last); lifting a freeze that is not in
/// force is refused.
pub fn freeze(
    current: &[Freeze],
    cmd: &FreezeCommand,
) -> Result<(FreezeChange, NewEntry), StoreError> {
    let mut data = json!({
        "agent": cmd.agent,
        "reason": cmd.reason,
        "payload": cmd.signed.payload,
        "signature": cmd.signed.signature,
        "nonce": cmd.signed.nonce,
    });
    let (kind, change) = match cmd.mode {
        Some(mode) => {
            data["mode"] = json!(mode);
            let f = Freeze {
                agent: cmd.agent.clone(),
                mode,
                by: cmd.principal.clone(),
                reason: cmd.reason.clone(),
                since: cmd.now,
                seq: 0,
            };
            ("agent_frozen", FreezeChange::Put(f))
        }
        None => {
            let Some(was) = current.iter().find(|f| f.agent == cmd.agent) else {
                return Err(StoreError::NotFrozen(if cmd.agent == ALL_AGENTS {
                    "`*` (every agent)".to_owned()
                } else {
                    format!("agent {}", cmd.agent)
                }));
            };
            data["lifted"] = json!({"mode": was.mode, "by": was.by, "seq": was.seq});
            ("agent_unfrozen", FreezeChange::Lift(cmd.agent.clone()))
        }
    };
    let entry = NewEntry {
        at: cmd.now,
        kind,
        alert_id: None,
        proposal_id: None,
        actor: actor_person(&cmd.principal),
        data,
    };
    Ok((change, entry))
}
