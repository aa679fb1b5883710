//! `POST /v1/alerts` and `GET /v1/alerts/{id}`.

use crate::api::ErrorCode;
use crate::api::{AlertDetail, HistoryEntry, SubmitResponse, SubmitStatus};
use crate::domain::submission;
use crate::domain::time::now_millis;
use crate::server::auth::Caller;
use crate::server::body::{RawBody, json_body};
use crate::server::error::ApiError;
use crate::server::metrics::StatusLabels;
use crate::server::state::AppState;
use crate::server::store::ops::{AlertById, AnnotationsOf, AuditAfter};
use crate::workflow::SubmitCommand;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

#[utoipa::path(
    post,
    operation_id = "submit_alert",
    path = "/v1/alerts",
    tag = "agents",
    summary = "Submit an alert (or an OCSF finding) with proposed actions",
    description = "Agent tokens only. Idempotent on `external_id`: the same content again answers 200 `unchanged` with the same ids; new content revises open proposals (200 `revised`). Then wait on each proposal's decision.\n\nEach agent has a rate (`rate_limited`) and a byte budget over request bodies (`byte_budget_exceeded`, 8 MiB a minute by default): past either, 429 with `Retry-After` and nothing is stored.",
    request_body(content = crate::api::schema::AlertOrFinding, content_type = "application/json"),
    responses(
        (status = 201, description = "A new alert: its proposals, their digests, status and deadlines", body = crate::api::SubmitResponse),
        (status = 200, description = "An alert with this external id already exists: unchanged or revised", body = crate::api::SubmitResponse),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    via_mcp: Option<axum::Extension<crate::server::mcp::ViaMcp>>,
    RawBody(bytes): RawBody,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    caller.require_agent()?;
    // A tool call over /mcp was counted when it came in.
    if via_mcp.is_none() {
        state.rate_limits.submit(&caller.name)?;
    }
    // Bytes read are charged, whatever they turn out to hold.
    state.rate_limits.submit_bytes(&caller.name, bytes.len())?;
    let body = json_body(&bytes)?;
    drop(bytes);
    let valid = submission::parse(body)?;
    if valid
        .alert
        .external_id
        .starts_with(crate::domain::revert::PREFIX)
    {
        return Err(ApiError::new(
            ErrorCode::InvalidField,
            format!(
                "external_id: `{}` is reserved for the alerts the gate makes when a person reverts an action",
                crate::domain::revert::PREFIX
            ),
        )
        .with_detail(serde_json::json!({"field": "external_id"})));
    }
    for (index, p) in valid.proposals.iter().enumerate() {
        caller
            .scope
            .permits(&p.fields.action, &p.fields.target)
            .map_err(|why| {
                ApiError::new(ErrorCode::OutOfScope, why.to_string()).with_detail(
                    serde_json::json!({"index": index, "field": format!("proposals[{index}]")}),
                )
            })?;
    }
    let cmd = judged(&state, caller.name, valid).await?;
    let agent = cmd.agent.clone();
    let outcome = state.store.run(cmd).await?;
    let frozen = super::freezes::of(&state, &agent).await?;
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
            frozen,
        }),
    ))
}

/// The submission judged here, before the store (whose one writer serves
/// every agent). A permission change takes milliseconds of CPU to
/// analyse, so a submission carrying one is judged off the async workers
/// and other requests go on meanwhile; without one, judging takes
/// microseconds and is done here (handing it to a blocking thread and back
/// would cost more).
async fn judged(
    state: &AppState,
    agent: String,
    valid: submission::ValidSubmission,
) -> Result<SubmitCommand, ApiError> {
    let (policy, sampler) = (state.policy(), state.sampler.clone());
    let analyses = valid
        .proposals
        .iter()
        .any(|p| p.fields.permission_change.is_some());
    if !analyses {
        return Ok(SubmitCommand::new(
            agent,
            valid,
            policy,
            now_millis(),
            sampler,
        ));
    }
    tokio::task::spawn_blocking(move || {
        SubmitCommand::new(agent, valid, policy, now_millis(), sampler)
    })
    .await
    .map_err(|e| ApiError::internal(format!("judging the submission failed: {e}")))
}

#[utoipa::path(
    get,
    operation_id = "get_alert",
    path = "/v1/alerts/{id}",
    tag = "console",
    summary = "An alert with its proposals, signed notes and audit history",
    params(("id" = String, Path, description = "The alert id")),
    responses(
        (status = 200, description = "The alert, exactly as submitted, and everything about it", body = crate::api::AlertDetail),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    let not_found = || ApiError::not_found(format!("alert {id} not found"));
    let (alert, proposals) = state
        .store
        .run(AlertById(id.clone()))
        .await?
        .ok_or_else(not_found)?;
    if caller
        .agent_filter()
        .is_some_and(|agent| agent != alert.agent)
    {
        return Err(not_found());
    }
    let history = state
        .store
        .run(AuditAfter {
            after: 0,
            limit: 10_000,
            alert_id: Some(id.clone()),
        })
        .await?
        .into_iter()
        .map(|e| HistoryEntry {
            seq: e.seq,
            entry: serde_json::from_str(&e.entry).unwrap_or(Value::String(e.entry)),
            hash: e.hash,
        })
        .collect();
    let notes = state.store.run(AnnotationsOf(id.clone())).await?;
    let digest = crate::domain::digest::alert_digest(&alert.document)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(Json(AlertDetail {
        alert,
        digest,
        notes,
        proposals,
        history,
    }))
}
