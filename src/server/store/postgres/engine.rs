//! Migrations, applied once however many replicas start together.

use super::chain::MIGRATION_LOCK;
use super::{MIGRATIONS, NUMBERED_ALIKE, RENUMBERED};
use crate::server::store::StoreError;
use deadpool_postgres::Pool;

pub(super) async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool.get().await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = async {
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS countersign_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .await?;
        renumber(&mut client).await?;
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

/// Brings a database migrated under the old numbers (1–9, PostgreSQL's
/// own) to the numbers shared with SQLite, once; a new database is marked
/// as numbered alike before its first migration.
async fn renumber(client: &mut deadpool_postgres::Object) -> Result<(), StoreError> {
    let marked = client
        .query_opt(
            "SELECT 1 FROM countersign_migrations WHERE version = $1",
            &[&NUMBERED_ALIKE],
        )
        .await?
        .is_some();
    if marked {
        return Ok(());
    }
    let pg: &mut tokio_postgres::Client = client;
    let tx = pg.transaction().await?;
    // Out of the way first, so no new number meets an old one.
    tx.execute(
        "UPDATE countersign_migrations SET version = -version WHERE version > 1",
        &[],
    )
    .await?;
    for (old, new) in RENUMBERED {
        tx.execute(
            "UPDATE countersign_migrations SET version = $2 WHERE version = $1",
            &[&-old, new],
        )
        .await?;
    }
    let now = crate::domain::time::now_millis();
    tx.execute(
        "INSERT INTO countersign_migrations (version, applied_at) VALUES ($1, $2)",
        &[&NUMBERED_ALIKE, &now],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
