//! Group commit, one writer per replica (as the SQLite engine does): the
//! writes that arrive while a transaction is in flight go into the next
//! one, which takes the chain lock once.
//!
//! Under the lock a batch costs two round trips, not a few per write: the
//! reads of every write in it go in one flight (with BEGIN and the lock),
//! each write then runs on its rows in memory, its statements held back;
//! they all go with the COMMIT in the second flight. A write whose reads
//! name something an earlier write of the batch also names (the same
//! proposal, alert, external id or nonce) reads again instead, after the
//! earlier writes. A refusal writes nothing. Should a statement fail, it is
//! not known whose it was: the transaction is rolled back and the batch
//! runs again one write at a time, each under a savepoint, so a failure
//! fails only its own write. Every caller is answered after COMMIT, with
//! the commit's outcome.

use super::jobs::{Job, Op, Pending, id_key};
use super::tx::PgTx;
use super::{CHAIN_LOCK, listen};
use crate::server::store::ops::{self, reads_of};
use crate::server::store::{ChangeSet, StoreError};
use deadpool_postgres::{Object, Pool};
use futures_util::FutureExt;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Most writes in one transaction. Replayed one by one, each takes a
/// savepoint; PostgreSQL keeps 64 subtransaction ids per backend in shared
/// memory, past that every other session's snapshots look them up on disk.
const MAX_BATCH: usize = 64;
/// Writes waiting for the writer; past this, callers wait to enqueue.
const QUEUE: usize = 4096;
/// Transactions and writes committed, and batches replayed one write at a
/// time after a statement failed, for `/metrics` and the benchmark.
#[derive(Default)]
pub(super) struct Counters {
    pub commits: AtomicU64,
    pub writes: AtomicU64,
    pub replays: AtomicU64,
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
                        Ok(pool) => writer_loop(pool, rx, changes, counters).await,
                        Err(e) => refuse_all(rx, &e.to_string()).await,
                    }
                })
            })
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Queues a write and waits for its answer (after COMMIT).
    pub(super) async fn call<O: Op>(&self, op: O) -> Result<O::Out, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            op,
            result: None,
            reply,
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the database writer stopped before answering".into())
        })?
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
) {
    let mut first = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut first, MAX_BATCH).await > 0 {
        let jobs = std::mem::replace(&mut first, Vec::with_capacity(MAX_BATCH));
        // A panic in one write fails its batch (the callers' channels
        // close), not the writer.
        let run = std::panic::AssertUnwindSafe(group(&pool, jobs, &mut rx, &changes, &counters));
        if run.catch_unwind().await.is_err() {
            tracing::error!("a PostgreSQL write batch panicked; its callers were refused");
            // Its connection may be mid-transaction, holding the chain
            // lock: closed (PostgreSQL rolls back), not pooled again.
            if let Ok(client) = pool.get().await {
                drop(Object::take(client));
            }
        }
    }
}

/// BEGIN and the chain lock, sent with the first reads.
static LOCK: LazyLock<String> =
    LazyLock::new(|| format!("BEGIN; SELECT pg_advisory_xact_lock({CHAIN_LOCK})"));
/// The same and a first savepoint, for a batch replayed one by one.
static LOCK_AND_SAVEPOINT: LazyLock<String> = LazyLock::new(|| format!("{}; SAVEPOINT w", *LOCK));
/// A savepoint nested in the last: releasing it would be a command more
/// for nothing (COMMIT releases them all; a batch stays within 64).
const NEXT: &str = "SAVEPOINT w";
const UNDO: &str = "ROLLBACK TO w";

/// One transaction: the jobs taken, then every job that arrived while it
/// was open (waiting for the chain lock, most of all, when another replica
/// holds it), up to [`MAX_BATCH`].
async fn group(
    pool: &Pool,
    mut jobs: Vec<Box<dyn Job>>,
    rx: &mut mpsc::Receiver<Box<dyn Job>>,
    changes: &broadcast::Sender<Arc<ChangeSet>>,
    counters: &Counters,
) {
    let client = match pool.get().await {
        Ok(c) => c,
        Err(e) => return fail_all(jobs, &StoreError::from(e).to_string()),
    };
    let mut changed = Vec::new();
    let mut committed = read_ahead(&client, &mut jobs, rx, &mut changed).await;
    if committed.is_err() {
        // Whose statement failed is not known: the same writes again, each
        // under a savepoint of its own.
        let _ = client.batch_execute("ROLLBACK").await;
        counters.replays.fetch_add(1, Ordering::Relaxed);
        changed.clear();
        committed = one_by_one(&client, &mut jobs, &mut changed).await;
    }
    match &committed {
        Ok(head) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters
                .writes
                .fetch_add(jobs.len() as u64, Ordering::Relaxed);
            if !changed.is_empty() {
                let _ = changes.send(Arc::new(ChangeSet {
                    head_seq: *head,
                    proposals: changed,
                    reset: false,
                }));
            }
        }
        Err(_) => {
            // Leaves the connection clean for the pool (or it is dropped).
            let _ = client.batch_execute("ROLLBACK").await;
        }
    }
    let outcome = committed.map(drop).map_err(|e| e.to_string());
    for job in jobs {
        job.answer(&outcome);
    }
}

/// The batch in two flights: every write's reads, then every write's
/// statements and COMMIT. Jobs that arrive meanwhile join, their reads a
/// flight of their own. Returns the head committed.
async fn read_ahead(
    client: &Object,
    jobs: &mut Vec<Box<dyn Job>>,
    rx: &mut mpsc::Receiver<Box<dyn Job>>,
    changed: &mut Vec<String>,
) -> Result<i64, StoreError> {
    let mut tx = PgTx::holding_chain_lock(client);
    tx.hold_writes();
    tx.before_next(LOCK.as_str());
    let mut from = 0;
    while from < jobs.len() {
        let mut reads = Vec::new();
        if tx.head.is_none() {
            reads.push(reads_of::head());
        }
        let counts: Vec<usize> = jobs[from..]
            .iter()
            .map(|job| {
                let mine = job.reads();
                let n = mine.len();
                reads.extend(mine);
                n
            })
            .collect();
        let rows = tx.read_ahead(&reads).await?;
        let mut fetched = reads.into_iter().zip(rows);
        if tx.head.is_none() {
            let rows = fetched
                .next()
                .and_then(|(_, rows)| rows)
                .unwrap_or_default();
            let heads = rows.iter().map(|r| ops::head_row(r));
            tx.head = Some(ops::head_of(heads.collect::<Result<_, _>>()?));
        }
        // Keys and ids of the writes before, in this flight's batch.
        let mut named = HashSet::new();
        for (job, n) in jobs[from..].iter_mut().zip(counts) {
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
            let ok = job.run(&mut tx, &mut mine).await;
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
                tx.drop_held(mark);
                tx.head = head;
            }
        }
        from = jobs.len();
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
    }
    commit(&mut tx, changed).await
}

/// The batch one write at a time, each under a savepoint, so that a
/// statement that fails rolls back only its own write.
async fn one_by_one(
    client: &Object,
    jobs: &mut [Box<dyn Job>],
    changed: &mut Vec<String>,
) -> Result<i64, StoreError> {
    let mut tx = PgTx::holding_chain_lock(client);
    tx.before_next(LOCK_AND_SAVEPOINT.as_str());
    jobs.iter_mut().for_each(|j| j.forget());
    for job in jobs.iter_mut() {
        let mut mine = Vec::new();
        let head = tx.head.clone();
        let ok = job.run(&mut tx, &mut mine).await;
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
    commit(&mut tx, changed).await
}

/// Notifies every replica (delivered on commit) and commits; returns the
/// head committed.
async fn commit(tx: &mut PgTx<'_, Object>, changed: &[String]) -> Result<i64, StoreError> {
    let head = ops::head(tx).await?.seq;
    let notify = (!changed.is_empty()).then(|| (listen::CHANNEL, listen::payload(head, changed)));
    tx.commit(notify).await?;
    Ok(head)
}
