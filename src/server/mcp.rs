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
//! sessions are capped per agent and in total (`Sessions`, wrapping
//! rmcp's `LocalSessionManager`), a session idle for `mcp_idle_timeout`
//! ends, and a session answers only the agent that opened it. Over a cap
//! an `initialize` POST is refused with 429 `too_many_sessions` and
//! `Retry-After` before rmcp allocates anything; DELETE (or the idle
//! timeout) frees the slot.

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
use futures_util::Stream;
use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, ServerSseMessage, SessionId, SessionManager,
};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tower::ServiceExt;

/// A request that came in through `/mcp` and was already counted against
/// the agent's rate limit there: the submission it makes in process is
/// not counted twice (its bytes still are).
#[derive(Debug, Clone, Copy)]
pub struct ViaMcp;

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
            .extension(ViaMcp)
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

tokio::task_local! {
    /// The agent whose HTTP request rmcp is handling now (set around the
    /// request by `agents_only`; absent in rmcp's own background tasks).
    static CALL: Arc<McpCall>;
}

struct McpCall {
    agent: String,
    /// A session slot was reserved for this request and became a session.
    took_slot: AtomicBool,
}

/// MCP sessions per agent and in total.
pub struct Sessions {
    per_agent: usize,
    total: usize,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    by_agent: HashMap<String, usize>,
    total: usize,
    owners: HashMap<SessionId, String>,
}

impl Sessions {
    pub fn new(per_agent: usize, total: usize) -> Arc<Self> {
        Arc::new(Sessions {
            per_agent: per_agent.max(1),
            total: total.max(1),
            counts: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sessions open now: by `agent`, and in all.
    pub fn open(&self, agent: &str) -> (usize, usize) {
        let c = self.counts();
        (c.by_agent.get(agent).copied().unwrap_or(0), c.total)
    }

    /// Takes a slot for a session `agent` may open, or refuses.
    fn reserve(&self, agent: &str, retry_after: u64) -> Result<(), ApiError> {
        let mut c = self.counts();
        let mine = c.by_agent.get(agent).copied().unwrap_or(0);
        let refuse = |message: String, limit: usize| {
            ApiError::new(ErrorCode::TooManySessions, message)
                .with_detail(serde_json::json!({ "retry_after": retry_after, "limit": limit }))
        };
        if mine >= self.per_agent {
            return Err(refuse(
                format!(
                    "{agent} already has {mine} MCP sessions open (mcp_sessions_per_agent); close one (DELETE /mcp with its Mcp-Session-Id) or let one go idle for {retry_after} s"
                ),
                self.per_agent,
            ));
        }
        if c.total >= self.total {
            return Err(refuse(
                format!(
                    "the server has {} MCP sessions open (mcp_sessions); try again later",
                    c.total
                ),
                self.total,
            ));
        }
        *c.by_agent.entry(agent.to_owned()).or_default() += 1;
        c.total += 1;
        Ok(())
    }

    fn release(&self, agent: &str) {
        let mut c = self.counts();
        release(&mut c, agent);
    }
}

fn release(c: &mut Counts, agent: &str) {
    if let Some(n) = c.by_agent.get_mut(agent) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            c.by_agent.remove(agent);
        }
        c.total = c.total.saturating_sub(1);
    }
}

/// A reserved slot that no session took is given back when the request
/// ends, however it ends (refused by rmcp, client gone).
struct Reservation {
    sessions: Arc<Sessions>,
    call: Arc<McpCall>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.call.took_slot.load(Ordering::SeqCst) {
            self.sessions.release(&self.call.agent);
        }
    }
}

/// rmcp's in-memory sessions, counted and owned.
struct BoundedSessions {
    inner: LocalSessionManager,
    sessions: Arc<Sessions>,
}

impl BoundedSessions {
    /// Whether the agent making this request may use session `id`.
    /// rmcp's own tasks (no request) may.
    fn mine(&self, id: &SessionId) -> bool {
        let Ok(agent) = CALL.try_with(|c| c.agent.clone()) else {
            return true;
        };
        self.sessions
            .counts()
            .owners
            .get(id)
            .is_some_and(|owner| *owner == agent)
    }

    fn not_found(id: &SessionId) -> LocalSessionManagerError {
        LocalSessionManagerError::SessionNotFound(id.clone())
    }
}

impl SessionManager for BoundedSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.inner.create_session().await?;
        let call = CALL.try_with(Arc::clone).ok();
        let mut c = self.sessions.counts();
        match call {
            Some(call) if !call.took_slot.swap(true, Ordering::SeqCst) => {
                c.owners.insert(id.clone(), call.agent.clone());
            }
            // Not through `agents_only` with a reservation (cannot happen
            // with this router): counted, owned by nobody.
            _ => {
                *c.by_agent.entry(String::new()).or_default() += 1;
                c.total += 1;
                c.owners.insert(id.clone(), String::new());
            }
        }
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.mine(id) && self.inner.has_session(id).await?)
    }

    /// DELETE by its owner, or rmcp when the session's worker ends (idle
    /// timeout, failed handshake): the slot is free again.
    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        if !self.mine(id) {
            return Ok(());
        }
        let result = self.inner.close_session(id).await;
        let mut c = self.sessions.counts();
        if let Some(agent) = c.owners.remove(id) {
            release(&mut c, &agent);
        }
        result
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        if !self.mine(id) {
            return Err(Self::not_found(id));
        }
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        if !self.mine(id) {
            return Err(Self::not_found(id));
        }
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        if !self.mine(id) {
            return Err(Self::not_found(id));
        }
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        if !self.mine(id) {
            return Err(Self::not_found(id));
        }
        self.inner.resume(id, last_event_id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
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
    let call = Arc::new(McpCall {
        agent: caller.name.clone(),
        took_slot: AtomicBool::new(false),
    });
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
                reservation = Some(Reservation {
                    sessions: sessions.clone(),
                    call: call.clone(),
                });
            }
            body = Body::from(bytes);
        }
    }
    let response = CALL
        .scope(call, next.run(Request::from_parts(parts, body)))
        .await;
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
    let manager = BoundedSessions {
        inner: local,
        sessions: sessions.clone(),
    };
    let router = api.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(Tools::new(InProcess {
                router: router.clone(),
            }))
        },
        Arc::new(manager),
        config,
    );
    let mcp = Router::new()
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

    #[test]
    fn slots_are_capped_per_agent_and_in_all_and_given_back() {
        let s = Sessions::new(2, 3);
        s.reserve("a", 1).unwrap();
        s.reserve("a", 1).unwrap();
        let e = s.reserve("a", 1).err().unwrap();
        assert_eq!(e.code, ErrorCode::TooManySessions);
        s.reserve("b", 1).unwrap();
        assert_eq!(s.open("b"), (1, 3));
        assert_eq!(
            s.reserve("c", 1).err().unwrap().code,
            ErrorCode::TooManySessions
        );
        s.release("a");
        s.reserve("c", 1).unwrap();
        assert_eq!(s.open("a"), (1, 3));
    }
}
