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
mod batched_writes;
mod engine;
mod listen;
mod merge;
mod prepare;
mod tls;
mod tx;
mod types;
mod unnest;
mod writer;

use batched_writes::Settle;
use engine::migrate;
use tx::PgTx;
use writer::{Counters, Writer};

use super::ops::notify;
use super::{
    AnnotateCommand, AnnotateOutcome, ChangeSet, ClaimCommand, Claimed, DecideCommand,
    DecideOutcome, DeliveryCount, ExecutionCommand, Finish, NewSession, NewToken, OpenSession,
    QueuePage, QueueQuery, RecordPolicy, Routes, SinkRoute, Store, StoreError, SubmitCommand,
    SubmitOutcome, WriteStats, ops,
};
use crate::audit::chain::Head;
use crate::domain::machine::Millis;
use crate::domain::records::{
    AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord, TokenRecord,
};
use crate::domain::types::ProposalStatus;
use async_trait::async_trait;
use deadpool_postgres::Transaction;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use tokio::sync::broadcast;

/// The advisory lock that serialises writers (and migrations): public
/// for tests that hold it as another replica would.
pub const CHAIN_LOCK: i64 = 0x0063_6f75_6e74_6572; // "counter" in ASCII
const MIGRATION_LOCK: i64 = 0x0063_6f75_6e74_6573;
/// Waits for the chain lock and takes it (simple protocol).
static TAKE_CHAIN_LOCK: LazyLock<String> =
    LazyLock::new(|| format!("SELECT pg_advisory_xact_lock({CHAIN_LOCK})"));
/// The chain lock and the head (`locked`, `seq`, `hash`): waiting for the
/// lock (`true`), or only if it is free (`false`; schema 8).
const CHAIN_HEAD: &str = "SELECT locked, seq, hash FROM countersign_chain_head($1, $2)";

/// The chain lock and the head, in one statement ([`CHAIN_HEAD`]): the
/// head when the lock is held (the genesis head of an empty chain).
async fn chain_head<C: deadpool_postgres::GenericClient + Sync>(
    client: &C,
    wait: bool,
) -> Result<Option<Head>, tokio_postgres::Error> {
    let statement = client.prepare_cached(CHAIN_HEAD).await?;
    let row = client.query_one(&statement, &[&CHAIN_LOCK, &wait]).await?;
    if !row.try_get::<_, bool>("locked")? {
        return Ok(None);
    }
    let seq: Option<i64> = row.try_get("seq")?;
    let hash: Option<String> = row.try_get("hash")?;
    Ok(Some(match (seq, hash) {
        (Some(seq), Some(hash)) => Head { seq, hash },
        _ => Head::genesis(),
    }))
}

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

    /// A read-only snapshot: several reads that agree with each other.
    async fn snapshot(
        client: &mut deadpool_postgres::Object,
    ) -> Result<Transaction<'_>, StoreError> {
        Ok(client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?)
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

/// `$body` in a transaction of its own, without the chain lock: the
/// outbox's rows are taken with `SKIP LOCKED`, not in chain order.
macro_rules! plain_tx {
    ($self:ident, |$t:ident| $body:expr) => {
        plain_tx!($self, None, |$t| $body)
    };
    ($self:ident, $settings:expr, |$t:ident| $body:expr) => {{
        let mut client = $self.pool.get().await?;
        let tx = client.transaction().await?;
        let out = {
            let $t = &mut PgTx::new(&tx);
            $t.routes = $self.routes.get();
            if let Some(settings) = $settings {
                $t.before_next(settings);
            }
            $body.await?
        };
        tx.commit().await?;
        Ok::<_, StoreError>(out)
    }};
}

#[async_trait]
impl Store for PgStore {
    fn route_events(&self, routes: Arc<Vec<SinkRoute>>) {
        self.routes.set(routes);
    }

    async fn outbox_fan_out(
        &self,
        routes: Arc<Vec<SinkRoute>>,
        now: Millis,
    ) -> Result<usize, StoreError> {
        plain_tx!(self, |t| notify::fan_out(t, &routes, now))
    }

    async fn outbox_claim(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        plain_tx!(self, |t| notify::claim(t, now, lease_ms, limit))
    }

    async fn outbox_finish(
        &self,
        done: Vec<(Claimed, Finish)>,
        now: Millis,
    ) -> Result<(), StoreError> {
        plain_tx!(self, |t| notify::finish(t, &done, now))
    }

    async fn outbox_disable_sink(
        &self,
        sink: String,
        reason: String,
        now: Millis,
    ) -> Result<u64, StoreError> {
        plain_tx!(self, |t| notify::disable_sink(t, &sink, &reason, now))
    }

    async fn outbox_remind(&self, now: Millis, share: f64) -> Result<usize, StoreError> {
        plain_tx!(self, Some(BY_INDEX), |t| notify::remind(t, now, share))
    }

    async fn outbox_stats(&self) -> Result<Vec<DeliveryCount>, StoreError> {
        let client = self.pool.get().await?;
        notify::stats(&mut PgTx::new(&client)).await
    }

    async fn outbox_prune(&self, before: Millis) -> Result<u64, StoreError> {
        plain_tx!(self, |t| notify::prune(t, before))
    }

    async fn submit(&self, cmd: SubmitCommand) -> Result<SubmitOutcome, StoreError> {
        self.writer.call(cmd).await
    }

    async fn decide(&self, cmd: DecideCommand) -> Result<DecideOutcome, StoreError> {
        self.writer.call(cmd).await
    }

    async fn report_execution(&self, cmd: ExecutionCommand) -> Result<ProposalRecord, StoreError> {
        self.writer.call(cmd).await
    }

    async fn run_deadlines(&self, now: Millis) -> Result<usize, StoreError> {
        let due = plain_tx!(self, Some(BY_INDEX), |t| ops::due(t, now))?;
        if due.is_empty() {
            return Ok(0);
        }
        self.writer.call(Settle { ids: due, now }).await
    }

    async fn end_containments(
        &self,
        now: Millis,
        policy: Arc<crate::domain::policy::Policy>,
        sampler: Arc<crate::domain::sample::Sampler>,
    ) -> Result<usize, StoreError> {
        let ids = plain_tx!(self, |t| ops::contained_due(t, now))?;
        if ids.is_empty() {
            return Ok(0);
        }
        let cmd = super::EndContainments {
            ids,
            now,
            policy,
            sampler,
        };
        self.writer.call(cmd).await
    }

    /// In a transaction of its own that takes the chain lock first and
    /// reads the head under it, as the writer does: two replicas starting
    /// with one policy write it once (the second finds it is the last).
    async fn record_policy(&self, cmd: RecordPolicy) -> Result<Option<AuditEntry>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let head = chain_head(&tx, true)
            .await?
            .ok_or_else(|| StoreError::Internal("the chain lock was not taken".into()))?;
        let written = {
            let t = &mut PgTx::new(&tx);
            t.head = Some(head);
            ops::record_policy(t, &cmd).await?
        };
        tx.commit().await?;
        Ok(written)
    }

    async fn proposals_by_external(
        &self,
        agent: &str,
        external_id: &str,
    ) -> Result<Vec<ProposalRecord>, StoreError> {
        let client = self.pool.get().await?;
        ops::proposals_by_external(&mut PgTx::new(&client), agent, external_id).await
    }

    async fn proposal(&self, id: &str) -> Result<Option<ProposalRecord>, StoreError> {
        let client = self.pool.get().await?;
        ops::proposal(&mut PgTx::new(&client), id).await
    }

    async fn alert(
        &self,
        id: &str,
    ) -> Result<Option<(AlertRecord, Vec<ProposalRecord>)>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::snapshot(&mut client).await?;
        let found = ops::alert(&mut PgTx::new(&tx), id).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn queue(&self, q: QueueQuery) -> Result<QueuePage, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::snapshot(&mut client).await?;
        let page = ops::queue(&mut PgTx::new(&tx), &q).await?;
        tx.commit().await?;
        Ok(page)
    }

    async fn status_counts(&self) -> Result<Vec<(ProposalStatus, i64)>, StoreError> {
        let client = self.pool.get().await?;
        ops::status_counts(&mut PgTx::new(&client)).await
    }

    async fn audit_after(
        &self,
        after: i64,
        limit: u32,
        alert_id: Option<String>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let client = self.pool.get().await?;
        ops::audit_after(&mut PgTx::new(&client), after, limit, alert_id).await
    }

    async fn audit_head(&self) -> Result<Head, StoreError> {
        let client = self.pool.get().await?;
        ops::head(&mut PgTx::new(&client)).await
    }

    async fn oversight(
        &self,
        since: Millis,
        until: Millis,
    ) -> Result<crate::api::oversight::Oversight, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::snapshot(&mut client).await?;
        let out = ops::oversight(&mut PgTx::new(&tx), since, until).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn create_token(&self, new: NewToken) -> Result<TokenRecord, StoreError> {
        let client = self.pool.get().await?;
        ops::create_token(&mut PgTx::new(&client), new).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.pool.get().await?;
        ops::token_by_hash(&mut PgTx::new(&client), hash).await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let client = self.pool.get().await?;
        ops::list_tokens(&mut PgTx::new(&client)).await
    }

    async fn revoke_token(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        ops::revoke_token(&mut PgTx::new(&client), id, now).await
    }

    async fn rotate_token(
        &self,
        old: Vec<String>,
        old_until: Millis,
        new: NewToken,
    ) -> Result<TokenRecord, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let rec = ops::rotate_token(&mut PgTx::new(&tx), &old, old_until, new).await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn touch_token(&self, id: &str, at: Millis) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        ops::touch_token(&mut PgTx::new(&client), id, at).await
    }

    async fn annotate(&self, cmd: AnnotateCommand) -> Result<AnnotateOutcome, StoreError> {
        self.writer.call(cmd).await
    }

    async fn annotations(&self, alert_id: &str) -> Result<Vec<AnnotationRecord>, StoreError> {
        let client = self.pool.get().await?;
        ops::annotations(&mut PgTx::new(&client), alert_id).await
    }

    async fn claim(&self, cmd: ClaimCommand) -> Result<ProposalRecord, StoreError> {
        self.writer.call(cmd).await
    }

    async fn freeze(&self, cmd: super::FreezeCommand) -> Result<super::FreezeOutcome, StoreError> {
        self.writer.call(cmd).await
    }

    async fn extend(&self, cmd: super::ExtendCommand) -> Result<DecideOutcome, StoreError> {
        self.writer.call(cmd).await
    }

    async fn revert(&self, cmd: super::RevertCommand) -> Result<super::RevertOutcome, StoreError> {
        self.writer.call(cmd).await
    }

    async fn freezes(&self) -> Result<Vec<crate::domain::freeze::Freeze>, StoreError> {
        let client = self.pool.get().await?;
        ops::freezes(&mut PgTx::new(&client)).await
    }

    async fn create_challenge(
        &self,
        challenge: String,
        principal: String,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        ops::create_challenge(&mut PgTx::new(&client), challenge, principal, expires_at).await
    }

    async fn take_challenge(
        &self,
        challenge: &str,
    ) -> Result<Option<(String, Millis)>, StoreError> {
        let client = self.pool.get().await?;
        ops::take_challenge(&mut PgTx::new(&client), challenge).await
    }

    async fn sweep_expired(&self, now: Millis) -> Result<usize, StoreError> {
        let client = self.pool.get().await?;
        ops::sweep_expired(&mut PgTx::new(&client), now).await
    }

    async fn create_session(&self, new: NewSession) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        ops::create_session(&mut PgTx::new(&client), new).await
    }

    async fn session_principal(
        &self,
        hash: &str,
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let client = self.pool.get().await?;
        ops::session_principal(&mut PgTx::new(&client), hash, now).await
    }

    async fn sessions_open(&self, now: Millis) -> Result<Vec<OpenSession>, StoreError> {
        let client = self.pool.get().await?;
        ops::sessions_open(&mut PgTx::new(&client), now).await
    }

    async fn end_sessions(&self, hashes: Vec<String>) -> Result<usize, StoreError> {
        let client = self.pool.get().await?;
        ops::end_sessions(&mut PgTx::new(&client), &hashes).await
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
