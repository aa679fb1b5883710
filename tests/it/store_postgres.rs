//! The same store suite against a real PostgreSQL server (a fresh database
//! per test). Without COUNTERSIGN_TEST_PG_URL it says "skipped" loudly.

use crate::common;
use countersign::server::store::ops::AuditHead;

use common::store_suite as suite;
use countersign::server::store::Store;
use countersign::server::store::postgres::{self, PgStore};
use std::sync::Arc;

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
    reminders_for_short_and_long_lifetimes,
    events_handed_over_as_written,
    queue_views_and_cursor,
    tokens,
    operations_written_outside_the_store,
    concurrent_writers,
    same_names_in_one_batch,
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

/// Migrations are numbered alike on both backends. A database migrated
/// under PostgreSQL's old numbers (1–9) is renumbered once at start, with
/// nothing applied twice, and its data kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_migration_numbers_are_renumbered_once() {
    let Some((store, url)) = common::pg_store_url().await else {
        return;
    };
    let versions = |db: tokio_postgres::Client| async move {
        db.query(
            "SELECT version FROM countersign_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, i32>(0))
        .collect::<Vec<i32>>()
    };
    let numbered_alike = vec![0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    assert_eq!(
        versions(common::pg_connect(&url).await).await,
        numbered_alike
    );
    let doc = common::alert(
        "old-numbers",
        vec![common::proposal("isolate_host", "high")],
    );
    suite::submit(&*store, "agent-1", doc, suite::T0)
        .await
        .unwrap();
    let head = store.run(AuditHead).await.unwrap();
    assert!(head.seq > 0);
    drop(store);
    // As a database migrated before the numbers were shared recorded them
    // (before freezes, amendments, timed containment, token lifetimes and
    // session keys, which it then gets).
    let db = common::pg_connect(&url).await;
    db.batch_execute(
        "DELETE FROM countersign_migrations WHERE version IN (0, 12, 13, 14, 15, 16);
         DROP TABLE freezes;
         ALTER TABLE sessions DROP COLUMN login_key;
         ALTER TABLE sessions DROP COLUMN sk_flags;
         ALTER TABLE tokens DROP COLUMN expires_at;
         ALTER TABLE tokens DROP COLUMN last_used_at;
         ALTER TABLE tokens DROP COLUMN scope;
         ALTER TABLE proposals DROP COLUMN amended;
         ALTER TABLE proposals DROP COLUMN contain_until;
         UPDATE countersign_migrations SET version = -version;
         UPDATE countersign_migrations SET version = CASE version
             WHEN -1 THEN 1 WHEN -4 THEN 2 WHEN -5 THEN 3 WHEN -6 THEN 4 WHEN -7 THEN 5
             WHEN -8 THEN 6 WHEN -9 THEN 7 WHEN -11 THEN 8 WHEN -10 THEN 9 END;",
    )
    .await
    .unwrap();
    assert_eq!(
        versions(common::pg_connect(&url).await).await,
        (1..=9).collect::<Vec<i32>>()
    );
    for _ in 0..2 {
        let reopened: &dyn Store = &PgStore::open(&url).await.expect("an old database opens");
        assert_eq!(reopened.run(AuditHead).await.unwrap(), head, "data kept");
        assert_eq!(
            versions(common::pg_connect(&url).await).await,
            numbered_alike
        );
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

/// Writes `text` as a file the PostgreSQL server owns, mode 0600 as it
/// wants for a key (COPY TO PROGRAM runs as the server's user).
async fn server_file(admin: &tokio_postgres::Client, path: &str, text: &str) {
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let sql = format!("COPY (SELECT unnest($1::text[])) TO PROGRAM 'umask 077 && cat > {path}'");
    // COPY takes no parameters: inline the array as a literal.
    let literal = format!(
        "ARRAY[{}]",
        lines
            .iter()
            .map(|l| format!("'{}'", l.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(",")
    );
    admin
        .batch_execute(&sql.replace("$1::text[]", &literal))
        .await
        .expect("write a file on the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_postgresql_verifies_the_server() {
    let Some(admin_url) = common::pg_url() else {
        return;
    };
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // A CA and a server certificate for 127.0.0.1, made here.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let data_dir: String = admin
        .query_one("SHOW data_directory", &[])
        .await
        .unwrap()
        .get(0);
    server_file(&admin, &format!("{data_dir}/cs-test.crt"), &cert.pem()).await;
    server_file(
        &admin,
        &format!("{data_dir}/cs-test.key"),
        &key.serialize_pem(),
    )
    .await;
    // One statement at a time: ALTER SYSTEM refuses a transaction block.
    for sql in [
        "ALTER SYSTEM SET ssl_cert_file = 'cs-test.crt'",
        "ALTER SYSTEM SET ssl_key_file = 'cs-test.key'",
        "ALTER SYSTEM SET ssl = on",
        "SELECT pg_reload_conf()",
    ] {
        admin.batch_execute(sql).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let db = common::pg_fresh_db(&admin_url).await;
    let db_name = db.rsplit('/').next().unwrap().to_owned();
    let tls_url = format!("{db}?sslmode=verify-full&sslrootcert={}", ca_file.display());
    // The reload takes a moment to reach new connections.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let store = loop {
        match countersign::server::store::postgres::PgStore::open(&tls_url).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    let store: std::sync::Arc<dyn countersign::server::store::Store> = std::sync::Arc::new(store);
    suite::tokens(store.clone()).await;
    let encrypted: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE s.ssl AND a.datname = $1",
            &[&db_name],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted > 0, "the store's connections are encrypted");
    // A CA that did not sign the server's certificate: refused, clearly.
    let other_ca = rcgen::CertifiedIssuer::self_signed(
        {
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            p
        },
        rcgen::KeyPair::generate().unwrap(),
    )
    .unwrap();
    let wrong = dir.path().join("wrong-ca.pem");
    std::fs::write(&wrong, other_ca.pem()).unwrap();
    let err = countersign::server::store::postgres::PgStore::open(&format!(
        "{db}?sslmode=verify-full&sslrootcert={}",
        wrong.display()
    ))
    .await
    .err()
    .expect("a wrong CA is refused");
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("certificate"),
        "names the certificate: {text}"
    );
    for sql in [
        "ALTER SYSTEM RESET ssl",
        "ALTER SYSTEM RESET ssl_cert_file",
        "ALTER SYSTEM RESET ssl_key_file",
        "SELECT pg_reload_conf()",
    ] {
        admin.batch_execute(sql).await.unwrap();
    }
}

/// A statement PostgreSQL refuses (here a trigger, as a constraint or a
/// full disk would) in the middle of a batch: whose it was is not known
/// when the batch's writes travel together, so the batch is rolled back
/// and run again one write at a time. Only the refused write fails;
/// every other is committed, once, on an intact chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_statement_fails_only_its_own_write() {
    let Some(admin) = common::pg_url() else {
        return;
    };
    let url = common::pg_fresh_db(&admin).await;
    let store = Arc::new(PgStore::open(&url).await.expect("open"));
    let db = common::pg_connect(&url).await;
    common::pg_refuse_alert(&db).await;
    let writes: Vec<_> = (0..41)
        .map(|i| {
            let s = store.clone();
            let name = if i == 20 {
                "refused".to_owned()
            } else {
                format!("ok-{i}")
            };
            tokio::spawn(async move {
                let doc = common::alert(&name, vec![common::proposal("isolate_host", "medium")]);
                (name, suite::submit(&*s, "bot", doc, suite::T0 + i).await)
            })
        })
        .collect();
    let mut ok = 0;
    for w in writes {
        let (name, result) = w.await.unwrap();
        match (name.as_str(), result) {
            ("refused", Err(_)) => {}
            ("refused", Ok(_)) => panic!("the refused write was committed"),
            (_, Ok(_)) => ok += 1,
            (name, Err(e)) => panic!("{name} failed with the refused one: {e}"),
        }
    }
    assert_eq!(ok, 40);
    assert!(
        store.write_stats().replays >= 1,
        "{:?}",
        store.write_stats()
    );
    // 40 alerts, one entry each, nothing twice.
    let stored: i64 = db
        .query_one("SELECT count(*) FROM alerts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 40);
    assert_eq!(suite::chain_ok(&*store).await, 40);
}

/// The writer's reads for many keys are planned while the tables are
/// young and their plans kept: each must look its keys up by index even
/// then (the plan for a join of the key set picked a sequential scan on an
/// empty table, and kept it at 20,000 rows: 1,300 blocks read per batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_for_many_keys_use_indexes_on_empty_tables() {
    use countersign::server::store::sql;
    let forms = [
        (sql::proposals_by_ids_sql(" FOR UPDATE"), 1),
        (sql::alerts_by_ids_sql(), 1),
        (sql::alerts_by_externals_sql(" FOR UPDATE"), 2),
        (sql::proposals_by_externals_sql(), 2),
        (sql::NONCES_SEEN.to_owned(), 1),
    ]
    .map(|(form, arrays)| {
        let types = vec!["text[]"; arrays].join(", ");
        let args = vec!["'{a,b}'"; arrays].join(", ");
        (form, types, args, true)
    });
    generic_plans_use_indexes(&forms, None).await;
}

/// The sweeps every replica runs four times a second (deadlines) and
/// every five seconds (reminders) look up by index, under the planner
/// settings they run with, and the deadlines' union is not hashed: planned
/// generically it expected a third of the table.
#[tokio::test]
async fn sweeps_use_indexes_and_do_not_hash() {
    use countersign::server::store::sql::{self, Dialect};
    let forms = [
        (sql::due_sql(Dialect::Postgres), "bigint", "1", true),
        (
            sql::expiring_sql(Dialect::Postgres, sql::PROPOSAL_COLS),
            "bigint, float8",
            "1, 0.75",
            true,
        ),
    ]
    .map(|(form, types, args, no_scan)| (form, types.to_owned(), args.to_owned(), no_scan));
    generic_plans_use_indexes(&forms, Some(postgres::BY_INDEX)).await;
}

/// Statistics lag a table that changes fast. Planned while the proposals
/// table was small, the deadline sweep scanned it for sampled reviews
/// (and kept that generic plan as it grew); planned on statistics taken
/// before any approval, it read every approved proposal through the
/// status index to find the lapsed ones, then sorted them. Each took 10-20
/// ms under load, four times a second on every replica. Here the sweeps'
/// plans are made on a small table, the table grows by 30,000 proposals
/// (most approved, none due) unanalyzed, and each sweep, planned
/// generically and for its arguments, must read a handful of blocks.
#[tokio::test]
async fn sweeps_stay_on_their_indexes_when_statistics_lag() {
    use countersign::server::store::sql::{self, Dialect};
    let Some((_store, db)) = migrated_db().await else {
        return;
    };
    let now = countersign::domain::time::now_millis();
    let hour = 3_600_000_i64;
    // Statistics and plans from a small table of pending proposals.
    db.batch_execute(&format!(
        "ALTER TABLE proposals SET (autovacuum_enabled = off); \
         INSERT INTO alerts (id, agent, external_id, source, severity, title, entity_kind, \
           entity_id, confidence, revision, created_at, updated_at, document) \
         VALUES ('a', 'agent', 'x', 'edr', 'high', 't', 'host', 'h', 0.5, 1, {now}, {now}, '{{}}'); \
         {}; ANALYZE proposals",
        insert_proposals(0, 200, "pending", now, hour)
    ))
    .await
    .expect("seed");
    let forms = [
        (
            "due",
            sql::due_sql(Dialect::Postgres),
            "bigint",
            format!("{now}"),
        ),
        (
            "expiring",
            sql::expiring_sql(Dialect::Postgres, sql::PROPOSAL_COLS),
            "bigint, float8",
            format!("{now}, 0.75"),
        ),
    ];
    let run = |mode: &'static str, name: &'static str, args: String| {
        let db = &db;
        async move {
            let out = db
                .simple_query(&format!(
                    "SET plan_cache_mode = {mode}; BEGIN; {}; \
                     EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}_{mode} ({args}); COMMIT",
                    postgres::BY_INDEX
                ))
                .await
                .expect("explain");
            out.iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                    _ => None,
                })
                .expect("a plan")
        }
    };
    let modes = ["force_generic_plan", "force_custom_plan"];
    for (name, form, types, args) in &forms {
        for mode in modes {
            db.batch_execute(&format!("PREPARE {name}_{mode} ({types}) AS {form}"))
                .await
                .expect("prepare");
            // Planned now, on the small table (the generic plan is kept).
            run(mode, name, args.clone()).await;
        }
    }
    db.batch_execute(&format!(
        "{}; {}",
        insert_proposals(200, 25_000, "approved", now, hour),
        insert_proposals(25_000, 30_000, "pending", now, hour)
    ))
    .await
    .expect("grow");
    for (name, _, _, args) in &forms {
        for mode in modes {
            let plan = run(mode, name, args.clone()).await;
            let json: serde_json::Value = serde_json::from_str(&plan).expect("plan json");
            let top = &json[0]["Plan"];
            let blocks = top["Shared Hit Blocks"].as_i64().unwrap_or(0)
                + top["Shared Read Blocks"].as_i64().unwrap_or(0);
            assert!(
                blocks < 100,
                "{name} ({mode}) read {blocks} blocks:\n{plan}"
            );
            assert!(!plan.contains("Seq Scan"), "{name} ({mode}):\n{plan}");
        }
    }
}

/// A fresh database migrated by a store, and a plain connection to it
/// (`None` without PostgreSQL).
async fn migrated_db() -> Option<(PgStore, tokio_postgres::Client)> {
    let admin = common::pg_url()?;
    let url = common::pg_fresh_db(&admin).await;
    let store = PgStore::open(&url).await.expect("open (migrates)");
    Some((store, common::pg_connect(&url).await))
}

/// Proposals `from..to` of alert `a`, in `status`, created `now` and
/// expiring in a `lifetime` (approved ones executable for as long).
fn insert_proposals(from: u32, to: u32, status: &str, now: i64, lifetime: i64) -> String {
    let execute_by = if status == "approved" {
        format!("{now} + {lifetime}")
    } else {
        "NULL".into()
    };
    format!(
        "INSERT INTO proposals (id, alert_id, idx, action, target, risk, status, digest, \
           document, proposed_by, rule, approvals, created_at, updated_at, expires_at, \
           execute_by, change_seq) \
         SELECT 'p' || i, 'a', i, 'isolate_host', 'h' || i, 'medium', '{status}', 'd', '{{}}', \
           'agent', 'default', '[]', {now}, {now}, {now} + {lifetime}, {execute_by}, i \
         FROM generate_series({from}, {} ) AS i",
        to - 1
    )
}

/// Each (statement, parameter types, arguments, whether no table may be
/// scanned) planned generically, as a statement prepared once is after a
/// few runs, on a fresh database: indexes, no hashing.
async fn generic_plans_use_indexes(
    forms: &[(String, String, String, bool)],
    settings: Option<&str>,
) {
    let Some((_store, db)) = migrated_db().await else {
        return;
    };
    db.batch_execute("SET plan_cache_mode = force_generic_plan")
        .await
        .expect("generic plans");
    if let Some(settings) = settings {
        // As the statements run: in a transaction with these settings.
        db.batch_execute(&format!("BEGIN; {settings}"))
            .await
            .expect("settings");
    }
    for (i, (form, types, args, no_scan)) in forms.iter().enumerate() {
        db.batch_execute(&format!("PREPARE f{i} ({types}) AS {form}"))
            .await
            .unwrap_or_else(|e| panic!("{form}: {e}"));
        let plan: Vec<String> = db
            .query(&format!("EXPLAIN EXECUTE f{i} ({args})"), &[])
            .await
            .expect("explain")
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        let plan = plan.join("\n");
        assert!(!(*no_scan && plan.contains("Seq Scan")), "{form}\n{plan}");
        assert!(!plan.contains("HashAggregate"), "{form}\n{plan}");
        assert!(plan.contains("Index"), "{form}\n{plan}");
    }
}
