//! Rate limits where one caller could bury the others: login challenges
//! (per client address and per principal), alert submissions and MCP calls
//! (per agent, a token bucket), the bytes an agent submits (per agent, a
//! token bucket over request bodies) and how many long-polls one caller
//! holds open at once. A refusal is 429 with `Retry-After`. OWASP's
//! agentic top 10 (ASI10) is the reason for the agent buckets: a flood of
//! trivial proposals hides the one that matters, and a flood of big ones
//! fills the disk.

use super::error::ApiError;
use crate::api::ErrorCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

/// The rates, from the config file and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// Login challenges per minute from one client address.
    pub login_per_addr_per_min: u32,
    /// Failed logins per minute for one principal.
    pub login_per_principal_per_min: u32,
    /// Submissions per second one agent may sustain ...
    pub agent_per_sec: u32,
    /// ... and how many it may send at once.
    pub agent_burst: u32,
    /// Request-body bytes of submissions one agent may send per minute
    /// (also the most it may send at once; at least `max_body`).
    pub agent_bytes_per_min: u32,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            login_per_addr_per_min: 60,
            login_per_principal_per_min: 20,
            agent_per_sec: 50,
            agent_burst: 500,
            agent_bytes_per_min: DEFAULT_AGENT_BYTES_PER_MIN,
        }
    }
}

/// 8 MiB of submissions a minute per agent: hundreds of ordinary alerts
/// (a few KiB each), eight at the largest body the server takes by default.
pub const DEFAULT_AGENT_BYTES_PER_MIN: u32 = 8 * 1024 * 1024;

impl Rates {
    /// No practical limit on agents: load tests and benchmarks.
    pub fn unlimited_agents() -> Self {
        Rates {
            agent_per_sec: 1_000_000,
            agent_burst: 1_000_000,
            agent_bytes_per_min: u32::MAX,
            ..Rates::default()
        }
    }
}

pub struct RateLimits {
    login_addr: DefaultKeyedRateLimiter<IpAddr>,
    login_principal: DefaultKeyedRateLimiter<String>,
    agent: DefaultKeyedRateLimiter<String>,
    agent_bytes: DefaultKeyedRateLimiter<String>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn refused(
    what: &str,
    not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>,
) -> ApiError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        ErrorCode::RateLimited,
        format!("too many {what}; try again in {secs} s"),
    )
    .with_detail(serde_json::json!({ "retry_after": secs.max(1) }))
}

impl RateLimits {
    pub fn new(r: Rates) -> Self {
        RateLimits {
            login_addr: DefaultKeyedRateLimiter::keyed(Quota::per_minute(nz(
                r.login_per_addr_per_min
            ))),
            login_principal: DefaultKeyedRateLimiter::keyed(Quota::per_minute(nz(
                r.login_per_principal_per_min
            ))),
            agent: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(nz(r.agent_per_sec)).allow_burst(nz(r.agent_burst)),
            ),
            agent_bytes: DefaultKeyedRateLimiter::keyed(Quota::per_minute(nz(
                r.agent_bytes_per_min
            ))),
        }
    }

    /// One login challenge from `addr`. Counted per address only: a
    /// principal's name costs a stranger nothing, and counting challenges
    /// by name let anyone lock a person out of their own logins.
    pub fn challenge(&self, addr: Option<IpAddr>) -> Result<(), ApiError> {
        match addr {
            Some(addr) => self
                .login_addr
                .check_key(&addr)
                .map_err(|n| refused("login attempts from this address", n)),
            None => Ok(()),
        }
    }

    /// One failed login for `principal`: past the per-principal rate,
    /// further failures are refused (429). A login whose signature is good
    /// is never counted, nor refused for them.
    pub fn login_failed(&self, principal: &str) -> Result<(), ApiError> {
        self.login_principal
            .check_key(&principal.to_owned())
            .map_err(|n| refused("failed logins for this principal", n))
    }

    /// One submission by `agent`.
    pub fn submit(&self, agent: &str) -> Result<(), ApiError> {
        self.agent
            .check_key(&agent.to_owned())
            .map_err(|n| refused("submissions from this agent", n))
    }

    /// One MCP request (initialize, a tool call, a notification) by
    /// `agent`: the same bucket as submissions.
    pub fn mcp(&self, agent: &str) -> Result<(), ApiError> {
        self.agent
            .check_key(&agent.to_owned())
            .map_err(|n| refused("requests from this agent", n))
    }

    /// `bytes` of submission body from `agent`. Refused when the agent's
    /// byte budget has not that much left now; a body larger than the
    /// whole budget is refused for good (the budget is kept at least
    /// `max_body` at start, so only a misconfiguration gets there).
    pub fn submit_bytes(&self, agent: &str, bytes: usize) -> Result<(), ApiError> {
        let n = u32::try_from(bytes.max(1)).unwrap_or(u32::MAX);
        match self.agent_bytes.check_key_n(&agent.to_owned(), nz(n)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(refused_bytes(not_until)),
            Err(_) => Err(ApiError::new(
                ErrorCode::ByteBudget,
                format!("a {bytes}-byte submission is larger than this agent's whole byte budget"),
            )
            .with_detail(serde_json::json!({ "retry_after": 60 }))),
        }
    }

    /// Forgets keys whose buckets are full again, so made-up principals
    /// and addresses do not accumulate.
    pub fn sweep(&self) {
        self.login_addr.retain_recent();
        self.login_principal.retain_recent();
        self.agent.retain_recent();
        self.agent_bytes.retain_recent();
        self.login_addr.shrink_to_fit();
        self.login_principal.shrink_to_fit();
        self.agent.shrink_to_fit();
        self.agent_bytes.shrink_to_fit();
    }
}

fn retry_secs(not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>) -> u64 {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn refused_bytes(not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> ApiError {
    let secs = retry_secs(&not_until);
    ApiError::new(
        ErrorCode::ByteBudget,
        format!(
            "this agent has sent more submission bytes than its budget allows (agent_bytes_per_min); nothing was stored; try again in {secs} s"
        ),
    )
    .with_detail(serde_json::json!({ "retry_after": secs }))
}

/// How many long-polls each caller holds open at once. `enter` takes a
/// slot or refuses; the slot frees when the guard drops (the answer is
/// sent, or the client went away and the handler's future was dropped).
pub struct Waits {
    per_caller: usize,
    open: Mutex<HashMap<String, usize>>,
}

pub struct WaitSlot {
    waits: Arc<Waits>,
    caller: String,
}

impl Waits {
    pub fn new(per_caller: usize) -> Arc<Self> {
        Arc::new(Waits {
            per_caller: per_caller.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    pub fn enter(self: &Arc<Self>, caller: &str) -> Result<WaitSlot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(caller.to_owned()).or_default();
        if *n >= self.per_caller {
            let max = self.per_caller;
            return Err(ApiError::new(
                ErrorCode::TooManyWaits,
                format!(
                    "{caller} already holds {max} long-polls open (max_waits_per_agent); wait for one to answer, then try again"
                ),
            )
            .with_detail(serde_json::json!({ "retry_after": 1, "limit": max })));
        }
        *n += 1;
        Ok(WaitSlot {
            waits: self.clone(),
            caller: caller.to_owned(),
        })
    }

    /// Long-polls open now by `caller`.
    pub fn open(&self, caller: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(caller).copied().unwrap_or(0)
    }
}

impl Drop for WaitSlot {
    fn drop(&mut self) {
        let mut open = self
            .waits
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_capped_per_caller_and_freed_on_drop() {
        let w = Waits::new(2);
        let a = w.enter("a").unwrap();
        let _b = w.enter("a").unwrap();
        let refused = w.enter("a").err().unwrap();
        assert_eq!(refused.code, ErrorCode::TooManyWaits);
        assert!(w.enter("b").is_ok(), "another caller has its own slots");
        drop(a);
        let _c = w.enter("a").unwrap();
        assert_eq!(w.open("a"), 2);
    }

    #[test]
    fn the_byte_budget_refuses_past_it() {
        let r = RateLimits::new(Rates {
            agent_bytes_per_min: 1000,
            ..Rates::default()
        });
        r.submit_bytes("a", 600).unwrap();
        let e = r.submit_bytes("a", 600).err().unwrap();
        assert_eq!(e.code, ErrorCode::ByteBudget);
        assert!(e.detail.unwrap()["retry_after"].as_u64().unwrap() >= 1);
        r.submit_bytes("b", 600).unwrap();
        assert_eq!(
            r.submit_bytes("c", 2000).err().unwrap().code,
            ErrorCode::ByteBudget
        );
    }
}
