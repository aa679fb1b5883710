//! The rules of the gate, one home for both backends: what a submission,
//! a decision, an execution report, a claim or an annotation does, as pure
//! functions over loaded records, with the commands they take and the
//! errors they give. Each returns what to write ([`Writes`]: records and the
//! audit entries that record why); the store (`server::store::ops`) loads
//! what a write reads, calls these, and writes all of it in one
//! transaction or nothing. Above `domain/` (the state machine, policy,
//! sampling, risk) and below `server/`: handlers build the commands, both
//! stores apply the rules.

mod commands;
mod decide;
mod error;
mod freeze;
pub mod notify;
mod revert;
mod submit;

pub use commands::*;
pub use decide::{annotate, claim, decide, execution, settle};
pub use error::StoreError;
pub use freeze::{FreezeChange, freeze};
pub use revert::{RevertPlan, containment_ended, extend, revert};
pub use submit::{ByPolicy, SubmitPlan, submit};

use crate::audit::chain::NewEntry;
use crate::domain::machine::Millis;
use crate::domain::records::{AlertRecord, AnnotationRecord, DecidedBy, ProposalRecord};
use serde_json::{Value, json};

/// What one request changes. `ops::apply` writes it: entries chained on
/// the head, proposals stamped with the last sequence number.
#[derive(Debug, Default)]
pub struct Writes {
    pub alert: Option<AlertRecord>,
    pub proposals: Vec<ProposalRecord>,
    pub entries: Vec<NewEntry>,
    pub annotation: Option<AnnotationRecord>,
    /// The nonce of the signed payload this change records.
    pub nonce: Option<String>,
    /// A freeze put in force or lifted.
    pub freeze: Option<FreezeChange>,
}

/// Everyone who took part in a proposal: its "mine" view.
pub fn participants(p: &ProposalRecord) -> Vec<&str> {
    let mut people: Vec<&str> = p.approvals.iter().map(|a| a.principal.as_str()).collect();
    people.extend(p.escalated_by.as_deref());
    people.extend(p.claimed_by.as_deref());
    if let Some(DecidedBy::Person { principal }) = &p.decided_by {
        people.push(principal);
    }
    people
}

/// The `policy_loaded` entry: the policy's digest and its full text, so
/// the log alone says what every later decision was judged under.
pub fn policy_loaded(cmd: &RecordPolicy) -> NewEntry {
    NewEntry {
        at: cmd.now,
        kind: "policy_loaded",
        alert_id: None,
        proposal_id: None,
        actor: crate::audit::chain::actor_server(&cmd.server),
        data: json!({
            "digest": cmd.digest,
            "text": cmd.text,
            "origin": cmd.origin,
            "reason": cmd.reason,
        }),
    }
}

/// A new record id: a UUIDv7 (time-ordered).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// An audit entry about an alert (and one of its proposals).
fn entry(
    at: Millis,
    kind: &'static str,
    alert_id: &str,
    proposal_id: Option<&str>,
    actor: Value,
    data: Value,
) -> NewEntry {
    NewEntry {
        at,
        kind,
        alert_id: Some(alert_id.to_owned()),
        proposal_id: proposal_id.map(str::to_owned),
        actor,
        data,
    }
}
