//! The PostgreSQL backend, for several `serve` replicas on one database.
//!
//! Races are settled by the database: every write transaction locks the
//! rows it changes (`FOR UPDATE`, read before anything else), so two
//! analysts deciding the same proposal on two replicas get exactly one
//! winner; and it appends to the audit chain only holding one
//! transaction-scoped advisory lock, read the head under it, so the chain
//! stays a single line with no fork or gap. Each replica's writes go
//! through one group-commit writer (`writer`): the lock is taken once per
//! batch, not per request (a batch that finds it held waits for it, its
//! rows already locked). Deadline sweeps run on every replica and act once (they
//! re-check locked rows). Commits NOTIFY, and every replica LISTENs, so
//! long-polls wake wherever they wait. Losing the database is a 503; the
//! pool reconnects by itself.

mod batch_reads;
mod chain;
mod engine;
mod listen;
mod merge;
mod prepare;
mod tls;
pub(crate) mod tx;
mod types;
mod unnest;
mod writer;

pub use chain::CHAIN_LOCK;
use engine::migrate;
use tx::PgTx;
use writer::{Counters, Writer};

use super::op::{Job, Lane};
use super::{ChangeSet, Routes, SinkRoute, Store, StoreError, WriteStats};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use tokio::sync::broadcast;

/// Numbered alike with SQLite's (`NN_what.sql`): the initial schema here
/// already holds SQLite's 02 (console login) and 03 (claims), and 11 (the
/// chain-head function, lz4) is PostgreSQL's alone (SQLite's 11 changes
/// nothing).
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("01_initial.sql")),
    (4, include_str!("04_escalator_key.sql")),
    (5, include_str!("05_judged_risk.sql")),
    (6, include_str!("06_notification_outbox.sql")),
    (7, include_str!("07_sampled_review.sql")),
    (8, include_str!("08_reminder_lifetime.sql")),
    (9, include_str!("09_events_to_hand_over.sql")),
    (10, include_str!("10_policy_entries.sql")),
    (11, include_str!("11_chain_head_and_compression.sql")),
    (12, include_str!("12_freezes.sql")),
    (13, include_str!("13_amendments.sql")),
    (14, include_str!("14_containment.sql")),
    (15, include_str!("15_token_lifetimes_and_scopes.sql")),
    (16, include_str!("16_session_keys.sql")),
];

/// A database migrated before the numbers were shared with SQLite recorded
/// 1–9: old number → new. Renumbered once, in the migration lock; the row
/// `NUMBERED_ALIKE` says it is done.
pub(super) const RENUMBERED: &[(i32, i32)] = &[
    (2, 4),
    (3, 5),
    (4, 6),
    (5, 7),
    (6, 8),
    (7, 9),
    (8, 11),
    (9, 10),
];
pub(super) const NUMBERED_ALIKE: i32 = 0;

pub struct PgStore {
    pool: Pool,
    changes: broadcast::Sender<Arc<ChangeSet>>,
    writer: Writer,
    counters: Arc<Counters>,
    routes: Routes,
}

impl PgStore {
    /// Connects, applies migrations (safe when replicas start together) and
    /// starts the change listener.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let tls::Target { config, tls } = tls::target(url)?;
        let pool = pool(&config, &tls, 16)?;
        migrate(&pool).await?;
        let (changes, _) = broadcast::channel(1024);
        listen::spawn(config.clone(), tls.clone(), changes.clone());
        let counters = Arc::new(Counters::default());
        let writer_pool = move || pool_of_one(&config, &tls);
        let routes = Routes::default();
        let writer = Writer::spawn(
            writer_pool,
            changes.clone(),
            counters.clone(),
            routes.clone(),
        )?;
        Ok(PgStore {
            pool,
            changes,
            writer,
            counters,
            routes,
        })
    }
}

/// Connections to the database, opened as needed up to `size`.
fn pool(
    config: &tokio_postgres::Config,
    tls: &tokio_postgres_rustls::MakeRustlsConnect,
    size: usize,
) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config.clone(),
        tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(std::time::Duration::from_secs(5)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Internal(e.to_string()))
}

/// The planner settings of the sweeps (deadlines, reminders), for their
/// transaction: plans that read each kind of deadline in order off its own
/// partial index, whatever the statistics say. Statistics lag a table that
/// changes fast: planned while the proposals table was still small, the
/// sampled reviews were read by scanning it (kept as the generic plan as
/// it grew); planned before any approval was counted, lapsed executions
/// were read through the status index, every approved proposal, then
/// sorted. Either took 10-20 ms a sweep, four sweeps a second per replica.
/// Each sweep's statement runs only here, so its cached plan is always
/// made under these settings.
pub const BY_INDEX: &str = "SET LOCAL enable_sort = off; SET LOCAL enable_seqscan = off";

/// The writer's own connection (reopened when lost).
fn pool_of_one(
    config: &tokio_postgres::Config,
    tls: &tokio_postgres_rustls::MakeRustlsConnect,
) -> Result<Pool, StoreError> {
    pool(config, tls, 1)
}

/// How a job's transaction begins when it runs on a pooled connection
/// (`None`: a single read needs none). Sent with its first statement.
fn begin(job: &dyn Job) -> Option<&'static str> {
    match (job.lane(), job.snapshot(), job.by_index()) {
        (_, true, _) => Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
        (_, _, true) => Some(BEGIN_BY_INDEX.as_str()),
        (Lane::Read, false, false) => None,
        _ => Some("BEGIN"),
    }
}

/// A transaction planned as the sweeps need ([`BY_INDEX`]).
static BEGIN_BY_INDEX: LazyLock<String> = LazyLock::new(|| format!("BEGIN; {BY_INDEX}"));

impl PgStore {
    /// A job off the chain (a read, or a write no chained write reads) on
    /// a pooled connection, in a transaction of its own unless it is one
    /// read: it does not wait for the chain lock.
    async fn alone(&self, mut job: Box<dyn Job>) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let begin = begin(job.as_ref());
        let mut tx = PgTx::new(&client);
        tx.routes = self.routes.get();
        if let Some(begin) = begin {
            tx.before_next(begin);
        }
        let ok = job.run_pg(&mut tx, &mut Vec::new()).await;
        let ended = match begin {
            None => Ok(()),
            Some(_) if ok => tx.commit(None).await,
            Some(_) => Err(StoreError::Unavailable("refused".into())),
        };
        if ended.is_err() && begin.is_some() && client.batch_execute("ROLLBACK").await.is_err() {
            // Never back to the pool inside a transaction.
            drop(Object::take(client));
        }
        job.answer(&ended.map_err(|e| e.to_string()));
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    /// Chained writes go to this replica's writer; the others run alone.
    async fn run_job(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        match job.lane() {
            Lane::Chain => self.writer.send(job).await,
            Lane::Plain | Lane::Read => self.alone(job).await,
        }
    }

    fn route_events(&self, routes: Arc<Vec<SinkRoute>>) {
        self.routes.set(routes);
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeSet>> {
        self.changes.subscribe()
    }

    fn write_stats(&self) -> WriteStats {
        WriteStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
            replays: self.counters.replays.load(Ordering::Relaxed),
            lock_waits: self.counters.lock_waits.load(Ordering::Relaxed),
        }
    }
}
