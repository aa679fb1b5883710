//! `POST /v1/alerts` and `GET /v1/alerts/{id}`.

use crate::domain::records::{AlertRecord, ProposalRecord};
use crate::domain::submission;
use crate::domain::time::{now_millis, rfc3339_opt};
use crate::server::auth::Caller;
use crate::server::body::JsonBody;
use crate::server::error::ApiError;
use crate::server::metrics::StatusLabels;
use crate::server::state::AppState;
use crate::server::store::{SubmitCommand, SubmitStatus};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitResponse {
    pub status: SubmitStatus,
    pub alert_id: String,
    pub revision: u32,
    pub proposals: Vec<SubmittedProposal>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmittedProposal {
    pub id: String,
    pub index: u32,
    pub digest: String,
    pub status: crate::domain::types::ProposalStatus,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub expires_at: i64,
    #[serde(with = "rfc3339_opt")]
    pub escalate_at: Option<i64>,
    #[serde(with = "rfc3339_opt")]
    pub execute_by: Option<i64>,
}

impl From<&ProposalRecord> for SubmittedProposal {
    fn from(p: &ProposalRecord) -> Self {
        SubmittedProposal {
            id: p.id.clone(),
            index: p.index,
            digest: p.digest.clone(),
            status: p.status,
            expires_at: p.expires_at,
            escalate_at: p.escalate_at,
            execute_by: p.execute_by,
        }
    }
}

pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    caller.require_agent()?;
    let valid = submission::parse(body)?;
    let outcome = state
        .store
        .submit(SubmitCommand {
            agent: caller.name,
            submission: valid,
            policy: state.policy(),
            now: now_millis(),
        })
        .await?;
    let label = match outcome.status {
        SubmitStatus::Created => "created",
        SubmitStatus::Unchanged => "unchanged",
        SubmitStatus::Revised => "revised",
    };
    state
        .metrics
        .submissions
        .get_or_create(&StatusLabels {
            status: label.into(),
        })
        .inc();
    let code = if outcome.status == SubmitStatus::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        code,
        Json(SubmitResponse {
            status: outcome.status,
            alert_id: outcome.alert.id,
            revision: outcome.alert.revision,
            proposals: outcome.proposals.iter().map(Into::into).collect(),
        }),
    ))
}

/// Everything the console shows for one alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertDetail {
    pub alert: AlertRecord,
    /// What an annotation signs: digest of `{"alert": document}`.
    pub digest: String,
    /// Signed notes and labels, oldest first.
    pub notes: Vec<crate::domain::records::AnnotationRecord>,
    pub proposals: Vec<ProposalRecord>,
    /// The alert's audit entries, oldest first, parsed.
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub seq: i64,
    pub hash: String,
    pub entry: Value,
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    let not_found = || ApiError::not_found(format!("alert {id} not found"));
    let (alert, proposals) = state.store.alert(&id).await?.ok_or_else(not_found)?;
    if caller
        .agent_filter()
        .is_some_and(|agent| agent != alert.agent)
    {
        return Err(not_found());
    }
    let history = state
        .store
        .audit_after(0, 10_000, Some(id.clone()))
        .await?
        .into_iter()
        .map(|e| HistoryEntry {
            seq: e.seq,
            entry: serde_json::from_str(&e.entry).unwrap_or(Value::String(e.entry)),
            hash: e.hash,
        })
        .collect();
    let notes = state.store.annotations(&id).await?;
    let digest = crate::domain::digest::alert_digest(&alert.document)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(Json(AlertDetail {
        alert,
        digest,
        notes,
        proposals,
        history,
    }))
}
