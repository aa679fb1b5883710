//! Flights prepared whole before any of their requests is written: a
//! statement seen for the first time costs a round trip to prepare, and
//! one prepared on the fly is written only when its preparation is
//! answered, after whatever was sent meanwhile (`pg_notify` prepared on
//! the fly ran after the COMMIT it was sent before). Prepared first, every
//! request of a flight is written at its first poll, in order.

use super::gather;
use super::rows::Bound;
use crate::server::store::StoreError;
use crate::server::store::ops::Read;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

/// Notifies the replicas; prepared, so that it runs in the flight of the
/// COMMIT and inside the transaction (unprepared, it waited for its own
/// parse to be answered and ran after the COMMIT, on its own).
const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// A transaction's last flight, its statements prepared.
pub(super) struct Commit {
    prefix: Option<&'static str>,
    writes: Vec<(Statement, Bound)>,
    notify: Option<(Statement, &'static str, String)>,
}

impl Commit {
    /// `prefix` (simple protocol), `writes`, `pg_notify(channel, payload)`
    /// when there is one, and COMMIT, prepared.
    pub async fn prepare<C: GenericClient + Sync>(
        client: &C,
        prefix: Option<&'static str>,
        writes: Vec<(String, Bound)>,
        notify: Option<(&'static str, String)>,
    ) -> Result<Self, StoreError> {
        let mut prepared = Vec::with_capacity(writes.len());
        for (sql, bound) in writes {
            prepared.push((client.prepare_cached(&sql).await?, bound));
        }
        let notify = match notify {
            Some((channel, payload)) => {
                Some((client.prepare_cached(NOTIFY).await?, channel, payload))
            }
            None => None,
        };
        Ok(Commit {
            prefix,
            writes: prepared,
            notify,
        })
    }

    /// Writes every request at the first poll (nothing is left to
    /// prepare), in order, then reads the answers.
    pub async fn send<C: GenericClient + Sync>(self, client: &C) -> Result<(), StoreError> {
        let Commit {
            prefix,
            writes,
            notify,
        } = self;
        let prefix = async move {
            match prefix {
                Some(p) => client.batch_execute(p).await,
                None => Ok(()),
            }
        };
        let writes = futures_util::future::try_join_all(writes.iter().map(
            |(statement, bound)| async move { client.execute(statement, &bound.refs()).await },
        ));
        let notify = async {
            match &notify {
                Some((statement, channel, payload)) => {
                    let params: [&(dyn ToSql + Sync); 2] = [channel, payload];
                    client.execute(statement, &params).await.map(drop)
                }
                None => Ok(()),
            }
        };
        futures_util::future::try_join4(prefix, writes, notify, client.batch_execute("COMMIT"))
            .await?;
        Ok(())
    }
}

/// A batch's reads, gathered ([`gather`]) and prepared.
pub struct Reads {
    pub gathered: gather::Gathered,
    statements: Vec<Statement>,
}

impl Reads {
    pub async fn prepare<C: GenericClient + Sync>(
        client: &C,
        reads: &[Read],
    ) -> Result<Self, StoreError> {
        let gathered = gather::gather(reads);
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
        gather::scatter(self.gathered, rows)
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
