//! What a person signs. `payload` is the exact UTF-8 bytes of a JSON object;
//! the server stores and verifies those bytes, never a re-serialisation.

use super::signer::{Signer, SignerError};
use crate::domain::time::to_rfc3339;
use crate::domain::types::Label;
use rand::RngCore;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadVerdict {
    Approve,
    Reject,
    Escalate,
    Halt,
    Annotate,
    /// Sampled review of a policy approval.
    Confirm,
    Flag,
}

impl PayloadVerdict {
    pub fn as_verdict(self) -> Option<crate::domain::types::Verdict> {
        use crate::domain::types::Verdict;
        match self {
            PayloadVerdict::Approve => Some(Verdict::Approve),
            PayloadVerdict::Reject => Some(Verdict::Reject),
            PayloadVerdict::Escalate => Some(Verdict::Escalate),
            PayloadVerdict::Halt => Some(Verdict::Halt),
            PayloadVerdict::Confirm => Some(Verdict::Confirm),
            PayloadVerdict::Flag => Some(Verdict::Flag),
            PayloadVerdict::Annotate => None,
        }
    }
}

impl From<crate::domain::types::Verdict> for PayloadVerdict {
    fn from(v: crate::domain::types::Verdict) -> Self {
        use crate::domain::types::Verdict;
        match v {
            Verdict::Approve => PayloadVerdict::Approve,
            Verdict::Reject => PayloadVerdict::Reject,
            Verdict::Escalate => PayloadVerdict::Escalate,
            Verdict::Halt => PayloadVerdict::Halt,
            Verdict::Confirm => PayloadVerdict::Confirm,
            Verdict::Flag => PayloadVerdict::Flag,
        }
    }
}

/// How closely the person looked before deciding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Seconds the detail view was open.
    pub seconds: f64,
    /// Panes viewed: `summary`, `diff`, `evidence`, `context`.
    #[serde(default)]
    pub panes: Vec<String>,
    /// Decided as one of a group of like proposals (same action, rule,
    /// risk and agent), each signed over its own digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupReview>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupReview {
    /// How many proposals were decided together.
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionPayload {
    pub v: u32,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    pub digest: String,
    pub verdict: PayloadVerdict,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub labels: Vec<Label>,
    pub principal: String,
    pub signed_at: String,
    pub nonce: String,
    #[serde(default)]
    pub review: Review,
}

/// A payload and its signature, as posted to `POST /v1/decisions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedDecision {
    pub payload: String,
    pub signature: String,
}

/// 128 random bits, hex.
pub fn new_nonce() -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

pub fn nonce_ok(n: &str) -> bool {
    n.len() == 32
        && n.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

/// What the console decides, before it is signed.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionDraft {
    pub target: Target,
    pub digest: String,
    pub verdict: PayloadVerdict,
    pub reason: String,
    pub labels: Vec<Label>,
    pub review: Review,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Proposal(String),
    Alert(String),
}

impl DecisionDraft {
    /// Builds the payload for `principal` at `now_ms` with a fresh nonce.
    pub fn payload(&self, principal: &str, now_ms: i64) -> DecisionPayload {
        let (proposal_id, alert_id) = match &self.target {
            Target::Proposal(id) => (Some(id.clone()), None),
            Target::Alert(id) => (None, Some(id.clone())),
        };
        DecisionPayload {
            v: 1,
            kind: "decision".into(),
            proposal_id,
            alert_id,
            digest: self.digest.clone(),
            verdict: self.verdict,
            reason: self.reason.clone(),
            labels: self.labels.clone(),
            principal: principal.to_owned(),
            signed_at: to_rfc3339(now_ms),
            nonce: new_nonce(),
            review: self.review.clone(),
        }
    }

    /// Builds and signs: the signature covers exactly `payload`'s bytes.
    pub fn sign(
        &self,
        principal: &str,
        now_ms: i64,
        signer: &Signer,
    ) -> Result<SignedDecision, SignerError> {
        let payload = serde_json::to_string(&self.payload(principal, now_ms))
            .map_err(|e| SignerError::Sign(e.to_string()))?;
        let signature = signer.sign(super::NS_DECISION, payload.as_bytes())?;
        Ok(SignedDecision { payload, signature })
    }
}
