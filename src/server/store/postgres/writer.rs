//! Group commit, one writer per replica (as the SQLite engine does): the
//! writes that arrive while a transaction is in flight go into the next
//! one, which takes the chain lock once.
//!
//! A batch costs two round trips when the chain lock is free, not a few
//! per write: the reads of every write in it go in one flight (with BEGIN,
//! then the lock if free and the head), each write then runs on its rows in
//! memory, its statements held back; they all go with the COMMIT in the
//! second flight. When another replica holds the lock, a round trip waits
//! for it and reads the head (the rows stay locked meanwhile), and the
//! batch goes on as if it had been free. A write whose reads name
//! something an earlier write of the batch also names (the same proposal,
//! alert, external id or nonce) reads again instead, after the earlier
//! writes, under the lock. A refusal
//! writes nothing. Should a statement fail, it is not known whose it was:
//! the transaction is rolled back and the batch runs again one write at a
//! time, each under a savepoint, so a failure fails only its own write.
//! Every caller is answered after COMMIT, with the commit's outcome.

use super::chain::{TAKE_CHAIN_LOCK, chain_head};
use super::listen;
use super::prepare::Reads;
use super::tx::PgTx;
use crate::audit::chain::Head;
use crate::server::store::op::{Job, id_key};
use crate::server::store::ops;
use crate::server::store::sql::{Dialect, Read};
use crate::server::store::{ChangeSet, Routes, SinkRoute, StoreError};
use deadpool_postgres::{Object, Pool};
use futures_util::FutureExt;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::Row;

/// Most writes in one transaction. Replayed one by one, each takes a
/// savepoint; PostgreSQL keeps 64 subtransaction ids per backend in shared
/// memory, past that every other session's snapshots look them up on disk.
const MAX_BATCH: usize = 64;
/// Writes waiting for the writer; past this, callers wait to enqueue.
const QUEUE: usize = 4096;
/// Transactions and writes committed, batches replayed one write at a time
/// after a statement failed, and batches linked on the head after their
/// rules ran (the lock was taken), for `/metrics` and the benchmark.
#[derive(Default)]
pub(super) struct Counters {
    pub commits: AtomicU64,
    pub writes: AtomicU64,
    pub replays: AtomicU64,
    pub lock_waits: AtomicU64,
}

pub(super) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer on a thread of its own, with its own connection
    /// (made by `connect`, inside the thread's runtime so the connection
    /// is driven there too). On the shared runtime its every answer from
    /// the database waited behind the HTTP tasks in the run queue, and it
    /// holds the chain lock meanwhile: on a busy machine that was most of
    /// a write's time under the lock. A thread is woken by the kernel.
    pub(super) fn spawn(
        connect: impl FnOnce() -> Result<Pool, StoreError> + Send + 'static,
        changes: broadcast::Sender<Arc<ChangeSet>>,
        counters: Arc<Counters>,
        routes: Routes,
    ) -> Result<Self, StoreError> {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot start the writer runtime: {e}")))?;
        std::thread::Builder::new()
            .name("postgres-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match connect() {
                        Ok(pool) => writer_loop(pool, rx, changes, counters, routes).await,
                        Err(e) => refuse_all(rx, &e.to_string()).await,
                    }
                })
            })
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Queues a write; it is answered after COMMIT.
    pub(super) async fn send(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))
    }
}

fn fail_all(jobs: Vec<Box<dyn Job>>, why: &str) {
    let why = Err(why.to_owned());
    jobs.into_iter().for_each(|j| j.answer(&why));
}

/// Without a pool (its configuration was refused) every write is refused.
async fn refuse_all(mut rx: mpsc::Receiver<Box<dyn Job>>, why: &str) {
    while let Some(job) = rx.recv().await {
        fail_all(vec![job], why);
    }
}

async fn writer_loop(
    pool: Pool,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    changes: broadcast::Sender<Arc<ChangeSet>>,
    counters: Arc<Counters>,
    routes: Routes,
) {
    let mut first = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut first, MAX_BATCH).await > 0 {
        let jobs = std::mem::replace(&mut first, Vec::with_capacity(MAX_BATCH));
        let client = match pool.get().await {
            Ok(c) => c,
            Err(e) => {
                fail_all(jobs, &StoreError::from(e).to_string());
                continue;
            }
        };
        let ends = Ends {
            client: &client,
            changes: &changes,
            counters: &counters,
            routes: routes.get(),
        };
        // A panic in one write fails its batch (the callers' channels
        // close), not the writer.
        let run = std::panic::AssertUnwindSafe(group(&ends, jobs));
        if run.catch_unwind().await.is_err() {
            tracing::error!("a PostgreSQL write batch panicked; its callers were refused");
            // Its connection may be mid-transaction, holding the chain
            // lock: closed (PostgreSQL rolls back), not pooled again.
            drop(Object::take(client));
        }
    }
}

/// What a batch is answered through.
struct Ends<'a> {
    client: &'a Object,
    changes: &'a broadcast::Sender<Arc<ChangeSet>>,
    counters: &'a Counters,
    /// Where the batch's events go.
    routes: Option<Arc<Vec<SinkRoute>>>,
}

/// The chain lock and a first savepoint, for a batch replayed one by one
/// (its rows locked first).
static LOCK_AND_SAVEPOINT: LazyLock<String> =
    LazyLock::new(|| format!("{}; SAVEPOINT w", *TAKE_CHAIN_LOCK));
/// A savepoint nested in the last: releasing it would be a command more
/// for nothing (COMMIT releases them all; a batch stays within 64).
const NEXT: &str = "SAVEPOINT w";
const UNDO: &str = "ROLLBACK TO w";

/// One transaction: the jobs taken. Their reads go in one flight, which
/// locks their rows and then takes the chain lock if it is free: rows
/// first, chain second, as every writer takes them, and the rows all in one
/// flight in one order (`batch_reads`), so that no two writers wait for each
/// other. If the lock was not free, a round trip waits for it and reads
/// the head. Each write then runs on its rows, its statements held; the
/// writes, the notification and COMMIT go in a last flight.
async fn group(ends: &Ends<'_>, jobs: Vec<Box<dyn Job>>) {
    let client = ends.client;
    let mut batch = Batch::of(jobs);
    let mut tx = PgTx::holding_chain_lock(client);
    tx.routes = ends.routes.clone();
    tx.hold_writes();
    let mut changed = Vec::new();
    let ran = async {
        let reads = Reads::prepare(client, &batch.reads).await?;
        let (rows, head) = reads.send_trying_lock(client).await?;
        let head = match head {
            Some(head) => head,
            None => {
                ends.counters.lock_waits.fetch_add(1, Ordering::Relaxed);
                chain_head(client, true)
                    .await?
                    .ok_or_else(|| StoreError::Internal("the chain lock was not taken".into()))?
            }
        };
        tx.head = Some(head);
        run_ahead(&mut tx, &mut batch, rows, &mut changed).await?;
        let notify = notification(&tx, &changed);
        tx.commit(notify).await
    }
    .await;
    match ran {
        Ok(()) => finish(ends, batch.jobs, changed, tx.head.as_ref()),
        Err(_) => replay(ends, batch.jobs).await,
    }
}

/// The writes of one transaction, and what they read first (`counts[i]`
/// reads for write `i`).
struct Batch {
    jobs: Vec<Box<dyn Job>>,
    reads: Vec<Read>,
    counts: Vec<usize>,
}

impl Batch {
    fn of(jobs: Vec<Box<dyn Job>>) -> Self {
        let mut reads = Vec::new();
        let mut counts = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let mine = job.reads(Dialect::Postgres);
            counts.push(mine.len());
            reads.extend(mine);
        }
        Batch {
            jobs,
            reads,
            counts,
        }
    }
}

/// Runs each write of the batch on its rows read ahead. A write whose
/// reads name something a write before it in the batch names reads again,
/// after the writes before it (under the chain lock). Fails if a statement
/// failed.
async fn run_ahead(
    tx: &mut PgTx<'_, Object>,
    batch: &mut Batch,
    rows: Vec<Option<Vec<Row>>>,
    changed: &mut Vec<String>,
) -> Result<(), StoreError> {
    let mut fetched = std::mem::take(&mut batch.reads).into_iter().zip(rows);
    // Keys and ids of the writes before.
    let mut named = HashSet::new();
    for (job, &n) in batch.jobs.iter_mut().zip(&batch.counts) {
        let ahead: Vec<_> = fetched
            .by_ref()
            .take(n)
            .filter_map(|(read, rows)| Some((read, rows?)))
            .collect();
        let mut keys = job.keys();
        for row in ahead.iter().flat_map(|(_, rows)| rows) {
            if let Ok(id) = row.try_get::<_, String>("id") {
                keys.push(id_key(&id));
            }
        }
        let alone = keys.iter().all(|k| !named.contains(k));
        named.extend(keys);
        // Otherwise it reads again, after the writes before it.
        tx.ahead = if alone { ahead } else { Vec::new() };
        let (mark, head) = (tx.held(), tx.head.clone());
        let mut mine = Vec::new();
        let ok = job.run_pg(tx, &mut mine).await;
        tx.ahead.clear();
        if tx.broken {
            return Err(StoreError::Unavailable(
                "PostgreSQL: a statement of a batched write failed".into(),
            ));
        }
        if ok {
            changed.extend(mine);
        } else {
            // A refusal writes nothing, and leaves the head as it was.
            tx.rewind(mark, head);
        }
    }
    Ok(())
}

/// The notification of a batch's changes (delivered on commit).
fn notification(tx: &PgTx<'_, Object>, changed: &[String]) -> Option<(&'static str, String)> {
    let head = tx.head.as_ref().map_or(0, |h| h.seq);
    (!changed.is_empty()).then(|| (listen::CHANNEL, listen::payload(head, changed)))
}

/// Answers a committed batch, and tells this replica's waiters.
fn finish(ends: &Ends<'_>, jobs: Vec<Box<dyn Job>>, changed: Vec<String>, head: Option<&Head>) {
    let counters = ends.counters;
    counters.commits.fetch_add(1, Ordering::Relaxed);
    counters
        .writes
        .fetch_add(jobs.len() as u64, Ordering::Relaxed);
    if !changed.is_empty() {
        let _ = ends
            .changes
            .send(Arc::new(ChangeSet::of(head.map_or(0, |h| h.seq), changed)));
    }
    let committed = Ok(());
    jobs.into_iter().for_each(|j| j.answer(&committed));
}

/// After a failure: whose statement failed is not known, so the batch runs
/// again one write at a time, each under a savepoint of its own, and is
/// answered.
async fn replay(ends: &Ends<'_>, mut jobs: Vec<Box<dyn Job>>) {
    let client = ends.client;
    let _ = client.batch_execute("ROLLBACK").await;
    ends.counters.replays.fetch_add(1, Ordering::Relaxed);
    let mut changed = Vec::new();
    match one_by_one(client, ends.routes.clone(), &mut jobs, &mut changed).await {
        Ok(head) => finish(ends, jobs, changed, Some(&head)),
        Err(e) => {
            // Leaves the connection clean for the pool (or it is dropped).
            let _ = client.batch_execute("ROLLBACK").await;
            fail_all(jobs, &e.to_string());
        }
    }
}

/// The batch one write at a time, each under a savepoint, so that a
/// statement that fails rolls back only its own write. Returns the head
/// committed.
async fn one_by_one(
    client: &Object,
    routes: Option<Arc<Vec<SinkRoute>>>,
    jobs: &mut [Box<dyn Job>],
    changed: &mut Vec<String>,
) -> Result<Head, StoreError> {
    // Their rows locked first, as every writer locks them.
    let reads: Vec<Read> = jobs
        .iter()
        .flat_map(|j| j.reads(Dialect::Postgres))
        .collect();
    Reads::prepare(client, &reads)
        .await?
        .send(client, "BEGIN")
        .await?;
    let mut tx = PgTx::holding_chain_lock(client);
    tx.routes = routes;
    tx.before_next(LOCK_AND_SAVEPOINT.as_str());
    jobs.iter_mut().for_each(|j| j.forget());
    for job in jobs.iter_mut() {
        let mut mine = Vec::new();
        let head = tx.head.clone();
        let ok = job.run_pg(&mut tx, &mut mine).await;
        if tx.broken {
            return Err(StoreError::Unavailable(
                "PostgreSQL: the write transaction failed".into(),
            ));
        }
        if ok {
            changed.extend(mine);
            tx.before_next(NEXT);
        } else {
            // Its appends are rolled back, and so is the head it left.
            tx.head = head;
            tx.before_next(UNDO);
        }
    }
    let head = ops::head(&mut tx).await?;
    let notify =
        (!changed.is_empty()).then(|| (listen::CHANNEL, listen::payload(head.seq, changed)));
    tx.commit(notify).await?;
    Ok(head)
}
