//! What a backend provides: run a statement, run a query and map its rows.
//! Everything else — which rows to load, the rules, what to write — is
//! written once over this trait (`ops`), so the backends cannot drift.
//!
//! SQLite's implementation is synchronous underneath: its futures are ready
//! at their first poll, and [`block_now`] runs them on the writer thread.

use super::sql::{Dialect, Param, SqlRow};
use super::{SinkRoute, StoreError};
use crate::audit::chain::Head;
use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Maps one row; a plain function so the trait stays simple.
pub type RowMap<T> = fn(&dyn SqlRow) -> Result<T, StoreError>;

/// `Send` with `Send` futures, so an operation written once over it runs
/// inside any task (SQLite's run on its own threads and never wait).
pub trait Tx: Send {
    fn dialect(&self) -> Dialect;

    fn query<T>(
        &mut self,
        sql: &str,
        params: &[Param],
        map: RowMap<T>,
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> + Send;

    /// Runs a statement; returns the rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Runs statements in order, stopping at the first error. A backend
    /// that can send them all before reading an answer does so.
    fn execute_all(
        &mut self,
        batch: &[(&str, Vec<Param>)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            for (sql, params) in batch {
                self.execute(sql, params).await?;
            }
            Ok(())
        }
    }

    /// Two independent queries; a backend that can pipeline sends both
    /// before reading either answer.
    fn query_pair<A: Send, B: Send>(
        &mut self,
        a: (&str, &[Param], RowMap<A>),
        b: (&str, &[Param], RowMap<B>),
    ) -> impl Future<Output = Result<(Vec<A>, Vec<B>), StoreError>> + Send {
        async move {
            let first = self.query(a.0, a.1, a.2).await?;
            Ok((first, self.query(b.0, b.1, b.2).await?))
        }
    }

    /// The audit chain's head when this transaction knows it without asking:
    /// a writer that holds the chain lock across several writes.
    fn known_head(&self) -> Option<Head> {
        None
    }

    /// The head after this transaction's own appends (ignored unless the
    /// backend keeps it).
    fn set_head(&mut self, _head: &Head) {}

    /// The sinks' routes, when the server running this transaction has
    /// given them: its notifiable events are then handed to the sinks in
    /// the same transaction. `None`: the dispatcher hands them over later.
    fn routes(&self) -> Option<&[SinkRoute]> {
        None
    }

    fn query_opt<T: Send>(
        &mut self,
        sql: &str,
        params: &[Param],
        map: RowMap<T>,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send {
        async move { Ok(self.query(sql, params, map).await?.into_iter().next()) }
    }
}

/// Runs a future that never waits (a SQLite `Tx` call chain) to its end on
/// this thread. One that does wait is an error, not a hang.
pub fn block_now<R>(f: impl Future<Output = Result<R, StoreError>>) -> Result<R, StoreError> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(StoreError::Internal(
            "a synchronous store operation tried to wait".into(),
        )),
    }
}
