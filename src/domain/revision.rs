//! What to do when an agent posts an `external_id` it has posted before:
//! the same content is an idempotent retry, different content a revision.
//! Pure: the store loads what exists and applies the plan in one transaction.

use super::records::ProposalRecord;
use super::submission::ValidSubmission;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Same content: answer with the stored ids.
    Unchanged,
    /// Different content.
    Revise {
        /// Indexes of stored proposals whose digest changed (all open).
        changed: Vec<usize>,
        /// Indexes in the submission past the stored ones: new proposals.
        added: Vec<usize>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevisionConflict {
    #[error("proposal {id} is already {status}; a decided proposal is never revised")]
    Decided { id: String, status: String },
    #[error("a revision cannot withdraw proposals: {had} stored, {got} sent")]
    Fewer { had: usize, got: usize },
}

pub fn plan(stored: &[ProposalRecord], sub: &ValidSubmission) -> Result<Plan, RevisionConflict> {
    if sub.proposals.len() < stored.len() {
        return Err(RevisionConflict::Fewer {
            had: stored.len(),
            got: sub.proposals.len(),
        });
    }
    let mut changed = Vec::new();
    for (i, old) in stored.iter().enumerate() {
        // Amended by a person: the agent's retry sends what it proposed.
        let proposed = old
            .amended
            .as_ref()
            .map_or(&old.digest, |a| &a.original_digest);
        if *proposed == sub.proposals[i].digest {
            continue;
        }
        if !old.status.is_open() {
            return Err(RevisionConflict::Decided {
                id: old.id.clone(),
                status: old.status.to_string(),
            });
        }
        changed.push(i);
    }
    let added: Vec<usize> = (stored.len()..sub.proposals.len()).collect();
    if changed.is_empty() && added.is_empty() {
        Ok(Plan::Unchanged)
    } else {
        Ok(Plan::Revise { changed, added })
    }
}
