//! Every store operation, written once over [`Tx`]: load what the rules
//! (`logic`) ask for, let them decide, write what they return. A backend
//! only says how a statement runs and how a transaction begins and ends.

use crate::audit::chain::{self, Head};
use crate::domain::records::{AlertRecord, AuditEntry, ProposalRecord};
use crate::server::store::StoreError;
use crate::server::store::logic::{self, Writes};
use crate::server::store::sql::{self, Param, params};
use crate::server::store::tx::Tx;

pub mod notify;
mod reads;
mod writes;

pub use reads::*;
pub use writes::*;

// ---- loads ----

pub async fn head<T: Tx>(tx: &mut T) -> Result<Head, StoreError> {
    if let Some(known) = tx.known_head() {
        return Ok(known);
    }
    let found = tx
        .query_opt(sql::HEAD, &[], |r| {
            Ok(Head {
                seq: r.int("seq")?,
                hash: r.text("hash")?,
            })
        })
        .await?;
    Ok(found.unwrap_or_else(Head::genesis))
}

pub async fn proposal<T: Tx>(tx: &mut T, id: &str) -> Result<Option<ProposalRecord>, StoreError> {
    tx.query_opt(
        &sql::proposal_by_id_sql(""),
        &[id.into()],
        sql::proposal_row,
    )
    .await
}

/// A proposal about to change: locked against other replicas.
async fn proposal_for_update<T: Tx>(tx: &mut T, id: &str) -> Result<ProposalRecord, StoreError> {
    let lock = tx.dialect().for_update();
    tx.query_opt(
        &sql::proposal_by_id_sql(lock),
        &[id.into()],
        sql::proposal_row,
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("proposal {id}")))
}

async fn proposals_of<T: Tx>(
    tx: &mut T,
    alert_id: &str,
) -> Result<Vec<ProposalRecord>, StoreError> {
    tx.query(
        &sql::proposals_of_sql(),
        &[alert_id.into()],
        sql::proposal_row,
    )
    .await
}

async fn alert_by_id<T: Tx>(tx: &mut T, id: &str) -> Result<Option<AlertRecord>, StoreError> {
    tx.query_opt(&sql::alert_by_id_sql(), &[id.into()], sql::alert_row)
        .await
}

/// Refuses a nonce already used by an accepted payload.
async fn check_nonce<T: Tx>(tx: &mut T, nonce: &str) -> Result<(), StoreError> {
    let seen = tx
        .query_opt(sql::NONCE_SEEN, &[nonce.into()], |r| r.text("nonce"))
        .await?;
    refuse_replay(nonce, seen.is_some())
}

fn refuse_replay(nonce: &str, seen: bool) -> Result<(), StoreError> {
    match seen {
        true => Err(StoreError::Replay(nonce.to_owned())),
        false => Ok(()),
    }
}

/// [`check_nonce`] then [`proposal_for_update`], in one flight.
async fn fresh_nonce_and_proposal<T: Tx>(
    tx: &mut T,
    nonce: &str,
    id: &str,
) -> Result<ProposalRecord, StoreError> {
    let lock = tx.dialect().for_update();
    let (seen, found) = tx
        .query_pair(
            (sql::NONCE_SEEN, &[nonce.into()], |r| r.text("nonce")),
            (
                &sql::proposal_by_id_sql(lock),
                &[id.into()],
                sql::proposal_row,
            ),
        )
        .await?;
    refuse_replay(nonce, !seen.is_empty())?;
    found
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("proposal {id}")))
}

// ---- the one write path ----

/// Writes what a rule returned: the alert, the audit entries (chained on
/// the current head), the proposals stamped with the last sequence number
/// and their participants, the outbox events, the annotation and the
/// nonce — one batch after reading the head (pipelined on PostgreSQL).
/// Returns the last audit entry; the ids of changed proposals go to
/// `changed`.
pub async fn apply<T: Tx>(
    tx: &mut T,
    w: &mut Writes,
    changed: &mut Vec<String>,
) -> Result<Option<AuditEntry>, StoreError> {
    let mut batch: Vec<(&str, Vec<Param>)> = Vec::new();
    if let Some(a) = &w.alert {
        batch.push((sql::UPSERT_ALERT, sql::alert_params(a)?));
    }
    let mut at = head(tx).await?;
    let mut last: Option<AuditEntry> = None;
    for e in &w.entries {
        let a = chain::append(&at, e)?;
        let row = params([
            a.seq.into(),
            e.at.into(),
            e.kind.into(),
            e.alert_id.clone().into(),
            e.proposal_id.clone().into(),
            (&a.entry).into(),
            (&a.prev_hash).into(),
            (&a.hash).into(),
        ]);
        batch.push((sql::APPEND, row));
        at = Head {
            seq: a.seq,
            hash: a.hash.clone(),
        };
        last = Some(a);
    }
    let seq = last.as_ref().map(|a| a.seq);
    for p in &mut w.proposals {
        if let Some(seq) = seq {
            p.change_seq = seq;
        }
        batch.push((sql::UPSERT_PROPOSAL, sql::proposal_params(p)?));
        for who in logic::participants(p) {
            batch.push((sql::ADD_PARTICIPANT, params([who.into(), (&p.id).into()])));
        }
    }
    for event in logic::notify::events(w) {
        batch.push((sql::ADD_OUTBOX, outbox_params(&event)));
    }
    if w.annotation.is_some() || w.nonce.is_some() {
        let seq = seq.ok_or_else(|| {
            StoreError::Internal("a signed payload must be recorded in the audit log".into())
        })?;
        if let Some(note) = &mut w.annotation {
            note.seq = seq;
            batch.push((sql::ADD_ANNOTATION, sql::annotation_params(note)?));
        }
        if let Some(nonce) = &w.nonce {
            batch.push((sql::ADD_NONCE, params([nonce.into(), seq.into()])));
        }
    }
    tx.execute_all(&batch).await?;
    tx.set_head(&at);
    changed.extend(w.proposals.iter().map(|p| p.id.clone()));
    Ok(last)
}

fn outbox_params(e: &logic::notify::OutboxEvent) -> Vec<Param> {
    params([
        (&e.id).into(),
        e.kind.as_str().into(),
        e.at.into(),
        (&e.proposal_id).into(),
        (&e.alert_id).into(),
        e.data.to_string().into(),
    ])
}

/// One event into the outbox, in the caller's transaction.
pub async fn add_outbox<T: Tx>(
    tx: &mut T,
    e: &logic::notify::OutboxEvent,
) -> Result<(), StoreError> {
    tx.execute(sql::ADD_OUTBOX, &outbox_params(e)).await?;
    Ok(())
}

fn recorded(audit: Option<AuditEntry>) -> Result<AuditEntry, StoreError> {
    audit.ok_or_else(|| StoreError::Internal("the change wrote no audit entry".into()))
}

fn only(mut proposals: Vec<ProposalRecord>) -> Result<ProposalRecord, StoreError> {
    proposals
        .pop()
        .ok_or_else(|| StoreError::Internal("the change wrote no proposal".into()))
}
