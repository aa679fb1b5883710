//! Every store operation, written once over [`Tx`]: load what the rules
//! (`logic`) ask for, let them decide, write what they return. A backend
//! only says how a statement runs and how a transaction begins and ends.

use super::logic::{self, Writes};
use super::sql::{self, Param, params};
use super::tx::Tx;
use super::{
    AnnotateCommand, AnnotateOutcome, ClaimCommand, DecideCommand, DecideOutcome, ExecutionCommand,
    QueryParts, QueuePage, QueueQuery, StoreError, SubmitCommand, SubmitOutcome,
};
use crate::audit::chain::{self, Head};
use crate::domain::machine::Millis;
use crate::domain::records::{
    AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord, TokenRecord,
};
use crate::domain::types::{ProposalStatus, TokenRole};

// ---- loads ----

pub async fn head<T: Tx>(tx: &mut T) -> Result<Head, StoreError> {
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
    match seen {
        Some(_) => Err(StoreError::Replay(nonce.to_owned())),
        None => Ok(()),
    }
}

// ---- the one write path ----

/// Writes what a rule returned: the alert, the audit entries (chained on
/// the current head), the proposals stamped with the last sequence number
/// and their participants, the annotation and the nonce. Returns the last
/// audit entry; the ids of changed proposals go to `changed`.
pub async fn apply<T: Tx>(
    tx: &mut T,
    w: &mut Writes,
    changed: &mut Vec<String>,
) -> Result<Option<AuditEntry>, StoreError> {
    if let Some(a) = &w.alert {
        tx.execute(sql::UPSERT_ALERT, &sql::alert_params(a)?)
            .await?;
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
        tx.execute(sql::APPEND, &row).await?;
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
        tx.execute(sql::UPSERT_PROPOSAL, &sql::proposal_params(p)?)
            .await?;
        for who in logic::participants(p) {
            tx.execute(sql::ADD_PARTICIPANT, &[who.into(), (&p.id).into()])
                .await?;
        }
        changed.push(p.id.clone());
    }
    if w.annotation.is_some() || w.nonce.is_some() {
        let seq = seq.ok_or_else(|| {
            StoreError::Internal("a signed payload must be recorded in the audit log".into())
        })?;
        if let Some(note) = &mut w.annotation {
            note.seq = seq;
            tx.execute(sql::ADD_ANNOTATION, &sql::annotation_params(note)?)
                .await?;
        }
        if let Some(nonce) = &w.nonce {
            tx.execute(sql::ADD_NONCE, &[nonce.into(), seq.into()])
                .await?;
        }
    }
    Ok(last)
}

fn recorded(audit: Option<AuditEntry>) -> Result<AuditEntry, StoreError> {
    audit.ok_or_else(|| StoreError::Internal("the change wrote no audit entry".into()))
}

fn only(mut proposals: Vec<ProposalRecord>) -> Result<ProposalRecord, StoreError> {
    proposals
        .pop()
        .ok_or_else(|| StoreError::Internal("the change wrote no proposal".into()))
}

// ---- writes that the audit log records ----

pub async fn submit<T: Tx>(
    tx: &mut T,
    cmd: &SubmitCommand,
    changed: &mut Vec<String>,
) -> Result<SubmitOutcome, StoreError> {
    let lock = tx.dialect().for_update();
    let key = [
        Param::from(&cmd.agent),
        Param::from(&cmd.submission.alert.external_id),
    ];
    let old = tx
        .query_opt(&sql::alert_by_external_sql(lock), &key, sql::alert_row)
        .await?;
    let old = match old {
        Some(alert) => {
            let stored = proposals_of(tx, &alert.id).await?;
            Some((alert, stored))
        }
        None => None,
    };
    let mut plan = logic::submit(cmd, old)?;
    apply(tx, &mut plan.writes, changed).await?;
    Ok(plan.outcome())
}

pub async fn decide<T: Tx>(
    tx: &mut T,
    cmd: &DecideCommand,
    changed: &mut Vec<String>,
) -> Result<DecideOutcome, StoreError> {
    if let Some(signed) = &cmd.signed {
        check_nonce(tx, &signed.nonce).await?;
    }
    let p = proposal_for_update(tx, &cmd.proposal_id).await?;
    let (next, entries, event) = logic::decide(&p, cmd)?;
    let mut w = Writes {
        proposals: vec![next],
        entries,
        nonce: cmd.signed.as_ref().map(|s| s.nonce.clone()),
        ..Writes::default()
    };
    let audit = recorded(apply(tx, &mut w, changed).await?)?;
    Ok(DecideOutcome {
        proposal: only(w.proposals)?,
        event,
        audit,
    })
}

pub async fn report_execution<T: Tx>(
    tx: &mut T,
    cmd: &ExecutionCommand,
    changed: &mut Vec<String>,
) -> Result<ProposalRecord, StoreError> {
    let p = proposal_for_update(tx, &cmd.proposal_id).await?;
    let (next, entries) = logic::execution(&p, cmd)?;
    let mut w = Writes {
        proposals: vec![next],
        entries,
        ..Writes::default()
    };
    apply(tx, &mut w, changed).await?;
    only(w.proposals)
}

pub async fn claim<T: Tx>(
    tx: &mut T,
    cmd: &ClaimCommand,
    changed: &mut Vec<String>,
) -> Result<ProposalRecord, StoreError> {
    let p = proposal_for_update(tx, &cmd.proposal_id).await?;
    let (next, entry) = logic::claim(&p, cmd)?;
    let mut w = Writes {
        proposals: vec![next],
        entries: vec![entry],
        ..Writes::default()
    };
    apply(tx, &mut w, changed).await?;
    only(w.proposals)
}

pub async fn annotate<T: Tx>(
    tx: &mut T,
    cmd: &AnnotateCommand,
) -> Result<AnnotateOutcome, StoreError> {
    check_nonce(tx, &cmd.signed.nonce).await?;
    let alert = alert_by_id(tx, &cmd.alert_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("alert {}", cmd.alert_id)))?;
    let (note, entry) = logic::annotate(&alert, cmd)?;
    let mut w = Writes {
        entries: vec![entry],
        annotation: Some(note),
        nonce: Some(cmd.signed.nonce.clone()),
        ..Writes::default()
    };
    let audit = recorded(apply(tx, &mut w, &mut Vec::new()).await?)?;
    let annotation = w
        .annotation
        .ok_or_else(|| StoreError::Internal("the annotation was not written".into()))?;
    Ok(AnnotateOutcome { annotation, audit })
}

/// Ids of proposals with a deadline due at `now` (read outside the write).
pub async fn due<T: Tx>(tx: &mut T, now: Millis) -> Result<Vec<String>, StoreError> {
    tx.query(sql::DUE, &[now.into()], |r| r.text("id")).await
}

/// Applies the deadlines of `ids`, re-read under the lock: another replica
/// may have acted first. Returns how many moved.
pub async fn settle<T: Tx>(
    tx: &mut T,
    ids: &[String],
    now: Millis,
    changed: &mut Vec<String>,
) -> Result<usize, StoreError> {
    let lock = tx.dialect().for_update();
    let mut moved = 0;
    for id in ids {
        let found = tx
            .query_opt(
                &sql::proposal_by_id_sql(lock),
                &[id.into()],
                sql::proposal_row,
            )
            .await?;
        let Some(mut p) = found else { continue };
        let entries = logic::settle(&mut p, now);
        if !entries.is_empty() {
            let mut w = Writes {
                proposals: vec![p],
                entries,
                ..Writes::default()
            };
            apply(tx, &mut w, changed).await?;
            moved += 1;
        }
    }
    Ok(moved)
}

// ---- reads ----

/// Call inside one snapshot: the alert and its proposals agree.
pub async fn alert<T: Tx>(
    tx: &mut T,
    id: &str,
) -> Result<Option<(AlertRecord, Vec<ProposalRecord>)>, StoreError> {
    let Some(alert) = alert_by_id(tx, id).await? else {
        return Ok(None);
    };
    let proposals = proposals_of(tx, id).await?;
    Ok(Some((alert, proposals)))
}

/// Call inside one snapshot: the head and the rows agree.
pub async fn queue<T: Tx>(tx: &mut T, q: &QueueQuery) -> Result<QueuePage, StoreError> {
    let head = head(tx).await?.seq;
    let parts = QueryParts::new(q);
    let args = params([
        parts.statuses_json.clone().into(),
        parts.mine.clone().into(),
        q.after.into(),
        q.agent.clone().into(),
        parts.include_gone.into(),
        parts.fetch.into(),
    ]);
    let rows = tx
        .query(&sql::queue_sql(tx.dialect()), &args, sql::queue_row)
        .await?;
    Ok(parts.page(rows, head))
}

pub async fn status_counts<T: Tx>(tx: &mut T) -> Result<Vec<(ProposalStatus, i64)>, StoreError> {
    let rows = tx
        .query(sql::STATUS_COUNTS, &[], |r| {
            Ok((r.text("status")?, r.int("n")?))
        })
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, n)| s.parse().ok().map(|s| (s, n)))
        .collect())
}

pub async fn audit_after<T: Tx>(
    tx: &mut T,
    after: i64,
    limit: u32,
    alert_id: Option<String>,
) -> Result<Vec<AuditEntry>, StoreError> {
    let args = params([after.into(), alert_id.into(), limit.into()]);
    tx.query(sql::AUDIT_AFTER, &args, sql::audit_row).await
}

pub async fn annotations<T: Tx>(
    tx: &mut T,
    alert_id: &str,
) -> Result<Vec<AnnotationRecord>, StoreError> {
    tx.query(
        &sql::annotations_of_sql(),
        &[alert_id.into()],
        sql::annotation_row,
    )
    .await
}

// ---- tokens, challenges, sessions (not in the audit log) ----

pub async fn create_token<T: Tx>(
    tx: &mut T,
    name: String,
    role: TokenRole,
    hash: String,
    now: Millis,
) -> Result<TokenRecord, StoreError> {
    let rec = TokenRecord {
        id: logic::new_id(),
        name,
        role,
        created_at: now,
        revoked_at: None,
    };
    let args = params([
        (&rec.id).into(),
        (&rec.name).into(),
        rec.role.as_str().into(),
        hash.into(),
        now.into(),
    ]);
    tx.execute(sql::ADD_TOKEN, &args).await?;
    Ok(rec)
}

pub async fn token_by_hash<T: Tx>(
    tx: &mut T,
    hash: &str,
) -> Result<Option<TokenRecord>, StoreError> {
    tx.query_opt(&sql::token_by_hash_sql(), &[hash.into()], sql::token_row)
        .await
}

pub async fn list_tokens<T: Tx>(tx: &mut T) -> Result<Vec<TokenRecord>, StoreError> {
    tx.query(&sql::tokens_sql(), &[], sql::token_row).await
}

pub async fn revoke_token<T: Tx>(tx: &mut T, name: &str, now: Millis) -> Result<usize, StoreError> {
    let n = tx
        .execute(sql::REVOKE_TOKEN, &[now.into(), name.into()])
        .await?;
    Ok(n as usize)
}

/// Records a challenge and sweeps those that expired an hour ago or more.
pub async fn create_challenge<T: Tx>(
    tx: &mut T,
    challenge: String,
    principal: String,
    expires_at: Millis,
) -> Result<(), StoreError> {
    tx.execute(sql::SWEEP_CHALLENGES, &[(expires_at - 3_600_000).into()])
        .await?;
    let args = params([challenge.into(), principal.into(), expires_at.into()]);
    tx.execute(sql::ADD_CHALLENGE, &args).await?;
    Ok(())
}

pub async fn take_challenge<T: Tx>(
    tx: &mut T,
    challenge: &str,
) -> Result<Option<(String, Millis)>, StoreError> {
    tx.query_opt(sql::TAKE_CHALLENGE, &[challenge.into()], |r| {
        Ok((r.text("principal")?, r.int("expires_at")?))
    })
    .await
}

pub async fn create_session<T: Tx>(
    tx: &mut T,
    hash: String,
    principal: String,
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    tx.execute(sql::SWEEP_SESSIONS, &[now.into()]).await?;
    let args = params([hash.into(), principal.into(), now.into(), expires_at.into()]);
    tx.execute(sql::ADD_SESSION, &args).await?;
    Ok(())
}

pub async fn session_principal<T: Tx>(
    tx: &mut T,
    hash: &str,
    now: Millis,
) -> Result<Option<String>, StoreError> {
    tx.query_opt(sql::SESSION_PRINCIPAL, &[hash.into(), now.into()], |r| {
        r.text("principal")
    })
    .await
}
