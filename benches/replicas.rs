//! SQLite next to PostgreSQL with one and with two replicas, in one run:
//! durable ingest (64 agents) and signed decisions (32 clients); two
//! replicas again while CPU-burning processes (one per core, this binary
//! re-run as a burner) compete for the machine; how long an agent waiting
//! on one replica takes to wake after a decision is accepted on the other,
//! during the decision load; and the error window a client sees when one
//! of two replicas dies.
//!
//! The figures compared are taken in turn: each is measured in four
//! slices, a round holding one slice of each (the order reversed every
//! other round), so that this shared machine's drift over the run weighs
//! on all of them alike instead of on whichever ran last.
//!
//! `COUNTERSIGN_TEST_PG_URL=postgres://… cargo bench --bench replicas`
//! (`bash .ci/pg-start DIR PORT` starts a throwaway server). Without it,
//! only SQLite is measured. Env: BENCH_SECS (per figure).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops at a broken set-up"
)]

use countersign::client::ApiClient;
use countersign::domain::time::now_millis;
use countersign::domain::types::TokenRole;
use countersign::server::auth::new_token;
use countersign::server::serve::RunningServer;
use countersign::server::store::postgres::PgStore;
use countersign::server::store::sqlite::SqliteStore;
use countersign::server::store::{NewToken, Store};
use countersign::signing::signer::Signer;
use ssh_key::PrivateKey;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::cpu::{self, Ticks};
use common::env_num;

const CLIENTS: usize = 32;
const AGENTS: usize = 64;
/// Each figure is measured in this many slices, taken in turn with the
/// others'.
const ROUNDS: usize = 4;

use common::key;

/// Set by the parent on the CPU burners it starts: seconds to burn.
const BURN_ENV: &str = "COUNTERSIGN_BENCH_BURN_SECS";
/// The person whose decisions the wake-up probe times.
const PROBE: &str = "probe";

struct Setup {
    servers: Vec<RunningServer>,
    stores: Vec<Arc<dyn Store>>,
    token: String,
    keys: Vec<(String, PrivateKey)>,
    /// The deciding clients, logged in once (logins are rate-limited).
    people: Vec<ApiClient>,
    probe: PrivateKey,
    prober: ApiClient,
}

impl Setup {
    /// (commits, writes, batches replayed) over every replica so far.
    fn writes(&self) -> (u64, u64, u64) {
        self.stores.iter().fold((0, 0, 0), |(c, w, r), s| {
            let now = s.write_stats();
            (c + now.commits, w + now.writes, r + now.replays)
        })
    }
}

async fn setup(stores: Vec<Arc<dyn Store>>, keys: &[(String, PrivateKey)]) -> Setup {
    let probe = key();
    let signers: String = keys
        .iter()
        .chain([&(PROBE.to_owned(), probe.clone())])
        .map(|(n, k)| format!("{n} {}\n", k.public_key().to_openssh().unwrap()))
        .collect();
    let (token, hash) = new_token();
    stores[0]
        .run(NewToken::unlimited(
            "bench",
            TokenRole::Agent,
            hash,
            now_millis(),
        ))
        .await
        .unwrap();
    let server_key = key();
    let mut servers = Vec::new();
    for s in &stores {
        servers.push(common::serve(s.clone(), &signers, server_key.clone()).await);
    }
    let login = |url: String, name: String, key: PrivateKey| async move {
        let mut c = ApiClient::new(&url, None).unwrap();
        c.login(&name, &Signer::from_key(key)).await.unwrap();
        c
    };
    let mut people = Vec::new();
    for (i, (name, k)) in keys.iter().enumerate() {
        let url = servers[i % servers.len()].url();
        people.push(login(url, name.clone(), k.clone()).await);
    }
    let prober = login(servers[0].url(), PROBE.to_owned(), probe.clone()).await;
    Setup {
        servers,
        stores,
        token,
        keys: keys.to_vec(),
        people,
        probe,
        prober,
    }
}

/// Proposals submitted by 64 agents spread over the replicas for `slice`,
/// and the time it took.
async fn ingest(s: &Setup, slice: Duration, tag: &str) -> Tally {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + slice;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for a in 0..AGENTS {
        let c =
            ApiClient::new(&s.servers[a % s.servers.len()].url(), Some(s.token.clone())).unwrap();
        let (done, tag) = (done.clone(), tag.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < until {
                if c.submit_alert(&common::alert(&format!("{tag}-{a}-{i}"), 1))
                    .await
                    .is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Tally {
        done: done.load(Ordering::Relaxed),
        took: started.elapsed(),
        ..Tally::default()
    }
}

/// Proposals to approve, per deciding client: enough for `secs` at 5,000
/// decisions a second.
async fn work_for(s: &Setup, secs: u64, tag: &str) -> Vec<Vec<(String, String)>> {
    let agent = ApiClient::new(&s.servers[0].url(), Some(s.token.clone())).unwrap();
    let mut work: Vec<Vec<(String, String)>> = vec![Vec::new(); CLIENTS];
    let (mut n, mut a) = (0, 0);
    while n < 5_000 * secs as usize {
        let r = agent
            .submit_alert(&common::alert(&format!("{tag}-d-{a}"), 32))
            .await
            .unwrap();
        for p in r.proposals {
            work[n % CLIENTS].push((p.id, p.digest));
            n += 1;
        }
        a += 1;
    }
    work
}

/// Signed decisions from 32 clients spread over the replicas for `slice`
/// (each taking from its share of `work`), and the wake-up probe's
/// latencies (ms) taken meanwhile.
async fn decisions(
    s: &Setup,
    work: &mut [Vec<(String, String)>],
    slice: Duration,
    tag: &str,
) -> (Tally, Vec<f64>) {
    let until = Instant::now() + slice;
    let started = Instant::now();
    let tasks: Vec<_> = s
        .keys
        .iter()
        .cloned()
        .zip(work.iter_mut().map(std::mem::take))
        .zip(&s.people)
        .map(|(((name, k), items), c)| {
            tokio::spawn(common::approve_as(c.clone(), name, k, items, until))
        })
        .collect();
    let probe = tokio::spawn(wake_ups(s.probe_parts(), tag.to_owned(), until));
    let mut done = 0;
    for (t, rest) in tasks.into_iter().zip(work.iter_mut()) {
        let (ok, _, left) = t.await.unwrap();
        done += ok;
        *rest = left;
    }
    let took = started.elapsed();
    let tally = Tally {
        done,
        took,
        ..Tally::default()
    };
    (tally, probe.await.unwrap())
}

/// Writes done over time taken, summed over slices.
#[derive(Clone, Copy, Default)]
struct Tally {
    done: u64,
    took: Duration,
    /// Transactions committed and writes they carried (PostgreSQL).
    commits: u64,
    writes: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.done += other.done;
        self.took += other.took;
        self.commits += other.commits;
        self.writes += other.writes;
    }

    /// With the commits `s` made since it stood at `before`.
    fn batched(mut self, s: &Setup, before: (u64, u64, u64)) -> Self {
        let now = s.writes();
        self.commits = now.0 - before.0;
        self.writes = now.1 - before.1;
        self
    }

    fn per_commit(&self) -> f64 {
        self.writes as f64 / self.commits.max(1) as f64
    }

    fn rate(&self) -> f64 {
        self.done as f64 / self.took.as_secs_f64().max(1e-9)
    }
}

struct ProbeParts {
    submit_at: String,
    wait_at: String,
    token: String,
    key: PrivateKey,
    /// The person, logged in on `submit_at`.
    person: ApiClient,
}

impl Setup {
    /// The agent submits and the person decides on the first replica; the
    /// agent waits on the last (the other one, when there are two).
    fn probe_parts(&self) -> ProbeParts {
        ProbeParts {
            submit_at: self.servers[0].url(),
            wait_at: self.servers[self.servers.len() - 1].url(),
            token: self.token.clone(),
            key: self.probe.clone(),
            person: self.prober.clone(),
        }
    }
}

/// Until `until`, every ~50 ms: an agent submits one proposal and waits for
/// its decision on `wait_at`; once the wait is under way a person approves
/// it on `submit_at`. Each sample is the time from the approval's 201 to
/// the waiting agent's answer (0 when the answer came first).
async fn wake_ups(p: ProbeParts, tag: String, until: Instant) -> Vec<f64> {
    let signer = Signer::from_key(p.key);
    let agent = ApiClient::new(&p.submit_at, Some(p.token.clone())).unwrap();
    let waiter = ApiClient::new(&p.wait_at, Some(p.token)).unwrap();
    let person = p.person;
    let mut samples = Vec::new();
    let mut i = 0;
    while Instant::now() + Duration::from_millis(150) < until {
        i += 1;
        let Ok(r) = agent
            .submit_alert(&common::alert(&format!("{tag}-probe-{i}"), 1))
            .await
        else {
            continue;
        };
        let p = &r.proposals[0];
        let (id, digest) = (p.id.clone(), p.digest.clone());
        let w = waiter.clone();
        let wait_id = id.clone();
        let woke = tokio::spawn(async move {
            let answer = w.decision(&wait_id, 30).await;
            (Instant::now(), answer.is_ok())
        });
        // Long enough for the wait to be registered on the other replica.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let decided = common::approval(PROBE, id, digest, &signer);
        if person.post_decision(&decided).await.is_err() {
            continue;
        }
        let acked = Instant::now();
        let (at, ok) = woke.await.unwrap();
        if ok {
            samples.push(at.saturating_duration_since(acked).as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    samples
}

/// Starts one CPU-burning process per core (this binary, re-run), each
/// stopping by itself after `secs` should this one die first.
fn burners(secs: u64) -> Vec<std::process::Child> {
    let me = std::env::current_exe().unwrap();
    (0..cores())
        .map(|_| {
            std::process::Command::new(&me)
                .env(BURN_ENV, secs.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn stop(burners: &mut Vec<std::process::Child>) {
    for b in burners.iter_mut() {
        let _ = b.kill();
        let _ = b.wait();
    }
    burners.clear();
}

fn burn(secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut x: u64 = 1;
    while Instant::now() < until {
        for _ in 0..1_000_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
        }
        std::hint::black_box(x);
    }
}

fn wake_line(label: &str, samples: &mut [f64]) {
    samples.sort_by(f64::total_cmp);
    println!(
        "decision -> agent wake-up across replicas, {label}: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} samples; target p99 <= 50 ms)",
        common::percentile(samples, 0.5),
        common::percentile(samples, 0.99),
        samples.last().copied().unwrap_or(f64::NAN),
        samples.len()
    );
}

/// A fresh database on the server; returns its URL.
async fn fresh_pg(admin: &str) -> String {
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let name = format!("cs_bench_{}", countersign::signing::payload::new_nonce());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}

async fn replica(url: &str) -> Arc<dyn Store> {
    Arc::new(PgStore::open(url).await.unwrap())
}

/// One client round-robins over two replicas (as a load balancer would),
/// retrying on the other after a failure; one replica dies mid-run. The
/// window is first failure to first success after it.
async fn error_window(s: Setup) -> Option<Duration> {
    let urls: Vec<String> = s.servers.iter().map(|r| r.url()).collect();
    let clients: Vec<ApiClient> = urls
        .iter()
        .map(|u| ApiClient::new(u, Some(s.token.clone())).unwrap())
        .collect();
    let mut servers = s.servers;
    let victim = servers.pop().unwrap();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        victim.abort();
    });
    let mut first_fail: Option<Instant> = None;
    let mut window = None;
    let until = Instant::now() + Duration::from_secs(2);
    let mut i = 0;
    while Instant::now() < until {
        let c = &clients[i % 2];
        let doc = common::alert(&format!("win-{i}"), 1);
        match c.submit_alert(&doc).await {
            Ok(_) => {
                if let (Some(f), None) = (first_fail, window) {
                    window = Some(f.elapsed());
                }
            }
            Err(_) => {
                first_fail.get_or_insert_with(Instant::now);
                if clients[(i + 1) % 2].submit_alert(&doc).await.is_ok()
                    && let (Some(f), None) = (first_fail, window)
                {
                    window = Some(f.elapsed());
                }
            }
        }
        i += 1;
    }
    killer.await.unwrap();
    window
}

fn main() {
    if let Some(secs) = std::env::var(BURN_ENV).ok().and_then(|v| v.parse().ok()) {
        return burn(secs);
    }
    let secs = env_num("BENCH_SECS", 5);
    let keys: Vec<(String, PrivateKey)> = (0..CLIENTS)
        .map(|i| (format!("analyst{i}"), key()))
        .collect();
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "countersign replicas benchmark ({} cores, {secs} s per figure in {ROUNDS} interleaved slices, {AGENTS} agents / {CLIENTS} deciding clients)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    rt.block_on(async {
        let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("c.db")).unwrap());
        let mut setups = vec![setup(vec![sqlite], &keys).await];
        let mut dbs = vec![String::new()];
        let admin = std::env::var("COUNTERSIGN_TEST_PG_URL").ok().filter(|u| !u.is_empty());
        if let Some(admin) = &admin {
            let url = fresh_pg(admin).await;
            dbs.push(db_of(&url));
            setups.push(setup(vec![replica(&url).await], &keys).await);
            // Two replicas: each its own pool, writer, listener and
            // deadline sweep, on one database.
            let url = fresh_pg(admin).await;
            dbs.push(db_of(&url));
            setups.push(setup(vec![replica(&url).await, replica(&url).await], &keys).await);
        }
        // What is measured, in turn within each round (the order reversed
        // every other round), so that the machine's drift over the run
        // weighs on every figure alike: each setup, and the two replicas
        // again beside CPU burners (the last entry).
        let runs = setups.len() + usize::from(setups.len() == 3);
        let burning = |k: usize| k == 3;
        let on = |k: usize| k.min(setups.len() - 1);
        let slice = Duration::from_secs_f64(secs as f64 / ROUNDS as f64);
        let order = |round: usize| -> Vec<usize> {
            let mut o: Vec<usize> = (0..runs).collect();
            if round % 2 == 1 {
                o.reverse();
            }
            o
        };
        let mut ingested = vec![Tally::default(); runs];
        let mut ingest_cpu = vec![Ticks::default(); runs];
        for round in 0..ROUNDS {
            for k in order(round) {
                let mut burners = if burning(k) { burners(secs + 30) } else { Vec::new() };
                let before = cpu::sample();
                let s = &setups[on(k)];
                let at = s.writes();
                ingested[k].add(ingest(s, slice, &format!("i{k}-{round}")).await.batched(s, at));
                ingest_cpu[k] += &cpu::sample().since(&before);
                stop(&mut burners);
            }
        }
        let mut work = Vec::new();
        for (k, s) in setups.iter().enumerate() {
            work.push(work_for(s, secs * (1 + u64::from(k == 2)), &format!("w{k}")).await);
        }
        let mut decided = vec![Tally::default(); runs];
        let mut decide_cpu = vec![Ticks::default(); runs];
        let (mut quiet, mut busy) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            for k in order(round) {
                let mut burners = if burning(k) { burners(secs + 30) } else { Vec::new() };
                let before = cpu::sample();
                let s = &setups[on(k)];
                let at = s.writes();
                let (tally, samples) =
                    decisions(s, &mut work[on(k)], slice, &format!("d{k}-{round}")).await;
                let tally = tally.batched(s, at);
                decide_cpu[k] += &cpu::sample().since(&before);
                stop(&mut burners);
                decided[k].add(tally);
                match k {
                    2 => quiet.extend(samples),
                    3 => busy.extend(samples),
                    _ => {}
                }
            }
        }
        let (i, d) = (ingested[0].rate(), decided[0].rate());
        println!("SQLite, one server              ingest {i:>7.0} proposals/s   decisions {d:>7.0}/s");
        if admin.is_none() {
            println!("skipped: no PostgreSQL (set COUNTERSIGN_TEST_PG_URL)");
            return;
        }
        let (i1, d1) = (ingested[1].rate(), decided[1].rate());
        println!(
            "PostgreSQL, one replica         ingest {i1:>7.0} proposals/s   decisions {d1:>7.0}/s   ({:.2}x / {:.2}x SQLite; target >= 0.5x){}",
            i1 / i, d1 / d, per_commit(&setups[1])
        );
        let (i2, d2) = (ingested[2].rate(), decided[2].rate());
        println!(
            "PostgreSQL, two replicas        ingest {i2:>7.0} proposals/s   decisions {d2:>7.0}/s   ({:.2}x / {:.2}x one replica; target >= 1.0x){}",
            i2 / i1, d2 / d1, per_commit(&setups[2])
        );
        let (ic, dc) = (ingested[3].rate(), decided[3].rate());
        println!(
            "PostgreSQL, two replicas, with {} CPU burners beside   ingest {ic:>7.0} proposals/s   decisions {dc:>7.0}/s   ({:.2}x / {:.2}x quiet; target >= 0.5x)",
            cores(), ic / i2, dc / d2
        );
        let names = ["SQLite", "one replica", "two replicas", "two replicas, burners"];
        for (k, name) in names.iter().enumerate() {
            let db = &dbs[on(k)];
            cpu_line(&format!("{name}, ingest"), &ingest_cpu[k], ingested[k].done, db);
            cpu_line(&format!("{name}, decisions"), &decide_cpu[k], decided[k].done, db);
        }
        for (what, cpu, tally) in [("ingest", &ingest_cpu, &ingested), ("decisions", &decide_cpu, &decided)] {
            split_line(what, [(&cpu[1], &tally[1]), (&cpu[2], &tally[2])]);
        }
        wake_line("quiet", &mut quiet);
        wake_line("CPU burners beside", &mut busy);
        let two = setups.pop().unwrap();
        for s in setups {
            for srv in s.servers {
                srv.stop().await.unwrap();
            }
        }
        match error_window(two).await {
            Some(w) => println!("one of two replicas dies: error window seen by a retrying client {:.0} ms (target <= 1000 ms)", w.as_secs_f64() * 1000.0),
            None => println!("one of two replicas dies: no request failed"),
        }
    });
}

/// The database's name in a URL.
fn db_of(url: &str) -> String {
    url.rsplit_once('/').map_or("", |(_, d)| d).to_owned()
}

/// CPU per write over a figure's slices, by what spent it.
fn cpu_line(label: &str, t: &Ticks, writes: u64, db: &str) {
    let per = |n: i64| cpu::per_write(n, writes);
    let busy = t.get("busy");
    let all = busy + t.get("idle");
    let this: i64 =
        t.0.iter()
            .filter(|(k, _)| k.starts_with("this: "))
            .map(|(_, v)| v)
            .sum();
    let writer = t.get("this: postgres-writer");
    let backends = t.get(&format!("postgres: {db}"));
    let pg_all: i64 =
        t.0.iter()
            .filter(|(k, _)| k.starts_with("postgres"))
            .map(|(_, v)| v)
            .sum();
    println!(
        "CPU per write, {label}: {:.0} us busy = bench and HTTP threads {:.0} + writers {:.0} + PostgreSQL on this database {:.0} + other PostgreSQL {:.0} + the rest {:.0}; idle {:.0} %",
        per(busy),
        per(this - writer),
        per(writer),
        per(backends),
        per(pg_all - backends),
        per(busy - this - pg_all),
        100.0 * t.get("idle") as f64 / all.max(1) as f64,
    );
}

/// Busy CPU per write of one and of two replicas, split into what each
/// write costs and what each transaction costs: where the two differ.
fn split_line(what: &str, figures: [(&Ticks, &Tally); 2]) {
    let [one, two] =
        figures.map(|(t, tally)| (cpu::busy_per_write(t, tally.done), tally.per_commit()));
    let Some((per_write, per_tx)) = cpu::per_write_and_transaction(one, two) else {
        return println!(
            "CPU per write and per transaction, {what}: batch sizes too close to tell apart"
        );
    };
    println!(
        "CPU per write and per transaction, {what} (busy per write = per write + per transaction / writes per commit): {per_write:.0} us per write + {per_tx:.0} us per transaction, which is {:.0} us of each write at one replica's {:.1} writes per commit and {:.0} us at two replicas' {:.1}",
        per_tx / one.1,
        one.1,
        per_tx / two.1,
        two.1,
    );
}

/// How many writes each PostgreSQL transaction carried, so far.
fn per_commit(s: &Setup) -> String {
    let (commits, writes, replays) = s.writes();
    format!(
        "   [{:.1} writes per commit, {replays} batches replayed]",
        writes as f64 / commits.max(1) as f64
    )
}
