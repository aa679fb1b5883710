//! `GET /v1/queue`: what changed since a cursor, long-polled.

use super::wait;
use crate::api::{QueueParams, QueueResponse, View};
use crate::domain::policy::group_refused;
use crate::domain::records::Needs;
use crate::domain::types::ProposalStatus;
use crate::server::auth::Caller;
use crate::server::body::ApiQuery;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::QueueQuery;
use crate::server::store::ops::StatusCounts;
use axum::Json;
use axum::extract::State;

#[utoipa::path(
    get,
    operation_id = "queue",
    path = "/v1/queue",
    tag = "console",
    summary = "Proposals in a view, changed since a cursor (long-poll with `wait`)",
    params(crate::api::QueueParams),
    responses(
        (status = 200, description = "A page of the view and counts by status", body = crate::api::QueueResponse),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<QueueParams>,
) -> Result<Json<QueueResponse>, ApiError> {
    caller.require_reviewer()?;
    let q = QueueQuery {
        view: params.view.unwrap_or(View::Pending),
        after: params.after.max(0),
        limit: crate::server::body::page_limit(
            params.limit,
            crate::server::store::QUEUE_PAGE_MAX,
            1000,
        )?,
        principal: Some(caller.name.clone()),
        agent: caller.agent_filter(),
    };
    let deadline = wait::deadline(params.wait, state.limits.max_wait)?;
    let _slot = wait::slot(&state, &caller.name, deadline)?;
    let mut rx = state.store.subscribe();
    let _waiting = state.metrics.waiting();
    let mut page = loop {
        let page = state.store.run(q.clone()).await?;
        if !page.items.is_empty() || !page.gone.is_empty() || page.more {
            break page;
        }
        let after = q.after.max(page.cursor);
        if !wait::changed(&mut rx, deadline, &state.shutdown, |cs| cs.head_seq > after).await {
            break state.store.run(q.clone()).await?;
        }
    };
    // Which rows the console may offer as a group: the policy decides.
    let policy = state.policy();
    for item in &mut page.items {
        let p = &mut item.proposal;
        let rule = policy.rule_for(&p.action, p.risk);
        p.groupable = p.status == ProposalStatus::Pending
            && !item.noted
            && group_refused(p.risk, &p.action, &rule).is_none();
        p.needs = (!rule.auto).then_some(Needs {
            approvals: rule.approvals,
            role: rule.role,
            hardware_key: rule.hardware_key,
        });
    }
    let counts = state.store.run(StatusCounts).await?.into_iter().collect();
    Ok(Json(QueueResponse { page, counts }))
}
