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
    /// `{"kind": "agent"|"person"|"policy"|"deadline", ...}`
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

/// Chains `new` after `head`.
pub fn append(head: &Head, new: &NewEntry) -> Result<AuditEntry, digest::DigestError> {
    let seq = head.seq + 1;
    let body = json!({
        "v": 1,
        "seq": seq,
        "at": to_rfc3339(new.at),
        "kind": new.kind,
        "alert_id": new.alert_id,
        "proposal_id": new.proposal_id,
        "actor": new.actor,
        "data": new.data,
    });
    let bytes = digest::canonical(&body)?;
    let hash = link_hash(&head.hash, &bytes);
    Ok(AuditEntry {
        seq,
        // JCS output is UTF-8 by construction.
        entry: String::from_utf8_lossy(&bytes).into_owned(),
        prev_hash: head.hash.clone(),
        hash,
    })
}

pub fn actor_agent(name: &str) -> Value {
    json!({"kind": "agent", "name": name})
}
pub fn actor_person(principal: &str) -> Value {
    json!({"kind": "person", "principal": principal})
}
pub fn actor_policy(rule: &str) -> Value {
    json!({"kind": "policy", "rule": rule})
}
pub fn actor_deadline() -> Value {
    json!({"kind": "deadline"})
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
