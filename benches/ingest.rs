//! Durable ingest and wake-up latency, printed as figures (not a timed test).
//!
//! `cargo bench --bench ingest` (options via env: BENCH_SECS, BENCH_AGENTS,
//! BENCH_STATEMENTS).
//!
//! 1. Baseline: one SQLite commit per row, WAL, `synchronous=FULL`, on the
//!    same disk: what an fsync-per-request server could do.
//! 2. countersign's durable ingest over loopback HTTP with 64 concurrent
//!    agents, each request acknowledged only after its group commit.
//! 3. Decision-to-agent wake-up latency with 100 agents long-polling.
//! 4. Small alerts from 16 agents, alone and then beside 2 other agents
//!    each sending, one after another, a `modify_policy` proposal whose
//!    `permission_change` holds two IAM policies of 1,000 statements
//!    (~12,000 lines each): what judging large permission changes costs
//!    everyone else's writes. The writer thread's CPU is shown per phase.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops at a broken set-up"
)]

use countersign::client::ApiClient;
use countersign::domain::machine::Actor;
use countersign::domain::policy::Policy;
use countersign::domain::time::now_millis;
use countersign::domain::types::{Role, TokenRole, Verdict};
use countersign::server::auth::new_token;
use countersign::server::store::sqlite::SqliteStore;
use countersign::server::store::{DecideCommand, NewToken, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::{baseline, cpu, env_num, iam, load, percentile};

fn alert(ext: &str) -> Value {
    common::alert(ext, 1)
}

fn main() {
    let secs = env_num("BENCH_SECS", 5);
    let agents = env_num("BENCH_AGENTS", 64);
    // Same disk as the default data dir: a directory under the working tree.
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    println!(
        "countersign ingest benchmark ({} cores, {secs} s per phase)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let base = baseline(dir.path(), secs);
    println!("baseline: one commit per row, synchronous=FULL     {base:>9.0} rows/s");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("countersign.db")).unwrap());
        let (token, hash) = new_token();
        store.run(NewToken::unlimited("bench-agent", TokenRole::Agent, hash, 0)).await.unwrap();
        let policy = Policy::builtin();
        let server = common::serve(store.clone(), "", common::key()).await;
        let url = server.url();

        // Phase 2: durable ingest.
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let until = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let before = store.write_stats();
        let cpu_before = cpu::sample();
        let (load_url, load_token) = (url.clone(), token.clone());
        let (sent, spent) = tokio::task::spawn_blocking(move || {
            let agents_runtime = load::Agents::new();
            let sent = agents_runtime.submit_until(&load_url, &load_token, agents, until);
            // Read while the agents' threads still live.
            (sent, cpu::sample().since(&cpu_before))
        })
        .await
        .unwrap();
        done.fetch_add(sent.accepted, Ordering::Relaxed);
        failed.fetch_add(sent.failed, Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        let rate = done.load(Ordering::Relaxed) as f64 / elapsed;
        let after = store.write_stats();
        let commits = after.commits - before.commits;
        let writes = after.writes - before.writes;
        println!(
            "durable ingest over HTTP, {agents} agents              {rate:>9.0} proposals/s  ({:.1}x baseline, {} errors)",
            rate / base,
            failed.load(Ordering::Relaxed)
        );
        println!(
            "  group commit: {:.0} commits/s carrying {:.1} writes each (one fsync per commit)",
            commits as f64 / elapsed,
            writes as f64 / commits.max(1) as f64
        );
        stages(&policy, &spent, done.load(Ordering::Relaxed), writes);

        // Phase 3: wake-up latency with 100 agents long-polling.
        let policy = Arc::new(policy);
        let client = ApiClient::new(&url, Some(token.clone())).unwrap();
        let mut waiting = Vec::new();
        for i in 0..100 {
            let r = client.submit_alert(&alert(&format!("wake-{i}"))).await.unwrap();
            let p = r.proposals[0].clone();
            let c = client.clone();
            let id = p.id.clone();
            let handle = tokio::spawn(async move {
                let v = c.decision(&id, 120).await.unwrap();
                assert!(v.decided);
                Instant::now()
            });
            waiting.push((p, handle));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut lat = Vec::new();
        for (p, handle) in waiting {
            let cmd = DecideCommand {
                proposal_id: p.id.clone(),
                actor: Actor::Person { principal: "alice".into(), role: Role::Analyst, key: None, hardware: false },
                verdict: Verdict::Approve,
                reason: String::new(),
                digest: p.digest.clone(),
                policy: policy.clone(),
                now: now_millis(),
                signed: None,
                group: None,
                amendment: None,
            };
            store.run(cmd).await.unwrap();
            let decided = Instant::now();
            let woke = handle.await.unwrap();
            lat.push(woke.saturating_duration_since(decided).as_secs_f64() * 1000.0);
        }
        lat.sort_by(f64::total_cmp);
        println!(
            "decision -> agent wake-up, 100 long-polls          p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(f64::NAN)
        );

        // Phase 4: small alerts beside large permission changes.
        let (policy_token, hash) = new_token();
        store.run(NewToken::unlimited("iam-agent", TokenRole::Agent, hash, 0)).await.unwrap();
        let statements = env_num("BENCH_STATEMENTS", 1_000) as usize;
        let change = Arc::new(iam::escalating_change(statements));
        let body = serde_json::to_vec(&policy_change("size", &change)).unwrap().len();
        println!(
            "small alerts beside large permission changes ({statements} statements, {} lines a side, {} KiB a request)",
            change.1.lines().count(),
            body / 1024
        );
        for large in [0, 2] {
            let mixed = Mixed { url: &url, small_token: &token, large_token: &policy_token };
            mixed.run(16, large, secs, change.clone()).await;
        }
        server.stop().await.unwrap();
    });
}

/// CPU per proposal by stage. The handler's stages are run alone, one
/// after another over the same small alerts on this thread (no I/O: their
/// time is their CPU); the writer's and the HTTP side's come from the
/// threads' CPU during the ingest phase (`spent`, over `proposals`
/// accepted and `writes` written).
fn stages(policy: &Policy, spent: &cpu::Ticks, proposals: u64, writes: u64) {
    use countersign::audit::chain;
    use countersign::domain::{digest, json, submission};
    use countersign::workflow::{self, SubmitCommand};
    let n = 5_000;
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| serde_json::to_vec(&alert(&format!("stage-{i}"))).unwrap())
        .collect();
    let policy = Arc::new(policy.clone());
    let sampler = Arc::new(countersign::domain::sample::Sampler::default());
    // One proposal at a time through every stage, each timed, nothing
    // kept: kept results would be fresh memory the kernel zeroes, which
    // the server, reusing its memory, does not pay.
    let mut spent_in = [0f64; 7];
    let mut head = chain::Head::genesis();
    for body in &bodies {
        let mut lap = Instant::now();
        let mut mark = |stage: usize| {
            let now = Instant::now();
            spent_in[stage] += (now - lap).as_secs_f64();
            lap = now;
        };
        json::check(body).unwrap();
        mark(0);
        let value = serde_json::from_slice::<Value>(body).unwrap();
        mark(1);
        let valid = submission::parse(value).unwrap();
        mark(2);
        digest::proposal_digest(&valid.alert_document, &valid.proposals[0].document).unwrap();
        mark(3);
        let command = SubmitCommand::new(
            "bench".into(),
            valid,
            policy.clone(),
            now_millis(),
            sampler.clone(),
        );
        mark(4);
        // Inside the writer: the rules' plan (records and entries), then
        // the chain (each entry's canonical JSON and link hash); the rest
        // of the writer's CPU is SQL and the commit.
        let plan = workflow::submit(&command, None, workflow::ByPolicy::Allowed).unwrap();
        mark(5);
        for e in &plan.writes.entries {
            let a = chain::append(&head, e).unwrap();
            head = chain::Head {
                seq: a.seq,
                hash: a.hash,
            };
        }
        mark(6);
    }
    let [walk, parse, validate, digests, judge, plan, chained] =
        spent_in.map(|t| t * 1e6 / bodies.len() as f64);
    let writer = cpu::per_write(spent.get("this: sqlite-writer"), writes);
    let checkpoints = cpu::per_write(spent.get("this: sqlite-checkpt"), writes);
    let tokio = cpu::per_write(spent.get("this: tokio-rt-worker"), proposals);
    let clients = cpu::per_write(spent.get("this: bench-client"), proposals);
    println!("  CPU per proposal by stage (µs):");
    println!(
        "    handler, one thread alone: I-JSON walk {walk:.1} | parse {parse:.1} | validate {validate:.1} (of it digest {digests:.1}) | risk and rule {judge:.1}"
    );
    println!(
        "    writer, one thread alone: the rules' plan {plan:.1} | the chain (canonical JSON, link hash) {chained:.1}"
    );
    println!(
        "    during the ingest: store writer {writer:.1} a write (so SQL and the commit ~{:.1}) | WAL checkpointer {checkpoints:.1} a write | the server's tokio threads (HTTP, the handler stages) {tokio:.1} a proposal",
        writer - plan - chained
    );
    println!(
        "    the load generator (the 64 agents' HTTP, on the same cores): {clients:.1} a proposal"
    );
}

/// A `modify_policy` proposal with this change's before and after.
fn policy_change(ext: &str, change: &(String, String)) -> Value {
    let mut a = common::alert(ext, 1);
    a["proposals"][0] = json!({
        "action": "modify_policy",
        "target": "arn:aws:iam::111122223333:role/build",
        "risk": "medium",
        "rationale": "the build role needs to launch its runners",
        "permission_change": {"format": "json", "before": change.0, "after": change.1},
    });
    a
}

/// Latencies (ms) of the submissions that were accepted, and how many failed.
#[derive(Default)]
struct Tally {
    ms: Vec<f64>,
    failed: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ms.extend(other.ms);
        self.failed += other.failed;
    }

    fn line(&mut self, elapsed: f64) -> String {
        self.ms.sort_by(f64::total_cmp);
        format!(
            "{:>7.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({} errors)",
            self.ms.len() as f64 / elapsed,
            percentile(&self.ms, 0.5),
            percentile(&self.ms, 0.99),
            self.ms.last().copied().unwrap_or(f64::NAN),
            self.failed
        )
    }
}

/// Submits `body(i)` for i = 0, 1, … one after another until `until`.
async fn submit_until(client: ApiClient, until: Instant, body: impl Fn(u64) -> Value) -> Tally {
    let mut t = Tally::default();
    let mut i = 0;
    while Instant::now() < until {
        let doc = body(i);
        let sent = Instant::now();
        match client.submit_alert(&doc).await {
            Ok(_) => t.ms.push(sent.elapsed().as_secs_f64() * 1000.0),
            Err(_) => t.failed += 1,
        }
        i += 1;
    }
    t
}

/// Phase 4: two kinds of agents on one server.
struct Mixed<'a> {
    url: &'a str,
    small_token: &'a str,
    large_token: &'a str,
}

impl Mixed<'_> {
    /// `small` agents sending small alerts and `large` agents sending the
    /// permission change, for `secs`; prints both kinds' figures and the
    /// CPU the store's writer thread spent.
    async fn run(&self, small: u64, large: u64, secs: u64, change: Arc<(String, String)>) {
        let until = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let cpu_before = cpu::sample();
        let mut smalls = Vec::new();
        for a in 0..small {
            let client = ApiClient::new(self.url, Some(self.small_token.to_owned())).unwrap();
            smalls.push(tokio::spawn(submit_until(client, until, move |i| {
                alert(&format!("mixed-{large}-{a}-{i}"))
            })));
        }
        let mut larges = Vec::new();
        for a in 0..large {
            let client = ApiClient::new(self.url, Some(self.large_token.to_owned())).unwrap();
            let change = change.clone();
            larges.push(tokio::spawn(submit_until(client, until, move |i| {
                policy_change(&format!("iam-{a}-{i}"), &change)
            })));
        }
        let (mut s, mut l) = (Tally::default(), Tally::default());
        for t in smalls {
            s.merge(t.await.unwrap());
        }
        for t in larges {
            l.merge(t.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        let spent = cpu::sample().since(&cpu_before);
        let share = |what: &str| spent.get(what) as f64 / 100.0 / elapsed * 100.0;
        println!("  {small} small-alert agents, {large} large-change agents:");
        println!("    small alerts          {}", s.line(elapsed));
        if large > 0 {
            println!("    large changes         {}", l.line(elapsed));
        }
        println!(
            "    CPU: store writer thread {:.0}% of a core, tokio threads {:.0}%, machine busy {:.0}%",
            share("this: sqlite-writer"),
            share("this: tokio-rt-worker"),
            share("busy") / std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
        );
    }
}
