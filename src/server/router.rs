//! `router(state) -> Router`, apart from serving, so tests drive it with
//! `tower::ServiceExt::oneshot`.

use super::handlers::{alerts, audit, decisions, ops, oversight, proposals, queue, session};
use super::metrics::RequestLabels;
use super::openapi::{self, ApiDoc};
use super::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route with its OpenAPI description: registering a handler here is
/// what puts it in `/v1/openapi.json`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(alerts::submit))
        .routes(routes!(alerts::get))
        .routes(routes!(proposals::decision))
        .routes(routes!(proposals::execution))
        .routes(routes!(proposals::claim))
        .routes(routes!(queue::queue))
        .routes(routes!(oversight::oversight))
        .routes(routes!(decisions::post))
        .routes(routes!(session::challenge))
        .routes(routes!(session::login))
        .routes(routes!(audit::entries))
        .routes(routes!(audit::checkpoint))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::metrics))
        .routes(routes!(openapi::serve))
}

pub fn router(state: AppState) -> Router {
    let (api, _) = routes().split_for_parts();
    let api = api
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state.clone());
    super::mcp::with_mcp(api, state)
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
