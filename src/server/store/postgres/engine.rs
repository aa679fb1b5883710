//! Migrations, applied once however many replicas start together.

use super::{MIGRATION_LOCK, MIGRATIONS};
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
