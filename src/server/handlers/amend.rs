//! An approval as amended: the narrowed document is built from the stored
//! proposal, checked to narrow it (`domain::amend`), digested and judged
//! here, before the store; the store checks the proposal is still the one
//! it was built from (its digest) as it applies it.

use crate::api::ErrorCode;
use crate::domain::amend::{self, Amended, NotNarrower};
use crate::domain::policy::Policy;
use crate::domain::risk;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::ops::{AlertById, ProposalById};
use crate::signing::payload::DecisionPayload;
use crate::workflow::Amendment;
use std::sync::Arc;

fn not_narrower(e: NotNarrower) -> ApiError {
    ApiError::new(ErrorCode::NotNarrower, e.to_string())
        .with_detail(serde_json::json!({"field": e.field}))
}

/// The amendment `p` asks for on `proposal_id`, if it asks for one.
pub async fn of(
    state: &AppState,
    p: &DecisionPayload,
    proposal_id: &str,
    policy: &Arc<Policy>,
    now: i64,
) -> Result<Option<Amendment>, ApiError> {
    let (Some(amend), Some(signed_digest)) = (&p.amend, &p.amended_digest) else {
        return Ok(None);
    };
    let not_found = || ApiError::not_found(format!("proposal {proposal_id} not found"));
    let stored = state
        .store
        .run(ProposalById(proposal_id.to_owned()))
        .await?
        .ok_or_else(not_found)?;
    if stored.digest != p.digest {
        return Err(ApiError::new(
            ErrorCode::StaleDigest,
            format!(
                "the proposal changed since it was shown: current digest is {}",
                stored.digest
            ),
        )
        .with_detail(serde_json::json!({"current_digest": stored.digest})));
    }
    let (alert, _) = state
        .store
        .run(AlertById(stored.alert_id.clone()))
        .await?
        .ok_or_else(not_found)?;
    let (document, mut changed) = amend::apply(&stored.document, amend).map_err(not_narrower)?;
    let proposed = amend::submission(&alert.document, &stored.document).map_err(not_narrower)?;
    let amended = amend::submission(&alert.document, &document).map_err(not_narrower)?;
    let (proposed, amended) = (&proposed.proposals[0], &amended.proposals[0]);
    amend::narrows(&stored, &proposed.fields, &amended.fields).map_err(not_narrower)?;
    if &amended.digest != signed_digest {
        return Err(ApiError::new(
            ErrorCode::InvalidPayload,
            format!(
                "amended_digest: the amended document's digest is {}, the payload signs {signed_digest}",
                amended.digest
            ),
        ));
    }
    // Amended again: what the agent proposed stays the origin, and the
    // first change's `from` stays what it was.
    let original_digest = match &stored.amended {
        Some(before) => {
            for (field, was) in &before.changed {
                if let Some(now) = changed.get_mut(field) {
                    now["from"] = was["from"].clone();
                }
            }
            before.original_digest.clone()
        }
        None => stored.digest.clone(),
    };
    let (fields, policy) = (amended.fields.clone(), policy.clone());
    let judged = tokio::task::spawn_blocking(move || risk::judge(&fields, &policy))
        .await
        .map_err(|e| ApiError::internal(format!("judging the amendment: {e}")))?;
    Ok(Some(Amendment {
        document: amended.document.clone(),
        digest: amended.digest.clone(),
        target: amended.fields.target.clone(),
        judged,
        amended: Amended {
            by: p.principal.clone(),
            at: now,
            original_digest,
            changed,
        },
    }))
}
