//! Row mapping and statements for the SQLite backend. Values always travel
//! as `?` parameters; `format!` only splices the constant column lists.

use crate::audit::chain::{self, Head, NewEntry};
use crate::domain::records::{
    AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord, ProposalSummary, QueueItem,
    TokenRecord,
};
use crate::server::store::StoreError;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::str::FromStr;

fn parse<T: FromStr>(text: String, col: &str) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    T::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("column {col}: {e}").into(),
        )
    })
}

fn json<T: serde::de::DeserializeOwned>(text: String, col: &str) -> rusqlite::Result<T> {
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("column {col}: {e}").into(),
        )
    })
}

pub const ALERT_COLS: &str = "id, agent, external_id, source, severity, title, entity_kind, \
     entity_id, confidence, revision, created_at, updated_at, document";

pub fn alert_row(r: &Row<'_>) -> rusqlite::Result<AlertRecord> {
    Ok(AlertRecord {
        id: r.get(0)?,
        agent: r.get(1)?,
        external_id: r.get(2)?,
        source: r.get(3)?,
        severity: parse(r.get(4)?, "severity")?,
        title: r.get(5)?,
        entity_kind: parse(r.get(6)?, "entity_kind")?,
        entity_id: r.get(7)?,
        confidence: r.get(8)?,
        revision: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        document: json(r.get(12)?, "document")?,
    })
}

pub const PROPOSAL_COLS: &str = "p.id, p.alert_id, p.idx, p.action, p.target, p.risk, p.status, \
     p.digest, p.document, p.proposed_by, p.rule, p.approvals, p.escalated_by, p.decided_by, \
     p.reason, p.created_at, p.updated_at, p.expires_at, p.escalate_at, p.execute_by, \
     p.decided_at, p.change_seq, p.claimed_by, p.claim_until";

pub fn proposal_row(r: &Row<'_>) -> rusqlite::Result<ProposalRecord> {
    let decided_by: Option<String> = r.get(13)?;
    Ok(ProposalRecord {
        id: r.get(0)?,
        alert_id: r.get(1)?,
        index: r.get(2)?,
        action: parse(r.get(3)?, "action")?,
        target: r.get(4)?,
        risk: parse(r.get(5)?, "risk")?,
        status: parse(r.get(6)?, "status")?,
        digest: r.get(7)?,
        document: json(r.get(8)?, "document")?,
        proposed_by: r.get(9)?,
        rule: r.get(10)?,
        approvals: json(r.get(11)?, "approvals")?,
        escalated_by: r.get(12)?,
        decided_by: decided_by.map(|d| json(d, "decided_by")).transpose()?,
        reason: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
        expires_at: r.get(17)?,
        escalate_at: r.get(18)?,
        execute_by: r.get(19)?,
        decided_at: r.get(20)?,
        change_seq: r.get(21)?,
        claimed_by: r.get(22)?,
        claim_until: r.get(23)?,
    })
}

/// Queue rows: proposal columns (without the document) and alert columns.
pub const QUEUE_COLS: &str = "p.id, p.alert_id, p.action, p.target, p.risk, p.status, p.digest, \
     p.proposed_by, p.approvals, p.escalated_by, p.decided_by, p.reason, p.created_at, \
     p.expires_at, p.execute_by, p.change_seq, a.title, a.severity, a.source, a.entity_kind, \
     a.entity_id, a.confidence, p.claimed_by, p.claim_until";

pub fn queue_row(r: &Row<'_>) -> rusqlite::Result<QueueItem> {
    let decided_by: Option<String> = r.get(10)?;
    Ok(QueueItem {
        proposal: ProposalSummary {
            id: r.get(0)?,
            alert_id: r.get(1)?,
            action: parse(r.get(2)?, "action")?,
            target: r.get(3)?,
            risk: parse(r.get(4)?, "risk")?,
            status: parse(r.get(5)?, "status")?,
            digest: r.get(6)?,
            proposed_by: r.get(7)?,
            approvals: json(r.get(8)?, "approvals")?,
            escalated_by: r.get(9)?,
            decided_by: decided_by.map(|d| json(d, "decided_by")).transpose()?,
            reason: r.get(11)?,
            created_at: r.get(12)?,
            expires_at: r.get(13)?,
            execute_by: r.get(14)?,
            claimed_by: r.get(22)?,
            claim_until: r.get(23)?,
            change_seq: r.get(15)?,
        },
        alert_title: r.get(16)?,
        severity: parse(r.get(17)?, "severity")?,
        source: r.get(18)?,
        entity_kind: parse(r.get(19)?, "entity_kind")?,
        entity_id: r.get(20)?,
        confidence: r.get(21)?,
    })
}

pub fn token_row(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: parse(r.get(2)?, "role")?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

pub fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        entry: r.get(1)?,
        prev_hash: r.get(2)?,
        hash: r.get(3)?,
    })
}

pub fn insert_alert(c: &Connection, a: &AlertRecord) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO alerts (id, agent, external_id, source, severity, title, entity_kind, \
         entity_id, confidence, revision, created_at, updated_at, document) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
         ON CONFLICT (id) DO UPDATE SET source = ?4, severity = ?5, title = ?6, \
         entity_kind = ?7, entity_id = ?8, confidence = ?9, revision = ?10, updated_at = ?12, \
         document = ?13",
    )?
    .execute(params![
        a.id,
        a.agent,
        a.external_id,
        a.source,
        a.severity.as_str(),
        a.title,
        a.entity_kind.as_str(),
        a.entity_id,
        a.confidence,
        a.revision,
        a.created_at,
        a.updated_at,
        serde_json::to_string(&a.document)?,
    ])?;
    Ok(())
}

pub fn upsert_proposal(c: &Connection, p: &ProposalRecord) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO proposals (id, alert_id, idx, action, target, risk, status, digest, document, \
         proposed_by, rule, approvals, escalated_by, decided_by, reason, created_at, updated_at, \
         expires_at, escalate_at, execute_by, decided_at, change_seq, claimed_by, claim_until) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
         ?19, ?20, ?21, ?22, ?23, ?24) \
         ON CONFLICT (id) DO UPDATE SET action = ?4, target = ?5, risk = ?6, status = ?7, \
         digest = ?8, document = ?9, rule = ?11, approvals = ?12, escalated_by = ?13, \
         decided_by = ?14, reason = ?15, updated_at = ?17, expires_at = ?18, escalate_at = ?19, \
         execute_by = ?20, decided_at = ?21, change_seq = ?22, claimed_by = ?23, claim_until = ?24",
    )?
    .execute(params![
        p.id,
        p.alert_id,
        p.index,
        p.action.as_str(),
        p.target,
        p.risk.as_str(),
        p.status.as_str(),
        p.digest,
        serde_json::to_string(&p.document)?,
        p.proposed_by,
        p.rule,
        serde_json::to_string(&p.approvals)?,
        p.escalated_by,
        p.decided_by
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
        p.reason,
        p.created_at,
        p.updated_at,
        p.expires_at,
        p.escalate_at,
        p.execute_by,
        p.decided_at,
        p.change_seq,
        p.claimed_by,
        p.claim_until,
    ])?;
    let mut people: Vec<&str> = p.approvals.iter().map(|a| a.principal.as_str()).collect();
    people.extend(p.escalated_by.as_deref());
    people.extend(p.claimed_by.as_deref());
    if let Some(crate::domain::records::DecidedBy::Person { principal }) = &p.decided_by {
        people.push(principal);
    }
    let mut stmt = c.prepare_cached(
        "INSERT OR IGNORE INTO participants (principal, proposal_id) VALUES (?1, ?2)",
    )?;
    for who in people {
        stmt.execute(params![who, p.id])?;
    }
    Ok(())
}

pub fn head(c: &Connection) -> Result<Head, StoreError> {
    Ok(
        c.prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| {
                Ok(Head {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            })
            .optional()?
            .unwrap_or_else(Head::genesis),
    )
}

/// Appends entries to the chain; returns the last one.
pub fn append(c: &Connection, entries: &[NewEntry]) -> Result<Option<AuditEntry>, StoreError> {
    let mut h = head(c)?;
    let mut last = None;
    let mut stmt = c.prepare_cached(
        "INSERT INTO audit (seq, at, kind, alert_id, proposal_id, entry, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in entries {
        let a = chain::append(&h, e)?;
        stmt.execute(params![
            a.seq,
            e.at,
            e.kind,
            e.alert_id,
            e.proposal_id,
            a.entry,
            a.prev_hash,
            a.hash
        ])?;
        h = Head {
            seq: a.seq,
            hash: a.hash.clone(),
        };
        last = Some(a);
    }
    Ok(last)
}

pub fn proposal_by_id(c: &Connection, id: &str) -> Result<Option<ProposalRecord>, StoreError> {
    let sql = format!("SELECT {PROPOSAL_COLS} FROM proposals p WHERE p.id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([id], proposal_row)
        .optional()?)
}

pub fn proposals_of(c: &Connection, alert_id: &str) -> Result<Vec<ProposalRecord>, StoreError> {
    let sql =
        format!("SELECT {PROPOSAL_COLS} FROM proposals p WHERE p.alert_id = ?1 ORDER BY p.idx");
    let rows = c
        .prepare_cached(&sql)?
        .query_map([alert_id], proposal_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn alert_by_external(
    c: &Connection,
    agent: &str,
    external_id: &str,
) -> Result<Option<AlertRecord>, StoreError> {
    let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE agent = ?1 AND external_id = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([agent, external_id], alert_row)
        .optional()?)
}

pub fn alert_by_id(c: &Connection, id: &str) -> Result<Option<AlertRecord>, StoreError> {
    let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([id], alert_row)
        .optional()?)
}

/// Refuses a nonce already used by an accepted payload.
pub fn check_nonce(c: &Connection, nonce: &str) -> Result<(), StoreError> {
    let seen = c
        .prepare_cached("SELECT 1 FROM nonces WHERE nonce = ?1")?
        .query_row([nonce], |_| Ok(()))
        .optional()?;
    match seen {
        Some(()) => Err(StoreError::Replay(nonce.to_owned())),
        None => Ok(()),
    }
}

pub fn record_nonce(c: &Connection, nonce: &str, seq: i64) -> Result<(), StoreError> {
    c.prepare_cached("INSERT INTO nonces (nonce, seq) VALUES (?1, ?2)")?
        .execute(params![nonce, seq])?;
    Ok(())
}

pub fn insert_annotation(c: &Connection, a: &AnnotationRecord) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO annotations (id, alert_id, principal, note, labels, digest, created_at, seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        a.id,
        a.alert_id,
        a.principal,
        a.note,
        serde_json::to_string(&a.labels)?,
        a.digest,
        a.created_at,
        a.seq
    ])?;
    Ok(())
}

pub fn annotation_row(r: &Row<'_>) -> rusqlite::Result<AnnotationRecord> {
    Ok(AnnotationRecord {
        id: r.get(0)?,
        alert_id: r.get(1)?,
        principal: r.get(2)?,
        note: r.get(3)?,
        labels: json(r.get(4)?, "labels")?,
        digest: r.get(5)?,
        created_at: r.get(6)?,
        seq: r.get(7)?,
    })
}
