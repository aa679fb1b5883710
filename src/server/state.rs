//! What every handler shares.

use super::metrics::Metrics;
use super::store::Store;
use super::swap::Swap;
use crate::domain::policy::Policy;
use crate::signing::allowed_signers::AllowedSigners;
use ssh_key::PrivateKey;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted.
    pub max_body: usize,
    /// Longest long-poll a client may ask for.
    pub max_wait: Duration,
    /// How long a console session lasts.
    pub session_ttl: Duration,
    /// How long a login challenge may be answered.
    pub challenge_ttl: Duration,
    /// Login and submission rates.
    pub rates: super::limits::Rates,
    /// `Host` values `/mcp` answers (DNS-rebinding protection).
    pub mcp_allowed_hosts: Vec<String>,
    /// Long-polls one caller may hold open at once.
    pub max_waits_per_agent: usize,
    /// MCP sessions one agent may hold open ...
    pub mcp_sessions_per_agent: usize,
    /// ... and all agents together.
    pub mcp_sessions: usize,
    /// An MCP session with no request for this long ends.
    pub mcp_idle_timeout: Duration,
    /// Connection cap and deadlines (src/server/conn.rs).
    pub conn: super::conn::ConnLimits,
    /// An audit page ends before the entry that would take it past this
    /// many bytes (always at least one entry).
    pub audit_page_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1024 * 1024,
            max_wait: Duration::from_secs(300),
            session_ttl: Duration::from_secs(12 * 3600),
            challenge_ttl: Duration::from_secs(120),
            rates: super::limits::Rates::default(),
            mcp_allowed_hosts: ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec(),
            max_waits_per_agent: 32,
            mcp_sessions_per_agent: 16,
            mcp_sessions: 1000,
            // Longer than the longest MCP tool call (wait_for_decision
            // blocks at most 50 s): a session is idle only between calls.
            mcp_idle_timeout: Duration::from_secs(120),
            conn: super::conn::ConnLimits::default(),
            audit_page_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Who may sign, and the server's own key.
pub struct Identity {
    pub signers: AllowedSigners,
    pub server_key: PrivateKey,
    /// Names this server in login challenges and checkpoints.
    pub server_name: String,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    policy: Arc<Swap<Policy>>,
    signers: Arc<Swap<AllowedSigners>>,
    pub server_key: Arc<PrivateKey>,
    pub server_name: Arc<str>,
    /// Issues approval receipts; knows the `[[executors]]`.
    pub issuer: super::receipts::Issuer,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub rate_limits: Arc<super::limits::RateLimits>,
    /// Long-polls open, per caller.
    pub waits: Arc<super::limits::Waits>,
    /// MCP sessions open, per agent and in all.
    pub mcp_sessions: Arc<super::mcp::sessions::Sessions>,
    /// Flips to true when the server stops: long-polls answer at once.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The `[[notify]]` sinks, by name (for /metrics).
    pub notify_sinks: Arc<Vec<String>>,
    /// Draws the policy approvals that go to sampled review.
    pub sampler: Arc<crate::domain::sample::Sampler>,
    /// The MCP servers `/mcp/gateway` fronts, if any (`crate::gateway`).
    pub tool_upstreams: Option<Arc<crate::gateway::Upstreams>>,
    /// The freezes in force, as agents are told of them.
    pub freezes: Arc<super::freezes::FreezeCache>,
    /// When each token's last use was written (`server::token_use`).
    pub token_uses: Arc<super::token_use::TokenUses>,
    /// `[[agents.oidc]]`: the issuers whose JWTs are agents, if any.
    pub oidc: Option<Arc<super::oidc::Verifier>>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        policy: Policy,
        identity: Identity,
        limits: Limits,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let server_key = Arc::new(identity.server_key);
        let server_name: Arc<str> = identity.server_name.into();
        let policy = Arc::new(Swap::new(policy));
        AppState {
            store,
            policy: policy.clone(),
            signers: Arc::new(Swap::new(identity.signers)),
            issuer: super::receipts::Issuer {
                key: server_key.clone(),
                server: server_name.clone(),
                executors: Arc::new(Vec::new()),
                policy,
            },
            server_key,
            server_name,
            metrics: Arc::new(Metrics::new()),
            sampler: Arc::new(crate::domain::sample::Sampler::from_os()),
            rate_limits: Arc::new(super::limits::RateLimits::new(limits.rates)),
            waits: super::limits::Waits::new(limits.max_waits_per_agent),
            mcp_sessions: super::mcp::sessions::Sessions::new(
                limits.mcp_sessions_per_agent,
                limits.mcp_sessions,
            ),
            limits,
            shutdown,
            notify_sinks: Arc::new(Vec::new()),
            tool_upstreams: None,
            freezes: Arc::default(),
            token_uses: Arc::default(),
            oidc: None,
        }
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.get()
    }

    pub fn set_policy(&self, policy: Policy) {
        self.policy.set(policy);
    }

    /// The allowed signers in force now.
    pub fn signers(&self) -> Arc<AllowedSigners> {
        self.signers.get()
    }

    pub fn set_signers(&self, signers: AllowedSigners) {
        self.signers.set(signers);
    }
}
