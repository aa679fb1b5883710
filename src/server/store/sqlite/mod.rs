//! The embedded SQLite backend: WAL, `synchronous=FULL`, and group commit.
//!
//! One writer thread owns the write connection. Requests queue up while a
//! commit is in flight; the writer then runs every queued request in one
//! transaction (each in its own savepoint, so one refusal rolls back only
//! itself) and pays one fsync for all of them. Nobody hears "ok" before that
//! commit returns. Reads use a small pool of read-only connections, which WAL
//! lets run beside the writer.

mod checkpoint;
mod engine;
mod tx;

use super::ops::notify;
use super::tx::block_now;
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
use engine::Job;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::broadcast;
use tx::SqliteTx;

pub struct SqliteStore {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    /// Idle read connections, each with when it was last used.
    readers: Mutex<Vec<(Connection, std::time::Instant)>>,
    /// At most this many reads at once (and so at most this many read
    /// connections and blocking threads): a burst queues, it does not
    /// open a file per request.
    read_slots: tokio::sync::Semaphore,
    changes: broadcast::Sender<Arc<ChangeSet>>,
    stats: Arc<Counters>,
    /// Where writes hand their events ([`Store::route_events`]).
    routes: Routes,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
}

#[async_trait]
impl Store for SqliteStore {
    fn route_events(&self, routes: Arc<Vec<SinkRoute>>) {
        self.routes.set(routes);
    }

    async fn submit(&self, cmd: SubmitCommand) -> Result<SubmitOutcome, StoreError> {
        self.write(move |t, changed| block_now(ops::submit(t, &cmd, changed)))
            .await
    }

    async fn decide(&self, cmd: DecideCommand) -> Result<DecideOutcome, StoreError> {
        self.write(move |t, changed| block_now(ops::decide(t, &cmd, changed)))
            .await
    }

    async fn report_execution(&self, cmd: ExecutionCommand) -> Result<ProposalRecord, StoreError> {
        self.write(move |t, changed| block_now(ops::report_execution(t, &cmd, changed)))
            .await
    }

    async fn run_deadlines(&self, now: Millis) -> Result<usize, StoreError> {
        let due = self
            .read(move |c| block_now(ops::due(&mut SqliteTx::new(c), now)))
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        self.write(move |t, changed| block_now(ops::settle(t, &due, now, changed)))
            .await
    }

    async fn end_containments(
        &self,
        now: Millis,
        policy: Arc<crate::domain::policy::Policy>,
        sampler: Arc<crate::domain::sample::Sampler>,
    ) -> Result<usize, StoreError> {
        let ids = self
            .read(move |c| block_now(ops::contained_due(&mut SqliteTx::new(c), now)))
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let cmd = super::EndContainments {
            ids,
            now,
            policy,
            sampler,
        };
        self.write(move |t, changed| block_now(ops::end_containments(t, &cmd, changed)))
            .await
    }

    async fn record_policy(&self, cmd: RecordPolicy) -> Result<Option<AuditEntry>, StoreError> {
        self.write(move |t, _| block_now(ops::record_policy(t, &cmd)))
            .await
    }

    async fn proposal(&self, id: &str) -> Result<Option<ProposalRecord>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| block_now(ops::proposal(&mut SqliteTx::new(c), &id)))
            .await
    }

    async fn alert(
        &self,
        id: &str,
    ) -> Result<Option<(AlertRecord, Vec<ProposalRecord>)>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| {
            let snapshot = c.transaction()?;
            block_now(ops::alert(&mut SqliteTx::new(&snapshot), &id))
        })
        .await
    }

    async fn proposals_by_external(
        &self,
        agent: &str,
        external_id: &str,
    ) -> Result<Vec<ProposalRecord>, StoreError> {
        let (agent, external_id) = (agent.to_owned(), external_id.to_owned());
        self.read(move |c| {
            block_now(ops::proposals_by_external(
                &mut SqliteTx::new(c),
                &agent,
                &external_id,
            ))
        })
        .await
    }

    async fn queue(&self, q: QueueQuery) -> Result<QueuePage, StoreError> {
        self.read(move |c| {
            let snapshot = c.transaction()?;
            block_now(ops::queue(&mut SqliteTx::new(&snapshot), &q))
        })
        .await
    }

    async fn status_counts(&self) -> Result<Vec<(ProposalStatus, i64)>, StoreError> {
        self.read(|c| block_now(ops::status_counts(&mut SqliteTx::new(c))))
            .await
    }

    async fn audit_after(
        &self,
        after: i64,
        limit: u32,
        alert_id: Option<String>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |c| {
            block_now(ops::audit_after(
                &mut SqliteTx::new(c),
                after,
                limit,
                alert_id,
            ))
        })
        .await
    }

    async fn audit_head(&self) -> Result<Head, StoreError> {
        self.read(|c| block_now(ops::head(&mut SqliteTx::new(c))))
            .await
    }

    async fn oversight(
        &self,
        since: Millis,
        until: Millis,
    ) -> Result<crate::api::oversight::Oversight, StoreError> {
        self.read(move |c| {
            let snapshot = c.transaction()?;
            block_now(ops::oversight(&mut SqliteTx::new(&snapshot), since, until))
        })
        .await
    }

    async fn create_token(&self, new: NewToken) -> Result<TokenRecord, StoreError> {
        self.write(move |t, _| block_now(ops::create_token(t, new)))
            .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |c| block_now(ops::token_by_hash(&mut SqliteTx::new(c), &hash)))
            .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|c| block_now(ops::list_tokens(&mut SqliteTx::new(c))))
            .await
    }

    async fn revoke_token(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |t, _| block_now(ops::revoke_token(t, &id, now)))
            .await
    }

    async fn rotate_token(
        &self,
        old: Vec<String>,
        old_until: Millis,
        new: NewToken,
    ) -> Result<TokenRecord, StoreError> {
        self.write(move |t, _| block_now(ops::rotate_token(t, &old, old_until, new)))
            .await
    }

    /// Through the single writer like any write: a job in the next group
    /// commit, at most once a minute per token (the caller throttles).
    async fn touch_token(&self, id: &str, at: Millis) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(move |t, _| block_now(ops::touch_token(t, &id, at)))
            .await
    }

    async fn annotate(&self, cmd: AnnotateCommand) -> Result<AnnotateOutcome, StoreError> {
        self.write(move |t, _| block_now(ops::annotate(t, &cmd)))
            .await
    }

    async fn claim(&self, cmd: ClaimCommand) -> Result<ProposalRecord, StoreError> {
        self.write(move |t, changed| block_now(ops::claim(t, &cmd, changed)))
            .await
    }

    async fn freeze(&self, cmd: super::FreezeCommand) -> Result<super::FreezeOutcome, StoreError> {
        self.write(move |t, changed| block_now(ops::freeze(t, &cmd, changed)))
            .await
    }

    async fn extend(&self, cmd: super::ExtendCommand) -> Result<DecideOutcome, StoreError> {
        self.write(move |t, changed| block_now(ops::extend(t, &cmd, changed)))
            .await
    }

    async fn revert(&self, cmd: super::RevertCommand) -> Result<super::RevertOutcome, StoreError> {
        self.write(move |t, changed| block_now(ops::revert(t, &cmd, changed)))
            .await
    }

    async fn freezes(&self) -> Result<Vec<crate::domain::freeze::Freeze>, StoreError> {
        self.read(|c| block_now(ops::freezes(&mut SqliteTx::new(c))))
            .await
    }

    async fn annotations(&self, alert_id: &str) -> Result<Vec<AnnotationRecord>, StoreError> {
        let alert_id = alert_id.to_owned();
        self.read(move |c| block_now(ops::annotations(&mut SqliteTx::new(c), &alert_id)))
            .await
    }

    async fn create_challenge(
        &self,
        challenge: String,
        principal: String,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        self.write(move |t, _| {
            block_now(ops::create_challenge(t, challenge, principal, expires_at))
        })
        .await
    }

    async fn take_challenge(
        &self,
        challenge: &str,
    ) -> Result<Option<(String, Millis)>, StoreError> {
        let challenge = challenge.to_owned();
        self.write(move |t, _| block_now(ops::take_challenge(t, &challenge)))
            .await
    }

    async fn sweep_expired(&self, now: Millis) -> Result<usize, StoreError> {
        self.write(move |t, _| block_now(ops::sweep_expired(t, now)))
            .await
    }

    async fn create_session(&self, new: NewSession) -> Result<(), StoreError> {
        self.write(move |t, _| block_now(ops::create_session(t, new)))
            .await
    }

    async fn session_principal(
        &self,
        hash: &str,
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |c| block_now(ops::session_principal(&mut SqliteTx::new(c), &hash, now)))
            .await
    }

    async fn sessions_open(&self, now: Millis) -> Result<Vec<OpenSession>, StoreError> {
        self.read(move |c| block_now(ops::sessions_open(&mut SqliteTx::new(c), now)))
            .await
    }

    async fn end_sessions(&self, hashes: Vec<String>) -> Result<usize, StoreError> {
        self.write(move |t, _| block_now(ops::end_sessions(t, &hashes)))
            .await
    }

    async fn outbox_fan_out(
        &self,
        routes: Arc<Vec<SinkRoute>>,
        now: Millis,
    ) -> Result<usize, StoreError> {
        self.write(move |t, _| block_now(notify::fan_out(t, &routes, now)))
            .await
    }

    async fn outbox_claim(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.write(move |t, _| block_now(notify::claim(t, now, lease_ms, limit)))
            .await
    }

    async fn outbox_finish(
        &self,
        done: Vec<(Claimed, Finish)>,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.write(move |t, _| block_now(notify::finish(t, &done, now)))
            .await
    }

    async fn outbox_disable_sink(
        &self,
        sink: String,
        reason: String,
        now: Millis,
    ) -> Result<u64, StoreError> {
        self.write(move |t, _| block_now(notify::disable_sink(t, &sink, &reason, now)))
            .await
    }

    async fn outbox_remind(&self, now: Millis, share: f64) -> Result<usize, StoreError> {
        self.write(move |t, _| block_now(notify::remind(t, now, share)))
            .await
    }

    async fn outbox_stats(&self) -> Result<Vec<DeliveryCount>, StoreError> {
        self.read(|c| block_now(notify::stats(&mut SqliteTx::new(c))))
            .await
    }

    async fn outbox_prune(&self, before: Millis) -> Result<u64, StoreError> {
        self.write(move |t, _| block_now(notify::prune(t, before)))
            .await
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeSet>> {
        self.changes.subscribe()
    }

    fn write_stats(&self) -> WriteStats {
        WriteStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            writes: self.stats.writes.load(Ordering::Relaxed),
            replays: 0,
            lock_waits: 0,
        }
    }
}
