//! `GET /v1/freezes` (what is frozen) and `POST /v1/freezes` (a lead's
//! signed freeze or unfreeze of one agent, or of every agent).

use super::decisions::refused;
use crate::api::{ErrorCode, FreezeAccepted, FreezeList};
use crate::domain::freeze::Freeze;
use crate::domain::machine;
use crate::domain::time::now_millis;
use crate::domain::types::Role;
use crate::server::auth::Caller;
use crate::server::body::{JsonBody, typed};
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::ops::Freezes;
use crate::signing::freeze;
use crate::signing::payload::SignedDecision;
use crate::workflow::{FreezeCommand, SignedBlob};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::Arc;

/// The freeze that stops `agent`, as agents are told of it.
pub async fn of(state: &AppState, agent: &str) -> Result<Option<Freeze>, ApiError> {
    Ok(state.freezes.of(state.store.as_ref(), agent).await?)
}

#[utoipa::path(
    get,
    operation_id = "list_freezes",
    path = "/v1/freezes",
    tag = "console",
    summary = "What is frozen: every freeze to a person or reviewer; to an agent, those that stop it",
    responses(
        (status = 200, description = "The freezes in force", body = crate::api::FreezeList),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<FreezeList>, ApiError> {
    let mut freezes: Vec<Freeze> = state.store.run(Freezes).await?;
    state.freezes.set(Arc::new(freezes.clone()));
    if let Some(agent) = caller.agent_filter() {
        freezes.retain(|f| f.covers(&agent));
    }
    Ok(Json(FreezeList { freezes }))
}

#[utoipa::path(
    post,
    operation_id = "post_freeze",
    path = "/v1/freezes",
    tag = "console",
    summary = "A lead's signed freeze or unfreeze of one agent or every agent (SSHSIG, namespace countersign-decision)",
    description = "The payload is the exact JSON text that was signed: `{\"v\":1,\"kind\":\"freeze\"|\"unfreeze\",\"agent\":NAME|\"*\",\"mode\":\"no_auto\"|\"hold\" (freeze only),\"reason\",\"principal\",\"signed_at\",\"nonce\"}`. `no_auto`: policy approves nothing for the agent, everything waits for people. `hold`: also nothing approved may start (`started` is refused with `agent_frozen`, executors are not called, the gateway forwards nothing). Leads only; a reason is required.",
    request_body(content = crate::api::SignedDecision, content_type = "application/json"),
    responses(
        (status = 201, description = "Recorded: the audit entry and every freeze now in force", body = crate::api::FreezeAccepted),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<FreezeAccepted>), ApiError> {
    caller.require_person()?;
    let signed: SignedDecision = typed(body)?;
    let now = now_millis();
    let (p, _key) =
        freeze::accept(&signed, &caller.name, &state.signers(), now).map_err(refused)?;
    if state.policy().role_of(&p.principal) != Role::Lead {
        return Err(ApiError::new(
            ErrorCode::LeadRequired,
            "only a lead may freeze or unfreeze an agent (the policy's [roles] leads)",
        ));
    }
    if !machine::reason_ok(&p.reason) {
        return Err(ApiError::new(
            ErrorCode::ReasonRequired,
            "a freeze or an unfreeze needs a reason of at least two characters",
        ));
    }
    let out = state
        .store
        .run(FreezeCommand {
            agent: p.agent.clone(),
            mode: p.mode,
            principal: p.principal.clone(),
            reason: p.reason.clone(),
            now,
            signed: SignedBlob {
                nonce: p.nonce.clone(),
                payload: signed.payload,
                signature: signed.signature,
            },
        })
        .await?;
    state.freezes.set(Arc::new(out.freezes.clone()));
    tracing::warn!(agent = %p.agent, mode = ?p.mode, by = %p.principal, event = out.event, "freeze");
    Ok((
        StatusCode::CREATED,
        Json(FreezeAccepted {
            audit: out.audit,
            event: out.event.to_owned(),
            freezes: out.freezes,
        }),
    ))
}
