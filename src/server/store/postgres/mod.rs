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
mod tls;
mod tx;

use engine::migrate;
use tx::PgTx;

use super::ops::notify;
use super::{
    AnnotateCommand, AnnotateOutcome, ChangeSet, ClaimCommand, Claimed, DecideCommand,
    DecideOutcome, DeliveryCount, ExecutionCommand, Finish, QueuePage, QueueQuery, SinkRoute,
    Store, StoreError, SubmitCommand, SubmitOutcome, ops,
};
use crate::audit::chain::Head;
use crate::domain::machine::Millis;
use crate::domain::records::{
    AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord, TokenRecord,
};
use crate::domain::types::{ProposalStatus, TokenRole};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_postgres::Transaction;

/// The advisory lock that serialises writers (and migrations).
const CHAIN_LOCK: i64 = 0x0063_6f75_6e74_6572; // "counter" in ASCII
const MIGRATION_LOCK: i64 = 0x0063_6f75_6e74_6573;

const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("schema_1.sql")),
    (2, include_str!("schema_2.sql")),
    (3, include_str!("schema_3.sql")),
    (4, include_str!("schema_4.sql")),
];

pub struct PgStore {
    pool: Pool,
    changes: broadcast::Sender<Arc<ChangeSet>>,
}

impl PgStore {
    /// Connects, applies migrations (safe when replicas start together) and
    /// starts the change listener.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let tls::Target { config, tls } = tls::target(url)?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
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
        listen::spawn(config, tls, changes.clone());
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
        let head = ops::head(&mut PgTx(&tx)).await?.seq;
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

/// `$body` in a transaction of its own, without the chain lock: the
/// outbox's rows are taken with `SKIP LOCKED`, not in chain order.
macro_rules! plain_tx {
    ($self:ident, |$t:ident| $body:expr) => {{
        let mut client = $self.pool.get().await?;
        let pg: &mut tokio_postgres::Client = &mut client;
        let tx = pg.transaction().await?;
        let out = {
            let $t = &mut PgTx(&tx);
            $body.await?
        };
        tx.commit().await?;
        Ok(out)
    }};
}

#[async_trait]
impl Store for PgStore {
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
        plain_tx!(self, |t| notify::remind(t, now, share))
    }

    async fn outbox_stats(&self) -> Result<Vec<DeliveryCount>, StoreError> {
        let client = self.pool.get().await?;
        notify::stats(&mut PgTx(&**client)).await
    }

    async fn outbox_prune(&self, before: Millis) -> Result<u64, StoreError> {
        plain_tx!(self, |t| notify::prune(t, before))
    }

    async fn submit(&self, cmd: SubmitCommand) -> Result<SubmitOutcome, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        let mut changed = Vec::new();
        let out = ops::submit(&mut PgTx(&tx), &cmd, &mut changed).await?;
        self.commit(tx, changed).await?;
        Ok(out)
    }

    async fn decide(&self, cmd: DecideCommand) -> Result<DecideOutcome, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        let mut changed = Vec::new();
        let out = ops::decide(&mut PgTx(&tx), &cmd, &mut changed).await?;
        self.commit(tx, changed).await?;
        Ok(out)
    }

    async fn report_execution(&self, cmd: ExecutionCommand) -> Result<ProposalRecord, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        let mut changed = Vec::new();
        let out = ops::report_execution(&mut PgTx(&tx), &cmd, &mut changed).await?;
        self.commit(tx, changed).await?;
        Ok(out)
    }

    async fn run_deadlines(&self, now: Millis) -> Result<usize, StoreError> {
        let due = {
            let client = self.pool.get().await?;
            ops::due(&mut PgTx(&**client), now).await?
        };
        if due.is_empty() {
            return Ok(0);
        }
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        let mut changed = Vec::new();
        let moved = ops::settle(&mut PgTx(&tx), &due, now, &mut changed).await?;
        self.commit(tx, changed).await?;
        Ok(moved)
    }

    async fn proposal(&self, id: &str) -> Result<Option<ProposalRecord>, StoreError> {
        let client = self.pool.get().await?;
        ops::proposal(&mut PgTx(&**client), id).await
    }

    async fn alert(
        &self,
        id: &str,
    ) -> Result<Option<(AlertRecord, Vec<ProposalRecord>)>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::snapshot(&mut client).await?;
        let found = ops::alert(&mut PgTx(&tx), id).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn queue(&self, q: QueueQuery) -> Result<QueuePage, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::snapshot(&mut client).await?;
        let page = ops::queue(&mut PgTx(&tx), &q).await?;
        tx.commit().await?;
        Ok(page)
    }

    async fn status_counts(&self) -> Result<Vec<(ProposalStatus, i64)>, StoreError> {
        let client = self.pool.get().await?;
        ops::status_counts(&mut PgTx(&**client)).await
    }

    async fn audit_after(
        &self,
        after: i64,
        limit: u32,
        alert_id: Option<String>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let client = self.pool.get().await?;
        ops::audit_after(&mut PgTx(&**client), after, limit, alert_id).await
    }

    async fn audit_head(&self) -> Result<Head, StoreError> {
        let client = self.pool.get().await?;
        ops::head(&mut PgTx(&**client)).await
    }

    async fn create_token(
        &self,
        name: String,
        role: TokenRole,
        hash: String,
        now: Millis,
    ) -> Result<TokenRecord, StoreError> {
        let client = self.pool.get().await?;
        ops::create_token(&mut PgTx(&**client), name, role, hash, now).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.pool.get().await?;
        ops::token_by_hash(&mut PgTx(&**client), hash).await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let client = self.pool.get().await?;
        ops::list_tokens(&mut PgTx(&**client)).await
    }

    async fn revoke_token(&self, name: &str, now: Millis) -> Result<usize, StoreError> {
        let client = self.pool.get().await?;
        ops::revoke_token(&mut PgTx(&**client), name, now).await
    }

    async fn annotate(&self, cmd: AnnotateCommand) -> Result<AnnotateOutcome, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        let out = ops::annotate(&mut PgTx(&tx), &cmd).await?;
        self.commit(tx, Vec::new()).await?;
        Ok(out)
    }

    async fn annotations(&self, alert_id: &str) -> Result<Vec<AnnotationRecord>, StoreError> {
        let client = self.pool.get().await?;
        ops::annotations(&mut PgTx(&**client), alert_id).await
    }

    async fn claim(&self, cmd: ClaimCommand) -> Result<ProposalRecord, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = Self::begin(&mut client).await?;
        let mut changed = Vec::new();
        let out = ops::claim(&mut PgTx(&tx), &cmd, &mut changed).await?;
        self.commit(tx, changed).await?;
        Ok(out)
    }

    async fn create_challenge(
        &self,
        challenge: String,
        principal: String,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        ops::create_challenge(&mut PgTx(&**client), challenge, principal, expires_at).await
    }

    async fn take_challenge(
        &self,
        challenge: &str,
    ) -> Result<Option<(String, Millis)>, StoreError> {
        let client = self.pool.get().await?;
        ops::take_challenge(&mut PgTx(&**client), challenge).await
    }

    async fn sweep_expired(&self, now: Millis) -> Result<usize, StoreError> {
        let client = self.pool.get().await?;
        ops::sweep_expired(&mut PgTx(&**client), now).await
    }

    async fn create_session(
        &self,
        hash: String,
        principal: String,
        now: Millis,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        ops::create_session(&mut PgTx(&**client), hash, principal, now, expires_at).await
    }

    async fn session_principal(
        &self,
        hash: &str,
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let client = self.pool.get().await?;
        ops::session_principal(&mut PgTx(&**client), hash, now).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeSet>> {
        self.changes.subscribe()
    }
}
