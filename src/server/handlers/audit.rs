//! `GET /v1/audit?after=SEQ`: the raw chain, for auditors and `audit export`.

use crate::api::ErrorCode;
use crate::api::{AuditPage, AuditParams};
use crate::server::auth::Caller;
use crate::server::body::ApiQuery;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use axum::Json;
use axum::extract::State;

pub async fn entries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require_reviewer()?;
    let head_seq = state.store.audit_head().await?.seq;
    let limit = p.limit.unwrap_or(1000).clamp(1, 10_000);
    let entries = state.store.audit_after(p.after.max(0), limit, None).await?;
    Ok(Json(AuditPage { entries, head_seq }))
}

/// `GET /v1/audit/checkpoint`: the head, signed by the server's key.
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
