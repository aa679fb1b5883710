//! `POST /v1/alerts` and `GET /v1/alerts/{id}`.

use crate::domain::records::{AlertRecord, AnnotationRecord, ProposalRecord};
use crate::domain::time::{rfc3339, rfc3339_opt};
use crate::domain::types::{ProposalStatus, Risk};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a submission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubmitStatus {
    /// A new alert (201).
    Created,
    /// The same external id with the same content: the same ids (200).
    Unchanged,
    /// The same external id with new content: open proposals revised (200).
    Revised,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmitResponse {
    pub status: SubmitStatus,
    pub alert_id: String,
    pub revision: u32,
    pub proposals: Vec<SubmittedProposal>,
    /// The freeze that stops this agent, if a lead froze it: policy
    /// approved none of these proposals, and under `hold` nothing approved
    /// may start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<crate::domain::freeze::Freeze>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmittedProposal {
    pub id: String,
    pub index: u32,
    pub digest: String,
    pub status: ProposalStatus,
    /// The effective risk the policy ran on.
    pub risk: Risk,
    /// The agent's label, when the gate raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_risk: Option<Risk>,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub expires_at: i64,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub escalate_at: Option<i64>,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub execute_by: Option<i64>,
}

impl From<&ProposalRecord> for SubmittedProposal {
    fn from(p: &ProposalRecord) -> Self {
        SubmittedProposal {
            id: p.id.clone(),
            index: p.index,
            digest: p.digest.clone(),
            status: p.status,
            risk: p.risk,
            declared_risk: (p.declared_risk != p.risk).then_some(p.declared_risk),
            expires_at: p.expires_at,
            escalate_at: p.escalate_at,
            execute_by: p.execute_by,
        }
    }
}

/// Everything the console shows for one alert.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertDetail {
    pub alert: AlertRecord,
    /// What an annotation signs: digest of `{"alert": document}`.
    pub digest: String,
    /// Signed notes and labels, oldest first.
    pub notes: Vec<AnnotationRecord>,
    pub proposals: Vec<ProposalRecord>,
    /// The alert's audit entries, oldest first, parsed.
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub seq: i64,
    pub hash: String,
    pub entry: Value,
}
