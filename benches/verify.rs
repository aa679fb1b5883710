//! `countersign audit verify` against what an auditor would otherwise run:
//! `ssh-keygen -Y verify` once per signed decision, in one run.
//!
//! `cargo bench --bench verify` (env: BENCH_VERIFY_DECISIONS, default
//! "600,1000"; BENCH_ROUNDS, default 3: the median is printed;
//! BENCH_KEEP=1 keeps the logs, for a profile).
//!
//! Both are processes started the way a person starts them: `countersign
//! audit verify FILE --signers … --server-key …` once over the whole export
//! (chain, every signature, the checkpoint, the policy re-check), and a loop
//! of `ssh-keygen -Y verify -f allowed_signers -I PRINCIPAL -n
//! countersign-decision -s SIG < PAYLOAD`, one per decision, with the
//! payloads and signatures extracted beforehand (the extraction is not
//! timed). The OpenSSH loop checks less: no chain, no checkpoint.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops at a broken set-up"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;

/// Timed runs of `audit verify` per round (see `main`).
const OURS_RUNS: usize = 7;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// One `countersign audit verify` of the export, in seconds; on one thread
/// (`--threads 1`, the baseline) or on every core.
fn ours(dir: &Path, one_thread: bool) -> f64 {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_countersign"));
    cmd.args([
        "audit",
        "verify",
        "audit.jsonl",
        "--signers",
        "allowed_signers",
    ])
    .args(["--server-key", "server_key.pub"]);
    if one_thread {
        cmd.args(["--threads", "1"]);
    }
    let out = cmd.current_dir(dir).output().unwrap();
    let took = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "audit verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// `ssh-keygen -Y verify` once per decision, in seconds.
fn openssh(dir: &Path, decisions: &[common::log::Decision]) -> f64 {
    let started = Instant::now();
    for (i, d) in decisions.iter().enumerate() {
        let payload = std::fs::File::open(dir.join(format!("d{i}.payload"))).unwrap();
        let status = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f", "allowed_signers", "-I", &d.principal])
            .args(["-n", "countersign-decision", "-s", &format!("d{i}.sig")])
            .current_dir(dir)
            .stdin(payload)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "ssh-keygen refused decision {i}");
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_VERIFY_DECISIONS")
        .unwrap_or_else(|_| "600,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rounds = common::env_num("BENCH_ROUNDS", 3) as usize;
    println!(
        "audit verify against one `ssh-keygen -Y verify` per decision ({} cores, median of {rounds})",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for n in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let log = common::log::signed_log(2 * n, 8);
        std::fs::write(dir.as_path().join("audit.jsonl"), &log.text).unwrap();
        std::fs::write(dir.as_path().join("allowed_signers"), &log.signers).unwrap();
        std::fs::write(
            dir.as_path().join("server_key.pub"),
            log.server_key.public_key().to_openssh().unwrap(),
        )
        .unwrap();
        for (i, d) in log.decisions.iter().enumerate() {
            std::fs::write(dir.as_path().join(format!("d{i}.payload")), &d.payload).unwrap();
            std::fs::write(dir.as_path().join(format!("d{i}.sig")), &d.signature).unwrap();
        }
        // Alternate them so the machine's drift weighs on all alike. One
        // run of ours takes tens of milliseconds, where a stray process or
        // the page cache after the OpenSSH loop's thousand processes moves
        // it by a third: each round times it OURS_RUNS times, after one
        // run that is not timed, and keeps the median.
        let (mut all, mut one, mut loop_) = (Vec::new(), Vec::new(), Vec::new());
        let settled = |one_thread: bool| {
            ours(dir.as_path(), one_thread);
            median(
                (0..OURS_RUNS)
                    .map(|_| ours(dir.as_path(), one_thread))
                    .collect(),
            )
        };
        for _ in 0..rounds {
            all.push(settled(false));
            one.push(settled(true));
            loop_.push(openssh(dir.as_path(), &log.decisions));
        }
        let (all, one, loop_) = (median(all), median(one), median(loop_));
        println!(
            "{n:>6} decisions ({} entries): ssh-keygen loop {:>8.1} ms | audit verify, one thread {:>6.1} ms = {:>3.0}x | every core {:>6.1} ms = {:>3.0}x (target >= 100x)",
            2 * n,
            loop_ * 1000.0,
            one * 1000.0,
            loop_ / one,
            all * 1000.0,
            loop_ / all
        );
        // BENCH_KEEP=1 keeps each log and its files, for a profile.
        if std::env::var_os("BENCH_KEEP").is_some() {
            println!("kept in {}", tmp.keep().display());
        }
    }
}
