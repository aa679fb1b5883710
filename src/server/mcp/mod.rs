//! `/mcp`: the MCP tools (`crate::mcp`) over streamable HTTP. A request
//! needs an agent's bearer token (checked here, before rmcp sees it); each
//! tool call then goes through the server's own router with that token, so
//! it meets exactly the handlers, checks and limits an HTTP call meets.
//!
//! rmcp validates the `Host` header against `mcp_allowed_hosts` (loopback
//! by default) so a web page cannot reach a local server through DNS
//! rebinding; a server reached by name lists that name in the config.
//!
//! Bounded (issue 29): every POST counts against the agent's rate limit;
//! sessions are capped per agent and in total ([`sessions`], wrapping
//! rmcp's `LocalSessionManager`), a session idle for `mcp_idle_timeout`
//! ends, and a session answers only the agent that opened it. Over a cap
//! an `initialize` POST is refused with 429 `too_many_sessions` and
//! `Retry-After` before rmcp allocates anything; DELETE (or the idle
//! timeout) frees the slot.

pub mod sessions;

use super::auth::Caller;
use super::error::ApiError;
use super::state::AppState;
use crate::api::ErrorCode;
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
use sessions::{BoundedSessions, McpCall, Reservation, Sessions};
use std::sync::Arc;
use tower::ServiceExt;

/// A request that came in through `/mcp` and was already counted against
/// the agent's rate limit there: the submission it makes in process is
/// not counted twice (its bytes still are).
#[derive(Debug, Clone, Copy)]
pub struct ViaMcp;

/// A request the gateway at `/mcp/gateway` made in process: only such a
/// request may report execution of what that gateway forwards (its
/// forwarding is the execution). No HTTP request can carry it.
#[derive(Debug, Clone, Copy)]
pub struct ViaGateway;

/// The API, called in process with one caller's token.
struct RouterGateway {
    router: Router,
    authorization: HeaderValue,
    /// Made for `/mcp/gateway` (requests carry [`ViaGateway`]).
    via_gateway: bool,
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
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .extension(ViaMcp)
            .body(Body::from(bytes))
            .map_err(|e| ClientError::BadUrl(format!("{path}: {e}")))?;
        if self.via_gateway {
            req.extensions_mut().insert(ViaGateway);
        }
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
    async fn receipt(&self, proposal: &str) -> Result<crate::api::SignedReceipt, ClientError> {
        let path = format!("/v1/proposals/{proposal}/receipt");
        self.call(Method::GET, &path, None).await
    }
    async fn freezes(&self) -> Result<crate::api::FreezeList, ClientError> {
        self.call(Method::GET, "/v1/freezes", None).await
    }
    fn describe(&self) -> String {
        "this server".into()
    }
    /// The bearer token's digest: one agent's calls apart from another's.
    fn caller(&self) -> String {
        crate::domain::digest::sha256_tagged(self.authorization.as_bytes())
    }
}

/// Each call's gateway carries the token of the HTTP request it came in.
struct InProcess {
    router: Router,
    /// For `/mcp/gateway` rather than `/mcp`.
    via_gateway: bool,
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
            via_gateway: self.via_gateway,
        }))
    }
}

const SESSION_ID: &str = "mcp-session-id";

/// Only agent tokens reach the MCP endpoint; each POST counts against the
/// agent's rate limit, and one that would open a session takes a slot.
async fn agents_only(
    State((state, sessions)): State<(AppState, Arc<Sessions>)>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let caller = <Caller as axum::extract::FromRequestParts<AppState>>::from_request_parts(
        &mut parts, &state,
    )
    .await?;
    caller.require_agent()?;
    let call = McpCall::new(caller.name.clone());
    let mut reservation = None;
    let mut body = body;
    if parts.method == Method::POST {
        state.rate_limits.mcp(&caller.name)?;
        if !parts.headers.contains_key(SESSION_ID) {
            // Only an `initialize` opens a session: read the body (rmcp
            // would, within the same limit) to see whether this is one.
            let bytes = axum::body::to_bytes(body, mcp_body_limit(&state))
                .await
                .map_err(|_| {
                    ApiError::new(
                        ErrorCode::BodyTooLarge,
                        "the body is larger than the server's limit (--max-body)",
                    )
                })?;
            if is_initialize(&bytes) {
                let idle = state.limits.mcp_idle_timeout.as_secs().max(1);
                sessions.reserve(&caller.name, idle)?;
                reservation = Some(Reservation::new(sessions.clone(), call.clone()));
            }
            body = Body::from(bytes);
        }
    }
    let response = call.scope(next.run(Request::from_parts(parts, body))).await;
    drop(reservation);
    Ok(response)
}

/// The envelope around an alert the size of `max_body`.
fn mcp_body_limit(state: &AppState) -> usize {
    state.limits.max_body.saturating_add(64 * 1024)
}

/// A JSON-RPC request whose method is `initialize` (anything else, JSON or
/// not, is rmcp's to answer).
fn is_initialize(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Method<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Method>(body)
        .ok()
        .and_then(|m| m.method)
        .is_some_and(|m| m == "initialize")
}

/// `api` with `/mcp` added.
pub fn with_mcp(api: Router, state: AppState) -> Router {
    let limits = &state.limits;
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(limits.mcp_allowed_hosts.clone())
        .with_sse_keep_alive(Some(std::time::Duration::from_secs(15)))
        .with_max_request_body_bytes(mcp_body_limit(&state));
    let mut local = LocalSessionManager::default();
    local.session_config.keep_alive = Some(limits.mcp_idle_timeout);
    local.session_config.init_timeout = Some(
        limits
            .mcp_idle_timeout
            .min(std::time::Duration::from_secs(60)),
    );
    let sessions = state.mcp_sessions.clone();
    let manager = BoundedSessions::new(local, sessions.clone());
    let router = api.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(Tools::new(InProcess {
                router: router.clone(),
                via_gateway: false,
            }))
        },
        Arc::new(manager),
        config.clone(),
    );
    let mut mcp = Router::new();
    // `/mcp/gateway`: the upstream tools behind the gate, each caller's
    // gated calls made with its own token. One gateway for every session,
    // so a call made again in a new session finds its proposal.
    if let Some(upstreams) = state.tool_upstreams.clone() {
        let gateway = Arc::new(crate::gateway::ToolGateway::new(
            upstreams,
            Box::new(InProcess {
                router: api.clone(),
                via_gateway: true,
            }),
            crate::gateway::Via::Serve,
        ));
        let mut local = LocalSessionManager::default();
        local.session_config.keep_alive = Some(limits.mcp_idle_timeout);
        let manager = BoundedSessions::new(local, sessions.clone());
        mcp = mcp.nest_service(
            "/gateway",
            StreamableHttpService::new(move || Ok(gateway.clone()), Arc::new(manager), config),
        );
    }
    let mcp = mcp
        .fallback_service(service)
        .layer(axum::middleware::from_fn_with_state(
            (state, sessions),
            agents_only,
        ));
    api.nest_service("/mcp", mcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_initialize_takes_a_session_slot() {
        assert!(is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#
        ));
        assert!(!is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#
        ));
        assert!(!is_initialize(b"{not json"));
        assert!(!is_initialize(br#"[{"method":"initialize"}]"#));
    }
}
