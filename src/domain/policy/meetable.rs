//! Can a policy's rules be met at all? A rule that needs a lead when no lead
//! can sign, more approvals than there are people allowed to sign, or an
//! escalation due only after the proposal has expired cannot work as
//! written; `policy check` and `serve` refuse such a policy, naming the
//! rule. Pure: allowed_signers arrives as a [`SignerSet`].

use super::{Policy, Rule};
use crate::domain::permissions::pattern;
use crate::domain::types::{ActionKind, Risk, Role};
use std::collections::BTreeSet;

/// One allowed_signers line whose key may sign decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerLine {
    /// Principal patterns (`*`, `?`, `!negation`).
    pub principals: Vec<String>,
    /// The key's fingerprint: one key is one person, whatever it signs as.
    pub key: String,
}

/// Who may sign decisions, as far as a policy check needs to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignerSet {
    lines: Vec<SignerLine>,
}

fn wild(p: &str) -> bool {
    p.contains(['*', '?'])
}

fn positive(p: &&String) -> bool {
    !p.starts_with('!')
}

impl SignerLine {
    fn admits(&self, name: &str) -> bool {
        pattern::matches_list(self.principals.iter().map(String::as_str), name)
    }

    /// Could a name this line admits match `lead` (a pattern)? Exact for the
    /// line's own names; for its patterns, whether the two overlap (the
    /// line's negations aside, so never a wrong "no").
    fn could_match(&self, lead: impl Fn(&str) -> bool, overlap: impl Fn(&str) -> bool) -> bool {
        self.principals.iter().filter(positive).any(|p| {
            if wild(p) {
                overlap(p)
            } else {
                self.admits(p) && lead(p)
            }
        })
    }
}

impl SignerSet {
    pub fn new(lines: Vec<SignerLine>) -> Self {
        SignerSet { lines }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Distinct keys.
    pub fn keys(&self) -> usize {
        self.lines
            .iter()
            .map(|l| l.key.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The most distinct people who could approve one proposal: no more
    /// than the distinct keys, nor than the distinct names (unbounded where
    /// a line names a pattern).
    pub fn people(&self) -> usize {
        let keys = self.keys();
        let lines = || self.lines.iter();
        if lines().any(|l| l.principals.iter().filter(positive).any(|p| wild(p))) {
            return keys;
        }
        let names: BTreeSet<&str> = lines()
            .flat_map(|l| {
                l.principals
                    .iter()
                    .filter(|p| positive(p) && l.admits(p))
                    .map(String::as_str)
            })
            .collect();
        keys.min(names.len())
    }

    /// Could anyone here sign as a lead of `policy`?
    fn lead_signs(&self, policy: &Policy) -> bool {
        let leads: Vec<&str> = policy.leads().filter(|p| !p.starts_with('!')).collect();
        self.lines.iter().any(|l| {
            l.could_match(
                |name| policy.role_of(name) == Role::Lead,
                |p| leads.iter().any(|lead| pattern::overlaps(lead, p)),
            )
        })
    }

    /// Does the lead pattern match anyone here?
    fn matches_anyone(&self, lead: &str) -> bool {
        self.lines.iter().any(|l| {
            l.could_match(
                |name| pattern::matches(lead, name),
                |p| pattern::overlaps(lead, p),
            )
        })
    }
}

/// Why a rule needs a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadNeed {
    /// `role = "lead"`: one of its approvers must be a lead.
    Approval,
    /// `escalate_after_secs`: what escalates is decided by a lead.
    Escalation(u64),
}

impl std::fmt::Display for LeadNeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeadNeed::Approval => f.write_str("a lead among its approvers (role = \"lead\")"),
            LeadNeed::Escalation(s) => write!(
                f,
                "a lead to decide what it escalates after {s} s (escalate_after_secs)"
            ),
        }
    }
}

/// Why a rule can never be met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    #[error("it needs {0}, and the policy names no lead ([roles] leads)")]
    NoLead(LeadNeed),
    #[error(
        "it needs {need}, and no lead can sign: nobody in allowed_signers matches [roles] leads ({leads})"
    )]
    NoLeadSigns { need: LeadNeed, leads: String },
    #[error(
        "it needs {approvals} approvals from distinct people, and allowed_signers lets only {people} {} sign decisions (one key is one person)",
        if *.people == 1 { "person" } else { "people" }
    )]
    TooFewPeople { approvals: u32, people: usize },
    #[error(
        "it escalates after {escalate} s but expires after {expiry} s, so it never escalates: escalate_after_secs must be less than expiry_secs"
    )]
    EscalatesAfterExpiry { escalate: u64, expiry: u64 },
}

/// Which rule: `[defaults]`, one rule, or rules that apply together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Where {
    Defaults,
    Rule(String),
    /// Rules whose fields combine into one that cannot work (names joined
    /// with ` + `), and a proposal they apply to together.
    Together {
        rules: String,
        action: ActionKind,
        risk: Risk,
    },
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Where::Defaults => f.write_str("[defaults]"),
            Where::Rule(name) => write!(f, "rule \"{name}\""),
            Where::Together {
                rules,
                action,
                risk,
            } => write!(
                f,
                "rules \"{rules}\" with [defaults] (together on {action} at {risk} risk)"
            ),
        }
    }
}

/// A rule that can never be met, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {why}")]
pub struct Problem {
    pub at: Where,
    pub why: Why,
}

/// Who can be a lead, as far as the rules are concerned.
enum Leads {
    Unnamed,
    NoneSigns(String),
    Sign,
}

/// Every rule of `policy` that can never be met: with `signers` (the
/// people allowed_signers lets sign decisions), also those needing more
/// people or a lead than can sign. Empty when every rule can be met.
pub fn unmeetable(policy: &Policy, signers: Option<&SignerSet>) -> Vec<Problem> {
    let leads = if !policy.leads().any(|p| !p.starts_with('!')) {
        Leads::Unnamed
    } else if signers.is_some_and(|s| !s.lead_signs(policy)) {
        Leads::NoneSigns(policy.leads().collect::<Vec<_>>().join(", "))
    } else {
        Leads::Sign
    };
    let people = signers.map(SignerSet::people);
    let in_defaults = rule_alone(policy.defaults(), &leads, people);
    let mut out: Vec<Problem> = in_defaults
        .iter()
        .map(|why| Problem {
            at: Where::Defaults,
            why: why.clone(),
        })
        .collect();
    for rule in policy.rules() {
        // What a rule inherits from [defaults] is reported there, once.
        out.extend(
            rule_alone(rule, &leads, people)
                .into_iter()
                .filter(|why| !in_defaults.contains(why))
                .map(|why| Problem {
                    at: Where::Rule(rule.name.clone()),
                    why,
                }),
        );
    }
    // Rules that apply together take the shortest escalation of one and
    // the shortest expiry of another: each may be fine alone and the pair
    // never escalate (e.g. one rule escalates, another for the same
    // proposal expires sooner and names no escalation).
    let mut actions: Vec<ActionKind> = ActionKind::ALL.to_vec();
    for a in policy.rules().iter().filter_map(|r| r.action.as_ref()) {
        if !actions.contains(a) {
            actions.push(a.clone());
        }
    }
    let mut seen = BTreeSet::new();
    for action in &actions {
        for &risk in Risk::ALL {
            let matching = policy.matching(action, risk);
            if matching.is_empty()
                || std::iter::once(policy.defaults())
                    .chain(matching.iter().copied())
                    .any(|r| escalates_after_expiry(r).is_some())
            {
                continue;
            }
            let combined = policy.rule_for(action, risk);
            if let Some(why) = escalates_after_expiry(&combined)
                && seen.insert(combined.name.clone())
            {
                out.push(Problem {
                    at: Where::Together {
                        rules: combined.name,
                        action: action.clone(),
                        risk,
                    },
                    why,
                });
            }
        }
    }
    out
}

/// The lead patterns that match nobody in `signers`: a lead no longer (or
/// never) listed, or a typo. Not fatal while another lead can sign
/// (removing a departed lead's line must not stop the gate); see
/// [`unmeetable`] for when no lead can.
pub fn idle_leads<'a>(policy: &'a Policy, signers: &SignerSet) -> Vec<&'a str> {
    policy
        .leads()
        .filter(|p| !p.starts_with('!') && !signers.matches_anyone(p))
        .collect()
}

fn escalates_after_expiry(rule: &Rule) -> Option<Why> {
    let escalate = rule.escalate_after_secs.filter(|_| !rule.auto)?;
    (escalate >= rule.expiry_secs).then_some(Why::EscalatesAfterExpiry {
        escalate,
        expiry: rule.expiry_secs,
    })
}

fn rule_alone(rule: &Rule, leads: &Leads, people: Option<usize>) -> Vec<Why> {
    if rule.auto {
        return Vec::new();
    }
    let late = escalates_after_expiry(rule);
    let need = if rule.role == Role::Lead {
        Some(LeadNeed::Approval)
    } else if late.is_none() {
        rule.escalate_after_secs.map(LeadNeed::Escalation)
    } else {
        None
    };
    let mut out = Vec::new();
    match (need, leads) {
        (Some(need), Leads::Unnamed) => out.push(Why::NoLead(need)),
        (Some(need), Leads::NoneSigns(leads)) => out.push(Why::NoLeadSigns {
            need,
            leads: leads.clone(),
        }),
        _ => {}
    }
    if let Some(people) = people
        && usize::try_from(rule.approvals).is_ok_and(|n| n > people)
    {
        out.push(Why::TooFewPeople {
            approvals: rule.approvals,
            people,
        });
    }
    out.extend(late);
    out
}
