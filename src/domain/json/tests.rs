use super::*;

fn problem(s: &str) -> Option<JsonProblem> {
    serde_json::from_str::<serde_json::Value>(s).expect("valid JSON");
    check(s.as_bytes()).err()
}

#[test]
fn duplicates_are_found_at_any_depth_with_their_path() {
    let p = problem(r#"{"proposals":[{"action":"disable_account","action":"block_indicator"}]}"#);
    assert_eq!(
        p,
        Some(JsonProblem::Duplicate {
            path: "proposals[0].action".into(),
            name: "action".into()
        })
    );
    assert!(matches!(
        problem(r#"{"a":{"b":1,"\u0062":2}}"#),
        Some(JsonProblem::Duplicate { path, .. }) if path == "a.b"
    ));
    assert_eq!(
        problem(r#"{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}"#),
        None
    );
    assert!(
        problem(r#"{"x":1,"x":1}"#).is_some(),
        "even with the same value"
    );
}

#[test]
fn numbers_beyond_a_double_are_refused() {
    for ok in [
        "0",
        "-0",
        "1",
        "9007199254740991",
        "-9007199254740991",
        "0.1",
        "1.5e3",
        "1e15",
        "0.30000000000000004",
        "1E-7",
        "2.5",
        "100.0",
        "1.0",
    ] {
        assert_eq!(number_problem(ok), None, "{ok}");
    }
    for bad in [
        "9007199254740992",
        "-9007199254740993",
        "123456789012345678901234567890",
        "1.00000000000000000001",
        "0.1000000000000000055511151231257827",
        "1e400",
        "-1e400",
        "1e20",
        "-9.1e15",
    ] {
        assert!(number_problem(bad).is_some(), "{bad}");
    }
    assert!(matches!(
        problem(r#"{"proposals":[{"expires_in_secs":9007199254740993}]}"#),
        Some(JsonProblem::NotIJson { path, .. }) if path == "proposals[0].expires_in_secs"
    ));
}

#[test]
fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let deep = "[".repeat(1_000_000);
    assert!(matches!(
        check(deep.as_bytes()),
        Err(JsonProblem::Syntax(_))
    ));
    let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(check(ok.as_bytes()), Ok(()));
}

#[test]
fn lone_surrogates_are_refused_pairs_are_fine() {
    assert_eq!(problem(r#"{"t":"\ud83d\ude80 ok"}"#), None);
    for bad in [
        r#"{"t":"\ud800"}"#,
        r#"{"t":"\udc00x"}"#,
        r#"{"t":"\ud800\u0041"}"#,
    ] {
        // serde_json may refuse these itself; if it reads them, we do.
        if serde_json::from_str::<serde_json::Value>(bad).is_ok() {
            assert!(
                matches!(check(bad.as_bytes()), Err(JsonProblem::NotIJson { .. })),
                "{bad}"
            );
        }
    }
    assert!(matches!(
        check(br#"{"t":"\ud800"}"#),
        Err(JsonProblem::NotIJson { .. })
    ));
}

proptest::proptest! {
    /// Whatever serde_json writes (no duplicates possible in a Value,
    /// numbers in ±(2^53−1)) passes; the walk agrees with serde_json on
    /// what is a document.
    #[test]
    fn what_serde_json_writes_passes(
        keys in proptest::collection::vec("[a-z\u{e9}\u{1F680}\"\\\\]{0,6}", 0..6),
        n in -9007199254740991i64..=9007199254740991,
        f in -9.007199254740991e15..9.007199254740991e15_f64,
        text in "\\PC{0,20}",
    ) {
        let mut m = serde_json::Map::new();
        for (i, k) in keys.iter().enumerate() {
            m.insert(k.clone(), serde_json::json!([i, n, f, text, {"n": null, "b": true}]));
        }
        let doc = serde_json::to_string(&serde_json::Value::Object(m)).unwrap();
        proptest::prop_assert_eq!(check(doc.as_bytes()), Ok(()));
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&doc).unwrap()).unwrap();
        proptest::prop_assert_eq!(check(pretty.as_bytes()), Ok(()));
    }
}
