//! Canonical JSON (RFC 8785) as the Python `rfc8785` package writes it:
//! documents chosen for what canonicalisers get wrong (UTF-16 name order,
//! escapes, ECMAScript numbers), and every audit entry a server wrote for
//! a submission of such a document, byte for byte.

use crate::common;
use countersign::domain::digest;
use serde_json::{Value, json};
use std::io::Write as _;

/// Each document's canonical form by the Python package (numbers read
/// as doubles, which is what RFC 8785 reads them as).
fn by_python(docs: &[String]) -> Option<Vec<String>> {
    let py = common::python()?;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("docs.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    for d in docs {
        writeln!(f, "{d}").unwrap();
    }
    let script = "import json, sys, rfc8785\n\
        for line in open(sys.argv[1], encoding='utf-8'):\n\
        \x20   doc = json.loads(line, parse_int=float)\n\
        \x20   print(rfc8785.dumps(doc).hex())\n";
    let out = std::process::Command::new(py)
        .args(["-c", script])
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|hex| String::from_utf8(hex::decode(hex).unwrap()).unwrap())
            .collect(),
    )
}

/// Numbers I-JSON admits (whole ones within ±(2^53−1)) whose ECMAScript
/// form canonicalisers get wrong.
fn ijson_numbers() -> Value {
    json!([
        0.0,
        -0.0,
        5e-324,
        0.000001,
        1e-7,
        -1.5e-9,
        333333333.3333333,
        4.5,
        2e-3,
        -1,
        0.1,
        9007199254740991u64,
        123.456e-300
    ])
}

fn tricky() -> Vec<Value> {
    vec![
        json!({"\u{20ac}": 1, "\r": 2, "\u{fb33}": 3, "1": 4, "\u{1f600}": 5, "\u{80}": 6, "\u{f6}": 7}),
        json!({"\u{e000}": "private use", "\u{10000}": "linear b", "\u{ffff}": "last", "a": {"\u{1f600}": [], "\u{ff5e}": {}}}),
        json!([
            ijson_numbers(),
            [
                1e21,
                1e20,
                1.7976931348623157e308,
                9007199254740992u64,
                9007199254740993u64,
                1e30
            ]
        ]),
        json!({"s": "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \"\\/\u{7f}\u{2028}\u{2029}\u{1b}[31m\u{202e}"}),
        json!({"nested": {"b": [true, false, null], "a": {"z": "", "y": [[], {}]}}}),
        json!(["\u{1f600}\u{e9}", "e\u{301}", {"k": -123456789012345680000.0}]),
    ]
}

#[test]
fn canonical_json_matches_the_python_rfc8785_package() {
    let docs = tricky();
    let text: Vec<String> = docs.iter().map(|d| d.to_string()).collect();
    let Some(theirs) = by_python(&text) else {
        return;
    };
    assert_eq!(theirs.len(), docs.len());
    for (doc, want) in docs.iter().zip(theirs) {
        let ours = String::from_utf8(digest::canonical(doc).unwrap()).unwrap();
        assert_eq!(ours, want, "for {doc}");
    }
}

/// The server's audit entries (written member by member in its writer)
/// are what the Python package makes of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_entries_are_canonical_for_the_python_package() {
    let t = common::TestServer::start().await;
    let mut alert = common::alert("canon-1", vec![common::proposal("isolate_host", "high")]);
    alert["context"] = tricky()[0].clone();
    alert["context"]["numbers"] = ijson_numbers();
    alert["context"]["text"] = tricky()[3]["s"].clone();
    t.agent().submit_alert(&alert).await.unwrap();
    let entries: Vec<String> = t
        .store
        .audit_all()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.entry)
        .collect();
    assert!(entries.iter().any(|e| e.contains("canon-1")));
    let Some(theirs) = by_python(&entries) else {
        return;
    };
    assert_eq!(theirs, entries);
}
