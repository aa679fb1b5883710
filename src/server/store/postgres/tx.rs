//! [`Tx`] over a pooled client or transaction (values and rows: `types`).
//! Statements are prepared once per connection (the SQL text is a closed
//! set: `format!` only splices constant column lists), so each runs in one
//! round trip, and a batch of writes is pipelined.

use super::merge::{self, MERGE_MAX, merged};
use super::prepare::Commit;
use super::unnest;
use crate::audit::chain::Head;
use crate::server::store::SinkRoute;
use crate::server::store::StoreError;
use crate::server::store::sql::{Dialect, Param, Read};
use crate::server::store::tx::{RowMap, Tx};
use deadpool_postgres::GenericClient;
use std::sync::Arc;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// A pooled client (reads) or a transaction (writes, snapshots).
///
/// The group-commit writer uses three more things. A `prefix` (its
/// transaction and savepoint commands), sent in the same flight as the
/// next statement instead of a round trip of its own. Held writes: with
/// [`PgTx::hold_writes`], `execute_all` queues its statements to travel
/// with the next flight (reads that must see them, or the COMMIT), so a
/// write costs no round trip of its own. And rows read ahead: the reads of
/// a whole batch run in one flight ([`PgTx::read_ahead`]); the rows of the
/// write running now are set in `ahead` and served, once each, in place of
/// the same query.
pub struct PgTx<'a, C> {
    client: &'a C,
    prefix: Option<&'static str>,
    /// A statement failed where no savepoint can undo it alone (the
    /// prefix, or anything while writes are held): the transaction is
    /// unusable, not just the write that ran it.
    pub broken: bool,
    /// The chain head, kept by the writer while it holds the chain lock
    /// (`None` otherwise: asked for each time).
    pub head: Option<Head>,
    keeps_head: bool,
    /// Rows read ahead for the write running now.
    pub ahead: Vec<(Read, Vec<Row>)>,
    /// Statements not yet sent (`None`: each is sent when asked for).
    held: Option<Vec<(String, Vec<Param>)>>,
    /// Where this transaction's events go ([`Tx::routes`]).
    pub routes: Option<Arc<Vec<SinkRoute>>>,
}

impl<'a, C: GenericClient + Sync> PgTx<'a, C> {
    pub fn new(client: &'a C) -> Self {
        PgTx {
            client,
            prefix: None,
            broken: false,
            head: None,
            keeps_head: false,
            ahead: Vec::new(),
            held: None,
            routes: None,
        }
    }

    /// Undoes a refused write: forgets the statements it held (those
    /// since `mark`) and puts the head back to `head`.
    pub fn rewind(&mut self, mark: usize, head: Option<Head>) {
        self.drop_held(mark);
        self.head = head;
    }

    /// For a writer holding the chain lock for the whole transaction: the
    /// head is read once, then followed through this transaction's appends.
    pub fn holding_chain_lock(client: &'a C) -> Self {
        PgTx {
            keeps_head: true,
            ..Self::new(client)
        }
    }

    /// From now on `execute_all` holds its statements for the next flight.
    pub fn hold_writes(&mut self) {
        self.held.get_or_insert_with(Vec::new);
    }

    /// How many statements are held: a mark to [`PgTx::drop_held`] back to.
    pub fn held(&self) -> usize {
        self.held.as_ref().map_or(0, Vec::len)
    }

    /// Forgets the statements held since `mark` (a write that was refused
    /// after queuing some).
    pub fn drop_held(&mut self, mark: usize) {
        if let Some(held) = &mut self.held {
            held.truncate(mark);
        }
    }

    /// Commands (simple protocol, no parameters) to run before the next
    /// statement. If earlier ones were never sent (nothing ran since), they
    /// stay instead: the transaction is still where they expect it.
    pub fn before_next(&mut self, sql: &'static str) {
        self.prefix.get_or_insert(sql);
    }

    /// Sends the prefix, then the held statements, then `next`'s, before
    /// reading any answer. All the requests of the first two are written
    /// at their first poll, and `join` polls them before `next`, so the
    /// server runs them in that order.
    async fn flight<T>(
        &mut self,
        next: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StoreError> {
        let client = self.client;
        let prefix = self.prefix.take();
        let held = self.held.as_mut().map(std::mem::take).unwrap_or_default();
        let held = merge::fold(unnest::per_table(held), None);
        let holding = self.held.is_some();
        if prefix.is_none() && held.is_empty() {
            let out = next.await;
            self.broken |= holding && out.is_err();
            return Ok(out?);
        }
        // Prepared first (a round trip only the first time a shape is
        // seen), so that nothing waits once the flight is under way.
        let statements = match futures_util::future::try_join_all(
            held.iter().map(|(sql, _)| client.prepare_cached(sql)),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                self.broken = true;
                return Err(e.into());
            }
        };
        let prefix = async move {
            match prefix {
                Some(p) => client.batch_execute(p).await,
                None => Ok(()),
            }
        };
        let writes = futures_util::future::try_join_all(statements.iter().zip(&held).map(
            |(statement, (_, bound))| async move { client.execute(statement, &bound.refs()).await },
        ));
        let (before, out) =
            futures_util::future::join(futures_util::future::try_join(prefix, writes), next).await;
        if let Err(e) = before {
            self.broken = true;
            return Err(e.into());
        }
        self.broken |= holding && out.is_err();
        Ok(out?)
    }

    /// Sends the held writes (one statement per table), `pg_notify(channel,
    /// payload)` when there is one, and COMMIT, in one flight prepared
    /// whole first. Only an `Ok` means every one of them succeeded (after a
    /// failed statement PostgreSQL answers COMMIT by rolling back).
    pub async fn commit(
        &mut self,
        notify: Option<(&'static str, String)>,
    ) -> Result<(), StoreError> {
        let held = self.held.as_mut().map(std::mem::take).unwrap_or_default();
        let held = unnest::per_table(held);
        let out = async {
            // Pending commands first, on their own (a batch replayed write by
            // write, after a refused one: `ROLLBACK TO`): a statement
            // prepared in a failed transaction is refused.
            if let Some(prefix) = self.prefix.take() {
                self.client.batch_execute(prefix).await?;
            }
            Commit::prepare(self.client, held, notify)
                .await?
                .send(self.client)
                .await
        }
        .await;
        self.broken |= out.is_err();
        out
    }

    /// The rows read ahead for exactly this query, if any (served once).
    fn take_ahead(&mut self, sql: &str, params: &[Param]) -> Option<Vec<Row>> {
        let at = self
            .ahead
            .iter()
            .position(|(r, _)| r.sql == sql && r.params == params)?;
        Some(self.ahead.swap_remove(at).1)
    }
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl<C: GenericClient + Sync> Tx for PgTx<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn query<T>(
        &mut self,
        sql: &str,
        params: &[Param],
        map: RowMap<T>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = match self.take_ahead(sql, params) {
            Some(rows) => rows,
            None => {
                let client = self.client;
                self.flight(async move {
                    let statement = client.prepare_cached(sql).await?;
                    client.query(&statement, &refs(params)).await
                })
                .await?
            }
        };
        rows.iter().map(|r| map(r)).collect()
    }

    /// Always sent at once (its caller wants the count), after anything
    /// held.
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        let client = self.client;
        self.flight(async move {
            let statement = client.prepare_cached(sql).await?;
            client.execute(&statement, &refs(params)).await
        })
        .await
    }

    async fn query_pair<A: Send, B: Send>(
        &mut self,
        a: (&str, &[Param], RowMap<A>),
        b: (&str, &[Param], RowMap<B>),
    ) -> Result<(Vec<A>, Vec<B>), StoreError> {
        let (first, second) = match (self.take_ahead(a.0, a.1), self.take_ahead(b.0, b.1)) {
            (Some(first), Some(second)) => (first, second),
            _ => {
                let client = self.client;
                self.flight(async move {
                    let (sa, sb) = futures_util::future::try_join(
                        client.prepare_cached(a.0),
                        client.prepare_cached(b.0),
                    )
                    .await?;
                    let (pa, pb) = (refs(a.1), refs(b.1));
                    futures_util::future::try_join(client.query(&sa, &pa), client.query(&sb, &pb))
                        .await
                })
                .await?
            }
        };
        let first = first.iter().map(|r| (a.2)(r)).collect::<Result<_, _>>()?;
        let second = second.iter().map(|r| (b.2)(r)).collect::<Result<_, _>>()?;
        Ok((first, second))
    }

    fn known_head(&self) -> Option<Head> {
        self.head.clone()
    }

    fn set_head(&mut self, head: &Head) {
        if self.keeps_head {
            self.head = Some(head.clone());
        }
    }

    fn routes(&self) -> Option<&[SinkRoute]> {
        self.routes.as_deref().map(Vec::as_slice)
    }

    /// One statement when the batch is small (the hot paths: a decision,
    /// a one-proposal alert): the inserts become data-modifying CTEs of a
    /// single statement, so the server parses, plans and answers once.
    /// Bigger batches (their shapes vary too much to keep prepared) are
    /// pipelined instead. Held ([`PgTx::hold_writes`]) or sent now; either
    /// way the server runs them in order, and one failure fails the batch.
    async fn execute_all(&mut self, batch: &[(&str, Vec<Param>)]) -> Result<(), StoreError> {
        if let Some(held) = &mut self.held {
            // Sent with the batch's others, one statement per table.
            held.extend(batch.iter().map(|(sql, p)| ((*sql).to_owned(), p.clone())));
            return Ok(());
        }
        let statements: Vec<(String, Vec<Param>)> = if (2..=MERGE_MAX).contains(&batch.len()) {
            vec![merged(batch)]
        } else {
            batch
                .iter()
                .map(|(sql, params)| ((*sql).to_owned(), params.clone()))
                .collect()
        };
        let client = self.client;
        self.flight(async move {
            let mut prepared = Vec::with_capacity(statements.len());
            for (sql, _) in &statements {
                prepared.push(client.prepare_cached(sql).await?);
            }
            let runs =
                prepared
                    .iter()
                    .zip(&statements)
                    .map(|(statement, (_, params))| async move {
                        client.execute(statement, &refs(params)).await
                    });
            futures_util::future::try_join_all(runs).await?;
            Ok(())
        })
        .await
    }
}
