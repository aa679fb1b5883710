//! `GET /v1/audit?after=SEQ`: the raw chain, for auditors and `audit export`.

use crate::api::ErrorCode;
use crate::api::{AuditPage, AuditParams};
use crate::server::auth::Caller;
use crate::server::body::ApiQuery;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use axum::Json;
use axum::extract::State;

#[utoipa::path(
    get,
    operation_id = "audit_entries",
    path = "/v1/audit",
    tag = "audit",
    summary = "Audit entries after a sequence number: the hash chain, as stored",
    params(crate::api::AuditParams),
    responses(
        (status = 200, description = "Entries in order and the chain's head", body = crate::api::AuditPage),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn entries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require_reviewer()?;
    let head_seq = state.store.audit_head().await?.seq;
    let limit = crate::server::body::page_limit(p.limit, 10_000, 1000)?;
    let entries = state.store.audit_after(p.after.max(0), limit, None).await?;
    Ok(Json(AuditPage { entries, head_seq }))
}

/// `GET /v1/audit/checkpoint`: the head, signed by the server's key.
#[utoipa::path(
    get,
    operation_id = "audit_checkpoint",
    path = "/v1/audit/checkpoint",
    tag = "audit",
    summary = "The chain's head signed by the server's key",
    responses(
        (status = 200, description = "A signed checkpoint", body = crate::audit::checkpoint::Checkpoint),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<crate::audit::checkpoint::Checkpoint>, ApiError> {
    caller.require_reviewer()?;
    let head = state.store.audit_head().await?;
    let cp = crate::audit::checkpoint::sign(
        &state.server_key,
        &state.server_name,
        head.seq,
        &head.hash,
        crate::domain::time::now_millis(),
    )
    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(Json(cp))
}
