//! What a write is asked to do (the commands handlers build and both
//! stores take) and what it answers.

use crate::api::{ExecutionReport, SubmitStatus};
use crate::domain::machine::{Actor, Event, Millis};
use crate::domain::policy::Policy;
use crate::domain::records::{AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord};
use crate::domain::risk::{self, Judged};
use crate::domain::sample::Sampler;
use crate::domain::submission::{ValidProposal, ValidSubmission};
use crate::domain::types::{Label, Verdict};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A submission to store, judged already: risk and rule need no stored
/// row, so they are computed where the request is handled and not inside
/// the one writer every agent's write waits on. Only [`SubmitCommand::new`]
/// builds one, so no caller can hand the store a submission nobody judged,
/// or judged under another policy than the one it is stored under.
pub struct SubmitCommand {
    pub agent: String,
    pub(super) submission: ValidSubmission,
    pub(super) policy: Arc<Policy>,
    /// One per proposal of `submission`, in order, under `policy`.
    judged: Vec<Judged>,
    pub now: Millis,
    /// Draws which policy approvals go to sampled review.
    pub sampler: Arc<Sampler>,
}

impl SubmitCommand {
    /// Whether policy would approve any of its proposals by itself: only
    /// then does the write read the freezes that may stop it.
    pub fn any_auto(&self) -> bool {
        self.judged.iter().any(|j| j.rule.auto)
    }

    /// Judges every proposal under `policy` ([`risk::judge`]), also those
    /// a retry or a revision leaves as stored: which those are is known
    /// only under the writer. CPU-bound (a large permission change takes
    /// milliseconds to analyse): async callers run it off their workers.
    pub fn new(
        agent: String,
        submission: ValidSubmission,
        policy: Arc<Policy>,
        now: Millis,
        sampler: Arc<Sampler>,
    ) -> Self {
        let judged = submission
            .proposals
            .iter()
            .map(|vp| risk::judge(&vp.fields, &policy))
            .collect();
        SubmitCommand {
            agent,
            submission,
            policy,
            judged,
            now,
            sampler,
        }
    }

    /// The agent's own id for the alert: what a retry or a revision is
    /// found by.
    pub fn external_id(&self) -> &str {
        &self.submission.alert.external_id
    }

    /// Proposal `i` of the submission, with how it was judged.
    pub(super) fn proposal(&self, i: usize) -> (&ValidProposal, &Judged) {
        (&self.submission.proposals[i], &self.judged[i])
    }
}

#[derive(Debug, Clone)]
pub struct SubmitOutcome {
    pub status: SubmitStatus,
    pub alert: AlertRecord,
    pub proposals: Vec<ProposalRecord>,
}

/// A signed decision as received, kept verbatim for the audit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedBlob {
    pub payload: String,
    pub signature: String,
    pub nonce: String,
}

pub struct AnnotateCommand {
    pub alert_id: String,
    pub principal: String,
    pub note: String,
    pub labels: Vec<Label>,
    /// The alert digest the person saw.
    pub digest: String,
    pub now: Millis,
    pub signed: SignedBlob,
}

#[derive(Debug, Clone)]
pub struct AnnotateOutcome {
    pub annotation: AnnotationRecord,
    pub audit: AuditEntry,
}

pub struct ClaimCommand {
    pub proposal_id: String,
    pub principal: String,
    /// Give the claim up instead of taking or renewing it.
    pub release: bool,
    pub ttl_ms: i64,
    pub now: Millis,
}

pub struct DecideCommand {
    pub proposal_id: String,
    pub actor: Actor,
    pub verdict: Verdict,
    pub reason: String,
    /// The digest the person saw; must be the proposal's current one.
    pub digest: String,
    pub policy: Arc<Policy>,
    pub now: Millis,
    pub signed: Option<SignedBlob>,
    /// The size of the group it was decided in, if it was (the signed
    /// `review.group`).
    pub group: Option<u32>,
    /// An approval as amended: the narrowed document, checked and judged
    /// where the request was handled.
    pub amendment: Option<Amendment>,
}

/// A narrowed proposal an approval puts in place of the proposed one.
#[derive(Debug, Clone)]
pub struct Amendment {
    /// The amended proposal document and its digest (the one signed as
    /// `amended_digest`).
    pub document: serde_json::Value,
    pub digest: String,
    pub target: String,
    /// How the amended document is judged under the policy.
    pub judged: Judged,
    pub amended: crate::domain::amend::Amended,
}

/// The policy a server puts in force, for the audit log: a
/// `policy_loaded` entry with its digest and full text, written unless the
/// last such entry already names the same digest.
#[derive(Debug, Clone)]
pub struct RecordPolicy {
    /// `sha256:` + hex of `text`'s bytes.
    pub digest: String,
    pub text: String,
    /// Where it was read from: a path, or `(built-in)`.
    pub origin: String,
    /// The server that put it in force (its checkpoint name).
    pub server: String,
    /// `start` or `reload`.
    pub reason: &'static str,
    pub now: Millis,
}

#[derive(Debug, Clone)]
pub struct DecideOutcome {
    pub proposal: ProposalRecord,
    pub event: Event,
    pub audit: AuditEntry,
}

pub struct ExecutionCommand {
    pub proposal_id: String,
    /// The agent reporting on its own proposal.
    pub agent: String,
    /// Or the gate's executor reporting on what it ran (then `agent` is
    /// not checked against the proposer).
    pub executor: Option<String>,
    pub report: ExecutionReport,
    pub now: Millis,
    /// How long it stays contained once executed (the rule's
    /// `contain_for`), then the gate proposes its revert.
    pub contain_for_secs: Option<u64>,
}

/// A lead's signed freeze (`mode`) or unfreeze (`mode` is `None`) of one
/// agent or, under [`crate::domain::freeze::ALL_AGENTS`], every agent.
pub struct FreezeCommand {
    pub agent: String,
    pub mode: Option<crate::domain::freeze::FreezeMode>,
    pub principal: String,
    pub reason: String,
    pub now: Millis,
    pub signed: SignedBlob,
}

#[derive(Debug, Clone)]
pub struct FreezeOutcome {
    pub audit: AuditEntry,
    /// `agent_frozen` or `agent_unfrozen`.
    pub event: &'static str,
    /// Every freeze in force after it.
    pub freezes: Vec<crate::domain::freeze::Freeze>,
}

/// A person's signed `revert` of an executed proposal.
pub struct RevertCommand {
    /// The executed proposal.
    pub proposal_id: String,
    /// Its digest, as the person saw it.
    pub digest: String,
    /// The digest of the compensating proposal the person approved.
    pub revert_digest: String,
    pub actor: Actor,
    pub reason: String,
    pub policy: Arc<Policy>,
    pub now: Millis,
    pub signed: SignedBlob,
    pub sampler: Arc<Sampler>,
}

#[derive(Debug, Clone)]
pub struct RevertOutcome {
    /// The compensating proposal, with the person's approval counted.
    pub proposal: ProposalRecord,
    pub event: Event,
    /// The entry that approves (or counts the approval of) it.
    pub audit: AuditEntry,
}

/// Executed containments whose `contain_until` passed: each proposes its
/// revert, judged under `policy`.
pub struct EndContainments {
    pub ids: Vec<String>,
    pub now: Millis,
    pub policy: Arc<Policy>,
    pub sampler: Arc<Sampler>,
}

/// A person's signed extension of an executed containment.
pub struct ExtendCommand {
    pub proposal_id: String,
    pub digest: String,
    pub principal: String,
    pub reason: String,
    pub until: Millis,
    pub now: Millis,
    pub signed: SignedBlob,
}
