//! The MCP sessions an agent holds: counted per agent and in total
//! (`Sessions`), owned by the agent that opened them, and freed when they
//! close or the request that reserved a slot opens none. rmcp's
//! `LocalSessionManager` keeps them (`BoundedSessions` wraps it).

use crate::api::ErrorCode;
use crate::server::error::ApiError;
use futures_util::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, ServerSseMessage, SessionId, SessionManager,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

tokio::task_local! {
    /// The agent whose HTTP request rmcp is handling now (set around the
    /// request by `agents_only`; absent in rmcp's own background tasks).
    static CALL: Arc<McpCall>;
}

/// One HTTP request to `/mcp`, by one agent.
pub(super) struct McpCall {
    agent: String,
    /// A session slot was reserved for this request and became a session.
    took_slot: AtomicBool,
}

impl McpCall {
    pub(super) fn new(agent: String) -> Arc<Self> {
        Arc::new(McpCall {
            agent,
            took_slot: AtomicBool::new(false),
        })
    }

    /// Runs `f` (rmcp handling the request) as this call: the sessions it
    /// opens are this agent's, and it reaches only this agent's.
    pub(super) async fn scope<F: std::future::Future>(self: Arc<Self>, f: F) -> F::Output {
        CALL.scope(self, f).await
    }
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
    pub(super) fn reserve(&self, agent: &str, retry_after: u64) -> Result<(), ApiError> {
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
pub(super) struct Reservation {
    sessions: Arc<Sessions>,
    call: Arc<McpCall>,
}

impl Reservation {
    pub(super) fn new(sessions: Arc<Sessions>, call: Arc<McpCall>) -> Self {
        Reservation { sessions, call }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.call.took_slot.load(Ordering::SeqCst) {
            self.sessions.release(&self.call.agent);
        }
    }
}

/// rmcp's in-memory sessions, counted and owned.
pub(super) struct BoundedSessions {
    inner: LocalSessionManager,
    sessions: Arc<Sessions>,
}

impl BoundedSessions {
    pub(super) fn new(inner: LocalSessionManager, sessions: Arc<Sessions>) -> Self {
        BoundedSessions { inner, sessions }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

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
