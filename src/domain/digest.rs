//! Proposal and annotation digests: `sha256:` + hex SHA-256 of the RFC 8785
//! (JCS) canonical form of `{"alert": A, "proposal": P}` (or `{"alert": A}`).
//!
//! The canonical form is written here, straight from a parsed value:
//! members in UTF-16 key order, strings escaped as JCS says (which is
//! `serde_json`'s own escaping), numbers as ECMAScript prints the double
//! (`ryu-js`). It is on every submission's path, twice (the digest in the
//! handler, the audit entry in the one writer), and writing it without
//! sorting every object's members into fresh buffers costs a fraction of
//! what a general serialiser does. The RFC's own test vectors are in the
//! tests below; an independent implementation (`serde_json_canonicalizer`)
//! is held to the same output on generated documents, and the Python
//! `rfc8785` package on the integration tests' (`tests/it/canonical.rs`).

use serde_json::{Map, Number, Value};
use sha2::{Digest as _, Sha256};
use std::cmp::Ordering;

pub const PREFIX: &str = "sha256:";

#[derive(Debug, thiserror::Error)]
#[error("cannot canonicalise document: {0}")]
pub struct DigestError(String);

/// The RFC 8785 canonical bytes of any JSON value.
pub fn canonical(value: &Value) -> Result<Vec<u8>, DigestError> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out)?;
    Ok(out)
}

/// Appends the RFC 8785 canonical bytes of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), DigestError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(members) => write_object(members, out)?,
    }
    Ok(())
}

/// A JSON string as JCS escapes it: `"` and `\`, and the control
/// characters below U+0020 (`\b \t \n \f \r`, the rest `\u00xx`);
/// everything else as it is.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Members in the order of their names' UTF-16 code units. A parsed
/// object's map is already in byte order, which is the same unless a name
/// mixes characters above U+FFFF with ones from U+E000: checked as the
/// members are written, and sorted only then.
fn write_object(members: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), DigestError> {
    let start = out.len();
    out.push(b'{');
    let mut last: Option<&String> = None;
    let mut in_order = true;
    for (i, (name, value)) in members.iter().enumerate() {
        if let Some(prev) = last
            && utf16_cmp(prev, name) != Ordering::Less
        {
            in_order = false;
            break;
        }
        last = Some(name);
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_canonical(value, out)?;
    }
    if !in_order {
        out.truncate(start + 1);
        let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
        sorted.sort_by(|a, b| utf16_cmp(a.0, b.0));
        for (i, (name, value)) in sorted.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(name, out);
            out.push(b':');
            write_canonical(value, out)?;
        }
    }
    out.push(b'}');
    Ok(())
}

fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// A number as ECMAScript's `Number.prototype.toString` prints the double
/// it reads as: whole numbers up to 2^53 as they are, the rest through
/// `ryu-js`.
fn write_number(n: &Number, out: &mut Vec<u8>) -> Result<(), DigestError> {
    const EXACT: u64 = 1 << 53;
    use std::io::Write as _;
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= EXACT
    {
        let _ = write!(out, "{i}");
        return Ok(());
    }
    let f = n
        .as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| DigestError(format!("{n} is not a finite number")))?;
    out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
    Ok(())
}

/// `sha256:<hex>` of arbitrary bytes.
pub fn sha256_tagged(bytes: &[u8]) -> String {
    format!("{PREFIX}{}", hex::encode(Sha256::digest(bytes)))
}

/// The digest a reviewer signs when deciding a proposal: of
/// `{"alert":A,"proposal":P}`, whose two names are already in order.
pub fn proposal_digest(alert: &Value, proposal: &Value) -> Result<String, DigestError> {
    let mut doc = Vec::with_capacity(2048);
    doc.extend_from_slice(b"{\"alert\":");
    write_canonical(alert, &mut doc)?;
    doc.extend_from_slice(b",\"proposal\":");
    write_canonical(proposal, &mut doc)?;
    doc.push(b'}');
    Ok(sha256_tagged(&doc))
}

/// The digest a reviewer signs when annotating an alert.
pub fn alert_digest(alert: &Value) -> Result<String, DigestError> {
    let mut doc = Vec::with_capacity(2048);
    doc.extend_from_slice(b"{\"alert\":");
    write_canonical(alert, &mut doc)?;
    doc.push(b'}');
    Ok(sha256_tagged(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jcs(text: &str) -> String {
        let v: Value = serde_json::from_str(text).unwrap();
        String::from_utf8(canonical(&v).unwrap()).unwrap()
    }

    /// RFC 8785 section 3.2.2 / appendix B examples.
    #[test]
    fn rfc8785_sample() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        assert_eq!(
            jcs(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    /// RFC 8785 section 3.2.3: keys sorted by UTF-16 code units, not by
    /// UTF-8 bytes or code points (the emoji sorts before U+FB33).
    #[test]
    fn rfc8785_utf16_key_order() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let out = jcs(input);
        let order: Vec<&str> = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small",
            "Euro Sign",
            "Emoji",
            "Hebrew",
        ]
        .to_vec();
        let mut last = 0;
        for needle in order {
            let at = out.find(needle).unwrap();
            assert!(at > last, "{needle} out of order in {out}");
            last = at;
        }
    }

    /// RFC 8785 appendix B: IEEE-754 to ECMAScript number serialisation.
    #[test]
    fn rfc8785_numbers() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("9007199254740992", "9007199254740992"),
            ("9007199254740993", "9007199254740992"),
            ("295147905179352830000", "295147905179352830000"),
            ("0.000001", "0.000001"),
            ("1e-7", "1e-7"),
            ("-1.5e-9", "-1.5e-9"),
            ("123456789012345680000", "123456789012345680000"),
        ];
        for (input, want) in cases {
            assert_eq!(jcs(input), want, "input {input}");
        }
    }

    #[test]
    fn digest_ignores_key_order_and_whitespace() {
        let a1: Value = serde_json::from_str(r#"{"b":1,"a":"x"}"#).unwrap();
        let a2: Value = serde_json::from_str(r#"{ "a" : "x", "b" : 1.0 }"#).unwrap();
        let p: Value = serde_json::from_str(r#"{"action":"isolate_host"}"#).unwrap();
        let d = proposal_digest(&a1, &p).unwrap();
        assert_eq!(d, proposal_digest(&a2, &p).unwrap());
        assert!(d.starts_with("sha256:") && d.len() == 7 + 64);
        assert_ne!(d, alert_digest(&a1).unwrap());
    }

    /// The same bytes as an independent implementation, on generated
    /// documents: names from every part of Unicode (U+E000 and above U+FFFF
    /// sort differently in UTF-16 and UTF-8), escapes, and numbers of every
    /// size.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let name = prop_oneof![
            "[a-z_]{0,6}",
            "[\\u{0}-\\u{7f}]{0,4}",
            "[\\u{e000}-\\u{e010}\\u{fb33}\\u{ff5e}\\u{10000}-\\u{10010}\\u{1f600}a]{1,3}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::String),
            "[\\u{0}-\\u{20}\\u{7f}\\u{2028}/\\\\\"]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(name.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn same_bytes_as_an_independent_implementation(v in any_json()) {
            let ours = canonical(&v).unwrap();
            let theirs = serde_json_canonicalizer::to_vec(&v).unwrap();
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
        }
    }

    #[test]
    fn known_digest() {
        // sha256 of {"alert":{},"proposal":{}} computed independently with
        // `printf '%s' '{"alert":{},"proposal":{}}' | sha256sum`.
        let d = proposal_digest(&json!({}), &json!({})).unwrap();
        assert_eq!(
            d,
            "sha256:95ba5f5e2c65dd357345a3f9d68cdadc4ab624ec449692cc68f72698a088ad00"
        );
    }
}
