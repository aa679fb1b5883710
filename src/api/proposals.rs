//! The agent's side of a proposal (decision long-poll, execution report)
//! and the console's claim.

use crate::domain::machine::Approval;
use crate::domain::records::{DecidedBy, ProposalRecord};
use crate::domain::time::rfc3339_opt;
use crate::domain::types::ProposalStatus;
use serde::{Deserialize, Serialize};

/// `?wait=SECS` on long-polls.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Seconds to wait for a change, capped by the server's `max_wait`
    /// (300 s by default). Behind a load balancer keep it below the
    /// balancer's idle timeout (60 s on an AWS ALB by default).
    #[param(minimum = 0, maximum = 300)]
    pub wait: Option<f64>,
}

/// What an agent needs to act, or not.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionView {
    pub proposal_id: String,
    pub alert_id: String,
    pub status: ProposalStatus,
    /// No longer waiting for a person or the clock.
    pub decided: bool,
    /// Nothing will change any more.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub decided_by: Option<DecidedBy>,
    pub reason: Option<String>,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub decided_at: Option<i64>,
    /// Report `started` before this, or the approval lapses.
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub execute_by: Option<i64>,
    pub approvals: Vec<Approval>,
    pub digest: String,
    /// The freeze that stops the proposing agent, if a lead froze it: under
    /// `hold` an approved proposal waits (`started` is refused) until it
    /// is lifted or the approval lapses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<crate::domain::freeze::Freeze>,
    /// Executed, then reverted by a person: the compensating proposal,
    /// proposed in this agent's name (wait on it as on any other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_by: Option<String>,
    /// Approved as amended by a person: execute this document, not the
    /// one proposed (`digest` is its digest; `changed` says what changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amended: Option<AmendedView>,
    /// Executed containment (`contain_for`): when the gate proposes its
    /// revert, unless a person extends it.
    #[serde(default, with = "rfc3339_opt", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub contain_until: Option<i64>,
}

/// What a person narrowed, and the document to execute.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AmendedView {
    #[serde(flatten)]
    pub amended: crate::domain::amend::Amended,
    /// The proposal as amended.
    pub document: serde_json::Value,
}

impl DecisionView {
    /// With the freeze that applies to its agent.
    pub fn frozen(mut self, freeze: Option<crate::domain::freeze::Freeze>) -> Self {
        self.frozen = freeze;
        self
    }

    /// "amended by alice: target 10.0.0.0/24 → 10.0.0.5/32", when a person
    /// narrowed it (values shown with invisible characters made visible).
    pub fn amendment_note(&self) -> Option<String> {
        let a = self.amended.as_ref()?;
        let show = |v: &serde_json::Value| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Object(o) if o.contains_key("after") => {
                    format!("after {}", o["after"])
                }
                other => other.to_string(),
            };
            crate::domain::text::truncate(&crate::domain::text::visible(&text), 200)
        };
        let changes: Vec<String> = a
            .amended
            .changed
            .iter()
            .map(|(field, c)| format!("{field} {} → {}", show(&c["from"]), show(&c["to"])))
            .collect();
        Some(format!(
            "amended by {}: {}; execute the amended document, not the one proposed",
            a.amended.by,
            changes.join(", ")
        ))
    }

    /// Approved, but a `hold` freeze keeps it from starting.
    pub fn held(&self) -> bool {
        self.status == ProposalStatus::Approved && self.frozen.as_ref().is_some_and(|f| f.holds())
    }
}

impl From<&ProposalRecord> for DecisionView {
    fn from(p: &ProposalRecord) -> Self {
        DecisionView {
            proposal_id: p.id.clone(),
            alert_id: p.alert_id.clone(),
            status: p.status,
            decided: !p.status.is_open(),
            is_final: p.status.is_final(),
            decided_by: p.decided_by.clone(),
            reason: p.reason.clone(),
            decided_at: p.decided_at,
            execute_by: p.execute_by,
            approvals: p.approvals.clone(),
            digest: p.digest.clone(),
            frozen: None,
            reverted_by: None,
            amended: p.amended.clone().map(|amended| AmendedView {
                amended,
                document: p.document.clone(),
            }),
            contain_until: p.contain_until,
        }
    }
}

/// `POST /v1/proposals/{id}/claim`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// Give the claim up instead of taking or renewing it.
    #[serde(default)]
    pub release: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimView {
    pub proposal_id: String,
    pub claimed_by: Option<String>,
    #[serde(with = "rfc3339_opt")]
    #[schema(schema_with = crate::domain::schema::timestamp_opt)]
    pub claim_until: Option<i64>,
}

/// How long a claim lasts unless renewed.
pub const CLAIM_TTL_MS: i64 = 10 * 60 * 1000;

/// `POST /v1/proposals/{id}/execution`: `{"state": "started",
/// "receipt_id"?: "…"}`, then
/// `{"state": "executed"|"failed", "detail": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExecutionReport {
    Started {
        /// The receipt being used (`GET /v1/proposals/{id}/receipt`):
        /// refused unless it is this proposal's. Starting consumes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipt_id: Option<String>,
    },
    Executed {
        #[serde(default)]
        detail: String,
    },
    Failed {
        #[serde(default)]
        detail: String,
    },
}

/// Closed objects: `{"state": "started"}`, `{"state": "executed"|"failed",
/// "detail"?: "..."}`.
impl utoipa::PartialSchema for ExecutionReport {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::domain::schema::from_json(execution_report_json())
    }
}

pub(crate) fn execution_report_json() -> serde_json::Value {
    {
        let state = |s: &str, detail: bool| {
            let mut properties = serde_json::json!({"state": {"type": "string", "enum": [s]}});
            if s == "started" {
                properties["receipt_id"] = serde_json::json!({"type": "string", "maxLength": 64, "description": "The receipt being used: refused unless it is this proposal's. Starting consumes it."});
            }
            if detail {
                properties["detail"] = serde_json::json!({"type": "string", "description": "What happened, for the record."});
            }
            serde_json::json!({"type": "object", "additionalProperties": false,
                "required": ["state"], "properties": properties})
        };
        serde_json::json!({
            "description": "Report `started` before `execute_by`, then `executed` or `failed`.",
            "oneOf": [state("started", false), state("executed", true), state("failed", true)]
        })
    }
}

impl utoipa::ToSchema for ExecutionReport {}

impl ExecutionReport {
    /// `started`, with no receipt named.
    pub fn started() -> Self {
        ExecutionReport::Started { receipt_id: None }
    }
}

/// `GET /v1/proposals/{id}/receipt`: the approval receipt, and the
/// server's signature over its exact text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    /// The receipt: RFC 8785 JSON text. Verify the signature over exactly
    /// these bytes, then read it.
    pub receipt: String,
    /// Armored SSHSIG by the server key, namespace `countersign-receipt`.
    pub signature: String,
}

/// `GET /v1/proposals/{id}/revert`: what a revert of this executed
/// proposal would create, for the person to see before signing a `revert`
/// with `revert_digest` = `digest`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevertPreview {
    /// The executed proposal it reverts.
    pub reverts: String,
    /// What undoes it.
    pub action: String,
    pub target: String,
    /// The risk the gate judges the compensating proposal at.
    pub risk: crate::domain::types::Risk,
    /// The rule that risk selects, and what it takes: the reverting
    /// person's signature is the first approval.
    pub rule: String,
    pub approvals: u32,
    pub role: crate::domain::types::Role,
    /// `{"alert": …, "proposal": …}`: the compensating alert and proposal
    /// exactly as they would be created.
    pub document: serde_json::Value,
    /// Sign a `revert` naming this as `revert_digest`.
    pub digest: String,
}
