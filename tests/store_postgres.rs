//! The same store suite against a real PostgreSQL server (a fresh database
//! per test). Without COUNTERSIGN_TEST_PG_URL it says "skipped" loudly.

mod common;

use common::store_suite as suite;

macro_rules! pg_tests {
    ($($name:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(store) = common::pg_store().await else { return };
            suite::$name(store).await;
        }
    )+};
}

pg_tests!(
    idempotent_and_revisions,
    decisions_follow_the_rules,
    deadlines_and_execution,
    auto_escalation,
    queue_views_and_cursor,
    tokens,
    concurrent_writers,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_safe_when_replicas_start_together() {
    let Some(admin) = common::pg_url() else {
        return;
    };
    let url = common::pg_fresh_db(&admin).await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let u = url.clone();
            tokio::spawn(async move {
                countersign::server::store::postgres::PgStore::open(&u)
                    .await
                    .map(|_| ())
            })
        })
        .collect();
    for o in opens {
        o.await.unwrap().expect("every replica starts");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_is_unavailable_not_a_panic() {
    let port = common::free_port();
    let err = countersign::server::store::postgres::PgStore::open(&format!(
        "postgres://postgres@127.0.0.1:{port}/x"
    ))
    .await
    .err()
    .expect("refused");
    assert!(
        matches!(err, countersign::server::store::StoreError::Unavailable(_)),
        "{err}"
    );
}
