//! What a permission change grants, on a pair of 5,000-line IAM policies
//! (target ≤ 50 ms), printed beside its baseline in the same run: the line
//! diff the console also computes for the same documents. The analysis
//! judges both the delta and the resulting document on its own, and checks
//! both texts for duplicate names, as the server does.
//!
//! `cargo bench --bench analysis`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops at a broken set-up"
)]

use countersign::domain::permissions;
use std::time::{Duration, Instant};

mod common;
use common::iam;

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(f());
        best = best.min(t.elapsed());
    }
    (best, out.expect("ran"))
}

fn main() {
    // ~12 lines per statement pretty-printed: 420 statements ≈ 5,000 lines.
    let (before, after) = iam::escalating_change(420);
    println!(
        "permission analysis: before {} lines, after {} lines",
        before.lines().count(),
        after.lines().count()
    );
    let (analysis_t, a) = time(5, || permissions::analyse("json", &before, &after));
    let (same_t, same) = time(5, || permissions::analyse("json", &before, &before));
    let (diff_t, ops) = time(5, || {
        similar::TextDiff::from_lines(before.as_str(), after.as_str())
            .ops()
            .len()
    });
    println!(
        "  analyse (new access):   {:>8.2} ms  -> {} ({} new grants, worst: {:?}; {} sensitive on its own)   target <= 50 ms",
        analysis_t.as_secs_f64() * 1000.0,
        a.verdict.text(),
        a.new_grants.len(),
        a.worst(),
        a.resulting.len()
    );
    println!(
        "  analyse (itself):       {:>8.2} ms  -> {}",
        same_t.as_secs_f64() * 1000.0,
        same.verdict.text()
    );
    println!(
        "  baseline line diff:     {:>8.2} ms  ({ops} ops, similar::TextDiff)",
        diff_t.as_secs_f64() * 1000.0
    );
}
