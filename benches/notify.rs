//! Do notifications slow the gate down? Signed decisions over loopback HTTP
//! with no sink, with a webhook sink whose receiver answers at once, and
//! with one whose receiver accepts connections and never answers (each
//! attempt waits out its timeout). Printed side by side in one run.
//!
//! `cargo bench --bench notify` (env: BENCH_SECS, BENCH_CLIENTS).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops at a broken set-up"
)]

use countersign::client::ApiClient;
use countersign::config::FileConfig;
use countersign::domain::types::TokenRole;
use countersign::server::auth::new_token;
use countersign::server::serve::NotifySettings;
use countersign::server::store::ops::DeliveryStats;
use countersign::server::store::sqlite::SqliteStore;
use countersign::server::store::{NewToken, Store};
use ssh_key::PrivateKey;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{env_num, key, percentile};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Accepts connections and never answers.
async fn silent_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    url
}

/// Answers 204 at once.
async fn fast_receiver() -> String {
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn sinks(url: Option<&str>) -> NotifySettings {
    let Some(url) = url else {
        return NotifySettings::default();
    };
    let text = format!(
        "[[notify]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"{url}/\"\nsecret = \"{SECRET}\"\ntimeout_secs = 10\n"
    );
    NotifySettings {
        sinks: FileConfig::parse(&text, "bench").unwrap().notify,
        ..NotifySettings::default()
    }
}

/// Decisions by `clients` people for `secs`: (decisions/s, p50 ms, p99 ms).
async fn run(notify: NotifySettings, clients: usize, secs: u64) -> (f64, f64, f64, u64) {
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("countersign.db")).unwrap());
    let (token, hash) = new_token();
    store
        .run(NewToken::unlimited(
            "bench-agent",
            TokenRole::Agent,
            hash,
            0,
        ))
        .await
        .unwrap();
    let keys: Vec<(String, PrivateKey)> = (0..clients)
        .map(|i| (format!("analyst{i}"), key()))
        .collect();
    let signers: String = keys
        .iter()
        .map(|(n, k)| format!("{n} {}\n", k.public_key().to_openssh().unwrap()))
        .collect();
    let server = common::serve_notifying(store.clone(), &signers, key(), notify).await;
    let url = server.url();
    let agent = ApiClient::new(&url, Some(token)).unwrap();
    let per_client = 3_000;
    let mut work: Vec<Vec<(String, String)>> = vec![Vec::new(); clients];
    let mut n = 0;
    let mut a = 0;
    while n < clients * per_client {
        let r = agent
            .submit_alert(&common::alert(&format!("n-{a}"), 32))
            .await
            .unwrap();
        for p in r.proposals {
            work[n % clients].push((p.id, p.digest));
            n += 1;
        }
        a += 1;
    }
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = keys
        .into_iter()
        .zip(work)
        .map(|((name, k), items)| {
            let url = url.clone();
            tokio::spawn(async move {
                let signer = countersign::signing::signer::Signer::from_key(k);
                let mut c = ApiClient::new(&url, None).unwrap();
                c.login(&name, &signer).await.unwrap();
                let mut lat = Vec::new();
                for (id, digest) in items {
                    if Instant::now() >= until {
                        break;
                    }
                    let d = countersign::signing::payload::DecisionDraft {
                        target: countersign::signing::payload::Target::Proposal(id),
                        digest,
                        verdict: countersign::signing::payload::PayloadVerdict::Approve,
                        reason: String::new(),
                        labels: vec![],
                        review: Default::default(),
                        revert_digest: None,
                        amend: None,
                        amended_digest: None,
                        contain_until: None,
                    }
                    .sign(&name, countersign::domain::time::now_millis(), &signer)
                    .unwrap()
                    .decision;
                    let t = Instant::now();
                    if c.post_decision(&d).await.is_ok() {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pending = store
        .run(DeliveryStats)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.state == "pending")
        .map(|c| c.n as u64)
        .sum();
    server.stop().await.unwrap();
    (
        lat.len() as f64 / elapsed,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        pending,
    )
}

fn main() {
    let secs = env_num("BENCH_SECS", 5);
    let clients = env_num("BENCH_CLIENTS", 16) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "countersign notification benchmark ({} cores, {secs} s per phase, {clients} people deciding)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    rt.block_on(async {
        let fast = fast_receiver().await;
        let silent = silent_receiver().await;
        for (label, url) in [
            ("no sink (baseline)", None),
            ("webhook, receiver answers at once", Some(fast.as_str())),
            ("webhook, receiver never answers", Some(silent.as_str())),
        ] {
            let (rate, p50, p99, pending) = run(sinks(url), clients, secs).await;
            println!(
                "{label:<36} {rate:>7.0} decisions/s  p50 {p50:>6.1} ms  p99 {p99:>6.1} ms  ({pending} deliveries undelivered at the end)"
            );
        }
    });
}
