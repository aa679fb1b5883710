//! IAM policies of the shape real accumulated role policies have, for the
//! benchmarks that judge permission changes.

use serde_json::{Value, json};

const SERVICES: [&str; 8] = [
    "s3", "ec2", "dynamodb", "sqs", "sns", "lambda", "logs", "kms",
];
const VERBS: [&str; 6] = ["Get", "List", "Describe", "Put", "Update", "Delete"];

/// A policy of `n` statements, each with a few actions and resources, and
/// then `extra`. Pretty-printed, ~12 lines a statement: 420 ≈ 5,000 lines.
pub fn policy(n: usize, extra: &[Value]) -> String {
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

/// `n` statements before; after, the same and two more: an escalation
/// path (`iam:PassRole` with `ec2:RunInstances`) and a conditional Deny.
pub fn escalating_change(n: usize) -> (String, String) {
    let after = policy(
        n,
        &[
            json!({"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "arn:aws:iam::*:role/*"}),
            json!({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}),
        ],
    );
    (policy(n, &[]), after)
}
