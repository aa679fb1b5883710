//! `/healthz` and `/metrics`: unauthenticated, content-free.

use crate::api::ErrorCode;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::ops::{AuditHead, DeliveryStats, StatusCounts};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// `GET /healthz`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the answer is 200.
    pub status: String,
    /// The audit chain's head sequence number.
    pub audit_head_seq: i64,
}

/// Live and able to read the database.
#[utoipa::path(
    get,
    operation_id = "healthz",
    path = "/healthz",
    tag = "ops",
    summary = "Live and able to read the database",
    responses(
        (status = 200, description = "Healthy, with the audit chain's head", body = Health),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(())
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let head = state.store.run(AuditHead).await?;
    Ok(Json(json!({"status": "ok", "audit_head_seq": head.seq})))
}

#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "ops",
    summary = "Prometheus metrics (OpenMetrics text)",
    responses(
        (status = 200, description = "Counters and gauges", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(())
)]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let counts = state.store.run(StatusCounts).await?;
    state.metrics.set_counts(&counts);
    state
        .metrics
        .audit_head
        .set(state.store.run(AuditHead).await?.seq);
    state.metrics.set_writes(state.store.write_stats());
    let deliveries = state.store.run(DeliveryStats).await?;
    state.metrics.set_deliveries(
        &state.notify_sinks,
        &deliveries,
        crate::domain::time::now_millis(),
    );
    let body = state
        .metrics
        .encode()
        .map_err(|_| ApiError::new(ErrorCode::Internal, "cannot encode metrics"))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    ))
}
