//! The PostgreSQL backend, for several `serve` replicas on one database.
//!
//! Races are settled by the database: every write transaction first takes
//! one transaction-scoped advisory lock, so the audit chain stays a single
//! line with no fork or gap, and rows are re-read `FOR UPDATE` inside it, so
//! two analysts deciding the same proposal on two replicas get exactly one
//! winner. Deadline sweeps run on every replica and act once (they re-check
//! under the lock). Commits NOTIFY, and every replica LISTENs, so long-polls
//! wake wherever they wait. Losing the database is a 503; the pool
//! reconnects by itself.

mod engine;
mod listen;
mod rows;

use engine::{load_locked, migrate, persist};

use super::{
    AnnotateCommand, AnnotateOutcome, ChangeSet, ClaimCommand, DecideCommand, DecideOutcome,
    ExecutionCommand, QueryParts, QueuePage, QueueQuery, Store, StoreError, SubmitCommand,
    SubmitOutcome, SubmitStatus, logic,
};
use crate::audit::chain::Head;
use crate::domain::machine::Millis;
use crate::domain::records::{
    AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord, TokenRecord,
};
use crate::domain::revision::{self, Plan};
use crate::domain::types::{ProposalStatus, TokenRole};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_postgres::{Config, NoTls, Transaction};

/// The advisory lock that serialises writers (and migrations).
const CHAIN_LOCK: i64 = 0x0063_6f75_6e74_6572; // "counter" in ASCII
const MIGRATION_LOCK: i64 = 0x0063_6f75_6e74_6573;

const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("schema_1.sql"))];

pub struct PgStore {
    pool: Pool,
    changes: broadcast::Sender<Arc<ChangeSet>>,
}

impl PgStore {
    /// Connects, applies migrations (safe when replicas start together) and
    /// starts the change listener.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let config = Config::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .wait_timeout(Some(std::time::Duration::from_secs(5)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        migrate(&pool).await?;
        let (changes, _) = broadcast::channel(1024);
        listen::spawn(config, changes.clone());
        Ok(PgStore { pool, changes })
    }

    /// A write transaction holding the chain lock.
    async fn begin<'a>(
        client: &'a mut deadpool_postgres::Object,
    ) -> Result<Transaction<'a>, StoreError> {
        let pg: &'a mut tokio_postgres::Client = client;
        let tx = pg.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
            .await?;
        Ok(tx)
    }

    /// A read-only snapshot: several reads that agree with each other.
    async fn snapshot(
        client: &mut deadpool_postgres::Object,
    ) -> Result<Transaction<'_>, StoreError> {
        let pg: &mut tokio_postgres::Client = client;
        Ok(pg
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?)
    }

    /// Notifies every replica (delivered on commit), commits, and tells this
    /// replica's waiters at once.
    async fn commit(&self, tx: Transaction<'_>, changed: Vec<String>) -> Result<(), StoreError> {
        let head = rows::head(&tx).await?.seq;
        if !changed.is_empty() {
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&listen::CHANNEL, &listen::payload(head, &changed)],
            )
            .await?;
        }
        tx.commit().await?;
        if !changed.is_empty() {
            let _ = self.changes.send(Arc::new(ChangeSet {
                head_seq: head,
                proposals: changed,
                reset: false,
            }));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    async fn submit(&self, cmd: SubmitCommand) -> Result<SubmitOutcome, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        let mut changed = Vec::new();
        let a = &cmd.submission.alert;
        let outcome = match rows::alert_by_external(&tx, &cmd.agent, &a.external_id).await? {
            None => {
                let (alert, mut proposals, entries) = logic::create(&cmd);
                rows::insert_alert(&tx, &alert).await?;
                persist(&tx, &mut changed, &mut proposals, &entries).await?;
                SubmitOutcome {
                    status: SubmitStatus::Created,
                    alert,
                    proposals,
                }
            }
            Some(old) => {
                let stored = rows::proposals_of(&tx, &old.id).await?;
                let plan = revision::plan(&stored, &cmd.submission)
                    .map_err(|e| StoreError::Conflict(e.to_string()))?;
                if plan == Plan::Unchanged {
                    SubmitOutcome {
                        status: SubmitStatus::Unchanged,
                        alert: old,
                        proposals: stored,
                    }
                } else {
                    let (alert, updated, added, entries) =
                        logic::revise(&cmd, &old, &stored, &plan);
                    rows::insert_alert(&tx, &alert).await?;
                    let mut touched: Vec<ProposalRecord> =
                        updated.into_iter().chain(added).collect();
                    persist(&tx, &mut changed, &mut touched, &entries).await?;
                    let mut proposals = stored;
                    for p in touched {
                        match proposals.iter_mut().find(|s| s.id == p.id) {
                            Some(slot) => *slot = p,
                            None => proposals.push(p),
                        }
                    }
                    SubmitOutcome {
                        status: SubmitStatus::Revised,
                        alert,
                        proposals,
                    }
                }
            }
        };
        self.commit(tx, changed).await?;
        Ok(outcome)
    }

    async fn decide(&self, cmd: DecideCommand) -> Result<DecideOutcome, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        if let Some(signed) = &cmd.signed {
            rows::check_nonce(&tx, &signed.nonce).await?;
        }
        let p = load_locked(&tx, &cmd.proposal_id).await?;
        let (next, entries, event) = logic::decide(&p, &cmd)?;
        let mut changed = Vec::new();
        let mut touched = [next];
        let audit = persist(&tx, &mut changed, &mut touched, &entries)
            .await?
            .ok_or_else(|| StoreError::Internal("decision wrote no audit entry".into()))?;
        if let Some(signed) = &cmd.signed {
            rows::record_nonce(&tx, &signed.nonce, audit.seq).await?;
        }
        self.commit(tx, changed).await?;
        let [proposal] = touched;
        Ok(DecideOutcome {
            proposal,
            event,
            audit,
        })
    }

    async fn report_execution(&self, cmd: ExecutionCommand) -> Result<ProposalRecord, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        let p = load_locked(&tx, &cmd.proposal_id).await?;
        let (next, entries) = logic::execution(&p, &cmd)?;
        let mut changed = Vec::new();
        let mut touched = [next];
        persist(&tx, &mut changed, &mut touched, &entries).await?;
        self.commit(tx, changed).await?;
        let [proposal] = touched;
        Ok(proposal)
    }

    async fn run_deadlines(&self, now: Millis) -> Result<usize, StoreError> {
        let due: Vec<String> = {
            let client = self.pool.get().await?;
            client
                .query(
                    "SELECT id FROM proposals WHERE status IN ('pending', 'awaiting_second', 'escalated') \
                     AND expires_at <= $1 \
                     UNION SELECT id FROM proposals WHERE status = 'pending' AND escalate_at <= $1 \
                     UNION SELECT id FROM proposals WHERE status = 'approved' AND execute_by <= $1 \
                     LIMIT 1000",
                    &[&now],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        if due.is_empty() {
            return Ok(0);
        }
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        let mut changed = Vec::new();
        let mut moved = 0;
        for id in due {
            // Re-read under the lock: another replica may have acted first.
            let Some(mut p) = rows::proposal_by_id(&tx, &id, true).await? else {
                continue;
            };
            let entries = logic::settle(&mut p, now);
            if !entries.is_empty() {
                persist(&tx, &mut changed, std::slice::from_mut(&mut p), &entries).await?;
                moved += 1;
            }
        }
        self.commit(tx, changed).await?;
        Ok(moved)
    }

    async fn proposal(&self, id: &str) -> Result<Option<ProposalRecord>, StoreError> {
        let client = self.pool.get().await?;
        rows::proposal_by_id(&**client, id, false).await
    }

    async fn alert(
        &self,
        id: &str,
    ) -> Result<Option<(AlertRecord, Vec<ProposalRecord>)>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::snapshot(&mut client).await?;
        let Some(alert) = rows::alert_by_id(&tx, id).await? else {
            return Ok(None);
        };
        let proposals = rows::proposals_of(&tx, id).await?;
        tx.commit().await?;
        Ok(Some((alert, proposals)))
    }

    async fn queue(&self, q: QueueQuery) -> Result<QueuePage, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::snapshot(&mut client).await?;
        let head = rows::head(&tx).await?.seq;
        let parts = QueryParts::new(&q);
        let statuses: Option<Vec<String>> = q
            .view
            .statuses()
            .map(|s| s.iter().map(|s| s.as_str().to_owned()).collect());
        let sql = format!(
            "SELECT * FROM (SELECT {}, \
             (($2::text[] IS NULL OR p.status = ANY($2::text[])) \
              AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM participants pa \
                   WHERE pa.proposal_id = p.id AND pa.principal = $3::text))) AS in_view \
             FROM proposals p JOIN alerts a ON a.id = p.alert_id \
             WHERE p.change_seq > $1 AND ($4::text IS NULL OR p.proposed_by = $4::text)) t \
             WHERE in_view OR $6 ORDER BY change_seq LIMIT $5",
            rows::QUEUE_COLS
        );
        let found = tx
            .query(
                &sql,
                &[
                    &q.after,
                    &statuses,
                    &parts.mine,
                    &q.agent,
                    &parts.fetch,
                    &parts.include_gone,
                ],
            )
            .await?
            .iter()
            .map(rows::queue_row)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(parts.page(found, head))
    }

    async fn status_counts(&self) -> Result<Vec<(ProposalStatus, i64)>, StoreError> {
        let client = self.pool.get().await?;
        let found = client
            .query(
                "SELECT status, COUNT(*) FROM proposals GROUP BY status",
                &[],
            )
            .await?;
        Ok(found
            .iter()
            .filter_map(|r| {
                let s: String = r.get(0);
                s.parse().ok().map(|s| (s, r.get::<_, i64>(1)))
            })
            .collect())
    }

    async fn audit_after(
        &self,
        after: i64,
        limit: u32,
        alert_id: Option<String>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let client = self.pool.get().await?;
        client
            .query(
                "SELECT seq, entry, prev_hash, hash FROM audit \
                 WHERE seq > $1 AND ($2::text IS NULL OR alert_id = $2::text) ORDER BY seq LIMIT $3",
                &[&after, &alert_id, &(limit as i64)],
            )
            .await?
            .iter()
            .map(rows::audit_row)
            .collect()
    }

    async fn audit_head(&self) -> Result<Head, StoreError> {
        let client = self.pool.get().await?;
        rows::head(&**client).await
    }

    async fn create_token(
        &self,
        name: String,
        role: TokenRole,
        hash: String,
        now: Millis,
    ) -> Result<TokenRecord, StoreError> {
        let client = self.pool.get().await?;
        let rec = TokenRecord {
            id: logic::new_id(),
            name,
            role,
            created_at: now,
            revoked_at: None,
        };
        client
            .execute(
                "INSERT INTO tokens (id, name, role, hash, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&rec.id, &rec.name, &rec.role.as_str(), &hash, &now],
            )
            .await?;
        Ok(rec)
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.pool.get().await?;
        client
            .query_opt(
                "SELECT id, name, role, created_at, revoked_at FROM tokens WHERE hash = $1 AND revoked_at IS NULL",
                &[&hash],
            )
            .await?
            .as_ref()
            .map(rows::token_row)
            .transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let client = self.pool.get().await?;
        client
            .query(
                "SELECT id, name, role, created_at, revoked_at FROM tokens ORDER BY created_at",
                &[],
            )
            .await?
            .iter()
            .map(rows::token_row)
            .collect()
    }

    async fn revoke_token(&self, name: &str, now: Millis) -> Result<usize, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "UPDATE tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                &[&name, &now],
            )
            .await? as usize)
    }

    async fn annotate(&self, cmd: AnnotateCommand) -> Result<AnnotateOutcome, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        rows::check_nonce(&tx, &cmd.signed.nonce).await?;
        let alert = rows::alert_by_id(&tx, &cmd.alert_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("alert {}", cmd.alert_id)))?;
        let (mut note, entry) = logic::annotate(&alert, &cmd)?;
        let audit = rows::append(&tx, std::slice::from_ref(&entry))
            .await?
            .ok_or_else(|| StoreError::Internal("annotation wrote no audit entry".into()))?;
        note.seq = audit.seq;
        tx.execute(
            "INSERT INTO annotations (id, alert_id, principal, note, labels, digest, created_at, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&note.id, &note.alert_id, &note.principal, &note.note, &serde_json::to_string(&note.labels)?, &note.digest, &note.created_at, &note.seq],
        )
        .await?;
        rows::record_nonce(&tx, &cmd.signed.nonce, audit.seq).await?;
        self.commit(tx, Vec::new()).await?;
        Ok(AnnotateOutcome {
            annotation: note,
            audit,
        })
    }

    async fn annotations(&self, alert_id: &str) -> Result<Vec<AnnotationRecord>, StoreError> {
        let client = self.pool.get().await?;
        client
            .query(
                "SELECT id, alert_id, principal, note, labels, digest, created_at, seq \
                 FROM annotations WHERE alert_id = $1 ORDER BY seq",
                &[&alert_id],
            )
            .await?
            .iter()
            .map(rows::annotation_row)
            .collect()
    }

    async fn claim(&self, cmd: ClaimCommand) -> Result<ProposalRecord, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        let p = load_locked(&tx, &cmd.proposal_id).await?;
        let (next, entry) = logic::claim(&p, &cmd)?;
        let mut changed = Vec::new();
        let mut touched = [next];
        persist(
            &tx,
            &mut changed,
            &mut touched,
            std::slice::from_ref(&entry),
        )
        .await?;
        self.commit(tx, changed).await?;
        let [proposal] = touched;
        Ok(proposal)
    }

    async fn create_challenge(
        &self,
        challenge: String,
        principal: String,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM challenges WHERE expires_at < $1",
                &[&(expires_at - 3_600_000)],
            )
            .await?;
        client
            .execute(
                "INSERT INTO challenges (challenge, principal, expires_at) VALUES ($1, $2, $3)",
                &[&challenge, &principal, &expires_at],
            )
            .await?;
        Ok(())
    }

    async fn take_challenge(
        &self,
        challenge: &str,
    ) -> Result<Option<(String, Millis)>, StoreError> {
        let client = self.pool.get().await?;
        // DELETE … RETURNING: single use even when two replicas race.
        Ok(client
            .query_opt(
                "DELETE FROM challenges WHERE challenge = $1 RETURNING principal, expires_at",
                &[&challenge],
            )
            .await?
            .map(|r| (r.get(0), r.get(1))))
    }

    async fn create_session(
        &self,
        hash: String,
        principal: String,
        now: Millis,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute("DELETE FROM sessions WHERE expires_at < $1", &[&now])
            .await?;
        client
            .execute(
                "INSERT INTO sessions (hash, principal, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&hash, &principal, &now, &expires_at],
            )
            .await?;
        Ok(())
    }

    async fn session_principal(
        &self,
        hash: &str,
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT principal FROM sessions WHERE hash = $1 AND expires_at > $2",
                &[&hash, &now],
            )
            .await?
            .map(|r| r.get(0)))
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeSet>> {
        self.changes.subscribe()
    }
}
