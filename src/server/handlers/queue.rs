//! `GET /v1/queue`: what changed since a cursor, long-polled.

use super::wait;
use crate::api::{QueueParams, QueueResponse, View};
use crate::server::auth::Caller;
use crate::server::body::ApiQuery;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::QueueQuery;
use axum::Json;
use axum::extract::State;

pub async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<QueueParams>,
) -> Result<Json<QueueResponse>, ApiError> {
    caller.require_reviewer()?;
    let q = QueueQuery {
        view: params.view.unwrap_or(View::Pending),
        after: params.after.max(0),
        limit: params.limit.unwrap_or(1000),
        principal: Some(caller.name.clone()),
        agent: caller.agent_filter(),
    };
    let deadline = wait::deadline(params.wait, state.limits.max_wait);
    let mut rx = state.store.subscribe();
    let _waiting = state.metrics.waiting();
    let page = loop {
        let page = state.store.queue(q.clone()).await?;
        if !page.items.is_empty() || !page.gone.is_empty() || page.more {
            break page;
        }
        let after = q.after.max(page.cursor);
        if !wait::changed(&mut rx, deadline, &state.shutdown, |cs| cs.head_seq > after).await {
            break state.store.queue(q.clone()).await?;
        }
    };
    let counts = state.store.status_counts().await?.into_iter().collect();
    Ok(Json(QueueResponse { page, counts }))
}
