//! Submissions: create an alert, keep an idempotent retry, or revise.

use super::{StoreError, SubmitCommand, SubmitOutcome, Writes, entry, new_id};
use crate::api::SubmitStatus;
use crate::audit::chain::{NewEntry, actor_agent, actor_policy};
use crate::domain::freeze::Freeze;
use crate::domain::machine::{self, Event, Millis, Transition};
use crate::domain::policy::{Policy, Rule};
use crate::domain::records::{AlertRecord, DecidedBy, ProposalRecord};
use crate::domain::revision::{self, Plan};
use crate::domain::risk::Judged;
use crate::domain::sample;
use crate::domain::time::to_rfc3339;
use serde_json::{Value, json};

/// A submission's plan: what it did and what to write.
pub struct SubmitPlan {
    pub status: SubmitStatus,
    pub alert: AlertRecord,
    /// The alert's proposals as stored before this submission.
    pub stored: Vec<ProposalRecord>,
    pub writes: Writes,
}

impl SubmitPlan {
    /// The answer, once the writes are written (and stamped).
    pub fn outcome(self) -> SubmitOutcome {
        let mut proposals = self.stored;
        for p in self.writes.proposals {
            match proposals.iter_mut().find(|s| s.id == p.id) {
                Some(slot) => *slot = p,
                None => proposals.push(p),
            }
        }
        SubmitOutcome {
            status: self.status,
            alert: self.alert,
            proposals,
        }
    }
}

/// A submission against what is stored under its external id (the alert
/// and its proposals, or nothing): create, keep (idempotent retry) or revise.
/// Whether an `auto` rule may approve a new proposal by itself.
#[derive(Debug, Clone, Copy)]
pub enum ByPolicy<'a> {
    Allowed,
    /// A freeze stops the agent: it waits for a person, and its entry says
    /// which freeze.
    Frozen(&'a Freeze),
    /// A person's signature is its first approval (a revert's
    /// compensating proposal).
    PersonFirst,
}

impl<'a> ByPolicy<'a> {
    /// Policy may approve unless `frozen` names a freeze.
    pub fn unless(frozen: Option<&'a Freeze>) -> Self {
        frozen.map_or(ByPolicy::Allowed, ByPolicy::Frozen)
    }
}

/// `by_policy`: whether an `auto` rule may approve its new proposals.
pub fn submit(
    cmd: &SubmitCommand,
    old: Option<(AlertRecord, Vec<ProposalRecord>)>,
    by_policy: ByPolicy,
) -> Result<SubmitPlan, StoreError> {
    let Some((old, stored)) = old else {
        let (alert, proposals, entries) = create(cmd, by_policy);
        return Ok(SubmitPlan {
            status: SubmitStatus::Created,
            alert: alert.clone(),
            stored: Vec::new(),
            writes: Writes {
                alert: Some(alert),
                proposals,
                entries,
                ..Writes::default()
            },
        });
    };
    let plan = revision::plan(&stored, &cmd.submission)
        .map_err(|e| StoreError::Conflict(e.to_string()))?;
    if plan == Plan::Unchanged {
        return Ok(SubmitPlan {
            status: SubmitStatus::Unchanged,
            alert: old,
            stored,
            writes: Writes::default(),
        });
    }
    let (alert, updated, added, entries) = revise(cmd, &old, &stored, &plan, by_policy);
    Ok(SubmitPlan {
        status: SubmitStatus::Revised,
        alert: alert.clone(),
        stored,
        writes: Writes {
            alert: Some(alert),
            proposals: updated.into_iter().chain(added).collect(),
            entries,
            ..Writes::default()
        },
    })
}

/// A proposal as its alert's entry records it: what the requirement was
/// computed from (action, effective risk, the policy by digest) and what
/// it came to (`needs`), so `audit verify` and `policy test` can replay it.
/// A proposal whose `auto` rule a freeze kept from approving it says so,
/// and which freeze (its entry's `seq`).
fn proposal_summary(p: &ProposalRecord, policy: &Policy, by_policy: ByPolicy) -> Value {
    let rule = policy.rule_for(&p.action, p.risk);
    let mut v = json!({
        "id": p.id, "index": p.index, "digest": p.digest, "document": p.document,
        "status": p.status, "rule": p.rule, "risk": p.risk, "declared_risk": p.declared_risk,
        "assessment": p.assessment, "action": p.action, "policy": policy.digest(),
        "needs": {"approvals": rule.approvals, "role": rule.role, "auto": rule.auto},
    });
    if let ByPolicy::Frozen(f) = by_policy
        && rule.auto
        && p.status.is_open()
    {
        v["frozen"] = json!({"agent": f.agent, "mode": f.mode, "by": f.by, "seq": f.seq});
    }
    v
}

fn alert_record(cmd: &SubmitCommand, id: String, revision: u32, created_at: Millis) -> AlertRecord {
    let a = &cmd.submission.alert;
    AlertRecord {
        id,
        external_id: a.external_id.clone(),
        agent: cmd.agent.clone(),
        source: a.source.clone(),
        severity: a.severity,
        title: a.title.clone(),
        entity_kind: a.entity.kind,
        entity_id: a.entity.id.clone(),
        confidence: a.summary.confidence,
        revision,
        created_at,
        updated_at: cmd.now,
        document: cmd.submission.alert_document.clone(),
    }
}

/// A fresh proposal, approved at once if its rule is `auto`: as it was
/// judged before the store (`SubmitCommand::new`).
/// Unless `by_policy` allows it, an `auto` rule does not approve it: it
/// waits for one person instead.
fn new_proposal(
    cmd: &SubmitCommand,
    alert_id: &str,
    index: usize,
    by_policy: ByPolicy,
) -> (ProposalRecord, Option<NewEntry>) {
    let (vp, judged) = cmd.proposal(index);
    let f = &vp.fields;
    let Judged {
        assessment,
        risk,
        rule,
    } = judged;
    let held;
    let rule = match by_policy {
        ByPolicy::Frozen(_) | ByPolicy::PersonFirst if rule.auto => {
            held = Rule {
                auto: false,
                approvals: rule.approvals.max(1),
                ..rule.clone()
            };
            &held
        }
        _ => rule,
    };
    let Transition { state, event } = machine::initial(rule, cmd.now, f.expires_in_secs);
    let mut p = ProposalRecord {
        id: new_id(),
        alert_id: alert_id.to_owned(),
        index: index as u32,
        action: f.action.clone(),
        target: f.target.clone(),
        risk: *risk,
        declared_risk: f.risk,
        assessment: Some(assessment.clone()),
        status: state.status,
        digest: vp.digest.clone(),
        document: vp.document.clone(),
        proposed_by: cmd.agent.clone(),
        rule: rule.name.clone(),
        approvals: Vec::new(),
        escalated_by: None,
        escalated_by_key: None,
        decided_by: None,
        reason: None,
        created_at: cmd.now,
        updated_at: cmd.now,
        expires_at: state.expires_at,
        escalate_at: state.escalate_at,
        execute_by: state.execute_by,
        decided_at: None,
        claimed_by: None,
        claim_until: None,
        change_seq: 0,
        sample: None,
        amended: None,
        contain_until: None,
    };
    let auto = (event == Event::ApprovedByPolicy).then(|| {
        p.decided_by = Some(DecidedBy::Policy {
            rule: rule.name.clone(),
        });
        p.decided_at = Some(cmd.now);
        let mut data = json!({
            "digest": p.digest, "execute_by": p.execute_by.map(crate::domain::time::to_rfc3339), "policy": cmd.policy.digest(),
        });
        if rule.sample > 0.0 {
            // Drawn now, and the draw is in the entry: which approvals
            // went to review is part of the signed record.
            data["sample_rate"] = json!(rule.sample);
            if cmd.sampler.draw(rule.sample) {
                let s = sample::drawn(rule.sample, cmd.now, rule.sample_window_secs);
                data["sampled"] = json!({"review_by": to_rfc3339(s.review_by)});
                p.sample = Some(s);
            }
        }
        entry(
            cmd.now,
            event.as_str(),
            alert_id,
            Some(&p.id),
            actor_policy(&rule.name),
            data,
        )
    });
    (p, auto)
}

/// A first submission: the alert, its proposals, and the entries.
pub(super) fn create(
    cmd: &SubmitCommand,
    by_policy: ByPolicy,
) -> (AlertRecord, Vec<ProposalRecord>, Vec<NewEntry>) {
    let alert = alert_record(cmd, new_id(), 1, cmd.now);
    let mut proposals = Vec::new();
    let mut autos = Vec::new();
    for i in 0..cmd.submission.proposals.len() {
        let (p, auto) = new_proposal(cmd, &alert.id, i, by_policy);
        proposals.push(p);
        autos.extend(auto);
    }
    let mut entries = vec![entry(
        cmd.now,
        "alert_received",
        &alert.id,
        None,
        actor_agent(&cmd.agent),
        json!({
            "external_id": alert.external_id,
            "revision": 1,
            "document": alert.document,
            "proposals": proposals.iter().map(|p| proposal_summary(p, &cmd.policy, by_policy)).collect::<Vec<_>>(),
        }),
    )];
    entries.extend(autos);
    (alert, proposals, entries)
}

/// A revision: changed open proposals get the new documents and digests and
/// lose their approvals; new proposals are added.
fn revise(
    cmd: &SubmitCommand,
    old: &AlertRecord,
    stored: &[ProposalRecord],
    plan: &Plan,
    by_policy: ByPolicy,
) -> (
    AlertRecord,
    Vec<ProposalRecord>,
    Vec<ProposalRecord>,
    Vec<NewEntry>,
) {
    let Plan::Revise { changed, added } = plan else {
        return (old.clone(), Vec::new(), Vec::new(), Vec::new());
    };
    let alert = alert_record(cmd, old.id.clone(), old.revision + 1, old.created_at);
    let mut updated = Vec::new();
    let mut dismissed_all = Vec::new();
    for &i in changed {
        let (vp, judged) = cmd.proposal(i);
        let mut p = stored[i].clone();
        let (state, dismissed) = machine::revise(&p.state());
        p.set_state(state);
        p.risk = judged.risk;
        p.declared_risk = vp.fields.risk;
        p.assessment = Some(judged.assessment.clone());
        p.action = vp.fields.action.clone();
        p.target = vp.fields.target.clone();
        p.rule = judged.rule.name.clone();
        p.document = vp.document.clone();
        p.digest = vp.digest.clone();
        p.updated_at = cmd.now;
        if !dismissed.is_empty() {
            dismissed_all.push(json!({"proposal_id": p.id, "approvals": dismissed}));
        }
        updated.push(p);
    }
    let mut new = Vec::new();
    let mut autos = Vec::new();
    for &i in added {
        let (p, auto) = new_proposal(cmd, &alert.id, i, by_policy);
        new.push(p);
        autos.extend(auto);
    }
    let mut entries = vec![entry(
        cmd.now,
        "alert_revised",
        &alert.id,
        None,
        actor_agent(&cmd.agent),
        json!({
            "external_id": alert.external_id,
            "revision": alert.revision,
            "document": alert.document,
            "revised": updated.iter().map(|p| proposal_summary(p, &cmd.policy, ByPolicy::Allowed)).collect::<Vec<_>>(),
            "added": new.iter().map(|p| proposal_summary(p, &cmd.policy, by_policy)).collect::<Vec<_>>(),
            "dismissed": dismissed_all,
        }),
    )];
    entries.extend(autos);
    (alert, updated, new, entries)
}
