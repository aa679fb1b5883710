//! Rate limits where one caller could bury the others: login challenges
//! (per client address and per principal) and alert submissions (per
//! agent, a token bucket). A refusal is 429 `rate_limited` with
//! `Retry-After`. OWASP's agentic top 10 (ASI10) is the reason for the
//! agent bucket: a flood of trivial proposals hides the one that matters.

use super::error::ApiError;
use crate::api::ErrorCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;

/// The rates, from the config file and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// Login challenges per minute from one client address.
    pub login_per_addr_per_min: u32,
    /// Login challenges per minute for one principal.
    pub login_per_principal_per_min: u32,
    /// Submissions per second one agent may sustain ...
    pub agent_per_sec: u32,
    /// ... and how many it may send at once.
    pub agent_burst: u32,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            login_per_addr_per_min: 60,
            login_per_principal_per_min: 20,
            agent_per_sec: 50,
            agent_burst: 500,
        }
    }
}

impl Rates {
    /// No practical limit on agents: load tests and benchmarks.
    pub fn unlimited_agents() -> Self {
        Rates {
            agent_per_sec: 1_000_000,
            agent_burst: 1_000_000,
            ..Rates::default()
        }
    }
}

pub struct RateLimits {
    login_addr: DefaultKeyedRateLimiter<IpAddr>,
    login_principal: DefaultKeyedRateLimiter<String>,
    agent: DefaultKeyedRateLimiter<String>,
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
        }
    }

    /// One login challenge from `addr` for `principal`.
    pub fn login(&self, addr: Option<IpAddr>, principal: &str) -> Result<(), ApiError> {
        if let Some(addr) = addr {
            self.login_addr
                .check_key(&addr)
                .map_err(|n| refused("login attempts from this address", n))?;
        }
        self.login_principal
            .check_key(&principal.to_owned())
            .map_err(|n| refused("login attempts for this principal", n))
    }

    /// One submission by `agent`.
    pub fn submit(&self, agent: &str) -> Result<(), ApiError> {
        self.agent
            .check_key(&agent.to_owned())
            .map_err(|n| refused("submissions from this agent", n))
    }

    /// Forgets keys whose buckets are full again, so made-up principals
    /// and addresses do not accumulate.
    pub fn sweep(&self) {
        self.login_addr.retain_recent();
        self.login_principal.retain_recent();
        self.agent.retain_recent();
        self.login_addr.shrink_to_fit();
        self.login_principal.shrink_to_fit();
        self.agent.shrink_to_fit();
    }
}
