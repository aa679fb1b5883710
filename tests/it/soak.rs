//! A bounded soak of the real binary on loopback: 2,000 concurrent
//! connections of junk (bad JSON, duplicate names, odd methods, login
//! challenges for names nobody can sign as, long-polls, health checks) for
//! a few seconds. Afterwards the server answers, its file descriptors and
//! memory are back under a stated bound, nothing was stored, and the chain
//! verifies. The figures are printed (README, security section).

use crate::common;

use common::gate::Gate;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Connections at once, and how long the junk flows.
const CONNECTIONS: usize = 2_000;
const FOR: Duration = Duration::from_secs(4);
/// What the server may hold after the burst, over what it held before.
const MAX_EXTRA_FDS: usize = 64;
/// Resident memory after a burst: the allocator keeps some of what the
/// connections freed, so the bound is absolute, and a second burst must
/// not add to it (a leak would).
const MAX_RSS_KB: u64 = 256 * 1024;
const MAX_SECOND_BURST_GROWTH_KB: u64 = 48 * 1024;

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// This process's own open-file limit, so the test fits it.
fn fd_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// Junk from `connections` connections for `FOR`; returns requests sent
/// and the server's peak (fds, RSS kB) during it.
async fn burst(url: &str, token: &str, connections: usize, pid: u32) -> (u64, usize, u64) {
    let (url, token) = (url.to_owned(), token.to_owned());
    let sent = Arc::new(AtomicU64::new(0));
    // One client: each task's request in flight holds a connection of its
    // own, so `connections` tasks keep that many connections open.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let stop = Instant::now() + FOR;
    let mut tasks = Vec::new();
    for i in 0..connections {
        let (url, token, sent, http) = (url.clone(), token.clone(), sent.clone(), http.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < stop {
                let req = match (i + n as usize) % 7 {
                    0 => http
                        .post(format!("{url}/v1/alerts"))
                        .bearer_auth(&token)
                        .body("{not json"),
                    1 => http
                        .post(format!("{url}/v1/alerts"))
                        .bearer_auth(&token)
                        .body(r#"{"external_id":"a","external_id":"b"}"#),
                    2 => http.request(
                        reqwest::Method::from_bytes(format!("JUNK{}", n % 50).as_bytes()).unwrap(),
                        format!("{url}/v1/queue"),
                    ),
                    3 => http
                        .post(format!("{url}/v1/session/challenge"))
                        .body(format!(r#"{{"principal":"nobody-{i}-{n}"}}"#)),
                    4 => http
                        .get(format!("{url}/v1/proposals/none/decision?wait=1"))
                        .bearer_auth(&token),
                    5 => http.get(format!("{url}/healthz")),
                    _ => http.get(format!("{url}/v1/queue?view=bogus")),
                };
                let _ = req.send().await;
                n += 1;
            }
            sent.fetch_add(n, Ordering::Relaxed);
        }));
    }
    let (mut peak_fds, mut peak_rss) = (0, 0);
    while Instant::now() < stop {
        peak_fds = peak_fds.max(fds(pid));
        peak_rss = peak_rss.max(rss_kb(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    drop(http); // close every connection
    (sent.load(Ordering::Relaxed), peak_fds, peak_rss)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_at_scale_leaves_nothing_behind() {
    let g = Gate::start().await;
    let pid = g.server.child.id();
    let before = g.snapshot().await;
    // Let the server settle after its first requests.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (fds0, rss0) = (fds(pid), rss_kb(pid));
    let connections = CONNECTIONS.min(fd_limit() / 2 - 64);

    let url = g.server.url.clone();
    let (total, peak_fds, peak_rss) = burst(&url, &g.agent_token, connections, pid).await;
    // Connections closed: the server gives back what the burst took.
    let started = Instant::now();
    let health = reqwest::Client::new()
        .get(format!("{url}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("healthz answers after the burst");
    let health_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(health.status().is_success());
    let (fds1, rss1) = settled(pid, fds0).await;
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "soak: {connections} connections, {total} requests in {FOR:?}; server fds {fds0} -> peak {peak_fds} -> {fds1}; \
         RSS {} MB -> peak {} MB -> {} MB; /healthz after {health_ms:.1} ms",
        rss0 / 1024,
        peak_rss / 1024,
        rss1 / 1024
    );
    assert!(total > connections as u64, "the junk flowed: {total}");
    assert!(
        fds1 <= fds0 + MAX_EXTRA_FDS,
        "file descriptors {fds0} -> {fds1}"
    );
    assert!(rss1 <= MAX_RSS_KB, "memory {rss0} kB -> {rss1} kB");
    // Again: what the first burst left is reused, not added to.
    let (total2, _, peak2) = burst(&url, &g.agent_token, connections, pid).await;
    let (fds2, rss2) = settled(pid, fds0).await;
    let _ = writeln!(
        std::io::stderr().lock(),
        "soak, second burst: {total2} requests; peak RSS {} MB; after: {fds2} fds, RSS {} MB",
        peak2 / 1024,
        rss2 / 1024
    );
    assert!(
        rss2 <= rss1 + MAX_SECOND_BURST_GROWTH_KB,
        "a second burst grew memory {rss1} kB -> {rss2} kB"
    );
    assert!(
        fds2 <= fds0 + MAX_EXTRA_FDS,
        "file descriptors {fds0} -> {fds2}"
    );
    // Nothing stored from the junk; the chain verifies.
    let after = g.snapshot().await;
    assert_eq!(after, before, "nothing stored");
    countersign::audit::chain::verify_links(&countersign::audit::chain::Head::genesis(), &after.0)
        .expect("the chain verifies");
}

/// The server's (fds, RSS kB) once its sockets from a burst are closed, or
/// after 15 s: closing 2,000 sockets takes a while on a busy machine (the
/// suite runs other tests beside this one).
async fn settled(pid: u32, fds0: usize) -> (usize, u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = (fds(pid), rss_kb(pid));
        if now.0 <= fds0 + MAX_EXTRA_FDS || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
