//! The hash chain: `hash = SHA-256(prev_hash ‖ entry bytes)`, where
//! `prev_hash` is the previous entry's 32-byte hash (32 zero bytes before the
//! first entry) and the entry bytes are the RFC 8785 canonical JSON of the
//! entry object, stored verbatim.

use crate::domain::digest;
use crate::domain::machine::Millis;
use crate::domain::records::AuditEntry;
use crate::domain::time::to_rfc3339;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The head of the chain: the last sequence number and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

impl Head {
    pub fn genesis() -> Self {
        Head {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// What an entry records, before it is chained.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub at: Millis,
    pub kind: &'static str,
    pub alert_id: Option<String>,
    pub proposal_id: Option<String>,
    /// `{"kind": "agent"|"person"|"policy"|"deadline"|"server"|"executor", ...}`
    pub actor: Value,
    pub data: Value,
}

/// `hex(SHA-256(prev ‖ entry))`; `prev` is hex. A malformed `prev` hashes as
/// its raw text, which can never match a well-formed chain.
pub fn link_hash(prev_hex: &str, entry: &[u8]) -> String {
    let mut h = Sha256::new();
    match hex::decode(prev_hex) {
        Ok(raw) => h.update(raw),
        Err(_) => h.update(prev_hex.as_bytes()),
    }
    h.update(entry);
    hex::encode(h.finalize())
}

/// Chains `new` after `head`. The entry's canonical form is written
/// member by member, in the order RFC 8785 puts its names (`actor`,
/// `alert_id`, `at`, `data`, `kind`, `proposal_id`, `seq`, `v`), without
/// copying `data` into a new object first.
pub fn append(head: &Head, new: &NewEntry) -> Result<AuditEntry, digest::DigestError> {
    let seq = head.seq + 1;
    let mut bytes = Vec::with_capacity(1024);
    bytes.extend_from_slice(b"{\"actor\":");
    digest::write_canonical(&new.actor, &mut bytes)?;
    bytes.extend_from_slice(b",\"alert_id\":");
    optional(new.alert_id.as_deref(), &mut bytes);
    bytes.extend_from_slice(b",\"at\":");
    digest::write_string(&to_rfc3339(new.at), &mut bytes);
    bytes.extend_from_slice(b",\"data\":");
    digest::write_canonical(&new.data, &mut bytes)?;
    bytes.extend_from_slice(b",\"kind\":");
    digest::write_string(new.kind, &mut bytes);
    bytes.extend_from_slice(b",\"proposal_id\":");
    optional(new.proposal_id.as_deref(), &mut bytes);
    bytes.extend_from_slice(b",\"seq\":");
    digest::write_canonical(&Value::from(seq), &mut bytes)?;
    bytes.extend_from_slice(b",\"v\":1}");
    let hash = link_hash(&head.hash, &bytes);
    Ok(AuditEntry {
        seq,
        // Canonical JSON is UTF-8 by construction.
        entry: String::from_utf8_lossy(&bytes).into_owned(),
        prev_hash: head.hash.clone(),
        hash,
    })
}

fn optional(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) => digest::write_string(s, out),
        None => out.extend_from_slice(b"null"),
    }
}

pub fn actor_agent(name: &str) -> Value {
    json!({"kind": "agent", "name": name})
}
/// The gate's own executor, reporting what it ran.
pub fn actor_executor(name: &str) -> Value {
    json!({"kind": "executor", "name": name})
}
pub fn actor_person(principal: &str) -> Value {
    json!({"kind": "person", "principal": principal})
}
pub fn actor_policy(rule: &str) -> Value {
    json!({"kind": "policy", "rule": rule})
}
/// The server itself (the policy it put in force).
pub fn actor_server(name: &str) -> Value {
    json!({"kind": "server", "name": name})
}
pub fn actor_deadline() -> Value {
    json!({"kind": "deadline"})
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {seq}: {problem}")]
pub struct ChainBreak {
    pub seq: i64,
    pub problem: String,
}

/// Checks sequence numbers, links and hashes of consecutive entries, starting
/// after `start` (genesis for a whole log). Returns the new head.
pub fn verify_links<'a>(
    start: &Head,
    entries: impl IntoIterator<Item = &'a AuditEntry>,
) -> Result<Head, ChainBreak> {
    let mut head = start.clone();
    for e in entries {
        let fail = |problem: String| ChainBreak {
            seq: e.seq,
            problem,
        };
        if e.seq != head.seq + 1 {
            return Err(fail(format!(
                "expected sequence number {}, found {} (an entry is missing or out of order)",
                head.seq + 1,
                e.seq
            )));
        }
        if e.prev_hash != head.hash {
            return Err(fail(
                "prev_hash does not match the previous entry's hash".into(),
            ));
        }
        if link_hash(&e.prev_hash, e.entry.as_bytes()) != e.hash {
            return Err(fail(
                "hash does not match the entry bytes (entry altered)".into(),
            ));
        }
        let body: Value = serde_json::from_str(&e.entry)
            .map_err(|err| fail(format!("entry is not JSON: {err}")))?;
        if body["seq"].as_i64() != Some(e.seq) {
            return Err(fail("the entry's own seq differs from its position".into()));
        }
        head = Head {
            seq: e.seq,
            hash: e.hash.clone(),
        };
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written member by member, the entry is the canonical form of the
    /// whole object, as an independent implementation writes it.
    #[test]
    fn entry_is_the_canonical_form_of_the_whole_object() {
        let entries = [
            NewEntry {
                at: 1_700_000_000_123,
                kind: "submitted",
                alert_id: Some("a-\u{1f600}\"x\"".into()),
                proposal_id: None,
                actor: actor_agent("edr\n\u{7}"),
                data: json!({"z": [1.5, -0.0, 1e21, 9007199254740993u64], "\u{e000}": 1, "\u{10000}": 2, "a": null}),
            },
            NewEntry {
                at: 0,
                kind: "decided",
                alert_id: None,
                proposal_id: Some("p-1".into()),
                actor: actor_person("alice"),
                data: json!({}),
            },
        ];
        for (i, e) in entries.iter().enumerate() {
            let head = Head {
                seq: 41 + i as i64,
                hash: GENESIS.into(),
            };
            let whole = json!({
                "v": 1,
                "seq": head.seq + 1,
                "at": to_rfc3339(e.at),
                "kind": e.kind,
                "alert_id": e.alert_id,
                "proposal_id": e.proposal_id,
                "actor": e.actor,
                "data": e.data,
            });
            let want = serde_json_canonicalizer::to_string(&whole).unwrap();
            assert_eq!(append(&head, e).unwrap().entry, want);
        }
    }

    #[test]
    fn chain_links() {
        let e = NewEntry {
            at: 0,
            kind: "test",
            alert_id: None,
            proposal_id: None,
            actor: actor_deadline(),
            data: json!({"x": 1}),
        };
        let a = append(&Head::genesis(), &e).unwrap();
        assert_eq!(a.seq, 1);
        assert_eq!(a.prev_hash, GENESIS);
        let mut raw = vec![0u8; 32];
        raw.extend_from_slice(a.entry.as_bytes());
        assert_eq!(a.hash, hex::encode(Sha256::digest(&raw)));
        let b = append(
            &Head {
                seq: 1,
                hash: a.hash.clone(),
            },
            &e,
        )
        .unwrap();
        assert_eq!(b.prev_hash, a.hash);
        assert_ne!(b.hash, a.hash);
        assert_eq!(verify_links(&Head::genesis(), [&a, &b]).unwrap().seq, 2);
        assert_eq!(verify_links(&Head::genesis(), [&b]).unwrap_err().seq, 2);
        let mut bad = b.clone();
        bad.entry = bad.entry.replace("\"x\":1", "\"x\":2");
        assert!(
            verify_links(&Head::genesis(), [&a, &bad])
                .unwrap_err()
                .problem
                .contains("altered")
        );
    }
}
