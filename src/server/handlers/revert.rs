//! Reversing what ran: `GET /v1/proposals/{id}/revert` shows the
//! compensating proposal a revert would create; a signed `revert` verdict
//! (posted to `POST /v1/decisions`) creates it, the signature its first
//! approval.

use crate::api::{DecisionAccepted, ErrorCode, RevertPreview};
use crate::domain::machine::{self, Actor};
use crate::domain::records::ProposalRecord;
use crate::domain::revert::compensating;
use crate::domain::risk;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::ops::{AlertById, ProposalById};
use crate::signing::payload::DecisionPayload;
use crate::workflow::{RevertCommand, SignedBlob};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::json;

#[utoipa::path(
    get,
    operation_id = "preview_revert",
    path = "/v1/proposals/{id}/revert",
    tag = "console",
    summary = "What a revert of this executed proposal would create (the compensating proposal and its digest)",
    description = "`isolate_host` is undone by `release_host`, `disable_account` by `enable_account`, `block_indicator` by `unblock_indicator`, `quarantine_file` by `restore_file`, `modify_policy` by the same change with `before` and `after` swapped, a custom kind by what the policy's `[inverses]` names. 409 `not_reversible` otherwise (a revoked token, a rotated secret, a command line), 409 `wrong_state` unless executed. Sign a `revert` verdict on the executed proposal with `revert_digest` = `digest`; the compensating proposal goes to whoever ran the original, through the same gate.",
    params(("id" = String, Path, description = "The executed proposal")),
    responses(
        (status = 200, description = "The compensating proposal it would create", body = crate::api::RevertPreview),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RevertPreview>, ApiError> {
    caller.require_reviewer()?;
    let not_found = || ApiError::not_found(format!("proposal {id} not found"));
    let original = state
        .store
        .run(ProposalById(id.clone()))
        .await?
        .ok_or_else(not_found)?;
    if original.status != crate::domain::types::ProposalStatus::Executed {
        return Err(ApiError::from(machine::Refusal::WrongState {
            verb: "revert",
            status: original.status,
        }));
    }
    let (alert, _) = state
        .store
        .run(AlertById(original.alert_id.clone()))
        .await?
        .ok_or_else(not_found)?;
    let policy = state.policy();
    let sub = compensating(&alert, &original, &policy)
        .map_err(|e| ApiError::new(ErrorCode::NotReversible, e.to_string()))?;
    let p = &sub.proposals[0];
    let judged = risk::judge(&p.fields, &policy);
    Ok(Json(RevertPreview {
        reverts: original.id,
        action: p.fields.action.to_string(),
        target: p.fields.target.clone(),
        risk: judged.risk,
        rule: judged.rule.name.clone(),
        approvals: judged.rule.approvals.max(1),
        role: judged.rule.role,
        document: json!({"alert": sub.alert_document, "proposal": p.document}),
        digest: p.digest.clone(),
    }))
}

/// A signed `revert`, accepted by `POST /v1/decisions`: a reason, and the
/// store does the rest in one transaction.
pub async fn post(
    state: &AppState,
    p: &DecisionPayload,
    key: &ssh_key::PublicKey,
    blob: SignedBlob,
    now: i64,
) -> Result<DecisionAccepted, ApiError> {
    let Some(proposal_id) = p.proposal_id.clone().filter(|_| p.alert_id.is_none()) else {
        return Err(ApiError::new(
            ErrorCode::InvalidPayload,
            "a revert names the executed proposal (proposal_id) and no alert_id",
        ));
    };
    if !machine::reason_ok(&p.reason) {
        return Err(ApiError::new(
            ErrorCode::ReasonRequired,
            "a revert needs a reason of at least two characters",
        ));
    }
    let policy = state.policy();
    let role = policy.role_of(&p.principal);
    let out = state
        .store
        .run(RevertCommand {
            proposal_id,
            digest: p.digest.clone(),
            revert_digest: p.revert_digest.clone().unwrap_or_default(),
            actor: Actor::Person {
                principal: p.principal.clone(),
                role,
                key: Some(crate::signing::fingerprint(key)),
                hardware: crate::signing::is_hardware(key),
            },
            reason: p.reason.clone(),
            policy,
            now,
            signed: blob,
            sampler: state.sampler.clone(),
        })
        .await?;
    Ok(DecisionAccepted {
        audit: out.audit,
        proposal: Some(view(&out.proposal)),
        event: out.event.as_str().to_owned(),
    })
}

fn view(p: &ProposalRecord) -> crate::api::DecisionView {
    p.into()
}

/// A signed `extend` of an executed containment: until when, and why.
pub async fn extend(
    state: &AppState,
    p: &DecisionPayload,
    blob: SignedBlob,
    now: i64,
) -> Result<DecisionAccepted, ApiError> {
    let Some(proposal_id) = p.proposal_id.clone().filter(|_| p.alert_id.is_none()) else {
        return Err(ApiError::new(
            ErrorCode::InvalidPayload,
            "an extend names the executed proposal (proposal_id) and no alert_id",
        ));
    };
    let until = p
        .contain_until
        .as_deref()
        .and_then(crate::domain::time::parse_rfc3339)
        .ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidPayload, "contain_until: an RFC 3339 time")
        })?;
    if !machine::reason_ok(&p.reason) {
        return Err(ApiError::new(
            ErrorCode::ReasonRequired,
            "an extension needs a reason of at least two characters",
        ));
    }
    let out = state
        .store
        .run(crate::workflow::ExtendCommand {
            proposal_id,
            digest: p.digest.clone(),
            principal: p.principal.clone(),
            reason: p.reason.clone(),
            until,
            now,
            signed: blob,
        })
        .await?;
    Ok(DecisionAccepted {
        audit: out.audit,
        proposal: Some(view(&out.proposal)),
        event: "containment_extended".into(),
    })
}
