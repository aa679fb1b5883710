//! A receipt checked offline, as an executor or an auditor would: the
//! server's signature over the exact text, the text's form, the document
//! against its digest, every person's signature against allowed_signers
//! at the time they signed, and the execution window.

use super::{NS_RECEIPT, Receipt, ReceiptApproval};
use crate::api::SignedReceipt;
use crate::domain::digest;
use crate::domain::machine::Millis;
use crate::domain::time::parse_rfc3339;
use crate::signing::allowed_signers::AllowedSigners;
use crate::signing::payload::{DecisionPayload, PayloadVerdict};
use crate::signing::{self, NS_DECISION};
use ssh_key::PublicKey;
use std::collections::HashSet;

/// How a receipt fared.
#[derive(Debug)]
pub enum Checked {
    /// Every check passed and the window is open.
    Valid(Box<Receipt>),
    /// Genuine, but `execute_by` has passed: run nothing.
    Expired(Box<Receipt>),
    /// What failed, each in a sentence.
    Invalid(Vec<String>),
}

/// What the caller expects of the receipt besides its validity.
#[derive(Debug, Default, Clone)]
pub struct Expect {
    /// The digest of what the caller is about to run.
    pub digest: Option<String>,
    pub proposal_id: Option<String>,
}

/// Checks `file` (the JSON `{"receipt", "signature"}` the server gave) at
/// time `now`.
pub fn check(
    file: &[u8],
    server_key: &PublicKey,
    signers: &AllowedSigners,
    expect: &Expect,
    now: Millis,
) -> Checked {
    let signed: SignedReceipt = match serde_json::from_slice(file) {
        Ok(s) => s,
        Err(e) => {
            return Checked::Invalid(vec![format!(
                "not a receipt file ({{\"receipt\": …, \"signature\": …}}): {e}"
            )]);
        }
    };
    match check_signed(&signed, server_key, signers, expect) {
        Err(problems) => Checked::Invalid(problems),
        Ok(receipt) => match receipt.execute_by.as_deref().map(parse_rfc3339) {
            Some(Some(by)) if now > by => Checked::Expired(Box::new(receipt)),
            Some(None) => Checked::Invalid(vec!["execute_by is not an RFC 3339 time".into()]),
            _ => Checked::Valid(Box::new(receipt)),
        },
    }
}

/// Everything but the clock.
pub fn check_signed(
    signed: &SignedReceipt,
    server_key: &PublicKey,
    signers: &AllowedSigners,
    expect: &Expect,
) -> Result<Receipt, Vec<String>> {
    let text = signed.receipt.as_bytes();
    let key = signing::verify(&signed.signature, text, NS_RECEIPT)
        .map_err(|e| vec![format!("server signature: {e}")])?
        .key;
    if key.key_data() != server_key.key_data() {
        return Err(vec![format!(
            "signed by {}, not by the server key {}",
            signing::fingerprint(&key),
            signing::fingerprint(server_key)
        )]);
    }
    // One reading only: no duplicate names, nothing I-JSON forbids, and
    // the text is its own RFC 8785 form.
    if let Err(e) = crate::domain::json::check(text) {
        return Err(vec![format!("the receipt text is not strict JSON: {e}")]);
    }
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| vec![format!("receipt: {e}")])?;
    if digest::canonical(&value).ok().as_deref() != Some(text) {
        return Err(vec!["the receipt text is not in RFC 8785 form".into()]);
    }
    let receipt: Receipt =
        serde_json::from_value(value).map_err(|e| vec![format!("receipt: {e}")])?;
    let mut problems = Vec::new();
    if receipt.v != 1 || receipt.kind != "receipt" {
        problems.push(format!(
            "not a version-1 receipt (v {}, kind {})",
            receipt.v, receipt.kind
        ));
    }
    let recomputed =
        digest::proposal_digest(&receipt.document["alert"], &receipt.document["proposal"]);
    match recomputed {
        Ok(d) if d == receipt.digest => {}
        Ok(d) => problems.push(format!(
            "the document's digest is {d}, the receipt says {}",
            receipt.digest
        )),
        Err(e) => problems.push(format!("the document cannot be digested: {e}")),
    }
    let proposal = &receipt.document["proposal"];
    if proposal["action"].as_str() != Some(receipt.action.as_str()) {
        problems.push("action differs from the document's".into());
    }
    if proposal["target"].as_str() != Some(receipt.target.as_str()) {
        problems.push("target differs from the document's".into());
    }
    if let Some(want) = &expect.digest
        && want != &receipt.digest
    {
        problems.push(format!(
            "approved digest is {}, expected {want}",
            receipt.digest
        ));
    }
    if let Some(want) = &expect.proposal_id
        && want != &receipt.proposal_id
    {
        problems.push(format!(
            "receipt is for proposal {}, expected {want}",
            receipt.proposal_id
        ));
    }
    if receipt.approvals.is_empty() {
        problems.push("no approval".into());
    }
    let mut keys = HashSet::new();
    for (i, a) in receipt.approvals.iter().enumerate() {
        match a {
            ReceiptApproval::Policy { rule, policy, .. } => {
                if rule != &receipt.rule || policy != &receipt.policy {
                    problems.push(format!(
                        "approval {i}: policy approval names another rule or policy"
                    ));
                }
            }
            ReceiptApproval::Person {
                principal,
                key,
                payload,
                signature,
                ..
            } => {
                if let Err(p) = check_person(&receipt, principal, key, payload, signature, signers)
                {
                    problems.push(format!("approval {i} ({principal}): {p}"));
                } else if !keys.insert(key.clone()) {
                    problems.push(format!(
                        "approval {i} ({principal}): the same key approved twice"
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(receipt)
    } else {
        Err(problems)
    }
}

/// One person's approval: their signature, their key's standing in
/// allowed_signers when they signed, and that they approved this digest.
fn check_person(
    r: &Receipt,
    principal: &str,
    fingerprint: &str,
    payload: &str,
    signature: &str,
    signers: &AllowedSigners,
) -> Result<(), String> {
    let signer = signing::verify(signature, payload.as_bytes(), NS_DECISION)
        .map_err(|e| format!("signature: {e}"))?;
    if signing::fingerprint(&signer.key) != fingerprint {
        return Err(format!(
            "signed by {}, the receipt names {fingerprint}",
            signing::fingerprint(&signer.key)
        ));
    }
    let p: DecisionPayload = serde_json::from_str(payload).map_err(|e| format!("payload: {e}"))?;
    if p.principal != principal {
        return Err(format!("the payload is signed as {}", p.principal));
    }
    // A revert approves the compensating proposal it made: it names the
    // executed one (which the receipt's alert says this one reverts) and
    // this proposal's digest as `revert_digest`.
    let (about, approved) = match p.verdict {
        PayloadVerdict::Approve => (
            r.proposal_id.as_str(),
            Some(p.amended_digest.as_deref().unwrap_or(&p.digest)),
        ),
        PayloadVerdict::Revert => (
            crate::domain::revert::reverted_in(&r.document["alert"]).unwrap_or_default(),
            p.revert_digest.as_deref(),
        ),
        _ => return Err("the payload does not approve".into()),
    };
    if p.proposal_id.as_deref() != Some(about) || about.is_empty() {
        return Err("the payload is about another proposal".into());
    }
    if approved != Some(r.digest.as_str()) {
        return Err(format!(
            "the payload approves digest {}",
            approved.unwrap_or("(none)")
        ));
    }
    let at = parse_rfc3339(&p.signed_at).ok_or("the payload's signed_at is not a time")?;
    signers
        .check_signer(principal, &signer, NS_DECISION, at)
        .map_err(|e| format!("allowed_signers: {e}"))?;
    Ok(())
}
