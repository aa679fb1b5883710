//! `POST /v1/decisions`: a signed decision or annotation.
//!
//! The payload's exact bytes are verified and stored; the principal in it
//! must be the session's and the signer's; the digest must be current; the
//! nonce must be new; then the state machine and policy decide.

use crate::api::DecisionAccepted;
use crate::api::ErrorCode;
use crate::domain::machine::{self, Actor, Event};
use crate::domain::time::now_millis;
use crate::server::auth::Caller;
use crate::server::body::{JsonBody, json_problem, typed};
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::signing::allowed_signers::KeyProblem;
use crate::signing::decision::{self, Accepted, Refused};
use crate::signing::payload::SignedDecision;
use crate::signing::{self, SigError};
use crate::workflow::{AnnotateCommand, DecideCommand, SignedBlob};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// Each refusal's error code.
pub fn refused(r: Refused) -> ApiError {
    let message = r.to_string();
    match r {
        Refused::Json(p) => json_problem(&p, message),
        Refused::Payload(_) => ApiError::new(ErrorCode::InvalidPayload, message),
        Refused::NotTheSession { .. } => ApiError::new(ErrorCode::PrincipalMismatch, message),
        Refused::Signature(e) => match e {
            SigError::WrongNamespace { .. } => ApiError::new(ErrorCode::WrongNamespace, message),
            SigError::Malformed(_) | SigError::Invalid | SigError::NoUserPresence => {
                ApiError::new(ErrorCode::BadSignature, message)
            }
        },
        Refused::Key(p) => match p {
            KeyProblem::UnknownKey
            | KeyProblem::UnknownAuthority(_)
            | KeyProblem::CertificateRefused(_) => ApiError::new(ErrorCode::UnknownKey, message),
            KeyProblem::WrongPrincipal(_) | KeyProblem::CertificateNotForPrincipal(..) => {
                ApiError::new(ErrorCode::PrincipalMismatch, message)
            }
            KeyProblem::NamespaceNotAllowed(_) => {
                ApiError::new(ErrorCode::NamespaceNotAllowed, message)
            }
            KeyProblem::NotYetValid | KeyProblem::CertificateNotYetValid(_) => {
                ApiError::new(ErrorCode::KeyNotYetValid, message)
            }
            KeyProblem::Expired | KeyProblem::CertificateExpired(_) => {
                ApiError::new(ErrorCode::KeyExpired, message)
            }
        },
        Refused::ClockSkew => ApiError::new(ErrorCode::ClockSkew, message),
        Refused::Review(_) => ApiError::new(ErrorCode::InvalidReview, message),
    }
}

#[utoipa::path(
    post,
    operation_id = "post_decision",
    path = "/v1/decisions",
    tag = "console",
    summary = "A decision signed with the person's SSH key (SSHSIG, namespace countersign-decision)",
    description = "The payload is the exact JSON text that was signed: its digest must be the proposal's current digest. Person sessions only.",
    request_body(content = crate::api::SignedDecision, content_type = "application/json"),
    responses(
        (status = 201, description = "Recorded: the audit entry and the proposal as it is now", body = crate::api::DecisionAccepted),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<DecisionAccepted>), ApiError> {
    caller.require_person()?;
    let signed: SignedDecision = typed(body)?;
    let now = now_millis();
    let Accepted { payload: p, key } =
        decision::accept(&signed, &caller.name, &state.signers(), now).map_err(refused)?;
    let blob = SignedBlob {
        payload: signed.payload,
        signature: signed.signature,
        nonce: p.nonce.clone(),
    };
    if p.verdict == crate::signing::payload::PayloadVerdict::Revert {
        let accepted = super::revert::post(&state, &p, &key, blob, now).await?;
        return Ok((StatusCode::CREATED, Json(accepted)));
    }
    if p.verdict == crate::signing::payload::PayloadVerdict::Extend {
        let accepted = super::revert::extend(&state, &p, blob, now).await?;
        return Ok((StatusCode::CREATED, Json(accepted)));
    }
    let accepted = match (p.verdict.as_verdict(), &p.proposal_id, &p.alert_id) {
        (Some(verdict), Some(proposal_id), None) => {
            // One policy for the role and the rule: a reload between two
            // reads would judge them under different policies.
            let policy = state.policy();
            let role = policy.role_of(&p.principal);
            let amendment = super::amend::of(&state, &p, proposal_id, &policy, now).await?;
            let out = state
                .store
                .run(DecideCommand {
                    proposal_id: proposal_id.clone(),
                    actor: Actor::Person {
                        principal: p.principal.clone(),
                        role,
                        key: Some(signing::fingerprint(&key)),
                        hardware: signing::is_hardware(&key),
                    },
                    verdict,
                    reason: p.reason.clone(),
                    digest: p.digest.clone(),
                    policy,
                    now,
                    signed: Some(blob),
                    group: p.review.group.map(|g| g.size),
                    amendment,
                })
                .await?;
            if matches!(
                out.event,
                Event::Approved | Event::Rejected | Event::Escalated
            ) {
                state.metrics.observe_decision(out.proposal.created_at, now);
            }
            DecisionAccepted {
                audit: out.audit,
                proposal: Some((&out.proposal).into()),
                event: out.event.as_str().to_owned(),
            }
        }
        (None, None, Some(alert_id)) => {
            if !machine::reason_ok(&p.reason) && p.labels.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::ReasonRequired,
                    "an annotation needs a note of at least two characters or a label",
                ));
            }
            let out = state
                .store
                .run(AnnotateCommand {
                    alert_id: alert_id.clone(),
                    principal: p.principal.clone(),
                    note: p.reason.clone(),
                    labels: p.labels.clone(),
                    digest: p.digest.clone(),
                    now,
                    signed: blob,
                })
                .await?;
            DecisionAccepted {
                audit: out.audit,
                proposal: None,
                event: "annotated".into(),
            }
        }
        (Some(_), _, _) => {
            return Err(ApiError::new(
                ErrorCode::InvalidPayload,
                "a verdict on a proposal needs proposal_id and no alert_id",
            ));
        }
        (None, _, _) => {
            return Err(ApiError::new(
                ErrorCode::InvalidPayload,
                "annotate needs alert_id and no proposal_id",
            ));
        }
    };
    Ok((StatusCode::CREATED, Json(accepted)))
}
