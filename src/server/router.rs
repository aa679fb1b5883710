//! `router(state) -> Router`, apart from serving, so tests drive it with
//! `tower::ServiceExt::oneshot`.

use super::handlers::{alerts, audit, decisions, ops, proposals, queue, session};
use super::metrics::RequestLabels;
use super::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/alerts", post(alerts::submit))
        .route("/v1/alerts/{id}", get(alerts::get))
        .route("/v1/proposals/{id}/decision", get(proposals::decision))
        .route("/v1/proposals/{id}/execution", post(proposals::execution))
        .route("/v1/proposals/{id}/claim", post(proposals::claim))
        .route("/v1/queue", get(queue::queue))
        .route("/v1/decisions", post(decisions::post))
        .route("/v1/session/challenge", post(session::challenge))
        .route("/v1/session", post(session::login))
        .route("/v1/audit", get(audit::entries))
        .route("/v1/audit/checkpoint", get(audit::checkpoint))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

async fn not_found(req: Request) -> Response {
    super::error::ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
    .into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    super::error::ApiError::new(
        crate::api::ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
    .into_response()
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    // Known methods by name, anything else `other`: a label per made-up
    // method would grow /metrics for good.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_owned();
    let response = next.run(req).await;
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
