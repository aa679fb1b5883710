//! The audit chain and the signed payloads it records (nonces, annotations).

use super::*;
use crate::domain::records::{AnnotationRecord, AuditEntry};
use crate::server::store::StoreError;

pub const HEAD: &str = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";

pub const APPEND: &str = "INSERT INTO audit (seq, at, kind, alert_id, proposal_id, entry, \
     prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub const AUDIT_AFTER: &str = "SELECT seq, entry, prev_hash, hash FROM audit \
     WHERE seq > $1 AND (CAST($2 AS TEXT) IS NULL OR alert_id = $2) ORDER BY seq LIMIT $3";

/// The last `policy_loaded` entry: the policy the log says is in force
/// (a partial index holds just those entries).
pub const LAST_POLICY: &str = "SELECT seq, entry, prev_hash, hash FROM audit \
     WHERE kind = 'policy_loaded' ORDER BY seq DESC LIMIT 1";

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
/// [`NONCE_SEEN`] for the nonces in the array `$1` (PostgreSQL).
/// (See the forms for many keys in `records.rs`.)
pub const NONCES_SEEN: &str = "SELECT n.nonce FROM unnest($1::text[]) AS k(k1) \
     CROSS JOIN LATERAL (SELECT nonce FROM nonces WHERE nonce = k.k1 OFFSET 0) n";
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

/// An event in the outbox (`fanned_out` 1 when its deliveries are written
/// beside it); a reminder already written stays as it is.
pub const ADD_OUTBOX: &str = "INSERT INTO outbox (id, type, at, proposal_id, alert_id, data, \
     fanned_out) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING";

/// The oversight view's entries in `[$1, $2)`, with what is known of their
/// proposal and alert (kinds: `domain::oversight::KINDS`).
pub fn oversight_sql() -> String {
    let kinds = crate::domain::oversight::KINDS
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT e.at, e.kind, e.proposal_id, e.entry, p.risk, p.proposed_by, p.rule, \
         al.agent FROM audit e LEFT JOIN proposals p ON p.id = e.proposal_id \
         LEFT JOIN alerts al ON al.id = e.alert_id \
         WHERE e.at >= $1 AND e.at < $2 AND e.kind IN ({kinds}) ORDER BY e.seq"
    )
}

pub fn oversight_row(r: &dyn SqlRow) -> Result<crate::domain::oversight::Row, StoreError> {
    Ok(crate::domain::oversight::Row {
        at: r.int("at")?,
        kind: r.text("kind")?,
        proposal_id: r.opt_text("proposal_id")?,
        entry: r.text("entry")?,
        risk: r
            .opt_text("risk")?
            .map(|t| t.parse().map_err(|e| bad_column("risk", e)))
            .transpose()?,
        proposal_agent: r.opt_text("proposed_by")?,
        rule: r.opt_text("rule")?,
        alert_agent: r.opt_text("agent")?,
    })
}

/// Proposals each agent submitted in `[$1, $2)`.
pub const PROPOSALS_BY_AGENT: &str = "SELECT proposed_by, COUNT(*) AS n FROM proposals \
     WHERE created_at >= $1 AND created_at < $2 GROUP BY proposed_by";
