//! Offline verification of an exported log: the hash chain, every signed
//! decision (against allowed_signers, at the time it was recorded), that
//! each entry says what its signed payload says, the server's signed
//! checkpoints, and that every approval met what the recorded policy it
//! names required (`requirements`). The first broken entry is named by
//! sequence number; every requirement not met is listed.

use super::chain::{ChainBreak, Head, link_hash};
use super::checkpoint::{self, Checkpoint};
pub use super::requirements::Unmet;
use super::requirements::{KeyUsed, Replay};
use crate::domain::records::AuditEntry;
use crate::domain::time::parse_rfc3339;
use crate::signing::allowed_signers::AllowedSigners;
use crate::signing::freeze::FreezePayload;
use crate::signing::payload::{DecisionPayload, PayloadVerdict};
use crate::signing::{self, NS_DECISION};
use serde_json::Value;
use ssh_key::PublicKey;

/// One line of an exported log (JSON Lines): an entry, or a checkpoint.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ExportLine {
    Checkpoint { checkpoint: Checkpoint },
    Entry(AuditEntry),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub entries: usize,
    /// Signed decisions whose signature verifies and whose key the given
    /// allowed_signers trusts for that principal at that time.
    pub signed: usize,
    pub head: Head,
    /// Highest checkpoint sequence number verified against the server key
    /// (never set without one).
    pub checkpoint_seq: Option<i64>,
    /// Checkpoints present but not checked: no server key was given.
    pub unchecked_checkpoints: usize,
    /// Entries no verified checkpoint covers (first, last seq): with no
    /// checkpoint (or one at seq 0), the whole log. Nothing proves the
    /// server wrote them.
    pub open_tail: Option<(i64, i64)>,
    /// Signed decisions that are intact (the signature verifies with the
    /// key inside it, and agrees with the entry) but whose key the given
    /// allowed_signers does not trust for that principal then: a key
    /// revoked since, or an older or other file. Not a broken chain.
    pub untrusted: Vec<Untrusted>,
    /// Distinct policies the log records (`policy_loaded`).
    pub policies: usize,
    /// Proposals that reached approved whose requirement was re-checked
    /// against the recorded policy they name.
    pub rechecked: usize,
    /// Proposals that reached approved under no recorded policy (written
    /// before policies were recorded): not re-checked.
    pub not_rechecked: usize,
    /// Requirements the recorded approvals do not meet: a failure.
    pub unmet: Vec<Unmet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    pub seq: i64,
    pub principal: String,
    pub fingerprint: String,
    /// A touched FIDO security key.
    pub hardware: bool,
    /// What allowed_signers says about it.
    pub problem: String,
}

/// What one entry's signature check found; the signed ones carry the
/// fingerprint of the key that signed.
enum Signed {
    /// No signed payload (agent, policy or deadline entries).
    None,
    /// The key's fingerprint, and whether it is a security key.
    Trusted(String, bool),
    Untrusted(Untrusted),
}

/// Entry kinds a person causes: each must carry a verified signature.
const PERSON_KINDS: &[&str] = &[
    "approval_counted",
    "approved",
    "rejected",
    "escalated",
    "halted",
    "annotated",
    "agent_frozen",
    "agent_unfrozen",
    "reverted",
    "amended",
    "containment_extended",
];

fn fail(seq: i64, problem: impl Into<String>) -> ChainBreak {
    ChainBreak {
        seq,
        problem: problem.into(),
    }
}

/// The part of a signed entry's check every payload shares: its principal
/// is the entry's actor, its nonce and reason are the entry's, and whether
/// the key was trusted for the principal when the entry was written.
fn signed_by(
    e: &AuditEntry,
    body: &Value,
    signer: &signing::Verified,
    principal: &str,
    nonce: &str,
    reason: Option<&str>,
    signers: &AllowedSigners,
) -> Result<Signed, ChainBreak> {
    let data = &body["data"];
    let mismatch = |what: &str| {
        fail(
            e.seq,
            format!("entry disagrees with its signed payload: {what}"),
        )
    };
    if body["actor"]["principal"].as_str() != Some(principal) {
        return Err(mismatch("principal"));
    }
    if data["nonce"].as_str() != Some(nonce) {
        return Err(mismatch("nonce"));
    }
    if reason.is_some_and(|r| data["reason"].as_str() != Some(r)) {
        return Err(mismatch("reason"));
    }
    let at = body["at"]
        .as_str()
        .and_then(parse_rfc3339)
        .ok_or_else(|| fail(e.seq, "entry has no readable time"))?;
    Ok(
        match signers.check_signer(principal, signer, NS_DECISION, at) {
            Ok(_) => Signed::Trusted(
                signing::fingerprint(&signer.key),
                signing::is_hardware(&signer.key),
            ),
            Err(problem) => Signed::Untrusted(Untrusted {
                seq: e.seq,
                principal: principal.to_owned(),
                fingerprint: signing::fingerprint(&signer.key),
                hardware: signing::is_hardware(&signer.key),
                problem: problem.to_string(),
            }),
        },
    )
}

/// Checks one signed entry: signature, key, and agreement with the entry.
fn check_signed(
    e: &AuditEntry,
    body: &Value,
    signers: &AllowedSigners,
) -> Result<Signed, ChainBreak> {
    let kind = body["kind"].as_str().unwrap_or_default();
    let data = &body["data"];
    let Some(payload) = data["payload"].as_str() else {
        if PERSON_KINDS.contains(&kind) && body["actor"]["kind"] == "person" {
            return Err(fail(
                e.seq,
                format!("`{kind}` by a person carries no signed payload"),
            ));
        }
        return Ok(Signed::None);
    };
    let signature = data["signature"].as_str().unwrap_or_default();
    let key = signing::verify(signature, payload.as_bytes(), NS_DECISION)
        .map_err(|err| fail(e.seq, format!("decision signature: {err}")))?;
    let mismatch = |what: &str| {
        fail(
            e.seq,
            format!("entry disagrees with its signed payload: {what}"),
        )
    };
    let unreadable =
        |err: serde_json::Error| fail(e.seq, format!("signed payload is unreadable: {err}"));
    if matches!(kind, "agent_frozen" | "agent_unfrozen") {
        let p: FreezePayload = serde_json::from_str(payload).map_err(unreadable)?;
        let want = if kind == "agent_frozen" {
            "freeze"
        } else {
            "unfreeze"
        };
        if p.kind != want {
            return Err(mismatch("kind"));
        }
        if data["agent"].as_str() != Some(p.agent.as_str()) {
            return Err(mismatch("agent"));
        }
        if data["mode"] != serde_json::to_value(p.mode).unwrap_or_default() {
            return Err(mismatch("mode"));
        }
        return signed_by(
            e,
            body,
            &key,
            &p.principal,
            &p.nonce,
            Some(&p.reason),
            signers,
        );
    }
    let p: DecisionPayload = serde_json::from_str(payload).map_err(unreadable)?;
    // A revert is recorded twice with one signature: `reverted` on the
    // executed proposal (over its digest), and the first approval of the
    // compensating proposal it made (over `revert_digest`).
    let compensating = p.verdict == PayloadVerdict::Revert
        && kind != "reverted"
        && data["reverts"].as_str() == p.proposal_id.as_deref();
    let (proposal, digest) = if compensating {
        (body["proposal_id"].as_str(), p.revert_digest.as_deref())
    } else {
        (p.proposal_id.as_deref(), Some(p.digest.as_str()))
    };
    if data["digest"].as_str() != digest {
        return Err(mismatch("digest"));
    }
    if data["amended_digest"].as_str() != p.amended_digest.as_deref() {
        return Err(mismatch("amended digest"));
    }
    if let Some(until) = p.contain_until.as_deref()
        && data["contain_until"].as_str().and_then(parse_rfc3339) != parse_rfc3339(until)
    {
        return Err(mismatch("contain_until"));
    }
    if kind == "annotated" {
        if body["alert_id"].as_str() != p.alert_id.as_deref()
            || data["note"].as_str() != Some(p.reason.as_str())
        {
            return Err(mismatch("alert or note"));
        }
        return signed_by(e, body, &key, &p.principal, &p.nonce, None, signers);
    }
    let verdict = serde_json::to_value(p.verdict).unwrap_or_default();
    if data["verdict"] != verdict {
        return Err(mismatch("verdict"));
    }
    if body["proposal_id"].as_str() != proposal || proposal.is_none() {
        return Err(mismatch("proposal"));
    }
    signed_by(
        e,
        body,
        &key,
        &p.principal,
        &p.nonce,
        Some(&p.reason),
        signers,
    )
}

/// Entries checked in parallel at a time: enough to keep every core busy,
/// few enough that their parsed bodies fit in memory the allocator reuses
/// (4,096 at once meant fresh pages the kernel zeroes: a sixth of the
/// time; see benches/README.md).
const WINDOW: usize = 256;

/// What one entry says on its own: its link hash over its own bytes, its
/// JSON and own sequence number, and its signature.
fn check_entry(e: &AuditEntry, signers: &AllowedSigners) -> Result<(Value, Signed), ChainBreak> {
    if link_hash(&e.prev_hash, e.entry.as_bytes()) != e.hash {
        return Err(fail(
            e.seq,
            "hash does not match the entry bytes (entry altered)",
        ));
    }
    let body: Value = serde_json::from_str(&e.entry)
        .map_err(|err| fail(e.seq, format!("entry is not JSON: {err}")))?;
    if body["seq"].as_i64() != Some(e.seq) {
        return Err(fail(e.seq, "the entry's own seq differs from its position"));
    }
    let signed = check_signed(e, &body, signers)?;
    Ok((body, signed))
}

/// How many threads `verify_log` should use by default: one per core.
pub fn every_core() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f` over `items` on `threads` threads, results in the items' order.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if threads < 2 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let parts: Vec<_> = items
            .chunks(per)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(done) => done,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Verifies a whole log from genesis. `checkpoints` are the ones in the
/// export plus any saved earlier; each must be signed by `server_key` and
/// match the entry at its sequence number. Without a server key the
/// checkpoints are not checked (counted in `unchecked_checkpoints`) and the
/// whole log is an open tail: a correctly chained log proves nothing about
/// who wrote it. Entries are checked on `threads` threads ([`every_core`]
/// for all of them); the result does not depend on it.
pub fn verify_log(
    entries: &[AuditEntry],
    checkpoints: &[Checkpoint],
    signers: &AllowedSigners,
    server_key: Option<&PublicKey>,
    threads: usize,
) -> Result<Report, ChainBreak> {
    let mut head = Head::genesis();
    let mut signed = 0;
    let mut untrusted = Vec::new();
    let mut replay = Replay::new();
    // What each entry says on its own (its hash, its JSON, its signature)
    // is checked in parallel, a window at a time; the chain and the replay
    // run in order over the results, so the first broken entry is still
    // the one named.
    for window in entries.chunks(WINDOW) {
        let checked = in_parallel(window, threads, |e| check_entry(e, signers));
        for (e, own) in window.iter().zip(checked) {
            if e.seq != head.seq + 1 {
                return Err(fail(
                    e.seq,
                    format!(
                        "expected sequence number {}, found {} (an entry is missing or out of order)",
                        head.seq + 1,
                        e.seq
                    ),
                ));
            }
            if e.prev_hash != head.hash {
                return Err(fail(
                    e.seq,
                    "prev_hash does not match the previous entry's hash",
                ));
            }
            let (body, sig) = own?;
            let key = match sig {
                Signed::Trusted(key, hardware) => {
                    signed += 1;
                    Some((key, hardware))
                }
                Signed::Untrusted(u) => {
                    let key = (u.fingerprint.clone(), u.hardware);
                    untrusted.push(u);
                    Some(key)
                }
                Signed::None => None,
            };
            let used = key.as_ref().map(|(fingerprint, hardware)| KeyUsed {
                fingerprint,
                hardware: *hardware,
            });
            replay.entry(e.seq, &body, used)?;
            head = Head {
                seq: e.seq,
                hash: e.hash.clone(),
            };
        }
    }
    let mut checkpoint_seq = None;
    let Some(server_key) = server_key else {
        return Ok(Report {
            entries: entries.len(),
            signed,
            open_tail: (head.seq > 0).then_some((1, head.seq)),
            head,
            checkpoint_seq,
            unchecked_checkpoints: checkpoints.len(),
            untrusted,
            policies: replay.policies(),
            rechecked: replay.rechecked,
            not_rechecked: replay.not_rechecked,
            unmet: replay.unmet,
        });
    };
    for cp in checkpoints {
        let body =
            checkpoint::verify(cp, server_key).map_err(|err| fail(head.seq, err.to_string()))?;
        if body.seq > head.seq {
            return Err(fail(
                head.seq + 1,
                format!(
                    "log truncated: it ends at entry {} but a signed checkpoint covers up to {}",
                    head.seq, body.seq
                ),
            ));
        }
        if body.seq > 0 {
            let at = entries
                .get((body.seq - 1) as usize)
                .ok_or_else(|| fail(body.seq, "checkpointed entry missing"))?;
            if at.hash != body.head {
                return Err(fail(
                    body.seq,
                    "hash differs from the server's signed checkpoint (log rewritten)",
                ));
            }
        }
        checkpoint_seq = checkpoint_seq.max(Some(body.seq));
    }
    let covered = checkpoint_seq.unwrap_or(0);
    Ok(Report {
        entries: entries.len(),
        signed,
        open_tail: (head.seq > covered).then_some((covered + 1, head.seq)),
        head,
        checkpoint_seq,
        unchecked_checkpoints: 0,
        untrusted,
        policies: replay.policies(),
        rechecked: replay.rechecked,
        not_rechecked: replay.not_rechecked,
        unmet: replay.unmet,
    })
}

/// Reads an export (JSON Lines), naming the line of a malformed one.
pub fn parse_export(text: &str) -> Result<(Vec<AuditEntry>, Vec<Checkpoint>), String> {
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ExportLine>(line) {
            Ok(ExportLine::Entry(e)) => entries.push(e),
            Ok(ExportLine::Checkpoint { checkpoint }) => checkpoints.push(checkpoint),
            Err(e) => {
                return Err(format!(
                    "line {}: not an audit entry or checkpoint: {e}",
                    i + 1
                ));
            }
        }
    }
    Ok((entries, checkpoints))
}

/// Reads a saved checkpoint: bare, or as an export line.
pub fn parse_checkpoint(text: &str) -> Result<Checkpoint, String> {
    let text = text.trim();
    serde_json::from_str::<Checkpoint>(text)
        .or_else(|_| match serde_json::from_str::<ExportLine>(text) {
            Ok(ExportLine::Checkpoint { checkpoint }) => Ok(checkpoint),
            _ => Err(()),
        })
        .map_err(|()| "not a countersign checkpoint (payload, signature, public_key)".to_owned())
}
