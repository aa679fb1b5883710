//! The agent's side of the gate, shared by the runtime hooks and the MCP
//! tools: wait a bounded time for a decision, and read it so that only
//! `approved` ever means "go".

use super::{ApiClient, Backoff, ClientError};
use crate::api::{DecisionView, ExecutionReport, SubmitResponse};
use crate::domain::records::DecidedBy;
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
    /// Where the calls go, for messages.
    fn describe(&self) -> String;
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
    fn describe(&self) -> String {
        self.base().to_owned()
    }
}

/// What an agent may do with a proposal now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A person (or a policy rule) approved it: the only "go".
    Approved { by: String, reason: Option<String> },
    /// Rejected, halted, expired or lapsed: do not act, ever.
    Denied {
        status: ProposalStatus,
        by: String,
        reason: Option<String>,
    },
    /// Still waiting for a person: do not act yet.
    Pending { status: ProposalStatus },
}

impl Outcome {
    pub fn of(d: &DecisionView) -> Outcome {
        use ProposalStatus::*;
        let by = describe_decider(d.decided_by.as_ref());
        match d.status {
            // Executing and after: it was approved; the agent reported on it.
            Approved | Executing | Executed | Failed => Outcome::Approved {
                by,
                reason: d.reason.clone(),
            },
            Rejected | Halted | Expired | Lapsed => Outcome::Denied {
                status: d.status,
                by,
                reason: d.reason.clone(),
            },
            Pending | AwaitingSecond | Escalated => Outcome::Pending { status: d.status },
        }
    }

    /// One line for a person or a model: what happened, who, why.
    pub fn describe(&self) -> String {
        let why = |r: &Option<String>| match r {
            Some(r) if !r.trim().is_empty() => format!(": {r}"),
            _ => String::new(),
        };
        match self {
            Outcome::Approved { by, reason } => format!("approved{by}{}", why(reason)),
            Outcome::Denied { status, by, reason } => format!("{status}{by}{}", why(reason)),
            Outcome::Pending { status } => format!("{status}: no decision yet"),
        }
    }
}

fn describe_decider(d: Option<&DecidedBy>) -> String {
    match d {
        Some(DecidedBy::Person { principal }) => format!(" by {principal}"),
        Some(DecidedBy::Policy { rule }) => format!(" by policy rule \"{rule}\""),
        Some(DecidedBy::Deadline) => " by its deadline".to_owned(),
        Some(DecidedBy::Agent { name }) => format!(" by agent {name}"),
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
                if !matches!(Outcome::of(&view), Outcome::Pending { .. }) {
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
        }
    }

    #[test]
    fn only_approval_is_go() {
        for s in ProposalStatus::ALL {
            let o = Outcome::of(&view(*s, None, None));
            let go = matches!(o, Outcome::Approved { .. });
            assert_eq!(
                go,
                matches!(
                    s,
                    ProposalStatus::Approved
                        | ProposalStatus::Executing
                        | ProposalStatus::Executed
                        | ProposalStatus::Failed
                ),
                "{s}"
            );
        }
        let o = Outcome::of(&view(
            ProposalStatus::Rejected,
            Some(DecidedBy::Person {
                principal: "alice".into(),
            }),
            Some("not on a domain controller"),
        ));
        assert_eq!(
            o.describe(),
            "rejected by alice: not on a domain controller"
        );
    }
}
