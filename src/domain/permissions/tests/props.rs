//! Properties of the delta over random IAM documents.

use super::*;

fn action() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "s3:GetObject",
        "s3:Get*",
        "s3:*",
        "iam:PassRole",
        "ec2:Describe*",
        "kms:Decrypt",
        "*",
    ])
    .prop_map(str::to_owned)
}

fn resource() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "*",
        "arn:aws:s3:::a/*",
        "arn:aws:s3:::a/b",
        "arn:aws:s3:::b/*",
        "arn:aws:iam::1:role/*",
    ])
    .prop_map(str::to_owned)
}

proptest! {
    /// A document against itself, reordered or reformatted: no new access.
    #[test]
    fn itself_reordered_is_nothing_new(stmts in prop::collection::vec((action(), resource()), 1..6)) {
        let list: Vec<Value> = stmts.iter().map(|(a, r)| allow(a, r)).collect();
        let mut reversed = list.clone();
        reversed.reverse();
        let pretty = serde_json::to_string_pretty(&json!({"Statement": reversed})).unwrap();
        let a = analyse("json", &doc(Value::Array(list)), &pretty);
        prop_assert_eq!(a.verdict, Verdict::NoNewAccess);
    }

    /// A statement the old document does not cover is always found.
    #[test]
    fn an_uncovered_statement_is_new_access(
        stmts in prop::collection::vec((action(), resource()), 1..5),
        extra in (action(), resource()),
    ) {
        let old: Vec<Value> = stmts.iter().map(|(a, r)| allow(a, r)).collect();
        let covered = stmts.iter().any(|(a, r)| {
            pattern::contains(&extra.0.to_ascii_lowercase(), &a.to_ascii_lowercase())
                && pattern::contains(&extra.1, r)
        });
        let mut new = old.clone();
        new.push(allow(&extra.0, &extra.1));
        let v = analyse("json", &doc(Value::Array(old)), &doc(Value::Array(new))).verdict;
        if covered {
            prop_assert_eq!(v, Verdict::NoNewAccess);
        } else {
            prop_assert_eq!(v, Verdict::GrantsNewAccess);
        }
    }
}
