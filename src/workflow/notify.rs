//! Which changes are notifiable events: read off what a change writes (its
//! audit entries and the proposals as they are after it), so the outbox
//! row is written in the same transaction as the change, on both stores.

use super::Writes;
use crate::api::events::EventType;
use crate::domain::machine::Millis;
use crate::domain::records::ProposalRecord;
use crate::domain::time::to_rfc3339;
use crate::domain::types::ProposalStatus;
use serde_json::{Value, json};

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// The event id receivers deduplicate on.
    pub id: String,
    pub kind: EventType,
    pub at: Millis,
    /// `None` on an event about an agent (a freeze).
    pub proposal_id: Option<String>,
    pub alert_id: Option<String>,
    /// What every sink may carry: ids, action, target, risk, deadlines,
    /// who decided and why. No alert text (sinks add it if they opt in).
    pub data: Value,
}

fn kind_of(entry_kind: &str, p: &ProposalRecord) -> Option<EventType> {
    Some(match entry_kind {
        "alert_received" | "alert_revised" if p.status == ProposalStatus::Pending => {
            EventType::Pending
        }
        "approval_counted" => EventType::AwaitingSecond,
        "approved" | "rejected" | "halted" => EventType::Decided,
        "escalated" | "auto_escalated" => EventType::Escalated,
        "approved_by_policy" => EventType::AutoApproved,
        "expired" => EventType::Expired,
        "lapsed" => EventType::Lapsed,
        "execution_failed" => EventType::ExecutionFailed,
        _ => return None,
    })
}

/// An event about an agent, not a proposal: its data is the entry's
/// (the agent, the mode, who and why; no signed payload leaves the gate).
fn agent_event(entry_kind: &str) -> Option<EventType> {
    match entry_kind {
        "agent_frozen" => Some(EventType::AgentFrozen),
        "agent_unfrozen" => Some(EventType::AgentUnfrozen),
        _ => None,
    }
}

/// The data of an event about `p` as it is now.
pub fn data(p: &ProposalRecord) -> Value {
    json!({
        "proposal_id": p.id,
        "alert_id": p.alert_id,
        "action": p.action,
        "target": p.target,
        "risk": p.risk,
        "status": p.status,
        "rule": p.rule,
        "proposed_by": p.proposed_by,
        "digest": p.digest,
        "expires_at": to_rfc3339(p.expires_at),
        "execute_by": p.execute_by.map(to_rfc3339),
        "decided_by": p.decided_by,
        "reason": p.reason,
        "approvals": p.approvals.iter().map(|a| &a.principal).collect::<Vec<_>>(),
    })
}

/// The events a change causes, in the order its entries record them.
pub fn events(w: &Writes) -> Vec<OutboxEvent> {
    let mut out = Vec::new();
    for e in &w.entries {
        let touched: Vec<&ProposalRecord> = match &e.proposal_id {
            Some(id) => w.proposals.iter().filter(|p| &p.id == id).collect(),
            // An alert received or revised: each of its proposals.
            None => w.proposals.iter().collect(),
        };
        if let Some(kind) = agent_event(e.kind) {
            out.push(OutboxEvent {
                id: super::new_id(),
                kind,
                at: e.at,
                proposal_id: None,
                alert_id: None,
                data: json!({
                    "agent": e.data["agent"],
                    "mode": e.data["mode"],
                    "lifted": e.data["lifted"],
                    "by": e.actor["principal"],
                    "reason": e.data["reason"],
                }),
            });
            continue;
        }
        for p in touched {
            if let Some(kind) = kind_of(e.kind, p) {
                out.push(OutboxEvent {
                    id: super::new_id(),
                    kind,
                    at: e.at,
                    proposal_id: Some(p.id.clone()),
                    alert_id: Some(p.alert_id.clone()),
                    data: data(p),
                });
            }
        }
    }
    out
}

/// The reminder for `p`: one per proposal and deadline, whichever replica
/// writes it first (the id says which).
pub fn expiring(p: &ProposalRecord, now: Millis) -> OutboxEvent {
    OutboxEvent {
        id: format!("expiring-{}-{}", p.id, p.expires_at),
        kind: EventType::Expiring,
        at: now,
        proposal_id: Some(p.id.clone()),
        alert_id: Some(p.alert_id.clone()),
        data: data(p),
    }
}
