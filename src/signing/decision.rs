//! A signed decision as the server accepts it, before any stored row is
//! read: the payload's exact bytes are strict JSON of the right shape, it
//! is signed in the decision namespace by a key allowed_signers trusts for
//! the principal now, that principal is the session's, and its nonce,
//! time and review metadata are well-formed. What the stored proposal says
//! (its digest, its state, who already approved) is the store's question.

use super::allowed_signers::{AllowedSigners, KeyProblem};
use super::payload::{DecisionPayload, SignedDecision, nonce_ok};
use super::{NS_DECISION, SigError};
use crate::domain::json::{self, JsonProblem};
use crate::domain::time::parse_rfc3339;
use ssh_key::PublicKey;

/// The largest group a console may decide at once.
pub const MAX_GROUP: u32 = 500;
/// How far in the future `signed_at` may be (clock skew).
const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;
/// How old a signed decision may be when it arrives (an outbox that waited
/// out an outage); stale digests and nonces still guard it.
const MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
/// The longest reason, and the most review panes, a payload may carry.
pub const MAX_REASON: usize = 16 * 1024;
const MAX_PANES: usize = 16;

/// A decision whose signature, signer and form are good.
#[derive(Debug)]
pub struct Accepted {
    pub payload: DecisionPayload,
    /// The key that signed it (one key is one person).
    pub key: PublicKey,
}

/// Why a signed decision is refused before the store sees it.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// A duplicate member or a number I-JSON cannot carry, in the payload.
    #[error("payload: {0}")]
    Json(JsonProblem),
    /// Not a decision payload of this version, or a field out of form.
    #[error("{0}")]
    Payload(String),
    #[error("the payload is signed as `{signed}` but the session is `{session}`")]
    NotTheSession { signed: String, session: String },
    #[error(transparent)]
    Signature(SigError),
    #[error(transparent)]
    Key(KeyProblem),
    #[error(
        "signed_at is more than 5 minutes ahead of the server or older than 7 days; check the clock"
    )]
    ClockSkew,
    #[error("{0}")]
    Review(String),
}

/// What every signed payload carries beside its own fields.
pub trait Stamp {
    /// `(v, kind)`.
    fn form(&self) -> (u32, &str);
    fn principal(&self) -> &str;
    fn signed_at(&self) -> &str;
    fn nonce(&self) -> &str;
}

impl Stamp for DecisionPayload {
    fn form(&self) -> (u32, &str) {
        (self.v, &self.kind)
    }
    fn principal(&self) -> &str {
        &self.principal
    }
    fn signed_at(&self) -> &str {
        &self.signed_at
    }
    fn nonce(&self) -> &str {
        &self.nonce
    }
}

/// The checks every payload a person signs passes, whatever it decides:
/// strict JSON of type `T` with `v` = 1 and a `kind` among `kinds`, in
/// `session`'s name, signed in the decision namespace by a key
/// allowed_signers trusts for the principal at `now`, a well-formed nonce
/// and a `signed_at` within the allowed skew.
pub fn accept_signed<T: serde::de::DeserializeOwned + Stamp>(
    signed: &SignedDecision,
    session: &str,
    signers: &AllowedSigners,
    now: i64,
    kinds: &[&str],
) -> Result<(T, PublicKey), Refused> {
    match json::check(signed.payload.as_bytes()) {
        // serde_json names a syntax error with line and column, next.
        Ok(()) | Err(JsonProblem::Syntax(_)) => {}
        Err(p) => return Err(Refused::Json(p)),
    }
    let p: T = serde_json::from_str(&signed.payload)
        .map_err(|e| Refused::Payload(format!("payload: {e}")))?;
    let (v, kind) = p.form();
    if v != 1 || !kinds.contains(&kind) {
        return Err(Refused::Payload(format!(
            "payload: expected v = 1, kind = {}",
            kinds
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    if p.principal() != session {
        return Err(Refused::NotTheSession {
            signed: p.principal().to_owned(),
            session: session.to_owned(),
        });
    }
    let key = super::verify(&signed.signature, signed.payload.as_bytes(), NS_DECISION)
        .map_err(Refused::Signature)?;
    signers
        .check_signer(p.principal(), &key, NS_DECISION, now)
        .map_err(Refused::Key)?;
    if !nonce_ok(p.nonce()) {
        return Err(Refused::Payload(
            "nonce: 32 lowercase hex digits (128 bits)".into(),
        ));
    }
    let signed_at = parse_rfc3339(p.signed_at())
        .ok_or_else(|| Refused::Payload("signed_at: not an RFC 3339 time".into()))?;
    if signed_at > now + MAX_FUTURE_MS || signed_at < now - MAX_AGE_MS {
        return Err(Refused::ClockSkew);
    }
    Ok((p, key.key))
}

/// Checks `signed`, sent in `session`'s name, against `signers` at `now`
/// (epoch milliseconds).
pub fn accept(
    signed: &SignedDecision,
    session: &str,
    signers: &AllowedSigners,
    now: i64,
) -> Result<Accepted, Refused> {
    let (p, key): (DecisionPayload, _) =
        accept_signed(signed, session, signers, now, &["decision"])?;
    if let Some(problem) = p
        .review
        .problem(p.verdict, p.proposal_id.is_some(), MAX_GROUP)
    {
        return Err(Refused::Review(problem));
    }
    if p.reason.len() > MAX_REASON || p.review.panes.len() > MAX_PANES {
        return Err(Refused::Payload("reason or review too long".into()));
    }
    match (p.verdict, &p.revert_digest) {
        (super::payload::PayloadVerdict::Revert, None) => {
            return Err(Refused::Payload(
                "revert_digest: a revert names the digest of the compensating proposal it approves (GET /v1/proposals/{id}/revert)".into(),
            ));
        }
        (v, Some(_)) if v != super::payload::PayloadVerdict::Revert => {
            return Err(Refused::Payload(
                "revert_digest: only a revert carries one".into(),
            ));
        }
        _ => {}
    }
    if (p.verdict == super::payload::PayloadVerdict::Extend) != p.contain_until.is_some() {
        return Err(Refused::Payload(
            "contain_until: an extend names until when (RFC 3339), and only an extend does".into(),
        ));
    }
    match (&p.amend, &p.amended_digest) {
        (None, None) => {}
        (Some(_), Some(_)) if p.verdict == super::payload::PayloadVerdict::Approve => {}
        (Some(_), Some(_)) => {
            return Err(Refused::Payload(
                "amend: only an approval is given as amended".into(),
            ));
        }
        _ => {
            return Err(Refused::Payload(
                "amend and amended_digest go together: the fields replaced and the digest of the amended document".into(),
            ));
        }
    }
    Ok(Accepted { payload: p, key })
}
