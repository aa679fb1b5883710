//! An exported audit log of signed decisions, made in process: what
//! `audit verify` and an auditor's OpenSSH loop are measured on.

use countersign::audit::chain::{Head, NewEntry, actor_person, append};
use countersign::audit::verify::ExportLine;
use countersign::domain::time::now_millis;
use countersign::signing::payload::{DecisionDraft, PayloadVerdict, Review, Signed, Target};
use countersign::signing::signer::Signer;
use serde_json::json;
use ssh_key::PrivateKey;

/// One signed decision as an auditor extracts it from the log.
pub struct Decision {
    pub principal: String,
    pub payload: String,
    pub signature: String,
}

pub struct SignedLog {
    /// The export file's text: entries, then a closing checkpoint.
    pub text: String,
    /// allowed_signers for the people who signed.
    pub signers: String,
    pub server_key: PrivateKey,
    pub decisions: Vec<Decision>,
}

/// `entries` entries, every other one an alert received (with a document)
/// and the rest approvals signed by one of `people` people, closed by a
/// checkpoint signed by a fresh server key.
pub fn signed_log(entries: usize, people: usize) -> SignedLog {
    let keys: Vec<(String, PrivateKey)> = (0..people)
        .map(|i| (format!("analyst{i}"), super::key()))
        .collect();
    let signers = keys
        .iter()
        .map(|(n, k)| format!("{n} {}\n", k.public_key().to_openssh().unwrap()))
        .collect();
    let server_key = super::key();
    let doc = super::alert("v", 1);
    let mut head = Head::genesis();
    let mut text = String::new();
    let mut decisions = Vec::new();
    let now = now_millis();
    for i in 0..entries {
        let (kind, actor, data) = if i % 2 == 0 {
            (
                "alert_received",
                json!({"kind": "agent", "name": "bench-agent"}),
                json!({"document": doc}),
            )
        } else {
            let (name, k) = &keys[i % keys.len()];
            let d = DecisionDraft {
                target: Target::Proposal(format!("p-{i}")),
                digest: "sha256:00".into(),
                verdict: PayloadVerdict::Approve,
                reason: String::new(),
                labels: vec![],
                review: Review::default(),
                revert_digest: None,
                amend: None,
                amended_digest: None,
                contain_until: None,
            };
            let Signed { decision: s, nonce } =
                d.sign(name, now, &Signer::from_key(k.clone())).unwrap();
            decisions.push(Decision {
                principal: name.clone(),
                payload: s.payload.clone(),
                signature: s.signature.clone(),
            });
            (
                "approved",
                actor_person(name),
                json!({"verdict": "approve", "reason": "", "digest": "sha256:00", "nonce": nonce, "payload": s.payload, "signature": s.signature}),
            )
        };
        let e = append(
            &head,
            &NewEntry {
                at: now,
                kind,
                alert_id: Some("a".into()),
                proposal_id: (i % 2 == 1).then(|| format!("p-{i}")),
                actor,
                data,
            },
        )
        .unwrap();
        head = Head {
            seq: e.seq,
            hash: e.hash.clone(),
        };
        text.push_str(&serde_json::to_string(&ExportLine::Entry(e)).unwrap());
        text.push('\n');
    }
    let cp = countersign::audit::checkpoint::sign(&server_key, "bench", head.seq, &head.hash, now)
        .unwrap();
    text.push_str(&serde_json::to_string(&ExportLine::Checkpoint { checkpoint: cp }).unwrap());
    text.push('\n');
    SignedLog {
        text,
        signers,
        server_key,
        decisions,
    }
}
