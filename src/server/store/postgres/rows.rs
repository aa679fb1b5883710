//! Row mapping and statements for the PostgreSQL backend. Values travel as
//! `$n` parameters; `format!` only splices constant column lists.

use crate::audit::chain::{self, Head, NewEntry};
use crate::domain::records::{
    AlertRecord, AnnotationRecord, AuditEntry, DecidedBy, ProposalRecord, ProposalSummary,
    QueueItem, TokenRecord,
};
use crate::server::store::StoreError;
use std::str::FromStr;
use tokio_postgres::{GenericClient, Row};

fn bad(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("column {col}: {e}"))
}

fn parse<T: FromStr>(r: &Row, i: usize, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let s: String = r.try_get(i).map_err(|e| bad(col, e))?;
    T::from_str(&s).map_err(|e| bad(col, e))
}

fn json<T: serde::de::DeserializeOwned>(r: &Row, i: usize, col: &str) -> Result<T, StoreError> {
    let s: String = r.try_get(i).map_err(|e| bad(col, e))?;
    serde_json::from_str(&s).map_err(|e| bad(col, e))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    r: &'a Row,
    i: usize,
    col: &str,
) -> Result<T, StoreError> {
    r.try_get(i).map_err(|e| bad(col, e))
}

pub const ALERT_COLS: &str = "id, agent, external_id, source, severity, title, entity_kind, \
     entity_id, confidence, revision, created_at, updated_at, document";

pub fn alert_row(r: &Row) -> Result<AlertRecord, StoreError> {
    Ok(AlertRecord {
        id: get(r, 0, "id")?,
        agent: get(r, 1, "agent")?,
        external_id: get(r, 2, "external_id")?,
        source: get(r, 3, "source")?,
        severity: parse(r, 4, "severity")?,
        title: get(r, 5, "title")?,
        entity_kind: parse(r, 6, "entity_kind")?,
        entity_id: get(r, 7, "entity_id")?,
        confidence: get(r, 8, "confidence")?,
        revision: get::<i32>(r, 9, "revision")? as u32,
        created_at: get(r, 10, "created_at")?,
        updated_at: get(r, 11, "updated_at")?,
        document: json(r, 12, "document")?,
    })
}

pub const PROPOSAL_COLS: &str = "p.id, p.alert_id, p.idx, p.action, p.target, p.risk, p.status, \
     p.digest, p.document, p.proposed_by, p.rule, p.approvals, p.escalated_by, p.decided_by, \
     p.reason, p.created_at, p.updated_at, p.expires_at, p.escalate_at, p.execute_by, \
     p.decided_at, p.change_seq, p.claimed_by, p.claim_until";

pub fn proposal_row(r: &Row) -> Result<ProposalRecord, StoreError> {
    let decided_by: Option<String> = get(r, 13, "decided_by")?;
    Ok(ProposalRecord {
        id: get(r, 0, "id")?,
        alert_id: get(r, 1, "alert_id")?,
        index: get::<i32>(r, 2, "idx")? as u32,
        action: parse(r, 3, "action")?,
        target: get(r, 4, "target")?,
        risk: parse(r, 5, "risk")?,
        status: parse(r, 6, "status")?,
        digest: get(r, 7, "digest")?,
        document: json(r, 8, "document")?,
        proposed_by: get(r, 9, "proposed_by")?,
        rule: get(r, 10, "rule")?,
        approvals: json(r, 11, "approvals")?,
        escalated_by: get(r, 12, "escalated_by")?,
        decided_by: decided_by
            .map(|d| serde_json::from_str::<DecidedBy>(&d).map_err(|e| bad("decided_by", e)))
            .transpose()?,
        reason: get(r, 14, "reason")?,
        created_at: get(r, 15, "created_at")?,
        updated_at: get(r, 16, "updated_at")?,
        expires_at: get(r, 17, "expires_at")?,
        escalate_at: get(r, 18, "escalate_at")?,
        execute_by: get(r, 19, "execute_by")?,
        decided_at: get(r, 20, "decided_at")?,
        change_seq: get(r, 21, "change_seq")?,
        claimed_by: get(r, 22, "claimed_by")?,
        claim_until: get(r, 23, "claim_until")?,
    })
}

/// Queue rows reuse the proposal columns (minus the document) and add the
/// alert's; `in_view` comes last.
pub const QUEUE_COLS: &str = "p.id, p.alert_id, p.action, p.target, p.risk, p.status, p.digest, \
     p.proposed_by, p.approvals, p.escalated_by, p.decided_by, p.reason, p.created_at, \
     p.expires_at, p.execute_by, p.change_seq, a.title, a.severity, a.source, a.entity_kind, \
     a.entity_id, a.confidence, p.claimed_by, p.claim_until";

pub fn queue_row(r: &Row) -> Result<(QueueItem, bool), StoreError> {
    let decided_by: Option<String> = get(r, 10, "decided_by")?;
    let item = QueueItem {
        proposal: ProposalSummary {
            id: get(r, 0, "id")?,
            alert_id: get(r, 1, "alert_id")?,
            action: parse(r, 2, "action")?,
            target: get(r, 3, "target")?,
            risk: parse(r, 4, "risk")?,
            status: parse(r, 5, "status")?,
            digest: get(r, 6, "digest")?,
            proposed_by: get(r, 7, "proposed_by")?,
            approvals: json(r, 8, "approvals")?,
            escalated_by: get(r, 9, "escalated_by")?,
            decided_by: decided_by
                .map(|d| serde_json::from_str::<DecidedBy>(&d).map_err(|e| bad("decided_by", e)))
                .transpose()?,
            reason: get(r, 11, "reason")?,
            created_at: get(r, 12, "created_at")?,
            expires_at: get(r, 13, "expires_at")?,
            execute_by: get(r, 14, "execute_by")?,
            claimed_by: get(r, 22, "claimed_by")?,
            claim_until: get(r, 23, "claim_until")?,
            change_seq: get(r, 15, "change_seq")?,
        },
        alert_title: get(r, 16, "title")?,
        severity: parse(r, 17, "severity")?,
        source: get(r, 18, "source")?,
        entity_kind: parse(r, 19, "entity_kind")?,
        entity_id: get(r, 20, "entity_id")?,
        confidence: get(r, 21, "confidence")?,
    };
    Ok((item, get(r, 24, "in_view")?))
}

pub fn token_row(r: &Row) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: get(r, 0, "id")?,
        name: get(r, 1, "name")?,
        role: parse(r, 2, "role")?,
        created_at: get(r, 3, "created_at")?,
        revoked_at: get(r, 4, "revoked_at")?,
    })
}

pub fn audit_row(r: &Row) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: get(r, 0, "seq")?,
        entry: get(r, 1, "entry")?,
        prev_hash: get(r, 2, "prev_hash")?,
        hash: get(r, 3, "hash")?,
    })
}

pub fn annotation_row(r: &Row) -> Result<AnnotationRecord, StoreError> {
    Ok(AnnotationRecord {
        id: get(r, 0, "id")?,
        alert_id: get(r, 1, "alert_id")?,
        principal: get(r, 2, "principal")?,
        note: get(r, 3, "note")?,
        labels: json(r, 4, "labels")?,
        digest: get(r, 5, "digest")?,
        created_at: get(r, 6, "created_at")?,
        seq: get(r, 7, "seq")?,
    })
}

pub async fn insert_alert(c: &impl GenericClient, a: &AlertRecord) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO alerts (id, agent, external_id, source, severity, title, entity_kind, \
         entity_id, confidence, revision, created_at, updated_at, document) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (id) DO UPDATE SET source = $4, severity = $5, title = $6, \
         entity_kind = $7, entity_id = $8, confidence = $9, revision = $10, updated_at = $12, \
         document = $13",
        &[
            &a.id,
            &a.agent,
            &a.external_id,
            &a.source,
            &a.severity.as_str(),
            &a.title,
            &a.entity_kind.as_str(),
            &a.entity_id,
            &a.confidence,
            &(a.revision as i32),
            &a.created_at,
            &a.updated_at,
            &serde_json::to_string(&a.document)?,
        ],
    )
    .await?;
    Ok(())
}

pub async fn upsert_proposal(c: &impl GenericClient, p: &ProposalRecord) -> Result<(), StoreError> {
    let decided_by = p
        .decided_by
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    c.execute(
        "INSERT INTO proposals (id, alert_id, idx, action, target, risk, status, digest, document, \
         proposed_by, rule, approvals, escalated_by, decided_by, reason, created_at, updated_at, \
         expires_at, escalate_at, execute_by, decided_at, change_seq, claimed_by, claim_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22, $23, $24) \
         ON CONFLICT (id) DO UPDATE SET action = $4, target = $5, risk = $6, status = $7, \
         digest = $8, document = $9, rule = $11, approvals = $12, escalated_by = $13, \
         decided_by = $14, reason = $15, updated_at = $17, expires_at = $18, escalate_at = $19, \
         execute_by = $20, decided_at = $21, change_seq = $22, claimed_by = $23, claim_until = $24",
        &[
            &p.id,
            &p.alert_id,
            &(p.index as i32),
            &p.action.as_str(),
            &p.target,
            &p.risk.as_str(),
            &p.status.as_str(),
            &p.digest,
            &serde_json::to_string(&p.document)?,
            &p.proposed_by,
            &p.rule,
            &serde_json::to_string(&p.approvals)?,
            &p.escalated_by,
            &decided_by,
            &p.reason,
            &p.created_at,
            &p.updated_at,
            &p.expires_at,
            &p.escalate_at,
            &p.execute_by,
            &p.decided_at,
            &p.change_seq,
            &p.claimed_by,
            &p.claim_until,
        ],
    )
    .await?;
    let mut people: Vec<&str> = p.approvals.iter().map(|a| a.principal.as_str()).collect();
    people.extend(p.escalated_by.as_deref());
    people.extend(p.claimed_by.as_deref());
    if let Some(DecidedBy::Person { principal }) = &p.decided_by {
        people.push(principal);
    }
    for who in people {
        c.execute(
            "INSERT INTO participants (principal, proposal_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&who, &p.id],
        )
        .await?;
    }
    Ok(())
}

pub async fn head(c: &impl GenericClient) -> Result<Head, StoreError> {
    let row = c
        .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
        .await?;
    Ok(match row {
        Some(r) => Head {
            seq: get(&r, 0, "seq")?,
            hash: get(&r, 1, "hash")?,
        },
        None => Head::genesis(),
    })
}

/// Appends entries (the caller holds the chain lock); returns the last.
pub async fn append(
    c: &impl GenericClient,
    entries: &[NewEntry],
) -> Result<Option<AuditEntry>, StoreError> {
    let mut h = head(c).await?;
    let mut last = None;
    for e in entries {
        let a = chain::append(&h, e)?;
        c.execute(
            "INSERT INTO audit (seq, at, kind, alert_id, proposal_id, entry, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &a.seq,
                &e.at,
                &e.kind,
                &e.alert_id,
                &e.proposal_id,
                &a.entry,
                &a.prev_hash,
                &a.hash,
            ],
        )
        .await?;
        h = Head {
            seq: a.seq,
            hash: a.hash.clone(),
        };
        last = Some(a);
    }
    Ok(last)
}

pub async fn proposal_by_id(
    c: &impl GenericClient,
    id: &str,
    lock: bool,
) -> Result<Option<ProposalRecord>, StoreError> {
    let sql = format!(
        "SELECT {PROPOSAL_COLS} FROM proposals p WHERE p.id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    c.query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(proposal_row)
        .transpose()
}

pub async fn proposals_of(
    c: &impl GenericClient,
    alert_id: &str,
) -> Result<Vec<ProposalRecord>, StoreError> {
    let sql =
        format!("SELECT {PROPOSAL_COLS} FROM proposals p WHERE p.alert_id = $1 ORDER BY p.idx");
    c.query(&sql, &[&alert_id])
        .await?
        .iter()
        .map(proposal_row)
        .collect()
}

pub async fn alert_by_external(
    c: &impl GenericClient,
    agent: &str,
    external_id: &str,
) -> Result<Option<AlertRecord>, StoreError> {
    let sql =
        format!("SELECT {ALERT_COLS} FROM alerts WHERE agent = $1 AND external_id = $2 FOR UPDATE");
    c.query_opt(&sql, &[&agent, &external_id])
        .await?
        .as_ref()
        .map(alert_row)
        .transpose()
}

pub async fn alert_by_id(
    c: &impl GenericClient,
    id: &str,
) -> Result<Option<AlertRecord>, StoreError> {
    let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1");
    c.query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(alert_row)
        .transpose()
}

pub async fn check_nonce(c: &impl GenericClient, nonce: &str) -> Result<(), StoreError> {
    match c
        .query_opt("SELECT 1 FROM nonces WHERE nonce = $1", &[&nonce])
        .await?
    {
        Some(_) => Err(StoreError::Replay(nonce.to_owned())),
        None => Ok(()),
    }
}

pub async fn record_nonce(c: &impl GenericClient, nonce: &str, seq: i64) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO nonces (nonce, seq) VALUES ($1, $2)",
        &[&nonce, &seq],
    )
    .await?;
    Ok(())
}
