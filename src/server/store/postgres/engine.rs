//! Migrations and the write helpers every `Store` method shares.

use super::{MIGRATION_LOCK, MIGRATIONS, rows};
use crate::audit::chain::NewEntry;
use crate::domain::records::{AuditEntry, ProposalRecord};
use crate::server::store::StoreError;
use deadpool_postgres::Pool;
use tokio_postgres::Transaction;

pub(super) async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool.get().await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = async {
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS countersign_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .await?;
        for (version, sql) in MIGRATIONS {
            let done = client
                .query_opt("SELECT 1 FROM countersign_migrations WHERE version = $1", &[version])
                .await?
                .is_some();
            if done {
                continue;
            }
            let pg: &mut tokio_postgres::Client = &mut client;
            let tx = pg.transaction().await?;
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO countersign_migrations (version, applied_at) VALUES ($1, $2)",
                &[version, &crate::domain::time::now_millis()],
            )
            .await?;
            tx.commit().await?;
        }
        Ok::<_, StoreError>(())
    }
    .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    result
}

/// Appends, stamps and writes, as the SQLite backend's `persist`.
pub(super) async fn persist(
    tx: &Transaction<'_>,
    changed: &mut Vec<String>,
    proposals: &mut [ProposalRecord],
    entries: &[NewEntry],
) -> Result<Option<AuditEntry>, StoreError> {
    let last = rows::append(tx, entries).await?;
    for p in proposals.iter_mut() {
        if let Some(a) = &last {
            p.change_seq = a.seq;
        }
        rows::upsert_proposal(tx, p).await?;
        changed.push(p.id.clone());
    }
    Ok(last)
}

pub(super) async fn load_locked(
    tx: &Transaction<'_>,
    id: &str,
) -> Result<ProposalRecord, StoreError> {
    rows::proposal_by_id(tx, id, true)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("proposal {id}")))
}
