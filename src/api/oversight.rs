//! `GET /v1/oversight?since=…&until=…`: the lead's view of how the gate is
//! used, computed from the signed record (the audit log) over a window.

use crate::domain::machine::Millis;
use crate::domain::text::visible;
use crate::domain::time::to_rfc3339;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OversightParams {
    /// Start of the window: an RFC 3339 time, or a span back from now
    /// (`30m`, `24h`, `7d`). Default `24h`.
    pub since: Option<String>,
    /// End of the window (RFC 3339 or a span back from now); default now.
    pub until: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Oversight {
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(schema_with = crate::api::schema::timestamp)]
    pub since: Millis,
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(schema_with = crate::api::schema::timestamp)]
    pub until: Millis,
    /// One row per person who decided in the window, by principal.
    pub analysts: Vec<AnalystRow>,
    /// One row per agent that proposed or was decided on, by name.
    pub agents: Vec<AgentRow>,
    /// One row per policy rule that approved alone, by name.
    pub rules: Vec<RuleRow>,
    /// The latest flags from sampled review (at most 50), newest first.
    pub findings: Vec<SampleFinding>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnalystRow {
    pub principal: String,
    /// Signed verdicts on proposals: approve, reject, escalate, halt,
    /// confirm, flag.
    pub decisions: u64,
    pub approvals: u64,
    pub rejections: u64,
    /// Of the decisions, those made in a group.
    pub in_groups: u64,
    /// Median seconds the detail was open before deciding (from the
    /// signed `review`); `None` without decisions.
    pub median_review_secs: Option<f64>,
    /// Approvals of high or critical risk signed without opening the diff
    /// or the evidence.
    pub unexamined_high_approvals: u64,
    /// Approvals of proposals that were later halted or failed when run.
    pub approvals_halted_or_failed: u64,
    /// Their first approvals that the second reviewer rejected.
    pub overturned_by_second: u64,
    /// Their rejections as second reviewer of someone's approval.
    pub disagreed_as_second: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentRow {
    pub agent: String,
    /// Proposals submitted in the window.
    pub proposals: u64,
    /// Approved in the window, by people or by policy.
    pub approved: u64,
    pub rejected: u64,
    pub expired: u64,
    /// `approved / (approved + rejected + expired)`; `None` when nothing
    /// was decided.
    pub approval_rate: Option<f64>,
    pub rejection_rate: Option<f64>,
    /// Annotations labelled `false_positive` on its alerts.
    pub false_positives: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleRow {
    pub rule: String,
    /// Approvals it made alone.
    pub auto_approved: u64,
    /// Of those, drawn for sampled review.
    pub sampled: u64,
    pub confirmed: u64,
    pub flagged: u64,
    /// Sampled, and the review window passed with nobody looking.
    pub unreviewed: u64,
    /// `flagged / (confirmed + flagged)`; `None` before any review.
    pub flag_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SampleFinding {
    pub rule: String,
    pub proposal_id: String,
    pub principal: String,
    pub reason: String,
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(schema_with = crate::api::schema::timestamp)]
    pub at: Millis,
}

fn opt(v: Option<f64>, scale: f64, suffix: &str) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{:.1}{suffix}", x * scale))
}

impl Oversight {
    /// The report as text: three tables and the latest findings. Names come
    /// from agents and the policy file: control and invisible characters are
    /// written as escapes. `countersign oversight` prints it; the console
    /// shows it to leads.
    pub fn report(&self) -> String {
        let o = self;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "oversight {} .. {}\n",
            to_rfc3339(o.since),
            to_rfc3339(o.until)
        );
        let _ = writeln!(
            out,
            "ANALYST              DECISIONS  APPROVED  REJECTED  IN GROUPS  MEDIAN REVIEW  HIGH UNEXAMINED  HALTED/FAILED  OVERTURNED  DISAGREED"
        );
        for a in &o.analysts {
            let _ = writeln!(
                out,
                "{:<20} {:>9}  {:>8}  {:>8}  {:>9}  {:>13}  {:>15}  {:>13}  {:>10}  {:>9}",
                visible(&a.principal),
                a.decisions,
                a.approvals,
                a.rejections,
                a.in_groups,
                opt(a.median_review_secs, 1.0, " s"),
                a.unexamined_high_approvals,
                a.approvals_halted_or_failed,
                a.overturned_by_second,
                a.disagreed_as_second
            );
        }
        let _ = writeln!(
            out,
            "\nAGENT                PROPOSALS  APPROVED  REJECTED  EXPIRED  APPROVAL RATE  REJECTION RATE  FALSE POSITIVES"
        );
        for a in &o.agents {
            let _ = writeln!(
                out,
                "{:<20} {:>9}  {:>8}  {:>8}  {:>7}  {:>13}  {:>14}  {:>15}",
                visible(&a.agent),
                a.proposals,
                a.approved,
                a.rejected,
                a.expired,
                opt(a.approval_rate, 100.0, " %"),
                opt(a.rejection_rate, 100.0, " %"),
                a.false_positives
            );
        }
        let _ = writeln!(
            out,
            "\nRULE (approves alone)                     AUTO  SAMPLED  CONFIRMED  FLAGGED  UNREVIEWED  FLAG RATE"
        );
        for r in &o.rules {
            let _ = writeln!(
                out,
                "{:<40} {:>5}  {:>7}  {:>9}  {:>7}  {:>10}  {:>9}",
                visible(&r.rule),
                r.auto_approved,
                r.sampled,
                r.confirmed,
                r.flagged,
                r.unreviewed,
                opt(r.flag_rate, 100.0, " %")
            );
        }
        if !o.findings.is_empty() {
            let _ = writeln!(out, "\nFLAGGED BY SAMPLED REVIEW (newest first)");
            for f in &o.findings {
                let _ = writeln!(
                    out,
                    "{}  {}  {}  {}: {}",
                    to_rfc3339(f.at),
                    visible(&f.rule),
                    f.proposal_id,
                    visible(&f.principal),
                    visible(&f.reason)
                );
            }
        }
        out
    }
}
