//! The agent's side of a proposal: wait for the decision, fetch the
//! approval receipt, report execution.

use super::wait;
use crate::api::ErrorCode;
use crate::api::{
    CLAIM_TTL_MS, ClaimRequest, ClaimView, DecisionView, ExecutionReport, SignedReceipt, WaitQuery,
};
use crate::domain::freeze::Freeze;
use crate::domain::records::ProposalRecord;
use crate::domain::time::now_millis;
use crate::server::auth::Caller;
use crate::server::body::{ApiQuery, JsonBody, typed};
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::ops::{AlertById, ProposalById, ProposalsByExternal};
use crate::workflow::ExecutionCommand;
use axum::Json;
use axum::extract::{Path, State};

async fn load(state: &AppState, caller: &Caller, id: &str) -> Result<ProposalRecord, ApiError> {
    let not_found = || ApiError::not_found(format!("proposal {id} not found"));
    let p = state
        .store
        .run(ProposalById(id.to_owned()))
        .await?
        .ok_or_else(not_found)?;
    if caller
        .agent_filter()
        .is_some_and(|agent| agent != p.proposed_by)
    {
        return Err(not_found());
    }
    Ok(p)
}

/// `GET /v1/proposals/{id}/decision?wait=SECS`: returns at once when the
/// proposal is decided, else when it is or the wait runs out.
#[utoipa::path(
    get,
    operation_id = "wait_for_decision",
    path = "/v1/proposals/{id}/decision",
    tag = "agents",
    summary = "Wait for a proposal's decision (long-poll)",
    description = "Answers at once when the proposal is decided, else when it changes or `wait` runs out. Act only when `status` is `approved`; report `started` before `execute_by`.\n\n`wait` is capped by the server's `max_wait` (300 s by default). Behind a load balancer keep `wait` below its idle timeout (60 s on an AWS ALB by default), or the balancer cuts the request first. Each caller may hold `max_waits_per_agent` long-polls (32 by default) open at once; one more is refused with 429 `too_many_waits` and `Retry-After`.",
    params(("id" = String, Path, description = "The proposal id"), crate::api::WaitQuery),
    responses(
        (status = 200, description = "Where the proposal is now", body = crate::api::DecisionView),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn decision(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Json<DecisionView>, ApiError> {
    let deadline = wait::deadline(q.wait, state.limits.max_wait)?;
    let _slot = wait::slot(&state, &caller.name, deadline)?;
    // Subscribe before reading, so a decision between the two is not missed.
    let mut rx = state.store.subscribe();
    let _waiting = state.metrics.waiting();
    let mut told: Option<Option<Freeze>> = None;
    loop {
        let p = load(&state, &caller, &id).await?;
        let view = as_told(&state, &p).await?;
        let frozen = view.frozen.clone();
        // Decided and free to act, or a freeze put on or lifted while it
        // waited: the agent is told at once, not when the wait runs out.
        let news = told.as_ref().is_some_and(|was| *was != frozen);
        if (!p.status.is_open() && !view.held()) || news {
            return Ok(Json(view));
        }
        told = Some(frozen);
        let touched = wait::changed(&mut rx, deadline, &state.shutdown, |cs| {
            cs.proposals.iter().any(|c| c == &id)
        });
        if !touched.await {
            return Ok(Json(view_of(&state, &caller, &id).await?));
        }
        // Everyone was told to re-read: a freeze may have changed.
        state.freezes.forget();
    }
}

/// The proposal as an agent is told of it, with the freeze on its agent.
async fn view_of(state: &AppState, caller: &Caller, id: &str) -> Result<DecisionView, ApiError> {
    let p = load(state, caller, id).await?;
    as_told(state, &p).await
}

/// `p` with what its agent must know: the freeze that stops it, and
/// (executed) the proposal that reverts it.
async fn as_told(state: &AppState, p: &ProposalRecord) -> Result<DecisionView, ApiError> {
    let frozen = super::freezes::of(state, &p.proposed_by).await?;
    let mut view = DecisionView::from(p).frozen(frozen);
    if p.status == crate::domain::types::ProposalStatus::Executed {
        let external = crate::domain::revert::external_id(&p.id);
        view.reverted_by = state
            .store
            .run(ProposalsByExternal {
                agent: p.proposed_by.clone(),
                external_id: external.clone(),
            })
            .await?
            .into_iter()
            .next()
            .map(|r| r.id);
    }
    Ok(view)
}

/// `POST /v1/proposals/{id}/claim` (`{"release": true}` to give it up):
/// tells other analysts who is working on it. A decision releases it.
#[utoipa::path(
    post,
    operation_id = "claim_proposal",
    path = "/v1/proposals/{id}/claim",
    tag = "console",
    summary = "Tell other analysts you are working on a proposal (a lease)",
    params(("id" = String, Path, description = "The proposal id")),
    request_body(content = crate::api::ClaimRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Who holds the claim, until when", body = crate::api::ClaimView),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<ClaimView>, ApiError> {
    caller.require_person()?;
    let req: ClaimRequest = typed(body)?;
    let p = state
        .store
        .run(crate::server::store::ClaimCommand {
            proposal_id: id,
            principal: caller.name,
            release: req.release,
            ttl_ms: CLAIM_TTL_MS,
            now: now_millis(),
        })
        .await?;
    Ok(Json(ClaimView {
        proposal_id: p.id,
        claimed_by: p.claimed_by,
        claim_until: p.claim_until,
    }))
}

/// `POST /v1/proposals/{id}/execution` with `{"state": "started"}`, then
/// `{"state": "executed"|"failed", "detail": "..."}`.
#[utoipa::path(
    post,
    operation_id = "report_execution",
    path = "/v1/proposals/{id}/execution",
    tag = "agents",
    summary = "Report execution of an approved proposal: started, then executed or failed",
    params(("id" = String, Path, description = "The proposal id")),
    request_body(content = crate::api::ExecutionReport, content_type = "application/json"),
    responses(
        (status = 200, description = "The proposal after the report", body = crate::api::DecisionView),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    via_gateway: Option<axum::Extension<crate::server::mcp::ViaGateway>>,
    JsonBody(body): JsonBody,
) -> Result<Json<DecisionView>, ApiError> {
    caller.require_agent()?;
    let report: ExecutionReport = typed(body)?;
    if let ExecutionReport::Executed { detail } | ExecutionReport::Failed { detail } = &report
        && detail.len() > 64 * 1024
    {
        return Err(ApiError::new(
            ErrorCode::InvalidField,
            "detail: longer than 64 KiB",
        ));
    }
    let p = load(&state, &caller, &id).await?;
    if let Some(x) = state.issuer.executor_for(p.action.as_str()) {
        return Err(ApiError::new(
            ErrorCode::ExecutorOwned,
            format!(
                "`{}` is run by the gate's executor `{}`, which reports its outcome; an agent may not",
                p.action, x.name
            ),
        ));
    }
    if via_gateway.is_none() && gateway_forwards(&state, &p).await? {
        return Err(ApiError::new(
            ErrorCode::GatewayOwned,
            "this call was made through /mcp/gateway, which forwards it and reports its outcome; an agent may not",
        ));
    }
    if let ExecutionReport::Started {
        receipt_id: Some(given),
    } = &report
    {
        let issued = receipt_of(&state, &p).await?;
        if &issued.receipt_id != given {
            return Err(ApiError::new(
                ErrorCode::ReceiptMismatch,
                format!("receipt {given} is not this proposal's receipt"),
            ));
        }
    }
    let p = state
        .store
        .run(ExecutionCommand {
            proposal_id: id,
            agent: caller.name,
            executor: None,
            report,
            now: now_millis(),
            contain_for_secs: state.issuer.contain_for_secs(&p),
        })
        .await?;
    Ok(Json((&p).into()))
}

/// Whether `p` is a tool call made through `/mcp/gateway` (its alert says
/// so; only that gateway makes such alerts for an `mcp:` action).
async fn gateway_forwards(state: &AppState, p: &ProposalRecord) -> Result<bool, ApiError> {
    if !p.action.as_str().starts_with("mcp:") {
        return Ok(false);
    }
    let alert = state.store.run(AlertById(p.alert_id.clone())).await?;
    Ok(alert.is_some_and(|(a, _)| a.document["context"]["mcp"]["via"] == "serve"))
}

/// `GET /v1/proposals/{id}/receipt`: the signed approval receipt of an
/// approved proposal (the proposing agent's own, or any for a reviewer).
#[utoipa::path(
    get,
    operation_id = "get_receipt",
    path = "/v1/proposals/{id}/receipt",
    tag = "agents",
    summary = "The signed approval receipt an executor checks before running anything",
    description = "For a proposal that is approved (or started, executed, failed since): the receipt, RFC 8785 JSON text naming the approved document and its digest, every approval as it was signed, the approving audit entry, `execute_by` and the audience, and the server's SSHSIG over exactly that text (namespace `countersign-receipt`). The same text every time it is asked for. `countersign receipt verify` checks it offline. 409 `not_approved` for any other status (a halt revokes it).",
    params(("id" = String, Path, description = "The proposal id")),
    responses(
        (status = 200, description = "The receipt and the server's signature", body = crate::api::SignedReceipt),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn receipt(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SignedReceipt>, ApiError> {
    let p = load(&state, &caller, &id).await?;
    Ok(Json(receipt_of(&state, &p).await?.signed))
}

/// The receipt of `p`, or the API's refusal.
pub async fn receipt_of(
    state: &AppState,
    p: &ProposalRecord,
) -> Result<crate::receipt::Issued, ApiError> {
    use crate::receipt::ReceiptError;
    use crate::server::receipts::IssueError;
    state
        .issuer
        .issue(state.store.as_ref(), p)
        .await
        .map_err(|e| match e {
            IssueError::Receipt(ReceiptError::NotApproved(m)) => {
                ApiError::new(ErrorCode::NotApproved, m)
            }
            IssueError::Store(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        })
}
