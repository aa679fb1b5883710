//! What the server stores and serves: alerts, proposals, audit entries,
//! tokens. These are the API's response shapes too, so the client
//! deserialises the same types.

use super::machine::{Approval, Millis, ProposalState};
use super::time::{rfc3339, rfc3339_opt};
use super::types::{ActionKind, EntityKind, ProposalStatus, Risk, Severity, TokenRole};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who made a proposal reach its current status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DecidedBy {
    Person {
        principal: String,
    },
    /// An `auto` policy rule, never a person.
    Policy {
        rule: String,
    },
    /// A deadline: expiry, auto-escalation or lapse.
    Deadline,
    /// The agent's execution report.
    Agent {
        name: String,
    },
    /// The report of the gate's own executor (`[[executors]]`).
    Executor {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertRecord {
    pub id: String,
    pub external_id: String,
    pub agent: String,
    pub source: String,
    pub severity: Severity,
    pub title: String,
    pub entity_kind: EntityKind,
    pub entity_id: String,
    pub confidence: f64,
    pub revision: u32,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub created_at: Millis,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub updated_at: Millis,
    /// The alert object exactly as submitted, without `proposals`.
    pub document: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProposalRecord {
    pub id: String,
    pub alert_id: String,
    pub index: u32,
    pub action: ActionKind,
    pub target: String,
    /// The effective risk the policy ran on: the higher of the agent's
    /// label and the gate's floor.
    pub risk: Risk,
    /// What the agent said.
    pub declared_risk: Risk,
    /// The gate's own judgement (floor and findings); `None` for proposals
    /// stored before the gate judged risk.
    pub assessment: Option<super::risk::Assessment>,
    /// Drawn for sampled review when policy approved it (see
    /// `domain::sample`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<super::sample::Sample>,
    /// Approved as amended (narrowed) by a person: its `document` and
    /// `digest` are the amended ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amended: Option<Amended>,
    /// Executed containment with `contain_for`: when the gate proposes its
    /// revert (unless a person extends it). Cleared once proposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "super::time::rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub contain_until: Option<Millis>,
    pub status: ProposalStatus,
    pub digest: String,
    /// The proposal object exactly as submitted.
    pub document: Value,
    pub proposed_by: String,
    /// Name of the policy rule that governs it.
    pub rule: String,
    pub approvals: Vec<Approval>,
    pub escalated_by: Option<String>,
    /// Fingerprint of the escalator's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_by_key: Option<String>,
    pub decided_by: Option<DecidedBy>,
    pub reason: Option<String>,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub created_at: Millis,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub updated_at: Millis,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub expires_at: Millis,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub escalate_at: Option<Millis>,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub execute_by: Option<Millis>,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub decided_at: Option<Millis>,
    /// Who is working on it, until when (a lease; see `claim`).
    pub claimed_by: Option<String>,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub claim_until: Option<Millis>,
    /// Audit sequence number of the last change: the queue cursor.
    pub change_seq: i64,
}

impl ProposalRecord {
    pub fn state(&self) -> ProposalState {
        ProposalState {
            status: self.status,
            approvals: self.approvals.clone(),
            escalated_by: self.escalated_by.clone(),
            escalated_by_key: self.escalated_by_key.clone(),
            expires_at: self.expires_at,
            escalate_at: self.escalate_at,
            execute_by: self.execute_by,
        }
    }

    pub fn set_state(&mut self, s: ProposalState) {
        self.status = s.status;
        self.approvals = s.approvals;
        self.escalated_by = s.escalated_by;
        self.escalated_by_key = s.escalated_by_key;
        self.expires_at = s.expires_at;
        self.escalate_at = s.escalate_at;
        self.execute_by = s.execute_by;
    }
}

/// A queue row: the proposal without its document, with what the console
/// lists from its alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueItem {
    #[serde(flatten)]
    pub proposal: ProposalSummary,
    pub alert_title: String,
    pub severity: Severity,
    pub source: String,
    pub entity_kind: EntityKind,
    pub entity_id: String,
    pub confidence: f64,
    /// Someone annotated the alert (a note or a label): its proposals are
    /// decided one by one, never in a group.
    #[serde(default)]
    pub noted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProposalSummary {
    pub id: String,
    pub alert_id: String,
    pub action: ActionKind,
    pub target: String,
    pub risk: Risk,
    pub status: ProposalStatus,
    pub digest: String,
    pub proposed_by: String,
    pub approvals: Vec<Approval>,
    pub escalated_by: Option<String>,
    pub decided_by: Option<DecidedBy>,
    pub reason: Option<String>,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub created_at: Millis,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub expires_at: Millis,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub execute_by: Option<Millis>,
    pub claimed_by: Option<String>,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub claim_until: Option<Millis>,
    pub change_seq: i64,
    /// The policy rule(s) that govern it.
    #[serde(default)]
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<super::sample::Sample>,
    /// The server's word that it may be decided as one of a group (pending
    /// a first approval, below high risk, its rule wants one person).
    /// Absent means no.
    #[serde(default)]
    pub groupable: bool,
    /// What its rule asks for, as the server's policy says now: how many
    /// approvals, one of them from which role. Absent where not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Needs>,
}

/// How many distinct approvals a proposal needs, one of them from `role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Needs {
    pub approvals: u32,
    pub role: super::types::Role,
    /// Approvals must be signed by a touched FIDO security key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hardware_key: bool,
}

impl ProposalSummary {
    /// The part of its state the rules look at, as far as a summary knows
    /// it (an escalator's key is not listed).
    pub fn state(&self) -> ProposalState {
        ProposalState {
            status: self.status,
            approvals: self.approvals.clone(),
            escalated_by: self.escalated_by.clone(),
            escalated_by_key: None,
            expires_at: self.expires_at,
            escalate_at: None,
            execute_by: self.execute_by,
        }
    }
}

impl From<&ProposalRecord> for ProposalSummary {
    fn from(p: &ProposalRecord) -> Self {
        Self {
            id: p.id.clone(),
            alert_id: p.alert_id.clone(),
            action: p.action.clone(),
            target: p.target.clone(),
            risk: p.risk,
            status: p.status,
            digest: p.digest.clone(),
            proposed_by: p.proposed_by.clone(),
            approvals: p.approvals.clone(),
            escalated_by: p.escalated_by.clone(),
            decided_by: p.decided_by.clone(),
            reason: p.reason.clone(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            execute_by: p.execute_by,
            claimed_by: p.claimed_by.clone(),
            claim_until: p.claim_until,
            change_seq: p.change_seq,
            rule: p.rule.clone(),
            sample: p.sample.clone(),
            groupable: false,
            needs: None,
        }
    }
}

/// One entry of the hash-chained audit log. `entry` is the exact bytes that
/// were hashed: `hash = SHA-256(prev_hash ‖ entry)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub entry: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: TokenRole,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub created_at: Millis,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub revoked_at: Option<Millis>,
    /// When it stops working (`token create --ttl`, or the end of a
    /// rotation's grace); `null`: never.
    #[serde(default, with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub expires_at: Option<Millis>,
    /// Last request it authenticated, recorded at most once a minute.
    #[serde(default, with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub last_used_at: Option<Millis>,
    /// What the agent may propose, as stored: the JSON of
    /// [`super::scope::Scope`]; `null`: anything. Kept as text so a row
    /// that does not parse is still listed, and refused (fail closed) when
    /// it authenticates, by [`TokenRecord::scope`].
    #[serde(default)]
    pub scope: Option<String>,
}

impl TokenRecord {
    /// The scope a request with this token has; an unreadable one is an
    /// error, never "any".
    pub fn scope(&self) -> Result<super::scope::Scope, super::scope::BadScope> {
        match &self.scope {
            None => Ok(super::scope::Scope::any()),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                super::scope::BadScope(format!("the token's stored scope is unreadable: {e}"))
            }),
        }
    }

    /// Stopped working by `now`: revoked, or past its expiry.
    pub fn expired(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A signed note on an alert (false positive, needs info, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnnotationRecord {
    pub id: String,
    pub alert_id: String,
    pub principal: String,
    pub note: String,
    pub labels: Vec<super::types::Label>,
    pub digest: String,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub created_at: Millis,
    pub seq: i64,
}

/// How a proposal was amended, kept with it: who, when, what it replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Amended {
    pub by: String,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub at: i64,
    /// The digest of the proposal as the agent proposed it.
    pub original_digest: String,
    /// Each replaced field: `{"from": …, "to": …}`.
    pub changed: serde_json::Map<String, Value>,
}
