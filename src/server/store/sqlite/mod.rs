//! The embedded SQLite backend: WAL, `synchronous=FULL`, and group commit.
//!
//! One writer thread owns the write connection. Requests queue up while a
//! commit is in flight; the writer then runs every queued request in one
//! transaction (each in its own savepoint, so one refusal rolls back only
//! itself) and pays one fsync for all of them. Nobody hears "ok" before that
//! commit returns. Reads use a small pool of read-only connections, which WAL
//! lets run beside the writer.

mod engine;
mod rows;

use super::{
    AnnotateCommand, AnnotateOutcome, ChangeSet, ClaimCommand, DecideCommand, DecideOutcome,
    ExecutionCommand, QueryParts, QueuePage, QueueQuery, Store, StoreError, SubmitCommand,
    SubmitOutcome, SubmitStatus, WriteStats, logic,
};
use crate::audit::chain::{Head, NewEntry};
use crate::domain::machine::Millis;
use crate::domain::records::{
    AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord, TokenRecord,
};
use crate::domain::revision::{self, Plan};
use crate::domain::types::{ProposalStatus, TokenRole};
use async_trait::async_trait;
use engine::Job;
use rusqlite::{Connection, params};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::broadcast;

pub struct SqliteStore {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
    changes: broadcast::Sender<Arc<ChangeSet>>,
    stats: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
}

/// Appends the entries, stamps the proposals with the last sequence number,
/// writes them, and notes them as changed.
fn persist(
    c: &Connection,
    changed: &mut Vec<String>,
    proposals: &mut [ProposalRecord],
    entries: &[NewEntry],
) -> Result<Option<AuditEntry>, StoreError> {
    let last = rows::append(c, entries)?;
    for p in proposals.iter_mut() {
        if let Some(a) = &last {
            p.change_seq = a.seq;
        }
        rows::upsert_proposal(c, p)?;
        changed.push(p.id.clone());
    }
    Ok(last)
}

fn load_proposal(c: &Connection, id: &str) -> Result<ProposalRecord, StoreError> {
    rows::proposal_by_id(c, id)?.ok_or_else(|| StoreError::NotFound(format!("proposal {id}")))
}

#[async_trait]
impl Store for SqliteStore {
    async fn submit(&self, cmd: SubmitCommand) -> Result<SubmitOutcome, StoreError> {
        self.write(move |c, changed| {
            let a = &cmd.submission.alert;
            let Some(old) = rows::alert_by_external(c, &cmd.agent, &a.external_id)? else {
                let (alert, mut proposals, entries) = logic::create(&cmd);
                rows::insert_alert(c, &alert)?;
                persist(c, changed, &mut proposals, &entries)?;
                return Ok(SubmitOutcome {
                    status: SubmitStatus::Created,
                    alert,
                    proposals,
                });
            };
            let stored = rows::proposals_of(c, &old.id)?;
            let plan = revision::plan(&stored, &cmd.submission)
                .map_err(|e| StoreError::Conflict(e.to_string()))?;
            if plan == Plan::Unchanged {
                return Ok(SubmitOutcome {
                    status: SubmitStatus::Unchanged,
                    alert: old,
                    proposals: stored,
                });
            }
            let (alert, updated, added, entries) = logic::revise(&cmd, &old, &stored, &plan);
            rows::insert_alert(c, &alert)?;
            let mut touched: Vec<ProposalRecord> = updated.into_iter().chain(added).collect();
            persist(c, changed, &mut touched, &entries)?;
            let mut proposals = stored;
            for p in touched {
                match proposals.iter_mut().find(|s| s.id == p.id) {
                    Some(slot) => *slot = p,
                    None => proposals.push(p),
                }
            }
            Ok(SubmitOutcome {
                status: SubmitStatus::Revised,
                alert,
                proposals,
            })
        })
        .await
    }

    async fn decide(&self, cmd: DecideCommand) -> Result<DecideOutcome, StoreError> {
        self.write(move |c, changed| {
            if let Some(signed) = &cmd.signed {
                rows::check_nonce(c, &signed.nonce)?;
            }
            let p = load_proposal(c, &cmd.proposal_id)?;
            let (next, entries, event) = logic::decide(&p, &cmd)?;
            let mut touched = [next];
            let audit = persist(c, changed, &mut touched, &entries)?
                .ok_or_else(|| StoreError::Internal("decision wrote no audit entry".into()))?;
            if let Some(signed) = &cmd.signed {
                rows::record_nonce(c, &signed.nonce, audit.seq)?;
            }
            let [proposal] = touched;
            Ok(DecideOutcome {
                proposal,
                event,
                audit,
            })
        })
        .await
    }

    async fn report_execution(&self, cmd: ExecutionCommand) -> Result<ProposalRecord, StoreError> {
        self.write(move |c, changed| {
            let p = load_proposal(c, &cmd.proposal_id)?;
            let (next, entries) = logic::execution(&p, &cmd)?;
            let mut touched = [next];
            persist(c, changed, &mut touched, &entries)?;
            let [proposal] = touched;
            Ok(proposal)
        })
        .await
    }

    async fn run_deadlines(&self, now: Millis) -> Result<usize, StoreError> {
        let due: Vec<String> = self
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id FROM proposals WHERE status IN ('pending', 'awaiting_second', \
                     'escalated') AND expires_at <= ?1 \
                     UNION SELECT id FROM proposals WHERE status = 'pending' AND escalate_at <= ?1 \
                     UNION SELECT id FROM proposals WHERE status = 'approved' AND execute_by <= ?1 \
                     LIMIT 1000",
                )?;
                let ids = stmt
                    .query_map([now], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()?;
                Ok(ids)
            })
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        self.write(move |c, changed| {
            let mut moved = 0;
            for id in due {
                let Some(mut p) = rows::proposal_by_id(c, &id)? else {
                    continue;
                };
                let entries = logic::settle(&mut p, now);
                if !entries.is_empty() {
                    persist(c, changed, std::slice::from_mut(&mut p), &entries)?;
                    moved += 1;
                }
            }
            Ok(moved)
        })
        .await
    }

    async fn proposal(&self, id: &str) -> Result<Option<ProposalRecord>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| rows::proposal_by_id(c, &id)).await
    }

    async fn alert(
        &self,
        id: &str,
    ) -> Result<Option<(AlertRecord, Vec<ProposalRecord>)>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| {
            let tx = c.transaction()?;
            let Some(alert) = rows::alert_by_id(&tx, &id)? else {
                return Ok(None);
            };
            let proposals = rows::proposals_of(&tx, &id)?;
            Ok(Some((alert, proposals)))
        })
        .await
    }

    async fn queue(&self, q: QueueQuery) -> Result<QueuePage, StoreError> {
        self.read(move |c| {
            let tx = c.transaction()?;
            let head = rows::head(&tx)?.seq;
            let parts = QueryParts::new(&q);
            let sql = format!(
                "SELECT * FROM (SELECT {}, \
                 ((?2 IS NULL OR p.status IN (SELECT value FROM json_each(?2))) \
                  AND (?3 IS NULL OR EXISTS (SELECT 1 FROM participants pa \
                       WHERE pa.proposal_id = p.id AND pa.principal = ?3))) AS in_view \
                 FROM proposals p JOIN alerts a ON a.id = p.alert_id \
                 WHERE p.change_seq > ?1 AND (?4 IS NULL OR p.proposed_by = ?4)) \
                 WHERE in_view OR ?6 ORDER BY change_seq LIMIT ?5",
                rows::QUEUE_COLS
            );
            let mut stmt = tx.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(
                    params![
                        q.after,
                        parts.statuses_json,
                        parts.mine,
                        q.agent,
                        parts.fetch,
                        parts.include_gone
                    ],
                    |r| Ok((rows::queue_row(r)?, r.get::<_, bool>(24)?)),
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(parts.page(rows, head))
        })
        .await
    }

    async fn status_counts(&self) -> Result<Vec<(ProposalStatus, i64)>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT status, COUNT(*) FROM proposals GROUP BY status")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(s, n)| s.parse().ok().map(|s| (s, n)))
                .collect())
        })
        .await
    }

    async fn audit_after(
        &self,
        after: i64,
        limit: u32,
        alert_id: Option<String>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, entry, prev_hash, hash FROM audit \
                 WHERE seq > ?1 AND (?2 IS NULL OR alert_id = ?2) ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![after, alert_id, limit], rows::audit_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn audit_head(&self) -> Result<Head, StoreError> {
        self.read(|c| rows::head(c)).await
    }

    async fn create_token(
        &self,
        name: String,
        role: TokenRole,
        hash: String,
        now: Millis,
    ) -> Result<TokenRecord, StoreError> {
        self.write(move |c, _| {
            let rec = TokenRecord {
                id: logic::new_id(),
                name,
                role,
                created_at: now,
                revoked_at: None,
            };
            c.prepare_cached(
                "INSERT INTO tokens (id, name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![rec.id, rec.name, rec.role.as_str(), hash, now])?;
            Ok(rec)
        })
        .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |c| {
            use rusqlite::OptionalExtension;
            Ok(c.prepare_cached(
                "SELECT id, name, role, created_at, revoked_at FROM tokens \
                 WHERE hash = ?1 AND revoked_at IS NULL",
            )?
            .query_row([hash], rows::token_row)
            .optional()?)
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, role, created_at, revoked_at FROM tokens ORDER BY created_at",
            )?;
            let rows = stmt
                .query_map([], rows::token_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn revoke_token(&self, name: &str, now: Millis) -> Result<usize, StoreError> {
        let name = name.to_owned();
        self.write(move |c, _| {
            Ok(c.prepare_cached(
                "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![name, now])?)
        })
        .await
    }

    async fn annotate(&self, cmd: AnnotateCommand) -> Result<AnnotateOutcome, StoreError> {
        self.write(move |c, _changed| {
            rows::check_nonce(c, &cmd.signed.nonce)?;
            let alert = rows::alert_by_id(c, &cmd.alert_id)?
                .ok_or_else(|| StoreError::NotFound(format!("alert {}", cmd.alert_id)))?;
            let (mut note, entry) = logic::annotate(&alert, &cmd)?;
            let audit = rows::append(c, std::slice::from_ref(&entry))?
                .ok_or_else(|| StoreError::Internal("annotation wrote no audit entry".into()))?;
            note.seq = audit.seq;
            rows::insert_annotation(c, &note)?;
            rows::record_nonce(c, &cmd.signed.nonce, audit.seq)?;
            Ok(AnnotateOutcome {
                annotation: note,
                audit,
            })
        })
        .await
    }

    async fn claim(&self, cmd: ClaimCommand) -> Result<ProposalRecord, StoreError> {
        self.write(move |c, changed| {
            let p = load_proposal(c, &cmd.proposal_id)?;
            let (next, entry) = logic::claim(&p, &cmd)?;
            let mut touched = [next];
            persist(c, changed, &mut touched, std::slice::from_ref(&entry))?;
            let [proposal] = touched;
            Ok(proposal)
        })
        .await
    }

    async fn annotations(&self, alert_id: &str) -> Result<Vec<AnnotationRecord>, StoreError> {
        let alert_id = alert_id.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, alert_id, principal, note, labels, digest, created_at, seq \
                 FROM annotations WHERE alert_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt
                .query_map([alert_id], rows::annotation_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn create_challenge(
        &self,
        challenge: String,
        principal: String,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        self.write(move |c, _| {
            c.prepare_cached("DELETE FROM challenges WHERE expires_at < ?1")?
                .execute([expires_at - 3_600_000])?;
            c.prepare_cached(
                "INSERT INTO challenges (challenge, principal, expires_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![challenge, principal, expires_at])?;
            Ok(())
        })
        .await
    }

    async fn take_challenge(
        &self,
        challenge: &str,
    ) -> Result<Option<(String, Millis)>, StoreError> {
        let challenge = challenge.to_owned();
        self.write(move |c, _| {
            use rusqlite::OptionalExtension;
            let found = c
                .prepare_cached(
                    "SELECT principal, expires_at FROM challenges WHERE challenge = ?1",
                )?
                .query_row([&challenge], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            c.prepare_cached("DELETE FROM challenges WHERE challenge = ?1")?
                .execute([&challenge])?;
            Ok(found)
        })
        .await
    }

    async fn create_session(
        &self,
        hash: String,
        principal: String,
        now: Millis,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        self.write(move |c, _| {
            c.prepare_cached("DELETE FROM sessions WHERE expires_at < ?1")?
                .execute([now])?;
            c.prepare_cached(
                "INSERT INTO sessions (hash, principal, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![hash, principal, now, expires_at])?;
            Ok(())
        })
        .await
    }

    async fn session_principal(
        &self,
        hash: &str,
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |c| {
            use rusqlite::OptionalExtension;
            Ok(c.prepare_cached(
                "SELECT principal FROM sessions WHERE hash = ?1 AND expires_at > ?2",
            )?
            .query_row(params![hash, now], |r| r.get(0))
            .optional()?)
        })
        .await
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeSet>> {
        self.changes.subscribe()
    }

    fn write_stats(&self) -> WriteStats {
        WriteStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            writes: self.stats.writes.load(Ordering::Relaxed),
        }
    }
}
