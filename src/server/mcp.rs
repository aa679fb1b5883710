//! `/mcp`: the MCP tools (`crate::mcp`) over streamable HTTP. A request
//! needs an agent's bearer token (checked here, before rmcp sees it); each
//! tool call then goes through the server's own router with that token, so
//! it meets exactly the handlers, checks and limits an HTTP call meets.
//!
//! rmcp validates the `Host` header against `mcp_allowed_hosts` (loopback
//! by default) so a web page cannot reach a local server through DNS
//! rebinding; a server reached by name lists that name in the config.

use super::auth::Caller;
use super::error::ApiError;
use super::state::AppState;
use crate::api::{DecisionView, ExecutionReport, SubmitResponse};
use crate::client::ClientError;
use crate::client::agent::Gateway;
use crate::mcp::{Connect, Tools};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, request::Parts};
use axum::middleware::Next;
use axum::response::Response;
use rmcp::RoleServer;
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use tower::ServiceExt;

/// The API, called in process with one caller's token.
struct RouterGateway {
    router: Router,
    authorization: HeaderValue,
}

impl RouterGateway {
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Decode(e.to_string()))?,
            None => Vec::new(),
        };
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(bytes))
            .map_err(|e| ClientError::BadUrl(format!("{path}: {e}")))?;
        let resp = match self.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024 * 1024)
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        crate::client::decode(path, status, &bytes)
    }
}

#[async_trait::async_trait]
impl Gateway for RouterGateway {
    async fn submit(&self, body: &serde_json::Value) -> Result<SubmitResponse, ClientError> {
        self.call(Method::POST, "/v1/alerts", Some(body)).await
    }
    async fn decision(&self, proposal: &str, wait: u64) -> Result<DecisionView, ClientError> {
        let path = format!("/v1/proposals/{proposal}/decision?wait={wait}");
        self.call(Method::GET, &path, None).await
    }
    async fn report(
        &self,
        proposal: &str,
        report: &ExecutionReport,
    ) -> Result<DecisionView, ClientError> {
        let body = serde_json::to_value(report).map_err(|e| ClientError::Decode(e.to_string()))?;
        let path = format!("/v1/proposals/{proposal}/execution");
        self.call(Method::POST, &path, Some(&body)).await
    }
    fn describe(&self) -> String {
        "this server".into()
    }
}

/// Each call's gateway carries the token of the HTTP request it came in.
struct InProcess {
    router: Router,
}

impl Connect for InProcess {
    fn gateway(&self, context: &RequestContext<RoleServer>) -> Result<Arc<dyn Gateway>, String> {
        let authorization = context
            .extensions
            .get::<Parts>()
            .and_then(|p| p.headers.get(AUTHORIZATION))
            .cloned()
            .ok_or("the MCP request carried no bearer token")?;
        Ok(Arc::new(RouterGateway {
            router: self.router.clone(),
            authorization,
        }))
    }
}

/// Only agent tokens reach the MCP endpoint.
async fn agents_only(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let caller = <Caller as axum::extract::FromRequestParts<AppState>>::from_request_parts(
        &mut parts, &state,
    )
    .await?;
    caller.require_agent()?;
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// `api` with `/mcp` added.
pub fn with_mcp(api: Router, state: AppState) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(state.limits.mcp_allowed_hosts.clone())
        .with_sse_keep_alive(Some(std::time::Duration::from_secs(15)));
    let router = api.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(Tools::new(InProcess {
                router: router.clone(),
            }))
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mcp = Router::new()
        .fallback_service(service)
        .layer(axum::middleware::from_fn_with_state(state, agents_only));
    api.nest_service("/mcp", mcp)
}
