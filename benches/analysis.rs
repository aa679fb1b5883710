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
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SERVICES: [&str; 8] = [
    "s3", "ec2", "dynamodb", "sqs", "sns", "lambda", "logs", "kms",
];
const VERBS: [&str; 6] = ["Get", "List", "Describe", "Put", "Update", "Delete"];

/// A policy of `n` statements, each with a few actions and resources, the
/// shape real accumulated role policies have.
fn policy(n: usize, extra: &[Value]) -> String {
    let mut stmts: Vec<Value> = (0..n)
        .map(|i| {
            let svc = SERVICES[i % SERVICES.len()];
            json!({
                "Sid": format!("S{i}"),
                "Effect": "Allow",
                "Action": [
                    format!("{svc}:{}Item{}", VERBS[i % 6], i % 17),
                    format!("{svc}:{}Object{}", VERBS[(i + 1) % 6], i % 13),
                ],
                "Resource": [
                    format!("arn:aws:{svc}:eu-west-1:111122223333:thing/{}/*", i % 97),
                    format!("arn:aws:{svc}:eu-west-1:111122223333:other/{i}"),
                ],
            })
        })
        .collect();
    stmts.extend(extra.iter().cloned());
    serde_json::to_string_pretty(&json!({"Version": "2012-10-17", "Statement": stmts})).unwrap()
}

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
    let before = policy(420, &[]);
    let after = policy(
        420,
        &[
            json!({"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "arn:aws:iam::*:role/*"}),
            json!({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}),
        ],
    );
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
