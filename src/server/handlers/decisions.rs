//! `POST /v1/decisions`: a signed decision or annotation.
//!
//! The payload's exact bytes are verified and stored; the principal in it
//! must be the session's and the signer's; the digest must be current; the
//! nonce must be new; then the state machine and policy decide.

use crate::api::DecisionAccepted;
use crate::api::ErrorCode;
use crate::domain::machine::{self, Actor, Event};
use crate::domain::time::{now_millis, parse_rfc3339};
use crate::server::auth::Caller;
use crate::server::body::{JsonBody, strict, typed};
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::{AnnotateCommand, DecideCommand, SignedBlob};
use crate::signing::allowed_signers::KeyProblem;
use crate::signing::payload::{DecisionPayload, SignedDecision, nonce_ok};
use crate::signing::{self, NS_DECISION, SigError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// The largest group a console may decide at once.
pub const MAX_GROUP: u32 = 500;
/// How far in the future `signed_at` may be (clock skew).
const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;
/// How old a signed decision may be when it arrives (an outbox that waited
/// out an outage); stale digests and nonces still guard it.
const MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;

fn key_error(p: KeyProblem) -> ApiError {
    let message = p.to_string();
    match p {
        KeyProblem::UnknownKey => ApiError::new(ErrorCode::UnknownKey, message),
        KeyProblem::WrongPrincipal(_) => ApiError::new(ErrorCode::PrincipalMismatch, message),
        KeyProblem::NamespaceNotAllowed(_) => {
            ApiError::new(ErrorCode::NamespaceNotAllowed, message)
        }
        KeyProblem::NotYetValid => ApiError::new(ErrorCode::KeyNotYetValid, message),
        KeyProblem::Expired => ApiError::new(ErrorCode::KeyExpired, message),
    }
}

fn sig_error(e: SigError) -> ApiError {
    let message = e.to_string();
    match e {
        SigError::WrongNamespace { .. } => ApiError::new(ErrorCode::WrongNamespace, message),
        SigError::Malformed(_) | SigError::Invalid => {
            ApiError::new(ErrorCode::BadSignature, message)
        }
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
    strict(signed.payload.as_bytes()).map_err(|e| ApiError {
        message: format!("payload: {}", e.message),
        ..e
    })?;
    let p: DecisionPayload = serde_json::from_str(&signed.payload)
        .map_err(|e| ApiError::new(ErrorCode::InvalidPayload, format!("payload: {e}")))?;
    if p.v != 1 || p.kind != "decision" {
        return Err(ApiError::new(
            ErrorCode::InvalidPayload,
            "payload: expected v = 1, kind = \"decision\"",
        ));
    }
    if p.principal != caller.name {
        return Err(ApiError::new(
            ErrorCode::PrincipalMismatch,
            format!(
                "the payload is signed as `{}` but the session is `{}`",
                p.principal, caller.name
            ),
        ));
    }
    let now = now_millis();
    let key = signing::verify(&signed.signature, signed.payload.as_bytes(), NS_DECISION)
        .map_err(sig_error)?;
    state
        .signers()
        .check(&p.principal, key.key_data(), NS_DECISION, now)
        .map_err(key_error)?;
    if !nonce_ok(&p.nonce) {
        return Err(ApiError::new(
            ErrorCode::InvalidPayload,
            "nonce: 32 lowercase hex digits (128 bits)",
        ));
    }
    let signed_at = parse_rfc3339(&p.signed_at).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidPayload, "signed_at: not an RFC 3339 time")
    })?;
    if signed_at > now + MAX_FUTURE_MS || signed_at < now - MAX_AGE_MS {
        return Err(ApiError::new(
            ErrorCode::ClockSkew,
            "signed_at is more than 5 minutes ahead of the server or older than 7 days; check the clock",
        ));
    }
    if let Some(problem) = p
        .review
        .problem(p.verdict, p.proposal_id.is_some(), MAX_GROUP)
    {
        return Err(ApiError::new(ErrorCode::InvalidReview, problem));
    }
    if p.reason.len() > 16 * 1024 || p.review.panes.len() > 16 {
        return Err(ApiError::new(
            ErrorCode::InvalidPayload,
            "reason or review too long",
        ));
    }
    let blob = SignedBlob {
        payload: signed.payload.clone(),
        signature: signed.signature.clone(),
        nonce: p.nonce.clone(),
    };
    let accepted = match (p.verdict.as_verdict(), &p.proposal_id, &p.alert_id) {
        (Some(verdict), Some(proposal_id), None) => {
            // One policy for the role and the rule: a reload between two
            // reads would judge them under different policies.
            let policy = state.policy();
            let role = policy.role_of(&p.principal);
            let out = state
                .store
                .decide(DecideCommand {
                    proposal_id: proposal_id.clone(),
                    actor: Actor::Person {
                        principal: p.principal.clone(),
                        role,
                        key: Some(signing::fingerprint(&key)),
                    },
                    verdict,
                    reason: p.reason.clone(),
                    digest: p.digest.clone(),
                    policy,
                    now,
                    signed: Some(blob),
                    group: p.review.group.map(|g| g.size),
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
                .annotate(AnnotateCommand {
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
