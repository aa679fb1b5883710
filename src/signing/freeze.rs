//! What a lead signs to stop an agent, or every agent, and to let it go
//! again: a freeze payload, in the decision namespace, posted to
//! `POST /v1/freezes`. Like a decision, its exact bytes are stored and
//! verified, and its nonce is used once.

use super::allowed_signers::AllowedSigners;
use super::decision::{MAX_REASON, Refused, Stamp, accept_signed};
use super::payload::{Signed, SignedDecision, new_nonce, sign_payload};
use super::signer::{Signer, SignerError};
use crate::domain::freeze::{ALL_AGENTS, FreezeMode};
use crate::domain::time::to_rfc3339;
use serde::{Deserialize, Serialize};
use ssh_key::PublicKey;

/// `{"v":1,"kind":"freeze"|"unfreeze","agent":…,"mode"?:…,"reason":…,
/// "principal":…,"signed_at":…,"nonce":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezePayload {
    pub v: u32,
    pub kind: String,
    /// The agent, or `*` for every agent.
    pub agent: String,
    /// On a freeze; an unfreeze has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FreezeMode>,
    pub reason: String,
    pub principal: String,
    pub signed_at: String,
    pub nonce: String,
}

impl Stamp for FreezePayload {
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

/// What a lead decides before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeDraft {
    /// The agent, or [`ALL_AGENTS`].
    pub agent: String,
    /// `None`: unfreeze.
    pub mode: Option<FreezeMode>,
    pub reason: String,
}

impl FreezeDraft {
    pub fn payload(&self, principal: &str, now_ms: i64) -> FreezePayload {
        FreezePayload {
            v: 1,
            kind: if self.mode.is_some() {
                "freeze"
            } else {
                "unfreeze"
            }
            .into(),
            agent: self.agent.clone(),
            mode: self.mode,
            reason: self.reason.clone(),
            principal: principal.to_owned(),
            signed_at: to_rfc3339(now_ms),
            nonce: new_nonce(),
        }
    }

    /// Builds and signs: the signature covers exactly the payload's bytes.
    pub fn sign(
        &self,
        principal: &str,
        now_ms: i64,
        signer: &Signer,
    ) -> Result<Signed, SignerError> {
        let payload = self.payload(principal, now_ms);
        sign_payload(&payload, &payload.nonce, signer)
    }
}

/// Why an agent name cannot be frozen, if it cannot: an agent's name
/// (1–64 of letters, digits, `-_.@`) or `*`.
pub fn agent_problem(agent: &str) -> Option<String> {
    let name_ok = !agent.is_empty()
        && agent.len() <= 64
        && agent
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    (!name_ok && agent != ALL_AGENTS).then(|| {
        format!(
            "agent: `{}` is neither an agent's name (1-64 of letters, digits, - _ . @) nor `*` (every agent)",
            agent.escape_debug()
        )
    })
}

/// Checks a signed freeze or unfreeze as a decision is checked
/// ([`accept_signed`]), then its own fields: a known agent form, a mode on
/// a freeze and none on an unfreeze, a reason.
pub fn accept(
    signed: &SignedDecision,
    session: &str,
    signers: &AllowedSigners,
    now: i64,
) -> Result<(FreezePayload, PublicKey), Refused> {
    let (p, key): (FreezePayload, _) =
        accept_signed(signed, session, signers, now, &["freeze", "unfreeze"])?;
    if let Some(problem) = agent_problem(&p.agent) {
        return Err(Refused::Payload(problem));
    }
    match (p.kind.as_str(), p.mode) {
        ("freeze", None) => {
            return Err(Refused::Payload(
                "mode: a freeze names its mode, `no_auto` or `hold`".into(),
            ));
        }
        ("unfreeze", Some(_)) => {
            return Err(Refused::Payload("mode: an unfreeze has no mode".into()));
        }
        _ => {}
    }
    if p.reason.len() > MAX_REASON {
        return Err(Refused::Payload("reason: longer than 16 KiB".into()));
    }
    Ok((p, key))
}
