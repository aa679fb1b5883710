//! The lead's oversight figures, computed from the signed record: audit
//! entries in a window (read in sequence order), each with what the store
//! knows of its proposal and alert. Pure: the store reads, this counts.
//!
//! What is counted only sees the window: an approval signed before it is
//! not credited when its proposal is halted inside it.

use super::machine::Millis;
use super::types::{Label, Risk};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

// The figures over a window: `GET /v1/oversight` sends them as they are
// (a doc comment here would become the schema's description).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Oversight {
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub since: Millis,
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
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
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub at: Millis,
}

/// The audit kinds the oversight view reads.
pub const KINDS: &[&str] = &[
    "approval_counted",
    "approved",
    "rejected",
    "escalated",
    "halted",
    "execution_failed",
    "expired",
    "approved_by_policy",
    "sample_confirmed",
    "sample_flagged",
    "sample_unreviewed",
    "annotated",
];

/// Most findings listed.
const MAX_FINDINGS: usize = 50;

/// One audit entry and its context.
#[derive(Debug, Clone)]
pub struct Row {
    pub at: Millis,
    pub kind: String,
    pub proposal_id: Option<String>,
    /// The entry's exact bytes (canonical JSON).
    pub entry: String,
    /// The proposal's effective risk, agent and rule, as stored now.
    pub risk: Option<Risk>,
    pub proposal_agent: Option<String>,
    pub rule: Option<String>,
    /// The agent of the entry's alert.
    pub alert_agent: Option<String>,
}

#[derive(Deserialize)]
struct Entry {
    actor: Actor,
    #[serde(default)]
    data: Data,
}

#[derive(Deserialize, Default)]
struct Actor {
    principal: Option<String>,
    rule: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Data {
    verdict: Option<String>,
    from: Option<String>,
    reason: Option<String>,
    payload: Option<String>,
    labels: Vec<Label>,
    sampled: Option<serde_json::Value>,
    rule: Option<String>,
}

/// Only the signed payload's `review`.
#[derive(Deserialize, Default)]
struct Payload {
    #[serde(default)]
    review: Review,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Review {
    seconds: f64,
    panes: Vec<String>,
    group: Option<serde_json::Value>,
}

#[derive(Default)]
struct Analyst {
    row: AnalystRow,
    seconds: Vec<f64>,
}

/// The figures over `[since, until)`. `proposals` is how many proposals
/// each agent submitted in the window. Entries that do not parse are
/// skipped (the chain's integrity is `audit verify`'s job).
pub fn compute(
    rows: &[Row],
    proposals: &[(String, u64)],
    since: Millis,
    until: Millis,
) -> Oversight {
    let mut analysts: BTreeMap<String, Analyst> = BTreeMap::new();
    let mut agents: BTreeMap<String, AgentRow> = BTreeMap::new();
    let mut rules: BTreeMap<String, RuleRow> = BTreeMap::new();
    let mut findings = Vec::new();
    // Who approved each proposal, in the window so far.
    let mut approvers: HashMap<&str, Vec<String>> = HashMap::new();
    for (agent, n) in proposals {
        agents.entry(agent.clone()).or_default().proposals += n;
    }
    for r in rows {
        let Ok(e) = serde_json::from_str::<Entry>(&r.entry) else {
            continue;
        };
        let pid = r.proposal_id.as_deref().unwrap_or_default();
        let mut agent = |f: &dyn Fn(&mut AgentRow)| {
            if let Some(a) = &r.proposal_agent {
                f(agents.entry(a.clone()).or_default());
            }
        };
        let rule_name = e
            .data
            .rule
            .clone()
            .or_else(|| e.actor.rule.clone())
            .or_else(|| r.rule.clone())
            .unwrap_or_default();
        match r.kind.as_str() {
            "approved" | "rejected" | "expired" => agent(&|a| match r.kind.as_str() {
                "approved" => a.approved += 1,
                "rejected" => a.rejected += 1,
                _ => a.expired += 1,
            }),
            "approved_by_policy" => {
                agent(&|a| a.approved += 1);
                let rule = rules.entry(rule_name.clone()).or_default();
                rule.auto_approved += 1;
                if e.data.sampled.is_some() {
                    rule.sampled += 1;
                }
            }
            "sample_confirmed" => rules.entry(rule_name.clone()).or_default().confirmed += 1,
            "sample_flagged" => {
                rules.entry(rule_name.clone()).or_default().flagged += 1;
                findings.push(SampleFinding {
                    rule: rule_name.clone(),
                    proposal_id: pid.to_owned(),
                    principal: e.actor.principal.clone().unwrap_or_default(),
                    reason: e.data.reason.clone().unwrap_or_default(),
                    at: r.at,
                });
            }
            "sample_unreviewed" => rules.entry(rule_name.clone()).or_default().unreviewed += 1,
            "annotated" => {
                if e.data.labels.contains(&Label::FalsePositive)
                    && let Some(a) = &r.alert_agent
                {
                    agents.entry(a.clone()).or_default().false_positives += 1;
                }
            }
            _ => {}
        }
        if matches!(r.kind.as_str(), "halted" | "execution_failed") {
            for who in approvers.remove(pid).unwrap_or_default() {
                analysts
                    .entry(who)
                    .or_default()
                    .row
                    .approvals_halted_or_failed += 1;
            }
        }
        // A person's signed verdict on a proposal.
        let (Some(principal), Some(verdict)) = (&e.actor.principal, &e.data.verdict) else {
            continue;
        };
        let review = e
            .data
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<Payload>(p).ok())
            .unwrap_or_default()
            .review;
        let a = analysts.entry(principal.clone()).or_default();
        a.row.decisions += 1;
        a.seconds.push(review.seconds);
        if review.group.is_some() {
            a.row.in_groups += 1;
        }
        match verdict.as_str() {
            "approve" => {
                a.row.approvals += 1;
                let looked = review.panes.iter().any(|p| p == "diff" || p == "evidence");
                if r.risk.is_some_and(|k| k >= Risk::High) && !looked {
                    a.row.unexamined_high_approvals += 1;
                }
                approvers.entry(pid).or_default().push(principal.clone());
            }
            "reject" => {
                a.row.rejections += 1;
                if e.data.from.as_deref() == Some("awaiting_second") {
                    a.row.disagreed_as_second += 1;
                    for first in approvers.remove(pid).unwrap_or_default() {
                        analysts.entry(first).or_default().row.overturned_by_second += 1;
                    }
                }
            }
            _ => {}
        }
    }
    findings.reverse();
    findings.truncate(MAX_FINDINGS);
    Oversight {
        since,
        until,
        analysts: analysts
            .into_iter()
            .map(|(principal, mut a)| AnalystRow {
                principal,
                median_review_secs: median(&mut a.seconds),
                ..a.row
            })
            .collect(),
        agents: agents
            .into_iter()
            .map(|(agent, a)| {
                let decided = a.approved + a.rejected + a.expired;
                let rate = |n: u64| (decided > 0).then(|| n as f64 / decided as f64);
                AgentRow {
                    agent,
                    approval_rate: rate(a.approved),
                    rejection_rate: rate(a.rejected),
                    ..a
                }
            })
            .collect(),
        rules: rules
            .into_iter()
            .map(|(rule, r)| {
                let reviewed = r.confirmed + r.flagged;
                RuleRow {
                    rule,
                    flag_rate: (reviewed > 0).then(|| r.flagged as f64 / reviewed as f64),
                    ..r
                }
            })
            .collect(),
        findings,
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}
