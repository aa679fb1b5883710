//! The writes the PostgreSQL writer batches: each kind names the reads it
//! starts with, what it is about (so two writes of one batch that touch
//! the same thing are not run on rows read before either), and how it
//! runs; a [`Job`] is one of them waiting with its caller.

use super::tx::PgTx;
use crate::domain::machine::Millis;
use crate::domain::records::ProposalRecord;
use crate::server::store::ops::{self, Read, reads_of};
use crate::server::store::sql::Dialect;
use crate::server::store::{
    AnnotateCommand, AnnotateOutcome, ClaimCommand, DecideCommand, DecideOutcome, EndContainments,
    ExecutionCommand, ExtendCommand, FreezeCommand, FreezeOutcome, RevertCommand, RevertOutcome,
    StoreError, SubmitCommand, SubmitOutcome,
};
use deadpool_postgres::Object;
use futures_util::future::LocalBoxFuture;
use tokio::sync::oneshot;

const PG: Dialect = Dialect::Postgres;

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One kind of write: what it reads first, what it is about, how it runs.
pub(super) trait Op: Send + 'static {
    type Out: Send + 'static;

    /// The reads it starts with ([`reads_of`]), in order.
    fn reads(&self) -> Vec<Read>;

    /// What it is about, beyond the ids in the rows it reads: two writes
    /// of a batch that share a key or an id are not run on rows read
    /// before either ran.
    fn keys(&self) -> Vec<String>;

    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<Self::Out, StoreError>> + 'a;
}

pub(super) fn id_key(id: &str) -> String {
    format!("id\0{id}")
}

fn nonce_key(nonce: &str) -> String {
    format!("nonce\0{nonce}")
}

impl Op for SubmitCommand {
    type Out = SubmitOutcome;
    fn reads(&self) -> Vec<Read> {
        reads_of::submit(PG, self).into()
    }
    fn keys(&self) -> Vec<String> {
        let external = self.external_id();
        vec![format!("alert\0{}\0{external}", self.agent)]
    }
    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<SubmitOutcome, StoreError>> + 'a {
        ops::submit(tx, self, changed)
    }
}

impl Op for DecideCommand {
    type Out = DecideOutcome;
    fn reads(&self) -> Vec<Read> {
        let (nonce, proposal) = reads_of::decide(PG, self);
        nonce.into_iter().chain([proposal]).collect()
    }
    fn keys(&self) -> Vec<String> {
        let nonce = self.signed.as_ref().map(|s| nonce_key(&s.nonce));
        nonce
            .into_iter()
            .chain([id_key(&self.proposal_id)])
            .collect()
    }
    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<DecideOutcome, StoreError>> + 'a {
        ops::decide(tx, self, changed)
    }
}

impl Op for ExecutionCommand {
    type Out = ProposalRecord;
    fn reads(&self) -> Vec<Read> {
        vec![reads_of::proposal(PG, &self.proposal_id)]
    }
    fn keys(&self) -> Vec<String> {
        vec![id_key(&self.proposal_id)]
    }
    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<ProposalRecord, StoreError>> + 'a {
        ops::report_execution(tx, self, changed)
    }
}

impl Op for ClaimCommand {
    type Out = ProposalRecord;
    fn reads(&self) -> Vec<Read> {
        vec![reads_of::proposal(PG, &self.proposal_id)]
    }
    fn keys(&self) -> Vec<String> {
        vec![id_key(&self.proposal_id)]
    }
    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<ProposalRecord, StoreError>> + 'a {
        ops::claim(tx, self, changed)
    }
}

/// Reads nothing ahead: its reads (the nonce, every freeze) run when it
/// does, after the writes of its batch before it.
impl Op for FreezeCommand {
    type Out = FreezeOutcome;
    fn reads(&self) -> Vec<Read> {
        Vec::new()
    }
    fn keys(&self) -> Vec<String> {
        vec![nonce_key(&self.signed.nonce)]
    }
    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<FreezeOutcome, StoreError>> + 'a {
        ops::freeze(tx, self, changed)
    }
}

/// Reads ahead only its nonce and the proposal it reverts; the alerts
/// are read when it runs.
impl Op for RevertCommand {
    type Out = RevertOutcome;
    fn reads(&self) -> Vec<Read> {
        reads_of::revert(PG, &self.signed.nonce, &self.proposal_id).into()
    }
    fn keys(&self) -> Vec<String> {
        vec![nonce_key(&self.signed.nonce), id_key(&self.proposal_id)]
    }
    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<RevertOutcome, StoreError>> + 'a {
        ops::revert(tx, self, changed)
    }
}

impl Op for AnnotateCommand {
    type Out = AnnotateOutcome;
    fn reads(&self) -> Vec<Read> {
        reads_of::annotate(PG, self).into()
    }
    fn keys(&self) -> Vec<String> {
        vec![id_key(&self.alert_id), nonce_key(&self.signed.nonce)]
    }
    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        _: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<AnnotateOutcome, StoreError>> + 'a {
        ops::annotate(tx, self)
    }
}

/// The deadlines of these proposals, due at `now`.
pub(super) struct Settle {
    pub ids: Vec<String>,
    pub now: Millis,
}

impl Op for Settle {
    type Out = usize;
    fn reads(&self) -> Vec<Read> {
        reads_of::settle(PG, &self.ids)
    }
    fn keys(&self) -> Vec<String> {
        self.ids.iter().map(|id| id_key(id)).collect()
    }
    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<usize, StoreError>> + 'a {
        ops::settle(tx, &self.ids, self.now, changed)
    }
}

impl Op for ExtendCommand {
    type Out = DecideOutcome;
    fn reads(&self) -> Vec<Read> {
        reads_of::revert(PG, &self.signed.nonce, &self.proposal_id).into()
    }
    fn keys(&self) -> Vec<String> {
        vec![nonce_key(&self.signed.nonce), id_key(&self.proposal_id)]
    }
    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<DecideOutcome, StoreError>> + 'a {
        ops::extend(tx, self, changed)
    }
}

impl Op for EndContainments {
    type Out = usize;
    fn reads(&self) -> Vec<Read> {
        reads_of::settle(PG, &self.ids)
    }
    fn keys(&self) -> Vec<String> {
        self.ids.iter().map(|id| id_key(id)).collect()
    }
    fn run<'a>(
        &'a self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> impl Future<Output = Result<usize, StoreError>> + 'a {
        ops::end_containments(tx, self, changed)
    }
}

/// A write waiting in a batch, with its caller and (once run) its result.
pub(super) trait Job: Send {
    fn reads(&self) -> Vec<Read>;
    fn keys(&self) -> Vec<String>;
    /// Runs the write in the open transaction; says whether it succeeded.
    fn run<'a>(
        &'a mut self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> LocalBoxFuture<'a, bool>;
    /// Forgets the result of a transaction that was rolled back.
    fn forget(&mut self);
    /// Answers the caller, once the batch's COMMIT succeeded or failed.
    fn answer(self: Box<Self>, committed: &Result<(), String>);
}

pub(super) struct Pending<O: Op> {
    pub op: O,
    pub result: Option<Result<O::Out, StoreError>>,
    pub reply: Reply<O::Out>,
}

impl<O: Op> Job for Pending<O> {
    fn reads(&self) -> Vec<Read> {
        self.op.reads()
    }
    fn keys(&self) -> Vec<String> {
        self.op.keys()
    }
    fn run<'a>(
        &'a mut self,
        tx: &'a mut PgTx<'_, Object>,
        changed: &'a mut Vec<String>,
    ) -> LocalBoxFuture<'a, bool> {
        Box::pin(async move {
            let result = self.op.run(tx, changed).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
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
