//! Flights prepared whole before any of their requests is written: a
//! statement seen for the first time costs a round trip to prepare, and
//! one prepared on the fly is written only when its preparation is
//! answered, after whatever was sent meanwhile (`pg_notify` prepared on
//! the fly ran after the COMMIT it was sent before). Prepared first, every
//! request of a flight is written at its first poll, in order.

use super::batch_reads;
use super::merge;
use super::unnest::Bound;
use crate::audit::chain::Head;
use crate::server::store::StoreError;
use crate::server::store::sql::{Param, Read};
use deadpool_postgres::GenericClient;
use tokio_postgres::{Row, Statement};

/// Notifies the replicas; prepared, so that it runs in the flight of the
/// COMMIT and inside the transaction (unprepared, it waited for its own
/// parse to be answered and ran after the COMMIT, on its own).
const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// A transaction's last flight, its statements prepared.
pub(super) struct Commit {
    writes: Vec<(Statement, Bound)>,
}

impl Commit {
    /// `writes` (one statement per table) and `pg_notify(channel,
    /// payload)` when there is one, folded into one statement where they
    /// can be, and COMMIT, prepared. The transaction must not be in a
    /// failed state: a statement prepared now would be refused.
    pub async fn prepare<C: GenericClient + Sync>(
        client: &C,
        writes: Vec<(String, Bound)>,
        notify: Option<(&'static str, String)>,
    ) -> Result<Self, StoreError> {
        let notify = notify.map(|(channel, payload)| {
            let values = vec![Param::from(channel), Param::Text(payload)];
            (NOTIFY.to_owned(), Bound::One(values))
        });
        let writes = merge::fold(writes, notify);
        let mut prepared = Vec::with_capacity(writes.len());
        for (sql, bound) in writes {
            prepared.push((client.prepare_cached(&sql).await?, bound));
        }
        Ok(Commit { writes: prepared })
    }

    /// Writes every request at the first poll (nothing is left to
    /// prepare), in order, then reads the answers.
    pub async fn send<C: GenericClient + Sync>(self, client: &C) -> Result<(), StoreError> {
        let writes = futures_util::future::try_join_all(self.writes.iter().map(
            |(statement, bound)| async move { client.execute(statement, &bound.refs()).await },
        ));
        futures_util::future::try_join(writes, client.batch_execute("COMMIT")).await?;
        Ok(())
    }
}

/// A batch's reads, gathered ([`batch_reads`]) and prepared.
pub struct Reads {
    pub gathered: batch_reads::Gathered,
    statements: Vec<Statement>,
}

impl Reads {
    pub async fn prepare<C: GenericClient + Sync>(
        client: &C,
        reads: &[Read],
    ) -> Result<Self, StoreError> {
        let gathered = batch_reads::gather(reads);
        let mut statements = Vec::with_capacity(gathered.statements.len());
        for (sql, _) in &gathered.statements {
            statements.push(client.prepare_cached(sql).await?);
        }
        Ok(Reads {
            gathered,
            statements,
        })
    }

    /// `prefix` (simple protocol: BEGIN and the lock), then the reads, all
    /// written at the first poll; each read's rows, in order (`None`: not
    /// read ahead).
    pub async fn send<C: GenericClient + Sync>(
        self,
        client: &C,
        prefix: &'static str,
    ) -> Result<Vec<Option<Vec<Row>>>, StoreError> {
        let (_, rows) =
            futures_util::future::try_join(client.batch_execute(prefix), self.rows(client))
                .await
                .map_err(StoreError::from)?;
        batch_reads::scatter(self.gathered, rows)
    }

    /// BEGIN, the reads, then the chain lock if it is free and the head,
    /// all written at the first poll. The reads lock their rows before the
    /// chain lock is asked for, as every writer does: rows first, chain
    /// second, so that no two writers wait for each other. Each read's
    /// rows, and the head when the lock was taken.
    pub async fn send_trying_lock<C: GenericClient + Sync>(
        self,
        client: &C,
    ) -> Result<(Vec<Option<Vec<Row>>>, Option<Head>), StoreError> {
        // Prepared before the flight (a round trip the first time only).
        client.prepare_cached(super::chain::CHAIN_HEAD).await?;
        let (_, rows, head) = futures_util::future::try_join3(
            client.batch_execute("BEGIN"),
            self.rows(client),
            super::chain::chain_head(client, false),
        )
        .await?;
        Ok((batch_reads::scatter(self.gathered, rows)?, head))
    }

    /// The statements' rows (written at the first poll).
    pub async fn rows<C: GenericClient + Sync>(
        &self,
        client: &C,
    ) -> Result<Vec<Vec<Row>>, tokio_postgres::Error> {
        futures_util::future::try_join_all(self.statements.iter().zip(&self.gathered.statements).map(
            |(statement, (_, bound))| async move { client.query(statement, &bound.refs()).await },
        ))
        .await
    }
}
