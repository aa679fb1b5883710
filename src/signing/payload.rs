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
    /// Undo an executed proposal: creates its compensating proposal
    /// (`revert_digest` names it), this signature its first approval.
    Revert,
    /// Keep an executed containment in place longer (`contain_until`).
    Extend,
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
            PayloadVerdict::Annotate | PayloadVerdict::Revert | PayloadVerdict::Extend => None,
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
    /// Panes viewed: one of [`KNOWN_PANES`].
    #[serde(default)]
    pub panes: Vec<String>,
    /// Decided as one of a group of like proposals (same action, rule,
    /// risk and agent), each signed over its own digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupReview>,
}

/// The panes a review may name: the console's detail tabs, and `group`
/// for the group sheet (a decision signed as one of a group).
pub const KNOWN_PANES: &[&str] = &["summary", "diff", "evidence", "context", "history", "group"];

/// The longest a review may say it lasted: a week, as long as a signed
/// decision may wait in an outbox. More is a broken clock or a lie, and
/// would skew the oversight view's review times.
pub const MAX_REVIEW_SECS: f64 = 7.0 * 24.0 * 3600.0;

impl Review {
    /// What is wrong with this review metadata for a decision with
    /// `verdict` on a proposal (`on_proposal`) or an alert, if anything:
    /// `seconds` from 0 to [`MAX_REVIEW_SECS`], panes only from
    /// [`KNOWN_PANES`], and `group` (with `size` from 2 to `max_group`)
    /// only on an approval or rejection of a proposal — what a console
    /// decides in a group.
    pub fn problem(
        &self,
        verdict: PayloadVerdict,
        on_proposal: bool,
        max_group: u32,
    ) -> Option<String> {
        if !self.seconds.is_finite() || !(0.0..=MAX_REVIEW_SECS).contains(&self.seconds) {
            return Some(format!(
                "review.seconds: from 0 to {MAX_REVIEW_SECS} (a week), not {}",
                self.seconds
            ));
        }
        if let Some(bad) = self
            .panes
            .iter()
            .find(|p| !KNOWN_PANES.contains(&p.as_str()))
        {
            return Some(format!(
                "review.panes: `{}` is not a pane (known: {})",
                bad.escape_debug(),
                KNOWN_PANES.join(", ")
            ));
        }
        let grouped =
            matches!(verdict, PayloadVerdict::Approve | PayloadVerdict::Reject) && on_proposal;
        match self.group {
            Some(_) if !grouped => Some(
                "review.group: only an approval or rejection of a proposal is decided in a group"
                    .into(),
            ),
            Some(g) if !(2..=max_group).contains(&g.size) => Some(format!(
                "review.group.size: from 2 to {max_group} (how many proposals were decided together), not {}",
                g.size
            )),
            None if self.panes.iter().any(|p| p == "group") => Some(
                "review.panes: `group` is named only by a decision made in a group (review.group)"
                    .into(),
            ),
            _ => None,
        }
    }
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
    /// On a `revert`: the digest of the compensating proposal it creates
    /// (`GET /v1/proposals/{id}/revert` shows it), which this signature
    /// approves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_digest: Option<String>,
    /// On an approval as amended: the fields it replaces (`target`,
    /// `permission_change.after`, `expires_in_secs`) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amend: Option<serde_json::Value>,
    /// ... and the digest of the amended document, which this signature
    /// approves (`digest` stays what was on screen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amended_digest: Option<String>,
    /// On an `extend`: until when the containment stays (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contain_until: Option<String>,
}

/// A payload and its signature, as posted to `POST /v1/decisions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedDecision {
    pub payload: String,
    pub signature: String,
}

/// A decision just signed, and the nonce it carries (the outbox keys its
/// deliveries by it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub decision: SignedDecision,
    pub nonce: String,
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
    /// On a `revert`: the digest of the compensating proposal it approves.
    pub revert_digest: Option<String>,
    /// On an approval as amended: the replaced fields, and the digest of
    /// the amended document (see [`DecisionPayload::amend`]).
    pub amend: Option<serde_json::Value>,
    pub amended_digest: Option<String>,
    /// On an `extend`: until when the containment stays (RFC 3339).
    pub contain_until: Option<String>,
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
            revert_digest: self.revert_digest.clone(),
            amend: self.amend.clone(),
            amended_digest: self.amended_digest.clone(),
            contain_until: self.contain_until.clone(),
        }
    }

    /// Builds and signs: the signature covers exactly `payload`'s bytes.
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

/// Any payload a person signs: its JSON text, signed in the decision
/// namespace over exactly those bytes, with the nonce it carries.
pub fn sign_payload<T: Serialize>(
    payload: &T,
    nonce: &str,
    signer: &Signer,
) -> Result<Signed, SignerError> {
    let payload = serde_json::to_string(payload).map_err(|e| SignerError::Sign(e.to_string()))?;
    let signature = signer.sign(super::NS_DECISION, payload.as_bytes())?;
    Ok(Signed {
        decision: SignedDecision { payload, signature },
        nonce: nonce.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(seconds: f64, panes: &[&str], group: Option<u32>) -> Review {
        Review {
            seconds,
            panes: panes.iter().map(|p| p.to_string()).collect(),
            group: group.map(|size| GroupReview { size }),
        }
    }

    #[test]
    fn review_metadata_is_bounded() {
        use PayloadVerdict::*;
        let ok = |r: Review, v, on| r.problem(v, on, 500).is_none();
        assert!(ok(review(0.0, &[], None), Approve, true));
        assert!(ok(
            review(
                MAX_REVIEW_SECS,
                &["summary", "diff", "evidence", "context", "history"],
                None
            ),
            Reject,
            true
        ));
        assert!(ok(review(3.5, &["group"], Some(2)), Approve, true));
        assert!(ok(review(3.5, &["summary"], Some(500)), Reject, true));
        assert!(ok(review(1.0, &["summary"], None), Annotate, false));
        assert!(!ok(review(-0.1, &[], None), Approve, true));
        assert!(!ok(review(MAX_REVIEW_SECS + 1.0, &[], None), Approve, true));
        assert!(!ok(review(f64::NAN, &[], None), Approve, true));
        assert!(!ok(review(1.0, &["Summary"], None), Approve, true));
        assert!(!ok(review(1.0, &["group"], None), Approve, true));
        assert!(!ok(review(1.0, &[], Some(1)), Approve, true));
        assert!(!ok(review(1.0, &[], Some(501)), Approve, true));
        for v in [Escalate, Halt, Confirm, Flag] {
            assert!(!ok(review(1.0, &[], Some(2)), v, true), "{v:?}");
        }
        assert!(!ok(review(1.0, &[], Some(2)), Annotate, false));
    }

    #[test]
    fn every_console_tab_is_a_known_pane() {
        for tab in crate::tui::state::TABS {
            assert!(KNOWN_PANES.contains(&tab.name()), "{}", tab.name());
        }
    }
}
