//! The proposal state machine, pure:
//! no IO, no clock. Callers pass `now` in milliseconds since the epoch and a
//! resolved policy [`Rule`]; every function returns the next state and the
//! event to record, or a [`Refusal`] that leaves the state untouched.

use super::policy::Rule;
use super::types::{ProposalStatus, Role, Verdict};
use serde::{Deserialize, Serialize};

pub use super::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    pub principal: String,
    pub role: Role,
    /// RFC 3339 on the wire, like every time in the API (rows stored as
    /// epoch milliseconds before are still read).
    #[serde(with = "super::time::rfc3339_or_millis")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub at: Millis,
    /// Fingerprint of the key that signed it: one key is one person,
    /// whatever name it signs under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Everything the rules look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalState {
    pub status: ProposalStatus,
    /// Approvals counted towards the current digest.
    pub approvals: Vec<Approval>,
    pub escalated_by: Option<String>,
    /// Fingerprint of the escalator's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_by_key: Option<String>,
    pub expires_at: Millis,
    pub escalate_at: Option<Millis>,
    /// Set on approval: the agent must report `started` before this.
    pub execute_by: Option<Millis>,
}

/// Who asks for a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Person {
        principal: String,
        role: Role,
        /// Fingerprint of the signing key (`None` only where nothing was
        /// signed: tests and benchmarks of the rules).
        key: Option<String>,
        /// Signed with a FIDO security key, touched (`sk-*` key types).
        hardware: bool,
    },
    Agent {
        name: String,
    },
}

impl Actor {
    pub fn name(&self) -> &str {
        match self {
            Actor::Person { principal, .. } => principal,
            Actor::Agent { name } => name,
        }
    }
}

/// What happened, for the audit log and the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// An approval was counted; more are needed.
    ApprovalCounted,
    Approved,
    ApprovedByPolicy,
    Rejected,
    Escalated,
    AutoEscalated,
    Halted,
    Expired,
    Lapsed,
    ExecutionStarted,
    Executed,
    ExecutionFailed,
    /// Sampled review of a policy approval (see `domain::sample`).
    SampleConfirmed,
    SampleFlagged,
    SampleUnreviewed,
    /// Narrowed by a person as they approved it (see `domain::amend`).
    Amended,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::ApprovalCounted => "approval_counted",
            Event::Approved => "approved",
            Event::ApprovedByPolicy => "approved_by_policy",
            Event::Rejected => "rejected",
            Event::Escalated => "escalated",
            Event::AutoEscalated => "auto_escalated",
            Event::Halted => "halted",
            Event::Expired => "expired",
            Event::Lapsed => "lapsed",
            Event::ExecutionStarted => "execution_started",
            Event::Executed => "executed",
            Event::ExecutionFailed => "execution_failed",
            Event::SampleConfirmed => "sample_confirmed",
            Event::SampleFlagged => "sample_flagged",
            Event::SampleUnreviewed => "sample_unreviewed",
            Event::Amended => "amended",
        }
    }
}

/// Why a transition was refused. The HTTP layer maps these to 400/403/409.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the proposal is already {0}; a final decision cannot change")]
    Final(ProposalStatus),
    #[error("cannot {verb} a proposal that is {status}")]
    WrongState {
        verb: &'static str,
        status: ProposalStatus,
    },
    #[error("an agent can never approve, reject, escalate or halt")]
    AgentCannotDecide,
    #[error(
        "{0} has already approved or escalated this proposal; the same person never counts twice"
    )]
    SamePrincipal(String),
    #[error(
        "the key {0} has already approved or escalated this proposal under another name; one key is one person"
    )]
    SameKey(String),
    #[error("rule \"{rule}\" needs a {role} for this approval")]
    RoleRequired { rule: String, role: Role },
    #[error("an escalated proposal is decided by a lead")]
    LeadRequired,
    #[error(
        "rule \"{0}\" wants approvals signed with a hardware security key (sk-ssh-ed25519 or sk-ecdsa-sha2-nistp256), touched"
    )]
    HardwareKeyRequired(String),
    #[error("a {0} needs a reason of at least two characters")]
    ReasonRequired(Verdict),
    #[error("the execution window closed; the approval lapsed")]
    WindowClosed,
    #[error("only the agent that proposed it reports its execution")]
    NotProposer,
    #[error("{0} proposed this action and cannot decide it")]
    SelfApproval(String),
    #[error(
        "confirm and flag apply to policy approvals drawn for sampled review; this one was not"
    )]
    NotSampled,
    #[error("this sampled approval is closed: {0}")]
    SampleClosed(&'static str),
}

/// A successful transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state: ProposalState,
    pub event: Event,
}

fn secs(s: u64) -> Millis {
    i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// The state of a newly submitted proposal. An `auto` rule approves it by
/// policy at once; the returned event says so.
pub fn initial(rule: &Rule, now: Millis, expires_in_secs: Option<u64>) -> Transition {
    let lifetime = expires_in_secs.map_or(rule.expiry_secs, |s| s.min(rule.expiry_secs));
    let mut state = ProposalState {
        status: ProposalStatus::Pending,
        approvals: Vec::new(),
        escalated_by: None,
        escalated_by_key: None,
        expires_at: now.saturating_add(secs(lifetime)),
        escalate_at: rule
            .escalate_after_secs
            .map(|s| now.saturating_add(secs(s))),
        execute_by: None,
    };
    if rule.auto {
        state.status = ProposalStatus::Approved;
        state.execute_by = Some(now.saturating_add(secs(rule.execution_window_secs)));
        return Transition {
            state,
            event: Event::ApprovedByPolicy,
        };
    }
    Transition {
        state,
        event: Event::ApprovalCounted,
    }
}

/// The next deadline transition due at `now`, if any: expiry of an open
/// proposal, auto-escalation of a pending one, lapse of an unstarted approval.
pub fn due(state: &ProposalState, now: Millis) -> Option<Transition> {
    let mut next = state.clone();
    let event = match state.status {
        s if s.is_open() && now >= state.expires_at => {
            next.status = ProposalStatus::Expired;
            Event::Expired
        }
        ProposalStatus::Pending if state.escalate_at.is_some_and(|t| now >= t) => {
            next.status = ProposalStatus::Escalated;
            next.escalate_at = None;
            Event::AutoEscalated
        }
        ProposalStatus::Approved if state.execute_by.is_some_and(|t| now >= t) => {
            next.status = ProposalStatus::Lapsed;
            Event::Lapsed
        }
        _ => return None,
    };
    Some(Transition { state: next, event })
}

/// The earliest time at which [`due`] could return something.
pub fn next_deadline(state: &ProposalState) -> Option<Millis> {
    match state.status {
        ProposalStatus::Pending => Some(
            state
                .escalate_at
                .map_or(state.expires_at, |e| e.min(state.expires_at)),
        ),
        s if s.is_open() => Some(state.expires_at),
        ProposalStatus::Approved => state.execute_by,
        _ => None,
    }
}

/// A reason is required for reject, escalate and halt: not empty, not one
/// character.
pub fn reason_ok(reason: &str) -> bool {
    reason.trim().chars().count() >= 2
}

/// What one more approval would do, as the rules themselves answer it:
/// for the console to say before anyone signs whether this person can
/// complete the proposal, only count towards it, or not approve it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outlook {
    /// Their approval approves it.
    Completes,
    /// It counts: `after` approvals of the `of` needed; `lead_missing`
    /// when none of them would be a lead's and the rule wants one.
    Counts {
        after: usize,
        of: u32,
        lead_missing: bool,
    },
    /// They cannot approve it (escalated to leads, a lead's approval is
    /// the one missing, they approved already…).
    Refused(Refusal),
}

/// [`Outlook`] of an approval by `actor` under a rule asking for
/// `approvals` approvals, one from `role`: [`decide`] itself, on a copy.
pub fn outlook(
    state: &ProposalState,
    approvals: u32,
    role: Role,
    hardware_key: bool,
    actor: &Actor,
) -> Outlook {
    let rule = Rule {
        name: String::new(),
        action: None,
        risk: None,
        approvals,
        role,
        auto: false,
        expiry_secs: 0,
        escalate_after_secs: None,
        execution_window_secs: 0,
        sample: 0.0,
        sample_window_secs: 0,
        contain_for_secs: None,
        hardware_key,
    };
    match decide(state, &rule, actor, Verdict::Approve, "", 0) {
        Ok(t) if t.state.status == ProposalStatus::Approved => Outlook::Completes,
        Ok(t) => Outlook::Counts {
            after: t.state.approvals.len(),
            of: approvals,
            lead_missing: role == Role::Lead
                && !t.state.approvals.iter().any(|a| satisfies(a.role, role)),
        },
        Err(r) => Outlook::Refused(r),
    }
}

/// A human verdict. Call [`due`] first: deadlines win over late decisions.
pub fn decide(
    state: &ProposalState,
    rule: &Rule,
    actor: &Actor,
    verdict: Verdict,
    reason: &str,
    now: Millis,
) -> Result<Transition, Refusal> {
    let Actor::Person {
        principal,
        role,
        key,
        hardware,
    } = actor
    else {
        return Err(Refusal::AgentCannotDecide);
    };
    if state.status.is_final() {
        return Err(Refusal::Final(state.status));
    }
    if verdict != Verdict::Approve && !reason_ok(reason) {
        return Err(Refusal::ReasonRequired(verdict));
    }
    let wrong = |verb| Refusal::WrongState {
        verb,
        status: state.status,
    };
    let mut next = state.clone();
    let event = match verdict {
        Verdict::Approve => {
            if !state.status.is_open() {
                return Err(wrong("approve"));
            }
            if state.status == ProposalStatus::Escalated && *role != Role::Lead {
                return Err(Refusal::LeadRequired);
            }
            let seen = state.approvals.iter().any(|a| &a.principal == principal)
                || state.escalated_by.as_deref() == Some(principal.as_str());
            if seen {
                return Err(Refusal::SamePrincipal(principal.clone()));
            }
            if rule.hardware_key && !hardware {
                return Err(Refusal::HardwareKeyRequired(rule.name.clone()));
            }
            if let Some(k) = key {
                let same_key = state.approvals.iter().any(|a| a.key.as_ref() == Some(k))
                    || state.escalated_by_key.as_ref() == Some(k);
                if same_key {
                    return Err(Refusal::SameKey(k.clone()));
                }
            }
            next.approvals.push(Approval {
                principal: principal.clone(),
                role: *role,
                at: now,
                key: key.clone(),
            });
            if next.approvals.len() as u32 >= rule.approvals {
                if !next.approvals.iter().any(|a| satisfies(a.role, rule.role)) {
                    return Err(Refusal::RoleRequired {
                        rule: rule.name.clone(),
                        role: rule.role,
                    });
                }
                next.status = ProposalStatus::Approved;
                next.execute_by = Some(now.saturating_add(secs(rule.execution_window_secs)));
                Event::Approved
            } else {
                next.status = ProposalStatus::AwaitingSecond;
                Event::ApprovalCounted
            }
        }
        Verdict::Reject => {
            if !state.status.is_open() {
                return Err(wrong("reject"));
            }
            if state.status == ProposalStatus::Escalated && *role != Role::Lead {
                return Err(Refusal::LeadRequired);
            }
            next.status = ProposalStatus::Rejected;
            Event::Rejected
        }
        Verdict::Escalate => {
            if state.status != ProposalStatus::Pending {
                return Err(wrong("escalate"));
            }
            next.status = ProposalStatus::Escalated;
            next.escalated_by = Some(principal.clone());
            next.escalated_by_key = key.clone();
            next.escalate_at = None;
            Event::Escalated
        }
        Verdict::Halt => {
            if state.status != ProposalStatus::Approved {
                return Err(wrong("halt"));
            }
            next.status = ProposalStatus::Halted;
            Event::Halted
        }
        // Reviews of what policy approved: see `sample::review`.
        Verdict::Confirm | Verdict::Flag => return Err(Refusal::NotSampled),
    };
    Ok(Transition { state: next, event })
}

fn satisfies(have: Role, need: Role) -> bool {
    match need {
        Role::Analyst => true,
        Role::Lead => have == Role::Lead,
    }
}

/// The agent reports it is starting. Refused unless approved and inside the
/// execution window: this is the race-free hand-off point.
pub fn start_execution(state: &ProposalState, now: Millis) -> Result<Transition, Refusal> {
    match state.status {
        ProposalStatus::Approved if state.execute_by.is_some_and(|t| now >= t) => {
            Err(Refusal::WindowClosed)
        }
        ProposalStatus::Approved => {
            let mut next = state.clone();
            next.status = ProposalStatus::Executing;
            Ok(Transition {
                state: next,
                event: Event::ExecutionStarted,
            })
        }
        s if s.is_final() => Err(Refusal::Final(s)),
        s => Err(Refusal::WrongState {
            verb: "start",
            status: s,
        }),
    }
}

/// The agent reports the outcome of a started execution.
pub fn finish_execution(state: &ProposalState, ok: bool) -> Result<Transition, Refusal> {
    match state.status {
        ProposalStatus::Executing => {
            let mut next = state.clone();
            next.status = if ok {
                ProposalStatus::Executed
            } else {
                ProposalStatus::Failed
            };
            Ok(Transition {
                state: next,
                event: if ok {
                    Event::Executed
                } else {
                    Event::ExecutionFailed
                },
            })
        }
        s if s.is_final() => Err(Refusal::Final(s)),
        s => Err(Refusal::WrongState {
            verb: "finish",
            status: s,
        }),
    }
}

/// The agent revised the documents: approvals counted for the old digest are
/// dismissed (`awaiting_second` falls back to `pending`). Returns the new
/// state and the dismissed approvals. Only open proposals are revised.
pub fn revise(state: &ProposalState) -> (ProposalState, Vec<Approval>) {
    let mut next = state.clone();
    let dismissed = std::mem::take(&mut next.approvals);
    if next.status == ProposalStatus::AwaitingSecond {
        next.status = ProposalStatus::Pending;
    }
    (next, dismissed)
}

#[cfg(test)]
mod tests;
