//! The store suite against a real SQLite file.

mod common;

use common::store_suite as suite;

macro_rules! sqlite_tests {
    ($($name:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            suite::$name(common::sqlite_store(&dir)).await;
        }
    )+};
}

sqlite_tests!(
    idempotent_and_revisions,
    decisions_follow_the_rules,
    deadlines_and_execution,
    auto_escalation,
    queue_views_and_cursor,
    tokens,
    concurrent_writers,
);

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let s = common::sqlite_store(&dir);
        let doc = common::alert("keep-1", vec![common::proposal("isolate_host", "medium")]);
        suite::submit(&*s, "bot", doc, suite::T0)
            .await
            .unwrap()
            .proposals[0]
            .id
            .clone()
    };
    let s = common::sqlite_store(&dir);
    assert!(s.proposal(&id).await.unwrap().is_some());
}
