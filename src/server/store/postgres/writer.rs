//! Group commit, one writer task per replica (as the SQLite engine does):
//! the writes that arrive while a transaction is in flight go into the
//! next one, which takes the chain lock once. Each write runs under a
//! savepoint, so a refusal rolls back only itself; the savepoint commands
//! travel with the next statement, and a write's own statements are
//! pipelined (`PgTx`), so the lock is held for a few round trips per
//! write, not for a transaction each. Every caller is answered after
//! COMMIT, with the commit's outcome.

use super::tx::PgTx;
use super::{CHAIN_LOCK, listen};
use crate::domain::machine::Millis;
use crate::domain::records::ProposalRecord;
use crate::server::store::{
    AnnotateCommand, AnnotateOutcome, ChangeSet, ClaimCommand, DecideCommand, DecideOutcome,
    ExecutionCommand, StoreError, SubmitCommand, SubmitOutcome, ops,
};
use deadpool_postgres::{GenericClient, Pool};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_postgres::types::ToSql;

/// Most writes in one transaction. PostgreSQL keeps 64 subtransaction ids
/// per backend in shared memory; past that every other session's
/// snapshots look them up on disk, so a batch stays within it.
const MAX_BATCH: usize = 64;
/// Writes waiting for the writer; past this, callers wait to enqueue.
const QUEUE: usize = 4096;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;
/// Answers one caller once the batch's COMMIT has succeeded or failed.
type Answer = Box<dyn FnOnce(Result<(), String>) + Send>;

/// One write, as the caller asked for it.
pub(super) enum Write {
    Submit(SubmitCommand, Reply<SubmitOutcome>),
    Decide(DecideCommand, Reply<DecideOutcome>),
    Execution(ExecutionCommand, Reply<ProposalRecord>),
    Claim(ClaimCommand, Reply<ProposalRecord>),
    Annotate(AnnotateCommand, Reply<AnnotateOutcome>),
    Settle(Vec<String>, Millis, Reply<usize>),
}

impl Write {
    /// Runs the write in the open transaction; says whether it succeeded
    /// and how to answer its caller after the commit.
    async fn run<C: GenericClient + Sync>(
        self,
        tx: &mut PgTx<'_, C>,
        changed: &mut Vec<String>,
    ) -> (bool, Answer) {
        match self {
            Write::Submit(cmd, r) => answer(ops::submit(tx, &cmd, changed).await, r),
            Write::Decide(cmd, r) => answer(ops::decide(tx, &cmd, changed).await, r),
            Write::Execution(cmd, r) => answer(ops::report_execution(tx, &cmd, changed).await, r),
            Write::Claim(cmd, r) => answer(ops::claim(tx, &cmd, changed).await, r),
            Write::Annotate(cmd, r) => answer(ops::annotate(tx, &cmd).await, r),
            Write::Settle(ids, now, r) => answer(ops::settle(tx, &ids, now, changed).await, r),
        }
    }

    /// Answers a write that never ran.
    fn fail(self, why: &str) {
        let e = || StoreError::Unavailable(why.to_owned());
        // A caller that stopped waiting needs no answer.
        match self {
            Write::Submit(_, r) => drop(r.send(Err(e()))),
            Write::Decide(_, r) => drop(r.send(Err(e()))),
            Write::Execution(_, r) => drop(r.send(Err(e()))),
            Write::Claim(_, r) => drop(r.send(Err(e()))),
            Write::Annotate(_, r) => drop(r.send(Err(e()))),
            Write::Settle(_, _, r) => drop(r.send(Err(e()))),
        }
    }
}

fn answer<T: Send + 'static>(result: Result<T, StoreError>, reply: Reply<T>) -> (bool, Answer) {
    match result {
        Ok(value) => (
            true,
            Box::new(move |committed| {
                let _ = reply.send(committed.map(|()| value).map_err(StoreError::Unavailable));
            }),
        ),
        Err(e) => (
            false,
            Box::new(move |_| {
                let _ = reply.send(Err(e));
            }),
        ),
    }
}

/// Transactions and writes committed, for `/metrics` and the benchmark.
#[derive(Default)]
pub(super) struct Counters {
    pub commits: AtomicU64,
    pub writes: AtomicU64,
}

pub(super) struct Writer {
    jobs: mpsc::Sender<Write>,
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
    pub(super) async fn call<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Write,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the database writer stopped before answering".into())
        })?
    }
}

/// Without a pool (its configuration was refused) every write is refused.
async fn refuse_all(mut rx: mpsc::Receiver<Write>, why: &str) {
    while let Some(job) = rx.recv().await {
        job.fail(why);
    }
}

async fn writer_loop(
    pool: Pool,
    mut rx: mpsc::Receiver<Write>,
    changes: broadcast::Sender<Arc<ChangeSet>>,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        // A task of its own: a panic in one write fails its batch (the
        // callers' channels close), not the writer.
        let run = tokio::spawn(group(pool.clone(), jobs, changes.clone(), counters.clone()));
        if let Err(e) = run.await {
            tracing::error!("a PostgreSQL write batch failed: {e}");
        }
    }
}

/// BEGIN, the chain lock and the first savepoint, sent with the first
/// write's first statement.
static BEGIN: LazyLock<String> =
    LazyLock::new(|| format!("BEGIN; SELECT pg_advisory_xact_lock({CHAIN_LOCK}); SAVEPOINT w"));
/// A savepoint nested in the last: releasing it would be a command more
/// for nothing (COMMIT releases them all; a batch stays within 64).
const NEXT: &str = "SAVEPOINT w";
const UNDO: &str = "ROLLBACK TO w";

async fn group(
    pool: Pool,
    jobs: Vec<Write>,
    changes: broadcast::Sender<Arc<ChangeSet>>,
    counters: Arc<Counters>,
) {
    let client = match pool.get().await {
        Ok(c) => c,
        Err(e) => {
            let why = StoreError::from(e).to_string();
            return jobs.into_iter().for_each(|j| j.fail(&why));
        }
    };
    let mut tx = PgTx::holding_chain_lock(&client);
    tx.before_next(BEGIN.as_str());
    let mut answers = Vec::with_capacity(jobs.len());
    let mut changed = Vec::new();
    let mut jobs = jobs.into_iter();
    for job in jobs.by_ref() {
        let mut mine = Vec::new();
        let head = tx.head.clone();
        let (ok, answer) = job.run(&mut tx, &mut mine).await;
        answers.push(answer);
        if tx.broken {
            break;
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
    let committed = if tx.broken {
        Err("PostgreSQL: the write transaction failed".to_owned())
    } else {
        commit(&client, &mut tx, &changed)
            .await
            .map_err(|e| e.to_string())
    };
    match &committed {
        Ok(head) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters
                .writes
                .fetch_add(answers.len() as u64, Ordering::Relaxed);
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
    let outcome = committed.map(|_| ());
    for answer in answers {
        answer(outcome.clone());
    }
    let why = outcome.err().unwrap_or_default();
    jobs.for_each(|j| j.fail(&why));
}

/// Notifies every replica (delivered on commit) and commits; returns the
/// head committed.
async fn commit<C: GenericClient + Sync>(
    client: &C,
    tx: &mut PgTx<'_, C>,
    changed: &[String],
) -> Result<i64, StoreError> {
    let head = ops::head(tx).await?.seq;
    if changed.is_empty() {
        client.batch_execute("COMMIT").await?;
    } else {
        let payload = listen::payload(head, changed);
        let params: [&(dyn ToSql + Sync); 2] = [&listen::CHANNEL, &payload];
        let notify = client.execute("SELECT pg_notify($1, $2)", &params);
        futures_util::future::try_join(notify, client.batch_execute("COMMIT")).await?;
    }
    Ok(head)
}
