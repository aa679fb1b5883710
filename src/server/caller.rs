//! Who a request comes from, once authenticated (`auth.rs`: bearer
//! tokens and sessions; `oidc/`: workload identities), and what each kind
//! of caller may do.

use super::error::ApiError;
use crate::api::ErrorCode;
use crate::domain::scope::Scope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub kind: CallerKind,
    /// What an agent may propose (its token's or workload identity's
    /// scope); any for people and reviewers.
    pub scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    Agent,
    /// Read-only: dashboards.
    Reviewer,
    /// A person logged in with their SSH key: may sign decisions.
    Person,
}

impl Caller {
    pub fn require_agent(&self) -> Result<(), ApiError> {
        match self.kind {
            CallerKind::Agent => Ok(()),
            _ => Err(ApiError::new(
                ErrorCode::AgentOnly,
                "only agent tokens may do this",
            )),
        }
    }

    pub fn require_reviewer(&self) -> Result<(), ApiError> {
        match self.kind {
            CallerKind::Reviewer | CallerKind::Person => Ok(()),
            CallerKind::Agent => Err(ApiError::new(
                ErrorCode::ReviewerOnly,
                "agent tokens cannot read the review queue",
            )),
        }
    }

    /// Signed decisions need a logged-in person.
    pub fn require_person(&self) -> Result<(), ApiError> {
        match self.kind {
            CallerKind::Person => Ok(()),
            CallerKind::Agent => Err(ApiError::new(
                ErrorCode::AgentCannotDecide,
                "an agent can never approve, reject, escalate, halt or annotate",
            )),
            CallerKind::Reviewer => Err(ApiError::new(
                ErrorCode::LoginRequired,
                "reviewer tokens are read-only; log in with your SSH key (POST /v1/session) to decide",
            )),
        }
    }

    /// Agents see only their own proposals.
    pub fn agent_filter(&self) -> Option<String> {
        (self.kind == CallerKind::Agent).then(|| self.name.clone())
    }
}
