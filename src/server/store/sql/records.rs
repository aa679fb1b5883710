//! Alerts, proposals and the queue.

use super::*;
use crate::domain::records::{AlertRecord, ProposalRecord, ProposalSummary, QueueItem};
use crate::server::store::StoreError;

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

// The forms for many keys (PostgreSQL) take one array per key column.
// Each key is looked up on its own (a lateral subquery, `OFFSET 0` so it
// is not flattened): joined as a set, the plan PostgreSQL picks on a young
// table (a hash join over a sequential scan) is kept in the statement's
// cache as the table grows.

/// [`alert_by_id_sql`] for the ids in the array `$1`.
pub fn alerts_by_ids_sql() -> String {
    format!(
        "SELECT {ALERT_COLS} FROM unnest($1::text[]) AS k(k1) \
         CROSS JOIN LATERAL (SELECT * FROM alerts WHERE id = k.k1 OFFSET 0) a"
    )
}

/// [`alert_by_external_sql`] for the (agent, external id) pairs in the
/// arrays `$1` and `$2`.
pub fn alerts_by_externals_sql(lock: &str) -> String {
    format!(
        "SELECT {ALERT_COLS} FROM unnest($1::text[], $2::text[]) AS k(k1, k2) \
         CROSS JOIN LATERAL (SELECT * FROM alerts \
         WHERE agent = k.k1 AND external_id = k.k2 OFFSET 0{lock}) a"
    )
}

// ---- proposals ----

pub const PROPOSAL_COLS: &str = "p.id, p.alert_id, p.idx, p.action, p.target, p.risk, p.status, \
     p.digest, p.document, p.proposed_by, p.rule, p.approvals, p.escalated_by, p.decided_by, \
     p.reason, p.created_at, p.updated_at, p.expires_at, p.escalate_at, p.execute_by, \
     p.decided_at, p.change_seq, p.claimed_by, p.claim_until, p.escalated_by_key, \
     p.declared_risk, p.assessment, p.sample, p.amended, p.contain_until";

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
        escalated_by_key: r.opt_text("escalated_by_key")?,
        // Rows from before the gate judged risk: the label was the risk.
        declared_risk: match r.opt_text("declared_risk")? {
            Some(t) => t.parse().map_err(|e| bad_column("declared_risk", e))?,
            None => parsed(r, "risk")?,
        },
        assessment: opt_json(r, "assessment")?,
        sample: opt_json(r, "sample")?,
        amended: opt_json(r, "amended")?,
        contain_until: r.opt_int("contain_until")?,
    })
}

pub const UPSERT_PROPOSAL: &str = "INSERT INTO proposals (id, alert_id, idx, action, target, \
     risk, status, digest, document, proposed_by, rule, approvals, escalated_by, decided_by, \
     reason, created_at, updated_at, expires_at, escalate_at, execute_by, decided_at, change_seq, \
     claimed_by, claim_until, escalated_by_key, declared_risk, assessment, sample, sample_due, \
     amended, contain_until) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31) \
     ON CONFLICT (id) DO UPDATE SET action = $4, target = $5, risk = $6, status = $7, \
     digest = $8, document = $9, rule = $11, approvals = $12, escalated_by = $13, \
     decided_by = $14, reason = $15, updated_at = $17, expires_at = $18, escalate_at = $19, \
     execute_by = $20, decided_at = $21, change_seq = $22, claimed_by = $23, claim_until = $24, escalated_by_key = $25, declared_risk = $26, \
     assessment = $27, sample = $28, sample_due = $29, amended = $30, \
     contain_until = $31";

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
        (&p.escalated_by_key).into(),
        p.declared_risk.as_str().into(),
        p.assessment
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?
            .into(),
        p.sample
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?
            .into(),
        p.sample.as_ref().and_then(|s| s.due()).into(),
        p.amended
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?
            .into(),
        p.contain_until.into(),
    ]))
}

pub fn proposal_by_id_sql(lock: &str) -> String {
    format!("SELECT {PROPOSAL_COLS} FROM proposals p WHERE p.id = $1{lock}")
}

/// [`proposal_by_id_sql`] for the ids in the array `$1` (PostgreSQL).
pub fn proposals_by_ids_sql(lock: &str) -> String {
    format!(
        "SELECT {PROPOSAL_COLS} FROM unnest($1::text[]) AS k(k1) \
         CROSS JOIN LATERAL (SELECT * FROM proposals WHERE id = k.k1 OFFSET 0{lock}) p"
    )
}

pub fn proposals_of_sql() -> String {
    format!("SELECT {PROPOSAL_COLS} FROM proposals p WHERE p.alert_id = $1 ORDER BY p.idx")
}

/// The proposals of the alert `$1` (agent) calls `$2` (external id).
pub fn proposals_by_external_sql() -> String {
    format!(
        "SELECT {PROPOSAL_COLS} FROM proposals p JOIN alerts a ON a.id = p.alert_id \
         WHERE a.agent = $1 AND a.external_id = $2 ORDER BY p.idx"
    )
}

/// [`proposals_by_external_sql`] for the (agent, external id) pairs in the
/// arrays `$1` and `$2` (PostgreSQL); each row names its pair in
/// `of_agent` and `of_external`.
pub fn proposals_by_externals_sql() -> String {
    format!(
        "SELECT {PROPOSAL_COLS}, k.k1 AS of_agent, k.k2 AS of_external \
         FROM unnest($1::text[], $2::text[]) AS k(k1, k2) \
         CROSS JOIN LATERAL (SELECT id FROM alerts \
         WHERE agent = k.k1 AND external_id = k.k2 OFFSET 0) a \
         CROSS JOIN LATERAL (SELECT * FROM proposals WHERE alert_id = a.id OFFSET 0) p \
         ORDER BY p.idx"
    )
}

/// Who took part in a proposal: the "mine" view.
pub const ADD_PARTICIPANT: &str = "INSERT INTO participants (principal, proposal_id) \
     VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// Proposals with a deadline due at `$1` (expiry, auto-escalation, lapse,
/// a sample's review), earliest first, each kind by its own partial index.
/// `UNION ALL` (the caller drops an id named twice): a `UNION` planned
/// generically (on a prepared statement, not knowing `$1`) hashed as if a
/// third of the table were due, a millisecond on every sweep, four a
/// second per replica; and each kind in deadline order with a limit, so
/// that no plan reads more rows than it returns. SQLite is told each
/// index: without statistics it picked the status index and read every
/// pending proposal on every sweep.
pub fn due_sql(d: Dialect) -> String {
    let kind = |index: &str, column: &str, status: &str| {
        format!(
            "SELECT id FROM (SELECT id FROM proposals{} WHERE {status}{column} <= $1 \
             ORDER BY {column} LIMIT 1000) {column}",
            d.indexed_by(index)
        )
    };
    [
        kind(
            "proposals_expiry",
            "expires_at",
            "status IN ('pending', 'awaiting_second', 'escalated') AND ",
        ),
        kind(
            "proposals_escalate",
            "escalate_at",
            "status = 'pending' AND ",
        ),
        kind(
            "proposals_execute",
            "execute_by",
            "status = 'approved' AND ",
        ),
        kind("proposals_sample_due", "sample_due", ""),
    ]
    .join(" UNION ALL ")
        + " LIMIT 1000"
}

/// Executed containments whose time ran out by `$1`, earliest first.
pub fn contained_due_sql(d: Dialect) -> String {
    format!(
        "SELECT id FROM proposals{} WHERE contain_until <= $1 ORDER BY contain_until LIMIT 100",
        d.indexed_by("proposals_contained")
    )
}

pub const STATUS_COUNTS: &str = "SELECT status, COUNT(*) AS n FROM proposals GROUP BY status";

// ---- the queue ----

/// Queue rows: the proposal without its document, and the alert's columns.
pub const QUEUE_COLS: &str = "p.id, p.alert_id, p.action, p.target, p.risk, p.status, p.digest, \
     p.proposed_by, p.approvals, p.escalated_by, p.decided_by, p.reason, p.created_at, \
     p.expires_at, p.execute_by, p.change_seq, a.title, a.severity, a.source, a.entity_kind, \
     a.entity_id, a.confidence, p.claimed_by, p.claim_until, p.rule, p.sample, \
     EXISTS (SELECT 1 FROM annotations n WHERE n.alert_id = p.alert_id) AS noted";

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
            rule: r.text("rule")?,
            sample: opt_json(r, "sample")?,
            groupable: false,
            needs: None,
        },
        alert_title: r.text("title")?,
        severity: parsed(r, "severity")?,
        source: r.text("source")?,
        entity_kind: parsed(r, "entity_kind")?,
        entity_id: r.text("entity_id")?,
        confidence: r.real("confidence")?,
        noted: r.flag("noted")?,
    };
    Ok((item, r.flag("in_view")?))
}

/// The queue query. Parameters: `$1` statuses as a JSON array (or NULL for
/// all), `$2` the principal for `mine` (or NULL), `$3` only sampled
/// approvals waiting for review, `$4` the cursor, `$5` the agent filter (or
/// NULL), `$6` include rows that left the view, `$7` rows to fetch. The dialects differ only in how a JSON array is unnested.
pub fn queue_sql(dialect: Dialect) -> String {
    let statuses = dialect.json_texts("$1");
    format!(
        "SELECT * FROM (SELECT {QUEUE_COLS}, \
         ((CAST($1 AS TEXT) IS NULL OR p.status IN ({statuses})) \
          AND (CAST($2 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM participants pa \
               WHERE pa.proposal_id = p.id AND pa.principal = $2)) \
          AND (NOT $3 OR p.sample_due IS NOT NULL)) AS in_view \
         FROM proposals p JOIN alerts a ON a.id = p.alert_id \
         WHERE p.change_seq > $4 AND (CAST($5 AS TEXT) IS NULL OR p.proposed_by = $5)) t \
         WHERE in_view OR $6 ORDER BY change_seq LIMIT $7"
    )
}
