//! The agent's side of the gate, shared by the runtime hooks and the MCP
//! tools: wait a bounded time for a decision, and read it so that only
//! `approved` ever means "go".

use super::{ApiClient, Backoff, ClientError};
use crate::api::{DecisionView, ExecutionReport, SubmitResponse};
use crate::domain::records::DecidedBy;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::domain::types::ProposalStatus;
use std::time::Duration;
use tokio::time::Instant;

/// The three calls an agent makes, over any transport: HTTP (`ApiClient`)
/// or, inside the server, its own router (the MCP endpoint), so both go
/// through the same handlers.
#[async_trait::async_trait]
pub trait Gateway: Send + Sync {
    async fn submit(&self, body: &serde_json::Value) -> Result<SubmitResponse, ClientError>;
    async fn decision(&self, proposal: &str, wait: u64) -> Result<DecisionView, ClientError>;
    async fn report(
        &self,
        proposal: &str,
        report: &ExecutionReport,
    ) -> Result<DecisionView, ClientError>;
    /// The signed approval receipt of an approved proposal.
    async fn receipt(&self, proposal: &str) -> Result<crate::api::SignedReceipt, ClientError>;
    /// The freezes that stop this agent.
    async fn freezes(&self) -> Result<crate::api::FreezeList, ClientError>;
    /// Where the calls go, for messages.
    fn describe(&self) -> String;
    /// Who calls: what tells one caller's calls from another's.
    fn caller(&self) -> String {
        self.describe()
    }
}

#[async_trait::async_trait]
impl Gateway for ApiClient {
    async fn submit(&self, body: &serde_json::Value) -> Result<SubmitResponse, ClientError> {
        self.submit_alert(body).await
    }
    async fn decision(&self, proposal: &str, wait: u64) -> Result<DecisionView, ClientError> {
        ApiClient::decision(self, proposal, wait).await
    }
    async fn report(
        &self,
        proposal: &str,
        report: &ExecutionReport,
    ) -> Result<DecisionView, ClientError> {
        self.report_execution(proposal, report).await
    }
    async fn receipt(&self, proposal: &str) -> Result<crate::api::SignedReceipt, ClientError> {
        ApiClient::receipt(self, proposal).await
    }
    async fn freezes(&self) -> Result<crate::api::FreezeList, ClientError> {
        ApiClient::freezes(self).await
    }
    fn describe(&self) -> String {
        self.base().to_owned()
    }
}

/// What an agent may do with a proposal now. The one place that decides
/// whether an agent may act, for the MCP tools and the runtime hooks alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Approved, not started yet, and inside its execution window
    /// (`execute_by` not passed): the only "go".
    Approved {
        by: String,
        reason: Option<String>,
        execute_by: Option<i64>,
    },
    /// It was approved, but acting now is not: already started, executed,
    /// failed, or its execution window has passed. `why` says which, in
    /// plain words.
    Closed { status: ProposalStatus, why: String },
    /// Rejected, halted, expired or lapsed: do not act, ever.
    Denied {
        status: ProposalStatus,
        by: String,
        reason: Option<String>,
    },
    /// Still waiting for a person: do not act yet.
    Pending { status: ProposalStatus },
    /// Approved, but a lead froze the agent (`hold`): do not act yet; it
    /// waits until the freeze is lifted, or lapses at `execute_by`.
    Held {
        freeze: Box<crate::domain::freeze::Freeze>,
    },
}

impl Outcome {
    /// As of now, by this machine's clock.
    pub fn of(d: &DecisionView) -> Outcome {
        Outcome::at(d, now_millis())
    }

    /// As of `now` (epoch milliseconds).
    pub fn at(d: &DecisionView, now: i64) -> Outcome {
        use ProposalStatus::*;
        let by = describe_decider(d.decided_by.as_ref());
        let closed = |why: String| Outcome::Closed {
            status: d.status,
            why,
        };
        match d.status {
            Approved => match (d.execute_by, &d.frozen) {
                (Some(t), _) if now >= t => closed(format!(
                    "approved{by}, but its execution window closed at {} before it was started: the approval lapses; acting now needs a new proposal and a new decision",
                    to_rfc3339(t)
                )),
                (_, Some(f)) if f.holds() => Outcome::Held {
                    freeze: Box::new(f.clone()),
                },
                (execute_by, _) => Outcome::Approved {
                    by,
                    reason: d.reason.clone(),
                    execute_by,
                },
            },
            Executing => closed(
                "already started: it is being carried out under its approval; do not start it again, report executed or failed".into(),
            ),
            Executed => closed(
                "already executed: its approval was used; do not act on it again".into(),
            ),
            Failed => closed(
                "already tried, and it failed: its approval was used; trying again needs a new proposal and a new decision".into(),
            ),
            Rejected | Halted | Expired | Lapsed => Outcome::Denied {
                status: d.status,
                by,
                reason: d.reason.clone(),
            },
            Pending | AwaitingSecond | Escalated => Outcome::Pending { status: d.status },
        }
    }

    /// Whether the agent may act now: only [`Outcome::Approved`].
    pub fn act(&self) -> bool {
        matches!(self, Outcome::Approved { .. })
    }

    /// One word for machines: approved, closed, denied, pending, held.
    pub fn verdict(&self) -> &'static str {
        match self {
            Outcome::Approved { .. } => "approved",
            Outcome::Closed { .. } => "closed",
            Outcome::Denied { .. } => "denied",
            Outcome::Pending { .. } => "pending",
            Outcome::Held { .. } => "held",
        }
    }

    /// One line for a person or a model: what happened, who, why.
    pub fn describe(&self) -> String {
        let why = |r: &Option<String>| match r {
            Some(r) if !r.trim().is_empty() => format!(": {r}"),
            _ => String::new(),
        };
        match self {
            Outcome::Approved { by, reason, .. } => format!("approved{by}{}", why(reason)),
            Outcome::Closed { why, .. } => why.clone(),
            Outcome::Denied { status, by, reason } => {
                let meaning = match status {
                    ProposalStatus::Expired => " (no decision was made before its deadline)",
                    ProposalStatus::Lapsed => {
                        " (it was approved but not started before its execution deadline)"
                    }
                    _ => "",
                };
                format!("{status}{by}{}{meaning}", why(reason))
            }
            Outcome::Pending { status } => format!("{status}: no decision yet"),
            Outcome::Held { freeze } => format!(
                "approved, but held: {}; it starts only once the freeze is lifted (or lapses at its execution deadline)",
                freeze.describe()
            ),
        }
    }
}

fn describe_decider(d: Option<&DecidedBy>) -> String {
    match d {
        Some(DecidedBy::Person { principal }) => format!(" by {principal}"),
        Some(DecidedBy::Policy { rule }) => format!(" by policy rule \"{rule}\""),
        Some(DecidedBy::Deadline) => " by its deadline".to_owned(),
        Some(DecidedBy::Agent { name }) => format!(" by agent {name}"),
        Some(DecidedBy::Executor { name }) => format!(" by executor {name}"),
        None => String::new(),
    }
}

/// Submits, retrying what is worth retrying (server down or restarting,
/// 503, 429 rate or byte budget) until `deadline`. Safe to retry: submissions are idempotent
/// on `external_id`.
pub async fn submit(
    client: &(impl Gateway + ?Sized),
    body: &serde_json::Value,
    deadline: Instant,
) -> Result<SubmitResponse, ClientError> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = tokio::time::timeout(left, client.submit(body)).await;
        match attempt {
            Ok(Ok(r)) => return Ok(r),
            Ok(Err(e))
                if (e.is_transient()
                    || matches!(
                        e.code(),
                        Some(
                            crate::api::ErrorCode::RateLimited | crate::api::ErrorCode::ByteBudget
                        )
                    ))
                    && Instant::now() + Duration::from_millis(100) < deadline =>
            {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(backoff.next_delay().min(left)).await;
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(ClientError::Unreachable {
                    url: client.describe(),
                    message: "no answer before the deadline".into(),
                });
            }
        }
    }
}

/// Long-polls `proposal` until it is decided or `deadline` passes, riding
/// out a restarting server (transient errors and `too_many_waits` are
/// retried with backoff).
/// Returns the last view read; `Pending` when time ran out.
pub async fn wait_for_decision(
    client: &(impl Gateway + ?Sized),
    proposal: &str,
    deadline: Instant,
) -> Result<DecisionView, ClientError> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut last: Result<Option<DecisionView>, ClientError> = Ok(None);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return match last {
                Ok(Some(view)) => Ok(view),
                Ok(None) => Err(ClientError::Unreachable {
                    url: client.describe(),
                    message: "no answer before the deadline".into(),
                }),
                Err(e) => Err(e),
            };
        }
        // Whole seconds on the wire, never past the deadline.
        let wait = left.as_secs().min(50);
        match tokio::time::timeout(left, client.decision(proposal, wait)).await {
            Err(_) => {}
            Ok(Ok(view)) => {
                backoff.reset();
                if !matches!(
                    Outcome::of(&view),
                    Outcome::Pending { .. } | Outcome::Held { .. }
                ) {
                    return Ok(view);
                }
                last = Ok(Some(view));
                if wait == 0 {
                    tokio::time::sleep(left.min(Duration::from_millis(200))).await;
                }
            }
            Ok(Err(e))
                if e.is_transient() || e.code() == Some(crate::api::ErrorCode::TooManyWaits) =>
            {
                tokio::time::sleep(backoff.next_delay().min(left)).await;
                if !matches!(last, Ok(Some(_))) {
                    last = Err(e);
                }
            }
            Ok(Err(e)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: ProposalStatus, by: Option<DecidedBy>, reason: Option<&str>) -> DecisionView {
        DecisionView {
            proposal_id: "p".into(),
            alert_id: "a".into(),
            status,
            decided: !status.is_open(),
            is_final: status.is_final(),
            decided_by: by,
            reason: reason.map(str::to_owned),
            decided_at: None,
            execute_by: None,
            approvals: vec![],
            digest: "sha256:x".into(),
            frozen: None,
            reverted_by: None,
            amended: None,
            contain_until: None,
        }
    }

    #[test]
    fn only_approval_before_start_inside_the_window_is_go() {
        let now = 1_000_000;
        for s in ProposalStatus::ALL {
            let mut v = view(*s, None, None);
            v.execute_by = Some(now + 1);
            let o = Outcome::at(&v, now);
            assert_eq!(o.act(), *s == ProposalStatus::Approved, "{s}");
            // The window passed: no longer, even approved.
            v.execute_by = Some(now);
            assert!(!Outcome::at(&v, now).act(), "{s}");
        }
    }

    #[test]
    fn a_denial_says_who_and_why() {
        let o = Outcome::at(
            &view(
                ProposalStatus::Rejected,
                Some(DecidedBy::Person {
                    principal: "alice".into(),
                }),
                Some("not on a domain controller"),
            ),
            0,
        );
        assert_eq!(
            o.describe(),
            "rejected by alice: not on a domain controller"
        );
    }
}
