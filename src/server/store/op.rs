//! One operation, written once for both backends. An [`Op`] says where it
//! runs (its [`Lane`]), what a batching writer may read for it ahead, and
//! how it runs over any [`Tx`]; callers say `store.run(op)`. A backend
//! implements only how each lane's transaction begins, runs a [`Job`] and
//! ends, so a new operation touches no backend and no trait.
//!
//! Below the backends' own modules, above their `Tx`: a job runs in
//! either backend's transaction type.

use super::postgres::tx::PgTx;
use super::sql::{Dialect, Read};
use super::sqlite::tx::SqliteTx;
use super::tx::{Tx, block_now};
use crate::workflow::StoreError;
use deadpool_postgres::Object;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Where an operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Appends to the audit chain, or changes what chained writes read
    /// (proposals, alerts, nonces, freezes): through the one writer, in its
    /// next group commit, holding the chain lock (PostgreSQL).
    Chain,
    /// Changes rows no chained write reads (tokens, challenges, sessions,
    /// the outbox): in a write transaction, without the chain lock
    /// (SQLite's one writer still runs it, in its next group commit).
    Plain,
    /// Reads only, beside the writer.
    Read,
}

/// An operation on the store.
pub trait Op: Send + Sync + 'static {
    type Out: Send + 'static;

    /// Where it runs.
    const LANE: Lane;

    /// Reads that must agree with each other (a read-only snapshot).
    const SNAPSHOT: bool = false;

    /// A sweep that must read each deadline off its own index, whatever
    /// the planner's statistics say (PostgreSQL: `BY_INDEX`).
    const BY_INDEX: bool = false;

    /// [`Lane::Read`]: one row found by a unique key, asked on every
    /// request (a token, a session). SQLite runs it on the caller's
    /// thread when an open read connection is free: the read takes a few
    /// microseconds, handing it to a blocking thread and back costs more.
    const POINT: bool = false;

    /// [`Lane::Chain`]: the reads it starts with, in order, so that a
    /// writer may run the reads of a whole batch in one flight.
    fn reads(&self, _: Dialect) -> Vec<Read> {
        Vec::new()
    }

    /// [`Lane::Chain`]: what it is about beyond the ids of the rows it
    /// reads (see [`nonce_key`], [`id_key`]): two writes of one batch that
    /// share a key are not run on rows read before either ran.
    fn keys(&self) -> Vec<String> {
        Vec::new()
    }

    /// Runs it; the ids of the proposals it changed go to `changed` (the
    /// long-polls waiting on them wake after the commit).
    fn run<T: Tx>(
        &self,
        tx: &mut T,
        changed: &mut Vec<String>,
    ) -> impl Future<Output = Result<Self::Out, StoreError>> + Send;
}

/// A proposal (or alert) a write is about ([`Op::keys`]).
pub fn id_key(id: &str) -> String {
    format!("id\0{id}")
}

/// A signed payload's nonce a write is about ([`Op::keys`]).
pub fn nonce_key(nonce: &str) -> String {
    format!("nonce\0{nonce}")
}

/// An operation waiting for its backend, with its caller: what a backend
/// is handed ([`super::Store::run_job`]).
pub trait Job: Send {
    fn lane(&self) -> Lane;
    fn snapshot(&self) -> bool;
    fn by_index(&self) -> bool;
    fn point(&self) -> bool;
    fn reads(&self, d: Dialect) -> Vec<Read>;
    fn keys(&self) -> Vec<String>;
    /// Runs in a SQLite transaction (the writer's, or a reader's), to its
    /// end on this thread; says whether it succeeded.
    fn run_sqlite(&mut self, tx: &mut SqliteTx<'_>, changed: &mut Vec<String>) -> bool;
    /// Runs in a PostgreSQL transaction (the writer's batch, or one of its
    /// own); says whether it succeeded.
    fn run_pg<'a>(
        &'a mut self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> BoxFuture<'a, bool>;
    /// Forgets the result of a transaction that was rolled back.
    fn forget(&mut self);
    /// Answers the caller once the transaction committed (or failed):
    /// a refusal with its own error, a success with the commit's outcome.
    fn answer(self: Box<Self>, committed: &Result<(), String>);
}

/// An [`Op`] as a [`Job`]: the op, its result once run, and its caller.
/// The caller keeps a second handle on the op, so that the op (a whole
/// submission, its documents) is freed on the caller's thread, not in the
/// one writer.
pub struct Pending<O: Op> {
    pub op: Arc<O>,
    result: Option<Result<O::Out, StoreError>>,
    reply: oneshot::Sender<Result<O::Out, StoreError>>,
}

impl<O: Op> Pending<O> {
    /// A job for `op`, and where its answer will come.
    pub fn new(op: Arc<O>) -> (Self, oneshot::Receiver<Result<O::Out, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            op,
            result: None,
            reply,
        };
        (job, answer)
    }

    /// Runs the op in `tx`, keeping its result; says whether it succeeded
    /// (its savepoint is kept).
    async fn run_in<T: Tx>(&mut self, tx: &mut T, changed: &mut Vec<String>) -> bool {
        let result = self.op.run(tx, changed).await;
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }
}

impl<O: Op> Job for Pending<O> {
    fn lane(&self) -> Lane {
        O::LANE
    }
    fn snapshot(&self) -> bool {
        O::SNAPSHOT
    }
    fn by_index(&self) -> bool {
        O::BY_INDEX
    }
    fn point(&self) -> bool {
        O::POINT
    }
    fn reads(&self, d: Dialect) -> Vec<Read> {
        self.op.reads(d)
    }
    fn keys(&self) -> Vec<String> {
        self.op.keys()
    }
    fn run_sqlite(&mut self, tx: &mut SqliteTx<'_>, changed: &mut Vec<String>) -> bool {
        match block_now(async { Ok(self.run_in(tx, changed).await) }) {
            Ok(ok) => ok,
            Err(e) => {
                self.result = Some(Err(e));
                false
            }
        }
    }
    fn run_pg<'a>(
        &'a mut self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(self.run_in(tx, changed))
    }
    fn forget(&mut self) {
        self.result = None;
    }
    fn answer(self: Box<Self>, committed: &Result<(), String>) {
        let out = match (self.result, committed) {
            // A refusal stands whatever became of the others.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(why)) => Err(StoreError::Unavailable(why.clone())),
            (None, Ok(())) => Err(StoreError::Unavailable(
                "the write was not run; try again".into(),
            )),
        };
        // A caller that stopped waiting needs no answer.
        let _ = self.reply.send(out);
    }
}
