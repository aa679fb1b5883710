//! Signed decisions and offline audit verification, printed as figures.
//!
//! `cargo bench --bench decisions` (env: BENCH_SECS, BENCH_CLIENTS,
//! BENCH_VERIFY_ENTRIES).
//!
//! 1. Baseline: one SQLite commit per row, `synchronous=FULL`, same disk.
//! 2. Durable signed decisions over loopback HTTP, 32 concurrent clients
//!    (each a different person): sign, verify, state machine, chain append
//!    and fsync before the 201.
//! 3. `audit verify` (parse + chain + every signature) over 100,000 entries.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops at a broken set-up"
)]

use countersign::audit::verify::{parse_export, verify_log};
use countersign::client::ApiClient;
use countersign::domain::types::TokenRole;
use countersign::server::auth::new_token;
use countersign::server::store::sqlite::SqliteStore;
use countersign::server::store::{NewToken, Store};
use countersign::signing::allowed_signers::AllowedSigners;
use ssh_key::PrivateKey;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{baseline, env_num};

use common::key;

fn main() {
    let secs = env_num("BENCH_SECS", 5);
    let clients = env_num("BENCH_CLIENTS", 32) as usize;
    let verify_n = env_num("BENCH_VERIFY_ENTRIES", 100_000) as usize;
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    println!(
        "countersign decision benchmark ({} cores, {secs} s per phase)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let base = baseline(dir.path(), secs);
    println!("baseline: one commit per row, synchronous=FULL     {base:>9.0} rows/s");

    let keys: Vec<(String, PrivateKey)> = (0..clients)
        .map(|i| (format!("analyst{i}"), key()))
        .collect();
    let signers_text: String = keys
        .iter()
        .map(|(n, k)| format!("{n} {}\n", k.public_key().to_openssh().unwrap()))
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("countersign.db")).unwrap());
        let (token, hash) = new_token();
        store.run(NewToken::unlimited("bench-agent", TokenRole::Agent, hash, 0)).await.unwrap();
        let server = common::serve(store.clone(), &signers_text, key()).await;
        let url = server.url();

        // Enough pending proposals for every client: 32 per alert.
        let per_client = env_num("BENCH_PER_CLIENT", 2_000) as usize;
        let agent = ApiClient::new(&url, Some(token)).unwrap();
        let mut work: Vec<Vec<(String, String)>> = vec![Vec::new(); clients];
        let mut n = 0usize;
        let mut a = 0;
        while n < clients * per_client {
            let r = agent.submit_alert(&common::alert(&format!("d-{a}"), 32)).await.unwrap();
            for p in r.proposals {
                work[n % clients].push((p.id, p.digest));
                n += 1;
            }
            a += 1;
        }

        let before = store.write_stats();
        let until = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let tasks: Vec<_> = keys
            .iter()
            .cloned()
            .zip(work)
            .map(|((name, k), items)| tokio::spawn(common::approve_until(url.clone(), name, k, items, until)))
            .collect();
        let (mut done, mut failed) = (0, 0);
        for t in tasks {
            let (ok, bad, _) = t.await.unwrap();
            done += ok;
            failed += bad;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed;
        let after = store.write_stats();
        println!(
            "signed decisions over HTTP, {clients} clients                {rate:>9.0} decisions/s  ({:.1}x baseline, {} errors)",
            rate / base,
            failed
        );
        println!(
            "  group commit: {:.0} commits/s carrying {:.1} writes each",
            (after.commits - before.commits) as f64 / elapsed,
            (after.writes - before.writes) as f64 / (after.commits - before.commits).max(1) as f64
        );
        server.stop().await.unwrap();
    });

    // Phase 3: a 100,000-entry log, half received proposals with documents,
    // half signed approvals, written as an export file.
    let log = common::log::signed_log(verify_n, clients);
    let signers = AllowedSigners::parse(&log.signers, "bench").unwrap();
    let server_key = log.server_key;
    let file = dir.path().join("audit.jsonl");
    std::fs::write(&file, &log.text).unwrap();

    let started = Instant::now();
    let read = std::fs::read_to_string(&file).unwrap();
    let (entries, cps) = parse_export(&read).unwrap();
    let report = verify_log(
        &entries,
        &cps,
        &signers,
        Some(server_key.public_key()),
        countersign::audit::verify::every_core(),
    )
    .unwrap();
    let took = started.elapsed().as_secs_f64();
    println!(
        "audit verify: {} entries ({} signatures), {:.1} MB       {took:>9.2} s  (target <= 10 s)",
        report.entries,
        report.signed,
        read.len() as f64 / 1e6
    );
}
