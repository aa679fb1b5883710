//! `POST /v1/decisions`: the request is a `SignedDecision`.

use super::proposals::DecisionView;
use crate::domain::records::AuditEntry;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionAccepted {
    /// The audit entry that records it.
    pub audit: AuditEntry,
    /// For proposal verdicts, the proposal as it is now.
    pub proposal: Option<DecisionView>,
    /// The state-machine event (`approved`, `approval_counted`, …) or
    /// `annotated`.
    pub event: String,
}
