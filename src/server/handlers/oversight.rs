//! `GET /v1/oversight`: the lead's view, from the signed record.

use crate::api::ErrorCode;
use crate::api::oversight::{Oversight, OversightParams};
use crate::domain::time::{now_millis, parse_when};
use crate::domain::types::Role;
use crate::server::auth::{Caller, CallerKind};
use crate::server::body::ApiQuery;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::ops::OversightOver;
use axum::Json;
use axum::extract::State;

/// The default window: the last day.
const DEFAULT_SINCE: &str = "24h";

#[utoipa::path(
    get,
    operation_id = "oversight",
    path = "/v1/oversight",
    tag = "console",
    summary = "Per analyst, per agent and per policy rule figures over a window (leads only)",
    description = "Computed from the audit log: decisions, median review time, high-risk approvals signed without opening the diff or evidence, approvals later halted or failed, second reviews that disagreed; proposals and outcomes per agent; what each auto rule approved alone and what sampled review found.",
    params(OversightParams),
    responses(
        (status = 200, description = "The figures", body = Oversight),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn oversight(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<OversightParams>,
) -> Result<Json<Oversight>, ApiError> {
    match caller.kind {
        CallerKind::Person => {}
        CallerKind::Agent => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "the oversight view is for leads; agent tokens cannot read it",
            ));
        }
        CallerKind::Reviewer => {
            return Err(ApiError::new(
                ErrorCode::LoginRequired,
                "the oversight view is for leads: log in with your SSH key (POST /v1/session)",
            ));
        }
    }
    if state.policy().role_of(&caller.name) != Role::Lead {
        return Err(ApiError::new(
            ErrorCode::LeadRequired,
            "the oversight view is for leads (named in the policy's [roles] leads)",
        ));
    }
    let now = now_millis();
    let when = |field: &str, text: &str| {
        parse_when(text, now).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!("{field}: an RFC 3339 time or a span back from now such as 30m, 24h, 7d"),
            )
        })
    };
    let since = when("since", params.since.as_deref().unwrap_or(DEFAULT_SINCE))?;
    let until = match params.until.as_deref() {
        Some(t) => when("until", t)?,
        None => now.saturating_add(1),
    };
    if since >= until {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "since must be before until",
        ));
    }
    Ok(Json(state.store.run(OversightOver { since, until }).await?))
}
