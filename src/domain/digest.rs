//! Proposal and annotation digests: `sha256:` + hex SHA-256 of the RFC 8785
//! (JCS) canonical form of `{"alert": A, "proposal": P}` (or `{"alert": A}`).
//!
//! JCS comes from `serde_json_canonicalizer` (ECMAScript number formatting via
//! ryu-js, UTF-16 key order); the RFC's own test vectors are in the tests below.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub const PREFIX: &str = "sha256:";

#[derive(Debug, thiserror::Error)]
#[error("cannot canonicalise document: {0}")]
pub struct DigestError(#[from] serde_json::Error);

/// The RFC 8785 canonical bytes of any JSON value.
pub fn canonical(value: &Value) -> Result<Vec<u8>, DigestError> {
    Ok(serde_json_canonicalizer::to_vec(value)?)
}

/// `sha256:<hex>` of arbitrary bytes.
pub fn sha256_tagged(bytes: &[u8]) -> String {
    format!("{PREFIX}{}", hex::encode(Sha256::digest(bytes)))
}

/// The digest a reviewer signs when deciding a proposal.
pub fn proposal_digest(alert: &Value, proposal: &Value) -> Result<String, DigestError> {
    let doc = json!({ "alert": alert, "proposal": proposal });
    Ok(sha256_tagged(&canonical(&doc)?))
}

/// The digest a reviewer signs when annotating an alert.
pub fn alert_digest(alert: &Value) -> Result<String, DigestError> {
    let doc = json!({ "alert": alert });
    Ok(sha256_tagged(&canonical(&doc)?))
}

#[cfg(test)]
mod tests {
    use super::*;

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
