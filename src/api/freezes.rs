//! `GET /v1/freezes` and `POST /v1/freezes` (a signed freeze or unfreeze,
//! sent as a `SignedDecision`).

pub use crate::domain::freeze::{ALL_AGENTS, Freeze, FreezeMode};
use crate::domain::records::AuditEntry;
use serde::{Deserialize, Serialize};

/// What is frozen now: to a person every freeze, to an agent those that
/// stop it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FreezeList {
    pub freezes: Vec<Freeze>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FreezeAccepted {
    /// The audit entry that records it.
    pub audit: AuditEntry,
    /// `agent_frozen` or `agent_unfrozen`.
    pub event: String,
    /// Every freeze in force after it.
    pub freezes: Vec<Freeze>,
}
