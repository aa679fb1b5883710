//! The SQL both backends run, written once.
//!
//! Placeholders are `$1`, `$2`, … in order of first appearance: PostgreSQL
//! reads them natively and SQLite as named parameters numbered in that same
//! order, so one text serves both. Values always travel as [`Param`]s;
//! `format!` only splices the constant column lists below. Rows are read by
//! column name through [`SqlRow`], never by position.

use crate::domain::records::{
    AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord, ProposalSummary, QueueItem,
    TokenRecord,
};
use crate::server::store::StoreError;
use std::str::FromStr;

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    OptText(Option<String>),
    /// Bound as `INTEGER` in SQLite, as `int4` or `int8` (whichever the
    /// column is) in PostgreSQL.
    Int(i64),
    OptInt(Option<i64>),
    Real(f64),
    Bool(bool),
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Text(s.to_owned())
    }
}

impl From<String> for Param {
    fn from(s: String) -> Self {
        Param::Text(s)
    }
}

impl From<&String> for Param {
    fn from(s: &String) -> Self {
        Param::Text(s.clone())
    }
}

impl From<Option<String>> for Param {
    fn from(s: Option<String>) -> Self {
        Param::OptText(s)
    }
}

impl From<&Option<String>> for Param {
    fn from(s: &Option<String>) -> Self {
        Param::OptText(s.clone())
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<u32> for Param {
    fn from(v: u32) -> Self {
        Param::Int(i64::from(v))
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Param::OptInt(v)
    }
}

impl From<f64> for Param {
    fn from(v: f64) -> Self {
        Param::Real(v)
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

/// A parameter list: `params![a, b, c]` without the macro.
pub fn params<const N: usize>(values: [Param; N]) -> Vec<Param> {
    values.into()
}

/// A result row of either backend, read by column name.
pub trait SqlRow {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn real(&self, col: &str) -> Result<f64, StoreError>;
    fn flag(&self, col: &str) -> Result<bool, StoreError>;
}

/// A stored value that does not read back: the database was changed by
/// something other than this program.
pub fn bad_column(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("column {col}: {e}"))
}

fn parsed<T: FromStr>(r: &dyn SqlRow, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    T::from_str(&r.text(col)?).map_err(|e| bad_column(col, e))
}

fn json<T: serde::de::DeserializeOwned>(r: &dyn SqlRow, col: &str) -> Result<T, StoreError> {
    serde_json::from_str(&r.text(col)?).map_err(|e| bad_column(col, e))
}

fn opt_json<T: serde::de::DeserializeOwned>(
    r: &dyn SqlRow,
    col: &str,
) -> Result<Option<T>, StoreError> {
    r.opt_text(col)?
        .map(|t| serde_json::from_str(&t).map_err(|e| bad_column(col, e)))
        .transpose()
}

fn small(r: &dyn SqlRow, col: &str) -> Result<u32, StoreError> {
    u32::try_from(r.int(col)?).map_err(|e| bad_column(col, e))
}

fn to_json(v: &impl serde::Serialize) -> Result<Param, StoreError> {
    Ok(Param::Text(serde_json::to_string(v)?))
}

// ---- alerts ----

pub const ALERT_COLS: &str = "id, agent, external_id, source, severity, title, entity_kind, \
     entity_id, confidence, revision, created_at, updated_at, document";

pub fn alert_row(r: &dyn SqlRow) -> Result<AlertRecord, StoreError> {
    Ok(AlertRecord {
        id: r.text("id")?,
        agent: r.text("agent")?,
        external_id: r.text("external_id")?,
        source: r.text("source")?,
        severity: parsed(r, "severity")?,
        title: r.text("title")?,
        entity_kind: parsed(r, "entity_kind")?,
        entity_id: r.text("entity_id")?,
        confidence: r.real("confidence")?,
        revision: small(r, "revision")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        document: json(r, "document")?,
    })
}

pub const UPSERT_ALERT: &str = "INSERT INTO alerts (id, agent, external_id, source, severity, \
     title, entity_kind, entity_id, confidence, revision, created_at, updated_at, document) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
     ON CONFLICT (id) DO UPDATE SET source = $4, severity = $5, title = $6, \
     entity_kind = $7, entity_id = $8, confidence = $9, revision = $10, updated_at = $12, \
     document = $13";

pub fn alert_params(a: &AlertRecord) -> Result<Vec<Param>, StoreError> {
    Ok(params([
        (&a.id).into(),
        (&a.agent).into(),
        (&a.external_id).into(),
        (&a.source).into(),
        a.severity.as_str().into(),
        (&a.title).into(),
        a.entity_kind.as_str().into(),
        (&a.entity_id).into(),
        a.confidence.into(),
        a.revision.into(),
        a.created_at.into(),
        a.updated_at.into(),
        to_json(&a.document)?,
    ]))
}

pub fn alert_by_id_sql() -> String {
    format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1")
}

/// `lock` is `" FOR UPDATE"` on PostgreSQL (see [`Dialect::for_update`]).
pub fn alert_by_external_sql(lock: &str) -> String {
    format!("SELECT {ALERT_COLS} FROM alerts WHERE agent = $1 AND external_id = $2{lock}")
}

// ---- proposals ----

pub const PROPOSAL_COLS: &str = "p.id, p.alert_id, p.idx, p.action, p.target, p.risk, p.status, \
     p.digest, p.document, p.proposed_by, p.rule, p.approvals, p.escalated_by, p.decided_by, \
     p.reason, p.created_at, p.updated_at, p.expires_at, p.escalate_at, p.execute_by, \
     p.decided_at, p.change_seq, p.claimed_by, p.claim_until";

pub fn proposal_row(r: &dyn SqlRow) -> Result<ProposalRecord, StoreError> {
    Ok(ProposalRecord {
        id: r.text("id")?,
        alert_id: r.text("alert_id")?,
        index: small(r, "idx")?,
        action: parsed(r, "action")?,
        target: r.text("target")?,
        risk: parsed(r, "risk")?,
        status: parsed(r, "status")?,
        digest: r.text("digest")?,
        document: json(r, "document")?,
        proposed_by: r.text("proposed_by")?,
        rule: r.text("rule")?,
        approvals: json(r, "approvals")?,
        escalated_by: r.opt_text("escalated_by")?,
        decided_by: opt_json(r, "decided_by")?,
        reason: r.opt_text("reason")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        expires_at: r.int("expires_at")?,
        escalate_at: r.opt_int("escalate_at")?,
        execute_by: r.opt_int("execute_by")?,
        decided_at: r.opt_int("decided_at")?,
        change_seq: r.int("change_seq")?,
        claimed_by: r.opt_text("claimed_by")?,
        claim_until: r.opt_int("claim_until")?,
    })
}

pub const UPSERT_PROPOSAL: &str = "INSERT INTO proposals (id, alert_id, idx, action, target, \
     risk, status, digest, document, proposed_by, rule, approvals, escalated_by, decided_by, \
     reason, created_at, updated_at, expires_at, escalate_at, execute_by, decided_at, change_seq, \
     claimed_by, claim_until) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24) \
     ON CONFLICT (id) DO UPDATE SET action = $4, target = $5, risk = $6, status = $7, \
     digest = $8, document = $9, rule = $11, approvals = $12, escalated_by = $13, \
     decided_by = $14, reason = $15, updated_at = $17, expires_at = $18, escalate_at = $19, \
     execute_by = $20, decided_at = $21, change_seq = $22, claimed_by = $23, claim_until = $24";

pub fn proposal_params(p: &ProposalRecord) -> Result<Vec<Param>, StoreError> {
    Ok(params([
        (&p.id).into(),
        (&p.alert_id).into(),
        p.index.into(),
        p.action.as_str().into(),
        (&p.target).into(),
        p.risk.as_str().into(),
        p.status.as_str().into(),
        (&p.digest).into(),
        to_json(&p.document)?,
        (&p.proposed_by).into(),
        (&p.rule).into(),
        to_json(&p.approvals)?,
        (&p.escalated_by).into(),
        p.decided_by
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?
            .into(),
        (&p.reason).into(),
        p.created_at.into(),
        p.updated_at.into(),
        p.expires_at.into(),
        p.escalate_at.into(),
        p.execute_by.into(),
        p.decided_at.into(),
        p.change_seq.into(),
        (&p.claimed_by).into(),
        p.claim_until.into(),
    ]))
}

pub fn proposal_by_id_sql(lock: &str) -> String {
    format!("SELECT {PROPOSAL_COLS} FROM proposals p WHERE p.id = $1{lock}")
}

pub fn proposals_of_sql() -> String {
    format!("SELECT {PROPOSAL_COLS} FROM proposals p WHERE p.alert_id = $1 ORDER BY p.idx")
}

/// Who took part in a proposal: the "mine" view.
pub const ADD_PARTICIPANT: &str = "INSERT INTO participants (principal, proposal_id) \
     VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// Proposals with a deadline due at `$1` (expiry, auto-escalation, lapse).
pub const DUE: &str = "SELECT id FROM proposals WHERE status IN ('pending', 'awaiting_second', \
     'escalated') AND expires_at <= $1 \
     UNION SELECT id FROM proposals WHERE status = 'pending' AND escalate_at <= $1 \
     UNION SELECT id FROM proposals WHERE status = 'approved' AND execute_by <= $1 \
     LIMIT 1000";

pub const STATUS_COUNTS: &str = "SELECT status, COUNT(*) AS n FROM proposals GROUP BY status";

// ---- the queue ----

/// Queue rows: the proposal without its document, and the alert's columns.
pub const QUEUE_COLS: &str = "p.id, p.alert_id, p.action, p.target, p.risk, p.status, p.digest, \
     p.proposed_by, p.approvals, p.escalated_by, p.decided_by, p.reason, p.created_at, \
     p.expires_at, p.execute_by, p.change_seq, a.title, a.severity, a.source, a.entity_kind, \
     a.entity_id, a.confidence, p.claimed_by, p.claim_until";

/// A queue row and whether it is in the view (`in_view`).
pub fn queue_row(r: &dyn SqlRow) -> Result<(QueueItem, bool), StoreError> {
    let item = QueueItem {
        proposal: ProposalSummary {
            id: r.text("id")?,
            alert_id: r.text("alert_id")?,
            action: parsed(r, "action")?,
            target: r.text("target")?,
            risk: parsed(r, "risk")?,
            status: parsed(r, "status")?,
            digest: r.text("digest")?,
            proposed_by: r.text("proposed_by")?,
            approvals: json(r, "approvals")?,
            escalated_by: r.opt_text("escalated_by")?,
            decided_by: opt_json(r, "decided_by")?,
            reason: r.opt_text("reason")?,
            created_at: r.int("created_at")?,
            expires_at: r.int("expires_at")?,
            execute_by: r.opt_int("execute_by")?,
            claimed_by: r.opt_text("claimed_by")?,
            claim_until: r.opt_int("claim_until")?,
            change_seq: r.int("change_seq")?,
        },
        alert_title: r.text("title")?,
        severity: parsed(r, "severity")?,
        source: r.text("source")?,
        entity_kind: parsed(r, "entity_kind")?,
        entity_id: r.text("entity_id")?,
        confidence: r.real("confidence")?,
    };
    Ok((item, r.flag("in_view")?))
}

/// The queue query. Parameters: `$1` statuses as a JSON array (or NULL for
/// all), `$2` the principal for `mine` (or NULL), `$3` the cursor, `$4` the
/// agent filter (or NULL), `$5` include rows that left the view, `$6` rows
/// to fetch. The dialects differ only in how a JSON array is unnested.
pub fn queue_sql(dialect: Dialect) -> String {
    let statuses = match dialect {
        Dialect::Sqlite => "SELECT value FROM json_each($1)",
        Dialect::Postgres => "SELECT jsonb_array_elements_text(CAST($1 AS jsonb))",
    };
    format!(
        "SELECT * FROM (SELECT {QUEUE_COLS}, \
         ((CAST($1 AS TEXT) IS NULL OR p.status IN ({statuses})) \
          AND (CAST($2 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM participants pa \
               WHERE pa.proposal_id = p.id AND pa.principal = $2))) AS in_view \
         FROM proposals p JOIN alerts a ON a.id = p.alert_id \
         WHERE p.change_seq > $3 AND (CAST($4 AS TEXT) IS NULL OR p.proposed_by = $4)) t \
         WHERE in_view OR $5 ORDER BY change_seq LIMIT $6"
    )
}

// ---- the audit chain ----

pub const HEAD: &str = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";

pub const APPEND: &str = "INSERT INTO audit (seq, at, kind, alert_id, proposal_id, entry, \
     prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub const AUDIT_AFTER: &str = "SELECT seq, entry, prev_hash, hash FROM audit \
     WHERE seq > $1 AND (CAST($2 AS TEXT) IS NULL OR alert_id = $2) ORDER BY seq LIMIT $3";

pub fn audit_row(r: &dyn SqlRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: r.int("seq")?,
        entry: r.text("entry")?,
        prev_hash: r.text("prev_hash")?,
        hash: r.text("hash")?,
    })
}

// ---- signed payloads ----

pub const NONCE_SEEN: &str = "SELECT nonce FROM nonces WHERE nonce = $1";
pub const ADD_NONCE: &str = "INSERT INTO nonces (nonce, seq) VALUES ($1, $2)";

pub const ANNOTATION_COLS: &str = "id, alert_id, principal, note, labels, digest, created_at, seq";

pub const ADD_ANNOTATION: &str = "INSERT INTO annotations (id, alert_id, principal, note, \
     labels, digest, created_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub fn annotations_of_sql() -> String {
    format!("SELECT {ANNOTATION_COLS} FROM annotations WHERE alert_id = $1 ORDER BY seq")
}

pub fn annotation_params(a: &AnnotationRecord) -> Result<Vec<Param>, StoreError> {
    Ok(params([
        (&a.id).into(),
        (&a.alert_id).into(),
        (&a.principal).into(),
        (&a.note).into(),
        to_json(&a.labels)?,
        (&a.digest).into(),
        a.created_at.into(),
        a.seq.into(),
    ]))
}

pub fn annotation_row(r: &dyn SqlRow) -> Result<AnnotationRecord, StoreError> {
    Ok(AnnotationRecord {
        id: r.text("id")?,
        alert_id: r.text("alert_id")?,
        principal: r.text("principal")?,
        note: r.text("note")?,
        labels: json(r, "labels")?,
        digest: r.text("digest")?,
        created_at: r.int("created_at")?,
        seq: r.int("seq")?,
    })
}

// ---- tokens, challenges, sessions ----

pub const TOKEN_COLS: &str = "id, name, role, created_at, revoked_at";

pub const ADD_TOKEN: &str =
    "INSERT INTO tokens (id, name, role, hash, created_at) VALUES ($1, $2, $3, $4, $5)";

pub fn token_by_hash_sql() -> String {
    format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = $1 AND revoked_at IS NULL")
}

pub fn tokens_sql() -> String {
    format!("SELECT {TOKEN_COLS} FROM tokens ORDER BY created_at")
}

pub const REVOKE_TOKEN: &str =
    "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL";

pub fn token_row(r: &dyn SqlRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: r.text("id")?,
        name: r.text("name")?,
        role: parsed(r, "role")?,
        created_at: r.int("created_at")?,
        revoked_at: r.opt_int("revoked_at")?,
    })
}

pub const SWEEP_CHALLENGES: &str = "DELETE FROM challenges WHERE expires_at < $1";
pub const ADD_CHALLENGE: &str =
    "INSERT INTO challenges (challenge, principal, expires_at) VALUES ($1, $2, $3)";
/// Single use, even when two replicas race.
pub const TAKE_CHALLENGE: &str =
    "DELETE FROM challenges WHERE challenge = $1 RETURNING principal, expires_at";

pub const SWEEP_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at < $1";
pub const ADD_SESSION: &str =
    "INSERT INTO sessions (hash, principal, created_at, expires_at) VALUES ($1, $2, $3, $4)";
pub const SESSION_PRINCIPAL: &str =
    "SELECT principal FROM sessions WHERE hash = $1 AND expires_at > $2";

/// Where the two databases' SQL differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Row locks: PostgreSQL's replicas need them; SQLite has one writer.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite numbers `$N` parameters in order of first appearance, so one
    /// text serves both databases only if `$1, $2, …` first appear in order.
    fn first_appearances_in_order(sql: &str) -> bool {
        let mut next = 1;
        let bytes = sql.as_bytes();
        for (i, _) in sql.match_indices('$') {
            let digits: String = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|&b| b as char)
                .collect();
            let Ok(n) = digits.parse::<usize>() else {
                continue;
            };
            if n == next {
                next += 1;
            } else if n > next {
                return false;
            }
        }
        true
    }

    #[test]
    fn every_statement_numbers_its_parameters_in_order() {
        let lock = Dialect::Postgres.for_update();
        let all = [
            UPSERT_ALERT.to_owned(),
            alert_by_id_sql(),
            alert_by_external_sql(lock),
            UPSERT_PROPOSAL.to_owned(),
            proposal_by_id_sql(lock),
            proposals_of_sql(),
            ADD_PARTICIPANT.to_owned(),
            DUE.to_owned(),
            queue_sql(Dialect::Sqlite),
            queue_sql(Dialect::Postgres),
            APPEND.to_owned(),
            AUDIT_AFTER.to_owned(),
            NONCE_SEEN.to_owned(),
            ADD_NONCE.to_owned(),
            ADD_ANNOTATION.to_owned(),
            annotations_of_sql(),
            ADD_TOKEN.to_owned(),
            token_by_hash_sql(),
            REVOKE_TOKEN.to_owned(),
            SWEEP_CHALLENGES.to_owned(),
            ADD_CHALLENGE.to_owned(),
            TAKE_CHALLENGE.to_owned(),
            SWEEP_SESSIONS.to_owned(),
            ADD_SESSION.to_owned(),
            SESSION_PRINCIPAL.to_owned(),
        ];
        for sql in all {
            assert!(first_appearances_in_order(&sql), "{sql}");
        }
        assert!(!first_appearances_in_order("SET a = $2 WHERE b = $1"));
    }
}
