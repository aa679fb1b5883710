//! Approval receipts: what an executor checks before it runs anything.
//!
//! A receipt is the RFC 8785 text of one JSON object naming the approved
//! document (alert and proposal exactly as approved) and its digest, the
//! action and target, every approval as it was signed (each person's
//! payload and SSHSIG verbatim; a policy approval by rule and policy
//! digest), the audit entry that approved it, the execution window and who
//! may run it. The server signs that text with its own key in the
//! [`NS_RECEIPT`] namespace. Everything in it can be checked offline with
//! the server's public key and allowed_signers ([`verify`]), or with
//! `ssh-keygen -Y verify` and `jq`.
//!
//! A receipt is built from stored records whenever it is asked for, and
//! is the same text every time: `receipt_id` is derived from the server
//! key's (deterministic) signature over the proposal and its approving
//! entry, so every replica with the key issues the same receipt, and
//! nobody without the key can predict an id. Reporting `started` with it
//! consumes it (the proposal leaves `approved` once).

pub mod verify;

use crate::api::SignedReceipt;
use crate::domain::digest;
use crate::domain::records::{AlertRecord, AuditEntry, ProposalRecord};
use crate::domain::time::to_rfc3339;
use crate::domain::types::{ProposalStatus, Risk};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use ssh_key::PrivateKey;

pub use crate::signing::NS_RECEIPT;
/// Namespace of the server's signature a receipt's id is derived from
/// (never published: only its hash is).
const NS_RECEIPT_ID: &str = "countersign-receipt-id";

/// The receipt as signed. Field order does not matter: the signed text is
/// its RFC 8785 form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// 1.
    pub v: u32,
    /// Always `receipt`.
    pub kind: String,
    pub receipt_id: String,
    pub proposal_id: String,
    pub alert_id: String,
    /// `sha256:` of the RFC 8785 form of `document`: what every person
    /// signed.
    pub digest: String,
    /// `{"alert": …, "proposal": …}` exactly as approved.
    pub document: Value,
    pub action: String,
    pub target: String,
    pub risk: Risk,
    /// The policy rule that approved it, and the policy by digest.
    pub rule: String,
    pub policy: String,
    pub approvals: Vec<ReceiptApproval>,
    /// Sequence number of the audit entry that approved it.
    pub audit_seq: i64,
    pub issued_at: String,
    /// Report `started` before this, or the approval lapses.
    pub execute_by: Option<String>,
    /// Who may run it: the proposing agent, or `executor:<name>`.
    pub audience: String,
    /// The server that issued it (its checkpoint name).
    pub server: String,
    /// Narrowed by a person as they approved it: `document` is the amended
    /// proposal; who amended it, what it replaced, the proposed digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amended: Option<crate::domain::amend::Amended>,
}

/// One approval as it was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum ReceiptApproval {
    /// A person's signed decision, verbatim.
    Person {
        principal: String,
        /// Fingerprint of the key that signed.
        key: String,
        at: String,
        payload: String,
        signature: String,
    },
    /// An `auto` policy rule: no person.
    Policy {
        rule: String,
        policy: String,
        at: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The proposal is not (or no longer) approved.
    #[error("{0}")]
    NotApproved(String),
    /// The stored records do not hold what a receipt needs.
    #[error("cannot issue a receipt: {0}")]
    Incomplete(String),
    #[error("cannot sign the receipt: {0}")]
    Sign(String),
}

/// What a receipt is issued from.
pub struct Approved<'a> {
    pub alert: &'a AlertRecord,
    pub proposal: &'a ProposalRecord,
    /// The alert's audit entries (any order).
    pub entries: &'a [AuditEntry],
    pub audience: String,
    pub server: &'a str,
}

/// Whether a proposal in `status` has a receipt: approved, and after
/// (started, executed, failed). Halted, lapsed and the rest do not.
pub fn issuable(status: ProposalStatus) -> Result<(), ReceiptError> {
    match status {
        ProposalStatus::Approved
        | ProposalStatus::Executing
        | ProposalStatus::Executed
        | ProposalStatus::Failed => Ok(()),
        ProposalStatus::Halted => Err(ReceiptError::NotApproved(
            "the proposal was halted: its approval is revoked".into(),
        )),
        ProposalStatus::Lapsed => Err(ReceiptError::NotApproved(
            "the approval lapsed: nothing started before execute_by".into(),
        )),
        other => Err(ReceiptError::NotApproved(format!(
            "the proposal is {}, not approved",
            other.as_str()
        ))),
    }
}

struct Parsed {
    seq: i64,
    body: Value,
}

/// A receipt just issued: what goes out, and its id (for checking a
/// `started` against, without reading the text back).
#[derive(Debug, Clone)]
pub struct Issued {
    pub signed: SignedReceipt,
    pub receipt_id: String,
}

/// The receipt of an approved proposal, signed with the server key.
pub fn issue(a: &Approved, key: &PrivateKey) -> Result<Issued, ReceiptError> {
    let p = a.proposal;
    issuable(p.status)?;
    let mut mine: Vec<Parsed> = a
        .entries
        .iter()
        .filter_map(|e| {
            let body: Value = serde_json::from_str(&e.entry).ok()?;
            Some(Parsed { seq: e.seq, body })
        })
        .collect();
    mine.sort_by_key(|e| e.seq);
    let about_it = |e: &&Parsed| e.body["proposal_id"].as_str() == Some(p.id.as_str());
    // An approval as amended approves `amended_digest`.
    let current = |e: &&Parsed| {
        let data = &e.body["data"];
        data["amended_digest"].as_str().or(data["digest"].as_str()) == Some(p.digest.as_str())
    };
    let approving = mine
        .iter()
        .filter(about_it)
        .filter(current)
        .rfind(|e| {
            matches!(
                e.body["kind"].as_str(),
                Some("approved" | "approved_by_policy")
            )
        })
        .ok_or_else(|| ReceiptError::Incomplete("no audit entry approves it".into()))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let issued_at = text(&approving.body["at"]);
    let policy = text(&approving.body["data"]["policy"]);
    let by_policy = approving.body["kind"] == "approved_by_policy";
    let rule = if by_policy {
        text(&approving.body["actor"]["rule"])
    } else {
        text(&approving.body["data"]["rule"])
    };
    let mut approvals = Vec::new();
    if by_policy {
        approvals.push(ReceiptApproval::Policy {
            rule: rule.clone(),
            policy: policy.clone(),
            at: issued_at.clone(),
        });
    }
    for given in &p.approvals {
        let e = mine
            .iter()
            .filter(about_it)
            .filter(current)
            .filter(|e| e.seq <= approving.seq)
            .rfind(|e| {
                matches!(
                    e.body["kind"].as_str(),
                    Some("approved" | "approval_counted")
                ) && e.body["actor"]["principal"].as_str() == Some(given.principal.as_str())
            })
            .ok_or_else(|| {
                ReceiptError::Incomplete(format!(
                    "no audit entry holds {}'s signed approval",
                    given.principal
                ))
            })?;
        let data = &e.body["data"];
        let (Some(payload), Some(signature)) =
            (data["payload"].as_str(), data["signature"].as_str())
        else {
            return Err(ReceiptError::Incomplete(format!(
                "{}'s approval was not signed",
                given.principal
            )));
        };
        approvals.push(ReceiptApproval::Person {
            principal: given.principal.clone(),
            key: given.key.clone().unwrap_or_default(),
            at: text(&e.body["at"]),
            payload: payload.to_owned(),
            signature: signature.to_owned(),
        });
    }
    let document = approved_document(a, &mine)?;
    let receipt = Receipt {
        v: 1,
        kind: "receipt".into(),
        receipt_id: receipt_id(key, &p.id, approving.seq)?,
        proposal_id: p.id.clone(),
        alert_id: p.alert_id.clone(),
        digest: p.digest.clone(),
        document,
        action: p.action.as_str().to_owned(),
        target: p.target.clone(),
        risk: p.risk,
        rule,
        policy,
        approvals,
        audit_seq: approving.seq,
        issued_at,
        execute_by: p.execute_by.map(to_rfc3339),
        audience: a.audience.clone(),
        server: a.server.to_owned(),
        amended: p.amended.clone(),
    };
    let value = serde_json::to_value(&receipt).map_err(|e| ReceiptError::Sign(e.to_string()))?;
    let bytes = digest::canonical(&value).map_err(|e| ReceiptError::Sign(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| ReceiptError::Sign(e.to_string()))?;
    let sig = key
        .sign(NS_RECEIPT, ssh_key::HashAlg::Sha512, text.as_bytes())
        .map_err(|e| ReceiptError::Sign(e.to_string()))?;
    let signature = crate::signing::armor(&sig).map_err(|e| ReceiptError::Sign(e.to_string()))?;
    Ok(Issued {
        signed: SignedReceipt {
            receipt: text,
            signature,
        },
        receipt_id: receipt.receipt_id,
    })
}

/// `{"alert", "proposal"}` as approved: the alert as it is now or as an
/// earlier revision recorded it, whichever the approved digest was taken
/// over (a later revision of the alert leaves a decided proposal as it was).
fn approved_document(a: &Approved, mine: &[Parsed]) -> Result<Value, ReceiptError> {
    let p = a.proposal;
    let recorded = mine.iter().rev().filter_map(|e| {
        matches!(
            e.body["kind"].as_str(),
            Some("alert_received" | "alert_revised")
        )
        .then_some(&e.body["data"]["document"])
    });
    std::iter::once(&a.alert.document)
        .chain(recorded)
        .find(|alert| {
            digest::proposal_digest(alert, &p.document).ok().as_deref() == Some(&p.digest)
        })
        .map(|alert| serde_json::json!({"alert": alert, "proposal": p.document}))
        .ok_or_else(|| {
            ReceiptError::Incomplete("no recorded alert gives the approved digest".into())
        })
}

/// 128 bits from the server key's signature over the proposal and its
/// approving entry: the same on every replica, unpredictable without the
/// key.
fn receipt_id(key: &PrivateKey, proposal_id: &str, seq: i64) -> Result<String, ReceiptError> {
    let sig = key
        .sign(
            NS_RECEIPT_ID,
            ssh_key::HashAlg::Sha512,
            format!("{proposal_id}\n{seq}").as_bytes(),
        )
        .map_err(|e| ReceiptError::Sign(e.to_string()))?;
    let hash = Sha256::digest(sig.signature_bytes());
    let h = hex::encode(&hash[..16]);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_ids_are_stable_and_keyed() {
        let key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
        let other = PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
        let a = receipt_id(&key, "p1", 7).unwrap();
        assert_eq!(a, receipt_id(&key, "p1", 7).unwrap());
        assert_ne!(a, receipt_id(&key, "p1", 8).unwrap());
        assert_ne!(a, receipt_id(&key, "p2", 7).unwrap());
        assert_ne!(a, receipt_id(&other, "p1", 7).unwrap());
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn only_approved_and_after_have_receipts() {
        for s in [
            ProposalStatus::Approved,
            ProposalStatus::Executing,
            ProposalStatus::Executed,
            ProposalStatus::Failed,
        ] {
            assert!(issuable(s).is_ok(), "{s:?}");
        }
        for s in [
            ProposalStatus::Pending,
            ProposalStatus::AwaitingSecond,
            ProposalStatus::Escalated,
            ProposalStatus::Rejected,
            ProposalStatus::Expired,
            ProposalStatus::Halted,
            ProposalStatus::Lapsed,
        ] {
            assert!(issuable(s).is_err(), "{s:?}");
        }
    }
}
