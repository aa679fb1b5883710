//! Risk is judged, not declared: a floor the agent cannot talk down. The
//! effective risk of a proposal is the higher of the agent's label and the
//! floor computed here; the policy runs on the effective risk. What the
//! agent asserts can raise risk, never lower it; what cannot be read is
//! held for a person.
//!
//! Floors: targets (`target`): indicator blocks that are too broad, internal
//! or unreadable in any spelling a blocking system accepts (`indicator`);
//! crown-jewel, protected and built-in sensitive targets (`sensitive`)
//! matched after normalisation (`names`); pattern characters. Permission
//! changes by what they really grant (`permissions`): new access → high,
//! new access of an escalation, credential or public/cross-account class →
//! critical, "may grant" or "not analysed" → high. No new access sets no
//! floor.

mod finding;
pub(crate) mod indicator;
pub mod names;
#[cfg(test)]
mod props;
pub mod sensitive;
mod target;

use super::permissions::{self, Analysis, Verdict};
use super::policy::{Policy, Rule};
use super::submission::ProposalSubmission;
use super::types::Risk;
pub use finding::Finding;
use serde::{Deserialize, Serialize};

/// The gate's own judgement of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Assessment {
    /// Does the permission change grant access the old document did not?
    /// `null` when there is no change or it was not analysed.
    pub expands_access: Option<bool>,
    pub floor: Risk,
    pub findings: Vec<Finding>,
    /// What the permission change grants, in full (for the record and the
    /// console's diff tab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub analysis: Option<Analysis>,
}

impl Assessment {
    /// The risk the policy runs on: the higher of the label and the floor.
    pub fn effective(&self, declared: Risk) -> Risk {
        declared.max(self.floor)
    }

    /// One line for people: "raised: grants … (privilege escalation)".
    pub fn reason(&self) -> String {
        self.findings
            .iter()
            .filter(|f| f.floor == self.floor)
            .map(|f| f.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Judges a proposal against the policy (its assets, and the action kinds
/// it knows).
pub fn assess(p: &ProposalSubmission, policy: &Policy) -> Assessment {
    let mut findings = Vec::new();
    let known = p.action.is_builtin()
        || policy
            .rules()
            .iter()
            .any(|r| r.action.as_ref() == Some(&p.action));
    if !known {
        findings.push(Finding {
            class: "unknown_action".into(),
            detail: format!(
                "the action `{}` is not one the policy knows: held for people",
                p.action
            ),
            floor: Risk::Medium,
        });
    }
    findings.extend(target::judge(&p.action, &p.target, &policy.assets));
    let analysis = p
        .permission_change
        .as_ref()
        .map(|pc| permissions::analyse(&pc.format, &pc.before, &pc.after));
    if let Some(a) = &analysis {
        findings.push(permission_finding(a));
        findings.extend(permissions::concerns(a).into_iter().map(Finding::from));
    } else if let Some(c) = permissions::missing_change(&p.action, &policy.assets.access_changing) {
        findings.push(c.into());
    }
    let floor = findings.iter().map(|f| f.floor).max().unwrap_or(Risk::Low);
    Assessment {
        expands_access: analysis.as_ref().and_then(|a| match a.verdict {
            Verdict::NoNewAccess => Some(false),
            Verdict::GrantsNewAccess | Verdict::MayGrantNewAccess => Some(true),
            Verdict::NotAnalysed => None,
        }),
        floor,
        findings,
        analysis,
    }
}

/// A proposal as the gate judged it under one policy: what the store
/// records and decides by, computed before the store is reached (it needs
/// no stored row, and the permission analysis in it is the costliest step
/// of a submission).
#[derive(Debug, Clone)]
pub struct Judged {
    pub assessment: Assessment,
    /// The risk the policy runs on ([`Assessment::effective`]).
    pub risk: Risk,
    /// The rule the action and that risk select.
    pub rule: Rule,
}

/// Judges a proposal and picks its rule: [`assess`], the effective risk,
/// and the policy's rule for the action at that risk.
pub fn judge(p: &ProposalSubmission, policy: &Policy) -> Judged {
    let assessment = assess(p, policy);
    let risk = assessment.effective(p.risk);
    let rule = policy.rule_for(&p.action, risk);
    Judged {
        assessment,
        risk,
        rule,
    }
}

impl From<permissions::Concern> for Finding {
    fn from(c: permissions::Concern) -> Self {
        Finding {
            class: c.class.into(),
            detail: c.detail,
            floor: c.floor,
        }
    }
}

/// The floor a permission change's delta sets, and why (the resulting
/// document's own grants and reduced audit logging are
/// `permissions::concerns`, findings of their own).
fn permission_finding(a: &Analysis) -> Finding {
    let first = a.new_grants.first().map(|g| g.describe());
    let more = match a.new_grants.len() {
        0 | 1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    let (floor, class, detail) = match a.verdict {
        Verdict::NoNewAccess => (
            Risk::Low,
            "no_new_access",
            "the change grants no new access".to_owned(),
        ),
        Verdict::NotAnalysed => (
            Risk::High,
            "not_analysed",
            format!(
                "a `{}` change the gate cannot analyse{}: held as if it may grant new access",
                a.format,
                a.unreadable
                    .as_ref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            ),
        ),
        Verdict::MayGrantNewAccess => (
            Risk::High,
            "may_grant_new_access",
            format!("may grant new access: {}{more}", first.unwrap_or_default()),
        ),
        Verdict::GrantsNewAccess => {
            let severe = a.worst().is_some_and(|c| c.is_severe());
            let detail = match first {
                Some(g) => format!("{g}{more}"),
                None if !a.removed_denies.is_empty() => {
                    format!("removes a Deny: {}", a.removed_denies.join("; "))
                }
                None => format!("audit logging reduced: {}", a.audit_reduced.join("; ")),
            };
            let floor = if severe { Risk::Critical } else { Risk::High };
            (floor, "grants_new_access", detail)
        }
    };
    Finding {
        class: class.into(),
        detail,
        floor,
    }
}

#[cfg(test)]
mod tests;
