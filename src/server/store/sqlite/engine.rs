//! The SQLite engine: opening and migrating, the group-commit writer
//! thread, and the pool of read connections.

use super::checkpoint;
use super::tx::SqliteTx;
use super::{Counters, SqliteStore};
use crate::server::store::op::Job;
use crate::server::store::ops;
use crate::server::store::tx::block_now;
use crate::server::store::{ChangeSet, Routes, SinkRoute, StoreError};
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tokio::sync::broadcast;

/// Most requests one group commit takes.
const MAX_BATCH: usize = 512;
/// Most read connections (and reads at once). WAL lets them run beside
/// the writer; more than the cores gains nothing.
pub(super) const MAX_READERS: usize = 8;
/// A read connection idle this long is closed.
const READER_IDLE: Duration = Duration::from_secs(60);

/// Numbered alike on both backends (`NN_what.sql`); SQLite counts them in
/// `user_version`, so each is in its place in this list, none skipped.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("01_initial.sql")),
        M::up(include_str!("02_console_login.sql")),
        M::up(include_str!("03_claims.sql")),
        M::up(include_str!("04_escalator_key.sql")),
        M::up(include_str!("05_judged_risk.sql")),
        M::up(include_str!("06_notification_outbox.sql")),
        M::up(include_str!("07_sampled_review.sql")),
        M::up(include_str!("08_reminder_lifetime.sql")),
        M::up(include_str!("09_events_to_hand_over.sql")),
        M::up(include_str!("10_policy_entries.sql")),
        M::up(include_str!("11_chain_head_and_compression.sql")),
        M::up(include_str!("12_freezes.sql")),
        M::up(include_str!("13_amendments.sql")),
        M::up(include_str!("14_containment.sql")),
        M::up(include_str!("15_token_lifetimes_and_scopes.sql")),
        M::up(include_str!("16_session_keys.sql")),
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
        // Most of each checkpoint is the checkpointer's (started below).
        writer.pragma_update(
            None,
            "wal_autocheckpoint",
            checkpoint::WRITER_CHECKPOINT_PAGES,
        )?;
        migrations()
            .to_latest(&mut writer)
            .map_err(|e| StoreError::Unavailable(format!("migrating {}: {e}", path.display())))?;

        let (jobs, rx) = mpsc::channel::<Box<dyn Job>>();
        let (changes, _) = broadcast::channel(1024);
        let notify = changes.clone();
        checkpoint::start(path, changes.subscribe())?;
        let stats = Arc::new(Counters::default());
        let counters = stats.clone();
        let routes = Routes::default();
        let writer_routes = routes.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, notify, &counters, &writer_routes))
            .map_err(|e| StoreError::Internal(format!("cannot start writer thread: {e}")))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            jobs,
            readers: Mutex::new(Vec::new()),
            read_slots: tokio::sync::Semaphore::new(MAX_READERS),
            changes,
            stats,
            routes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled read connection off the async runtime.
    pub(super) async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let _slot = self
            .read_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closing".into()))?;
        let mut conn = match self.pooled() {
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
        self.give_back(conn);
        result
    }

    /// Runs `f` on this thread when an open read connection is free at
    /// once (a read of one row by its key: microseconds); otherwise as
    /// [`Self::read`] does, off the async runtime.
    pub(super) async fn read_here<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        if let Ok(_slot) = self.read_slots.try_acquire()
            && let Some(mut conn) = self.pooled()
        {
            let result = f(&mut conn);
            self.give_back(conn);
            return result;
        }
        self.read(f).await
    }

    /// An idle read connection, the most recently used; those idle too
    /// long are closed.
    fn pooled(&self) -> Option<Connection> {
        self.readers.lock().ok().and_then(|mut v| {
            v.retain(|(_, used)| used.elapsed() < READER_IDLE);
            v.pop().map(|(c, _)| c)
        })
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut v) = self.readers.lock()
            && v.len() < MAX_READERS
        {
            v.push((conn, std::time::Instant::now()));
        }
    }
}

/// Runs `f` in a read transaction: its reads see one snapshot.
pub(super) fn in_snapshot(
    c: &mut Connection,
    f: impl FnOnce(&mut Connection),
) -> rusqlite::Result<()> {
    c.prepare_cached("BEGIN")?.execute([])?;
    f(c);
    let ended = c.prepare_cached("COMMIT").and_then(|mut s| s.execute([]));
    if ended.is_err() && !c.is_autocommit() {
        // Not back to the pool inside a transaction.
        let _ = c.execute_batch("ROLLBACK");
    }
    ended.map(|_| ())
}

fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Box<dyn Job>>,
    notify: broadcast::Sender<Arc<ChangeSet>>,
    stats: &Counters,
    routes: &Routes,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let routes = routes.get();
        let mut changed = Vec::new();
        // The whole batch in one transaction, with no savepoint per job
        // (each copied every page it touched into a sub-journal: a tenth of
        // the writer's CPU). A job that refuses or fails rolls the batch
        // back, and the batch runs again with a savepoint around each job,
        // so that one refusal undoes only itself.
        let mut committed = run_batch(&mut conn, &mut batch, &routes, &mut changed, Each::Together);
        if let Err(Failed::Refused) = committed {
            for job in &mut batch {
                job.forget();
            }
            changed.clear();
            committed = run_batch(&mut conn, &mut batch, &routes, &mut changed, Each::OnItsOwn);
        }
        let committed = committed.map_err(|e| match e {
            Failed::Refused => "a write of the batch was refused".to_owned(),
            Failed::Sql(e) => e.to_string(),
        });
        if committed.is_ok() {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats
                .writes
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        // A job never run (BEGIN failed) is answered with the failure.
        for job in batch {
            job.answer(&committed);
        }
        if committed.is_ok() && !changed.is_empty() {
            let head_seq = block_now(ops::head(&mut SqliteTx::new(&mut conn)))
                .map(|h| h.seq)
                .unwrap_or_default();
            let _ = notify.send(Arc::new(ChangeSet::of(head_seq, changed)));
        }
    }
}

/// How a batch's jobs run in its transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Each {
    /// One after another, nothing between them: a job that refuses or
    /// fails ends the batch ([`Failed::Refused`]).
    Together,
    /// Each in a savepoint of its own: a job that refuses or fails is
    /// rolled back alone, and the others commit.
    OnItsOwn,
}

enum Failed {
    /// A job refused or failed in a batch run [`Each::Together`]; nothing
    /// of the batch was kept.
    Refused,
    /// The transaction itself failed; nothing of the batch was kept.
    Sql(rusqlite::Error),
}

/// Runs `batch` in one transaction and commits it; the proposals the jobs
/// changed go to `changed`. Nothing is kept unless it returns `Ok`.
fn run_batch(
    conn: &mut Connection,
    batch: &mut [Box<dyn Job>],
    routes: &Option<Arc<Vec<SinkRoute>>>,
    changed: &mut Vec<String>,
    each: Each,
) -> Result<(), Failed> {
    let outcome = (|| -> Result<(), Failed> {
        // Statements cached, not rusqlite's `transaction()` and
        // `savepoint()`: those re-parse their SQL for every job, which
        // showed in profiles.
        run(conn, "BEGIN IMMEDIATE")?;
        for job in batch.iter_mut() {
            if each == Each::OnItsOwn {
                run(conn, "SAVEPOINT job")?;
            }
            let mut mine = Vec::new();
            let ok = job.run_sqlite(&mut SqliteTx::routing(conn, routes.clone()), &mut mine);
            match (ok, each) {
                (true, Each::Together) => {}
                (false, Each::Together) => return Err(Failed::Refused),
                (true, Each::OnItsOwn) => run(conn, "RELEASE job")?,
                (false, Each::OnItsOwn) => {
                    run(conn, "ROLLBACK TO job")?;
                    run(conn, "RELEASE job")?;
                    continue;
                }
            }
            changed.extend(mine);
        }
        run(conn, "COMMIT")
    })();
    if outcome.is_err() && !conn.is_autocommit() {
        // Nothing of a failed batch stays.
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}

fn run(conn: &Connection, sql: &str) -> Result<(), Failed> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(Failed::Sql)
}
