//! The embedded SQLite backend: WAL, `synchronous=FULL`, and group commit.
//!
//! One writer thread owns the write connection. Requests queue up while a
//! commit is in flight; the writer then runs every queued request in one
//! transaction (each in its own savepoint, so one refusal rolls back only
//! itself) and pays one fsync for all of them. Nobody hears "ok" before that
//! commit returns. Reads use a small pool of read-only connections, which WAL
//! lets run beside the writer.

mod rows;

use super::{
    AnnotateCommand, AnnotateOutcome, ChangeSet, DecideCommand, DecideOutcome, ExecutionCommand,
    QueryParts, QueuePage, QueueQuery, Store, StoreError, SubmitCommand, SubmitOutcome,
    SubmitStatus, WriteStats, logic,
};
use crate::audit::chain::{Head, NewEntry};
use crate::domain::machine::Millis;
use crate::domain::records::{
    AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord, TokenRecord,
};
use crate::domain::revision::{self, Plan};
use crate::domain::types::{ProposalStatus, TokenRole};
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::{broadcast, oneshot};

/// Most requests one group commit takes.
const MAX_BATCH: usize = 512;

type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection, &mut Vec<String>) -> (bool, Finish) + Send>;

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

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("schema.sql")),
        M::up(include_str!("schema_2.sql")),
    ])
}

fn configure(c: &Connection) -> rusqlite::Result<()> {
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut writer = Connection::open(path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        configure(&writer)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "{} cannot use WAL mode (got {mode})",
                path.display()
            )));
        }
        writer.pragma_update(None, "synchronous", "FULL")?;
        // Savepoint sub-journals in memory: they only matter until commit.
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        writer.pragma_update(None, "cache_size", -64_000)?;
        migrations()
            .to_latest(&mut writer)
            .map_err(|e| StoreError::Unavailable(format!("migrating {}: {e}", path.display())))?;

        let (jobs, rx) = mpsc::channel::<Job>();
        let (changes, _) = broadcast::channel(1024);
        let notify = changes.clone();
        let stats = Arc::new(Counters::default());
        let counters = stats.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, notify, &counters))
            .map_err(|e| StoreError::Internal(format!("cannot start writer thread: {e}")))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            jobs,
            readers: Mutex::new(Vec::new()),
            changes,
            stats,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` inside the next group commit; resolves after the commit.
    async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &mut Vec<String>) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        let job: Job = Box::new(move |conn, changed| match f(conn, changed) {
            Ok(value) => (
                true,
                Box::new(move |committed: Result<(), String>| {
                    let _ = tx.send(committed.map(|()| value).map_err(StoreError::Unavailable));
                }),
            ),
            Err(e) => (
                false,
                Box::new(move |_| {
                    let _ = tx.send(Err(e));
                }),
            ),
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        rx.await.map_err(|_| {
            StoreError::Unavailable("the database could not start a write transaction".into())
        })?
    }

    /// Runs `f` on a pooled read connection off the async runtime.
    async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let pooled = self.readers.lock().ok().and_then(|mut v| v.pop());
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&c)?;
                c
            }
        };
        let (result, conn) = tokio::task::spawn_blocking(move || {
            let r = f(&mut conn);
            (r, conn)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("reader task failed: {e}")))?;
        if let Ok(mut v) = self.readers.lock()
            && v.len() < 16
        {
            v.push(conn);
        }
        result
    }
}

fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Job>,
    notify: broadcast::Sender<Arc<ChangeSet>>,
    stats: &Counters,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut finishes = Vec::with_capacity(batch.len());
        let mut changed = Vec::new();
        let outcome = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Savepoints through cached statements: rusqlite's `savepoint()`
            // re-parses SQL for every job, which showed in profiles.
            for job in batch.drain(..) {
                tx.prepare_cached("SAVEPOINT job")?.execute([])?;
                let mut mine = Vec::new();
                let (ok, finish) = job(&tx, &mut mine);
                if ok {
                    tx.prepare_cached("RELEASE job")?.execute([])?;
                    changed.extend(mine);
                } else {
                    tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
                    tx.prepare_cached("RELEASE job")?.execute([])?;
                }
                finishes.push(finish);
            }
            tx.commit()
        })();
        let committed = outcome.map_err(|e| e.to_string());
        if committed.is_ok() {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats
                .writes
                .fetch_add(finishes.len() as u64, Ordering::Relaxed);
        }
        // Jobs never reached (BEGIN failed) are dropped with the batch; their
        // callers see the writer's channel closed and report it.
        for finish in finishes {
            finish(committed.clone());
        }
        if committed.is_ok() && !changed.is_empty() {
            let head_seq = rows::head(&conn).map(|h| h.seq).unwrap_or_default();
            let _ = notify.send(Arc::new(ChangeSet {
                head_seq,
                proposals: changed,
            }));
        }
    }
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
                    |r| Ok((rows::queue_row(r)?, r.get::<_, bool>(22)?)),
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
