//! Reads, and the writes outside the audit log (tokens, challenges, sessions).

use super::*;
use crate::api::oversight::Oversight;
use crate::domain::machine::Millis;
use crate::domain::records::{AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord};
use crate::domain::types::ProposalStatus;
use crate::server::store::sql::{self, params};
use crate::server::store::tx::Tx;
use crate::server::store::{
    NewSession, OpenSession, QueryParts, QueuePage, QueueQuery, StoreError,
};

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

/// The proposals of `agent`'s alert with `external_id`, if it has one.
pub async fn proposals_by_external<T: Tx>(
    tx: &mut T,
    agent: &str,
    external_id: &str,
) -> Result<Vec<ProposalRecord>, StoreError> {
    tx.query(
        &sql::proposals_by_external_sql(),
        &[agent.into(), external_id.into()],
        sql::proposal_row,
    )
    .await
}

/// Call inside one snapshot: the head and the rows agree.
pub async fn queue<T: Tx>(tx: &mut T, q: &QueueQuery) -> Result<QueuePage, StoreError> {
    let head = head(tx).await?.seq;
    let parts = QueryParts::new(q);
    let args = params([
        parts.statuses_json.clone().into(),
        parts.mine.clone().into(),
        parts.sampled.into(),
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

/// The oversight figures over `[since, until)`: call inside one snapshot.
pub async fn oversight<T: Tx>(
    tx: &mut T,
    since: Millis,
    until: Millis,
) -> Result<Oversight, StoreError> {
    let window = params([since.into(), until.into()]);
    let rows = tx
        .query(&sql::oversight_sql(), &window, sql::oversight_row)
        .await?;
    let proposals = tx
        .query(sql::PROPOSALS_BY_AGENT, &window, |r| {
            Ok((r.text("proposed_by")?, r.int("n")?.max(0) as u64))
        })
        .await?;
    Ok(crate::domain::oversight::compute(
        &rows, &proposals, since, until,
    ))
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

// ---- challenges, sessions (not in the audit log; tokens: `tokens.rs`) ----

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

pub async fn sweep_expired<T: Tx>(tx: &mut T, now: Millis) -> Result<usize, StoreError> {
    let a = tx.execute(sql::SWEEP_CHALLENGES, &[now.into()]).await?;
    let b = tx.execute(sql::SWEEP_SESSIONS, &[now.into()]).await?;
    Ok((a + b) as usize)
}

pub async fn create_session<T: Tx>(tx: &mut T, new: NewSession) -> Result<(), StoreError> {
    tx.execute(sql::SWEEP_SESSIONS, &[new.created_at.into()])
        .await?;
    let args = params([
        new.hash.into(),
        new.principal.into(),
        new.created_at.into(),
        new.expires_at.into(),
        new.login_key.into(),
        new.sk_flags.into(),
    ]);
    tx.execute(sql::ADD_SESSION, &args).await?;
    Ok(())
}

/// Every session live at `now`, with what logged in.
pub async fn sessions_open<T: Tx>(tx: &mut T, now: Millis) -> Result<Vec<OpenSession>, StoreError> {
    tx.query(sql::OPEN_SESSIONS, &[now.into()], sql::open_session_row)
        .await
}

/// Ends these sessions; returns how many there were.
pub async fn end_sessions<T: Tx>(tx: &mut T, hashes: &[String]) -> Result<usize, StoreError> {
    let mut ended = 0;
    for hash in hashes {
        ended += tx.execute(sql::END_SESSION, &[hash.into()]).await?;
    }
    Ok(ended as usize)
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

/// Every freeze in force.
pub async fn freezes<T: Tx>(tx: &mut T) -> Result<Vec<crate::domain::freeze::Freeze>, StoreError> {
    reads_of::freezes().run(tx, sql::freeze_row).await
}
