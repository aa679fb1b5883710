//! Decisions, deadlines, execution reports, annotations and claims.

use super::{
    AnnotateCommand, ClaimCommand, DecideCommand, ExecutionCommand, SignedBlob, StoreError,
};
use super::{entry, new_id};
use crate::api::ExecutionReport;
use crate::audit::chain::{NewEntry, actor_agent, actor_deadline, actor_executor, actor_person};
use crate::domain::digest;
use crate::domain::freeze::Freeze;
use crate::domain::machine::{self, Event, Millis, Transition};
use crate::domain::policy::Rule;
use crate::domain::policy::group_refused;
use crate::domain::records::AnnotationRecord;
use crate::domain::records::{AlertRecord, DecidedBy, ProposalRecord};
use crate::domain::sample;
use crate::domain::time::to_rfc3339;
use crate::domain::types::{Risk, Role, Verdict};
use serde_json::json;

fn record(
    p: &mut ProposalRecord,
    t: Transition,
    now: Millis,
    by: Option<DecidedBy>,
    reason: Option<&str>,
) {
    let status_changed = p.status != t.state.status;
    p.set_state(t.state);
    p.updated_at = now;
    let decisive = matches!(
        t.event,
        Event::Approved
            | Event::Rejected
            | Event::Escalated
            | Event::AutoEscalated
            | Event::Halted
            | Event::Expired
            | Event::Lapsed
    );
    if decisive && status_changed {
        p.decided_by = by;
        p.decided_at = Some(now);
        p.reason = reason.filter(|r| !r.is_empty()).map(str::to_owned);
    }
}

/// Applies every deadline due at `now`, in order (pending may escalate and
/// then expire in one go), and closes a sampled review whose window passed
/// as unreviewed.
pub fn settle(p: &mut ProposalRecord, now: Millis) -> Vec<NewEntry> {
    let mut entries = Vec::new();
    if let Some(closed) = p.sample.as_ref().and_then(|s| sample::due(s, now)) {
        entries.push(entry(
            now,
            Event::SampleUnreviewed.as_str(),
            &p.alert_id,
            Some(&p.id),
            actor_deadline(),
            json!({"rule": p.rule, "digest": p.digest, "review_by": to_rfc3339(closed.review_by)}),
        ));
        p.sample = Some(closed);
        p.updated_at = now;
    }
    while let Some(t) = machine::due(&p.state(), now) {
        let event = t.event;
        let from = p.status;
        record(p, t, now, Some(DecidedBy::Deadline), None);
        entries.push(entry(
            now,
            event.as_str(),
            &p.alert_id,
            Some(&p.id),
            actor_deadline(),
            json!({"from": from, "to": p.status, "digest": p.digest}),
        ));
    }
    entries
}

/// The signed payload, verbatim, in an entry's data: the record carries
/// what the person signed.
pub(super) fn signed_into(data: &mut serde_json::Value, signed: &SignedBlob) {
    data["payload"] = json!(signed.payload);
    data["signature"] = json!(signed.signature);
    data["nonce"] = json!(signed.nonce);
}

/// The audit entry of a person's verdict on `p`: `data`, and what they
/// signed.
fn verdict_entry(
    cmd: &DecideCommand,
    p: &ProposalRecord,
    event: Event,
    mut data: serde_json::Value,
) -> NewEntry {
    if let Some(signed) = &cmd.signed {
        signed_into(&mut data, signed);
    }
    entry(
        cmd.now,
        event.as_str(),
        &p.alert_id,
        Some(&p.id),
        actor_person(cmd.actor.name()),
        data,
    )
}

/// A human verdict: deadlines first, then the digest, then the rules.
pub fn decide(
    p: &ProposalRecord,
    cmd: &DecideCommand,
) -> Result<(ProposalRecord, Vec<NewEntry>, Event), StoreError> {
    if matches!(cmd.verdict, Verdict::Confirm | Verdict::Flag) {
        return review_sample(p, cmd);
    }
    let mut next = p.clone();
    let mut entries = settle(&mut next, cmd.now);
    if next.status.is_final() {
        return Err(machine::Refusal::Final(next.status).into());
    }
    if cmd.digest != next.digest {
        return Err(StoreError::StaleDigest {
            current: next.digest.clone(),
        });
    }
    if cmd.actor.name() == next.proposed_by {
        return Err(machine::Refusal::SelfApproval(next.proposed_by.clone()).into());
    }
    let mut rule = cmd.policy.rule_for(&next.action, next.risk);
    if cmd.group.is_some()
        && let Some(why) = group_refused(next.risk, &next.action, &rule)
    {
        return Err(StoreError::Forbidden(why));
    }
    if let Some(a) = &cmd.amendment {
        if cmd.group.is_some() {
            return Err(StoreError::Forbidden(
                "an amendment is one person's, on one proposal: never in a group".into(),
            ));
        }
        rule = amend(&mut next, a, rule, cmd, &mut entries);
    }
    let t = machine::decide(
        &next.state(),
        &rule,
        &cmd.actor,
        cmd.verdict,
        &cmd.reason,
        cmd.now,
    )?;
    let event = t.event;
    let from = next.status;
    let principal = cmd.actor.name().to_owned();
    // A decision releases the claim.
    next.claimed_by = None;
    next.claim_until = None;
    record(
        &mut next,
        t,
        cmd.now,
        Some(DecidedBy::Person {
            principal: principal.clone(),
        }),
        Some(&cmd.reason),
    );
    let mut data = json!({
        "verdict": cmd.verdict,
        "reason": cmd.reason,
        "digest": cmd.digest,
        "from": from,
        "to": next.status,
        "rule": rule.name,
        "policy": cmd.policy.digest(),
    });
    if let Some(a) = &cmd.amendment {
        data["amended_digest"] = json!(a.digest);
    }
    entries.push(verdict_entry(cmd, &next, event, data));
    Ok((next, entries, event))
}

/// Puts the amended document in place of the proposed one: approvals
/// given to the proposed document are dismissed (the amender's is the
/// first of the amended one), and the requirement is the stricter of the
/// proposed document's (`rule`) and the amended one's. Records `amended`.
fn amend(
    next: &mut ProposalRecord,
    a: &super::Amendment,
    rule: Rule,
    cmd: &DecideCommand,
    entries: &mut Vec<NewEntry>,
) -> Rule {
    let (rule, risk) = stricter((rule, next.risk), (a.judged.rule.clone(), a.judged.risk));
    let (state, dismissed) = machine::revise(&next.state());
    next.set_state(state);
    next.document = a.document.clone();
    next.digest = a.digest.clone();
    next.target = a.target.clone();
    next.risk = risk;
    next.assessment = Some(a.judged.assessment.clone());
    next.rule = rule.name.clone();
    next.amended = Some(a.amended.clone());
    next.updated_at = cmd.now;
    // A shorter expiry takes effect now.
    if let Some(secs) = a.document["expires_in_secs"].as_i64() {
        let by = next.created_at.saturating_add(secs.saturating_mul(1000));
        next.expires_at = next.expires_at.min(by);
    }
    let data = json!({
        "verdict": cmd.verdict,
        "reason": cmd.reason,
        "digest": cmd.digest,
        "amended_digest": a.digest,
        "changed": a.amended.changed,
        "document": a.document,
        "risk": risk,
        "rule": rule.name,
        "policy": cmd.policy.digest(),
        "dismissed": dismissed,
    });
    entries.push(verdict_entry(cmd, next, Event::Amended, data));
    rule
}

/// The stricter of two requirements (more approvals, then a lead, then
/// no `auto`), with the risk that selected it; alike, the higher risk.
fn stricter(a: (Rule, Risk), b: (Rule, Risk)) -> (Rule, Risk) {
    let weight = |r: &Rule| {
        (
            if r.auto { 0 } else { r.approvals.max(1) },
            r.role == Role::Lead,
            !r.auto,
        )
    };
    if (weight(&b.0), b.1) > (weight(&a.0), a.1) {
        b
    } else {
        a
    }
}

/// `confirm` or `flag` on a policy approval drawn for sampled review. The
/// proposal's status is untouched, whatever it is now (a flag never undoes
/// what ran): the outcome is a finding on the rule.
fn review_sample(
    p: &ProposalRecord,
    cmd: &DecideCommand,
) -> Result<(ProposalRecord, Vec<NewEntry>, Event), StoreError> {
    let mut next = p.clone();
    let mut entries = settle(&mut next, cmd.now);
    if cmd.digest != next.digest {
        return Err(StoreError::StaleDigest {
            current: next.digest.clone(),
        });
    }
    let principal = cmd.actor.name().to_owned();
    if !matches!(cmd.actor, machine::Actor::Person { .. }) {
        return Err(machine::Refusal::AgentCannotDecide.into());
    }
    let reviewed = sample::review(
        next.sample.as_ref(),
        cmd.verdict,
        &principal,
        &cmd.reason,
        cmd.now,
    )?;
    next.sample = Some(reviewed);
    next.updated_at = cmd.now;
    let event = match cmd.verdict {
        Verdict::Flag => Event::SampleFlagged,
        _ => Event::SampleConfirmed,
    };
    let data = json!({
        "verdict": cmd.verdict,
        "reason": cmd.reason,
        "digest": cmd.digest,
        "status": next.status,
        "rule": next.rule,
        "policy": cmd.policy.digest(),
    });
    entries.push(verdict_entry(cmd, &next, event, data));
    Ok((next, entries, event))
}

/// An agent's execution report on its own proposal. `frozen`: the freeze
/// on the proposing agent, read for a `started` report; under `hold`
/// nothing starts (the approval waits, or lapses at `execute_by`).
pub fn execution(
    p: &ProposalRecord,
    cmd: &ExecutionCommand,
    frozen: Option<&Freeze>,
) -> Result<(ProposalRecord, Vec<NewEntry>), StoreError> {
    if cmd.executor.is_none() && p.proposed_by != cmd.agent {
        return Err(StoreError::NotFound(format!("proposal {}", p.id)));
    }
    let mut next = p.clone();
    let mut entries = settle(&mut next, cmd.now);
    let (t, detail) = match &cmd.report {
        ExecutionReport::Started { .. } => {
            let t = machine::start_execution(&next.state(), cmd.now)?;
            if let Some(f) = frozen.filter(|f| f.holds() && f.covers(&next.proposed_by)) {
                return Err(StoreError::Frozen(Box::new(f.clone())));
            }
            (Ok(t), "")
        }
        ExecutionReport::Executed { detail } => (
            machine::finish_execution(&next.state(), true),
            detail.as_str(),
        ),
        ExecutionReport::Failed { detail } => (
            machine::finish_execution(&next.state(), false),
            detail.as_str(),
        ),
    };
    let t = t?;
    let event = t.event;
    record(&mut next, t, cmd.now, None, None);
    if !matches!(cmd.report, ExecutionReport::Started { .. }) {
        // The outcome is the reporter's word, not the approver's: who
        // approved stays in `approvals`.
        next.decided_by = Some(match &cmd.executor {
            Some(name) => DecidedBy::Executor { name: name.clone() },
            None => DecidedBy::Agent {
                name: cmd.agent.clone(),
            },
        });
        next.reason = Some(detail.to_owned()).filter(|d| !d.is_empty());
    }
    if event == Event::Executed
        && let Some(secs) = cmd.contain_for_secs
    {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        next.contain_until = Some(cmd.now.saturating_add(secs.saturating_mul(1000)));
    }
    entries.push(entry(
        cmd.now,
        event.as_str(),
        &next.alert_id,
        Some(&next.id),
        match &cmd.executor {
            Some(name) => actor_executor(name),
            None => actor_agent(&cmd.agent),
        },
        match &cmd.report {
            ExecutionReport::Started {
                receipt_id: Some(id),
            } => json!({"detail": detail, "digest": next.digest, "receipt_id": id}),
            _ => match next.contain_until {
                Some(t) => {
                    json!({"detail": detail, "digest": next.digest, "contain_until": to_rfc3339(t)})
                }
                None => json!({"detail": detail, "digest": next.digest}),
            },
        },
    ));
    Ok((next, entries))
}

/// A signed note on an alert, checked against the alert's current digest.
pub fn annotate(
    alert: &AlertRecord,
    cmd: &AnnotateCommand,
) -> Result<(AnnotationRecord, NewEntry), StoreError> {
    let current = digest::alert_digest(&alert.document)?;
    if cmd.digest != current {
        return Err(StoreError::StaleDigest { current });
    }
    let note = AnnotationRecord {
        id: new_id(),
        alert_id: alert.id.clone(),
        principal: cmd.principal.clone(),
        note: cmd.note.clone(),
        labels: cmd.labels.clone(),
        digest: current,
        created_at: cmd.now,
        seq: 0,
    };
    let mut data = json!({
        "note": note.note,
        "labels": note.labels,
        "digest": note.digest,
    });
    signed_into(&mut data, &cmd.signed);
    let e = entry(
        cmd.now,
        "annotated",
        &alert.id,
        None,
        actor_person(&cmd.principal),
        data,
    );
    Ok((note, e))
}

/// Claims (or renews, or releases) the lease on an open proposal, so two
/// analysts do not work the same one.
pub fn claim(
    p: &ProposalRecord,
    cmd: &ClaimCommand,
) -> Result<(ProposalRecord, NewEntry), StoreError> {
    if !p.status.is_open() {
        return Err(machine::Refusal::WrongState {
            verb: "claim",
            status: p.status,
        }
        .into());
    }
    let held_by_other = p
        .claimed_by
        .as_deref()
        .is_some_and(|who| who != cmd.principal && p.claim_until.is_some_and(|t| t > cmd.now));
    if held_by_other {
        return Err(StoreError::Conflict(format!(
            "{} is working on this proposal (claim until {})",
            p.claimed_by.as_deref().unwrap_or_default(),
            crate::domain::time::to_rfc3339(p.claim_until.unwrap_or_default())
        )));
    }
    let mut next = p.clone();
    let kind = if cmd.release {
        if p.claimed_by.as_deref() != Some(cmd.principal.as_str()) {
            return Err(StoreError::Conflict(
                "you hold no claim on this proposal".into(),
            ));
        }
        next.claimed_by = None;
        next.claim_until = None;
        "released"
    } else {
        next.claimed_by = Some(cmd.principal.clone());
        next.claim_until = Some(cmd.now + cmd.ttl_ms);
        "claimed"
    };
    next.updated_at = cmd.now;
    let e = entry(
        cmd.now,
        kind,
        &p.alert_id,
        Some(&p.id),
        actor_person(&cmd.principal),
        json!({"claim_until": next.claim_until.map(crate::domain::time::to_rfc3339)}),
    );
    Ok((next, e))
}
