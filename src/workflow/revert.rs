//! A signed `revert` of an executed proposal: the compensating proposal
//! (`domain::revert`), in an alert of its own, proposed in the name of the
//! agent that proposed the original (so it goes to whoever ran it, through
//! the same gate), and the reverting person's signature as its first
//! approval — the policy decides whether a second is needed.

use super::decide::signed_into;
use super::submit::{ByPolicy, create};
use super::{DecideCommand, RevertCommand, StoreError, SubmitCommand, Writes, decide, entry};
use crate::audit::chain::actor_person;
use crate::domain::machine::{Event, Refusal};
use crate::domain::records::{AlertRecord, ProposalRecord};
use crate::domain::revert::compensating;
use crate::domain::types::{ProposalStatus, Verdict};
use serde_json::json;

/// What a revert writes, and the compensating proposal it made.
pub struct RevertPlan {
    pub writes: Writes,
    pub event: Event,
}

/// `original` (of `alert`) reverted, unless `existing` (the alert that
/// reverts it, if one was made) says it already was.
pub fn revert(
    original: &ProposalRecord,
    alert: &AlertRecord,
    existing: Option<&AlertRecord>,
    cmd: &RevertCommand,
) -> Result<RevertPlan, StoreError> {
    if original.status != ProposalStatus::Executed {
        return Err(Refusal::WrongState {
            verb: "revert",
            status: original.status,
        }
        .into());
    }
    if cmd.digest != original.digest {
        return Err(StoreError::StaleDigest {
            current: original.digest.clone(),
        });
    }
    if let Some(done) = existing {
        return Err(StoreError::Conflict(format!(
            "proposal {} was already reverted (alert {})",
            original.id, done.id
        )));
    }
    let submission = compensating(alert, original, &cmd.policy)
        .map_err(|e| StoreError::NotReversible(e.to_string()))?;
    let current = submission.proposals[0].digest.clone();
    if cmd.revert_digest != current {
        return Err(StoreError::StaleDigest { current });
    }
    let submit = SubmitCommand::new(
        original.proposed_by.clone(),
        submission,
        cmd.policy.clone(),
        cmd.now,
        cmd.sampler.clone(),
    );
    let (new_alert, proposals, mut entries) = create(&submit, ByPolicy::PersonFirst);
    let new = proposals
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Internal("a revert made no proposal".into()))?;
    // The alert is the person's doing, not the agent's.
    if let Some(received) = entries.first_mut() {
        received.actor = actor_person(cmd.actor.name());
        received.data["reverts"] = json!(original.id);
    }
    let approve = DecideCommand {
        proposal_id: new.id.clone(),
        actor: cmd.actor.clone(),
        verdict: Verdict::Approve,
        reason: cmd.reason.clone(),
        digest: new.digest.clone(),
        policy: cmd.policy.clone(),
        now: cmd.now,
        signed: Some(cmd.signed.clone()),
        group: None,
        amendment: None,
    };
    let (approved, mut approval, event) = decide(&new, &approve)?;
    for e in &mut approval {
        if e.actor["kind"] == "person" {
            e.data["verdict"] = json!("revert");
            e.data["reverts"] = json!(original.id);
        }
    }
    let mut reverted = entry(
        cmd.now,
        "reverted",
        &original.alert_id,
        Some(&original.id),
        actor_person(cmd.actor.name()),
        json!({
            "verdict": "revert",
            "reason": cmd.reason,
            "digest": cmd.digest,
            "revert_digest": cmd.revert_digest,
            "reverted_by": approved.id,
            "alert": new_alert.id,
        }),
    );
    signed_into(&mut reverted.data, &cmd.signed);
    let mut all = vec![reverted];
    all.append(&mut entries);
    all.append(&mut approval);
    Ok(RevertPlan {
        writes: Writes {
            alert: Some(new_alert),
            proposals: vec![approved],
            entries: all,
            nonce: Some(cmd.signed.nonce.clone()),
            ..Writes::default()
        },
        event,
    })
}

/// What an executed containment's time running out does: the gate
/// proposes its revert itself (an ordinary proposal in the agent's name,
/// which the policy routes to people or approves), unless it was reverted
/// already; either way the original is no longer timed.
#[allow(
    clippy::too_many_arguments,
    reason = "what one deadline reads, passed through"
)]
pub fn containment_ended(
    original: &ProposalRecord,
    alert: &AlertRecord,
    existing: Option<&AlertRecord>,
    policy: &std::sync::Arc<crate::domain::policy::Policy>,
    sampler: &std::sync::Arc<crate::domain::sample::Sampler>,
    now: crate::domain::machine::Millis,
) -> Writes {
    let mut done = original.clone();
    done.contain_until = None;
    done.updated_at = now;
    let mut data = json!({
        "contain_until": original.contain_until.map(crate::domain::time::to_rfc3339),
        "digest": original.digest,
    });
    let mut w = Writes::default();
    let mut made = Vec::new();
    match existing {
        Some(a) => data["already_reverted"] = json!({"alert": a.id}),
        None => match compensating(alert, original, policy) {
            Err(e) => data["not_reversible"] = json!(e.to_string()),
            Ok(sub) => {
                let submit = SubmitCommand::new(
                    original.proposed_by.clone(),
                    sub,
                    policy.clone(),
                    now,
                    sampler.clone(),
                );
                let (new_alert, proposals, mut entries) = create(&submit, ByPolicy::Allowed);
                if let Some(received) = entries.first_mut() {
                    received.actor = crate::audit::chain::actor_deadline();
                    received.data["reverts"] = json!(original.id);
                }
                data["reverted_by"] = json!(proposals.first().map(|p| p.id.clone()));
                data["alert"] = json!(new_alert.id);
                w.alert = Some(new_alert);
                w.proposals.extend(proposals);
                made = entries;
            }
        },
    }
    w.entries.push(entry(
        now,
        "containment_ended",
        &original.alert_id,
        Some(&original.id),
        crate::audit::chain::actor_deadline(),
        data,
    ));
    w.entries.extend(made);
    w.proposals.push(done);
    w
}

/// A person keeps an executed containment in place until `cmd.until`
/// (later than now): the gate proposes its revert only then.
pub fn extend(
    p: &ProposalRecord,
    cmd: &super::ExtendCommand,
) -> Result<(ProposalRecord, crate::audit::chain::NewEntry), StoreError> {
    let Some(was) = p.contain_until else {
        return Err(Refusal::WrongState {
            verb: "extend",
            status: p.status,
        }
        .into());
    };
    if cmd.digest != p.digest {
        return Err(StoreError::StaleDigest {
            current: p.digest.clone(),
        });
    }
    if cmd.until <= cmd.now {
        return Err(StoreError::Conflict(
            "contain_until: an extension ends later than now".into(),
        ));
    }
    let mut next = p.clone();
    next.contain_until = Some(cmd.until);
    next.updated_at = cmd.now;
    let mut e = entry(
        cmd.now,
        "containment_extended",
        &p.alert_id,
        Some(&p.id),
        actor_person(&cmd.principal),
        json!({
            "verdict": "extend",
            "reason": cmd.reason,
            "digest": cmd.digest,
            "from": crate::domain::time::to_rfc3339(was),
            "contain_until": crate::domain::time::to_rfc3339(cmd.until),
        }),
    );
    signed_into(&mut e.data, &cmd.signed);
    Ok((next, e))
}
