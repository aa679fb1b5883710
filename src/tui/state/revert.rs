//! Reverting what ran: the dialog a person signs a `revert` in (the
//! executed proposal, the compensating proposal the server would create,
//! the reason), and the reverts signed here whose answer is on its way.

use crate::api::RevertPreview;
use crate::domain::machine::{self, Actor, Outlook, ProposalState};
use crate::domain::types::{ProposalStatus, Role};
use crate::tui::diff::DiffModel;
use std::collections::BTreeMap;
use std::sync::Arc;
use tui_textarea::TextArea;

/// What the server said a revert would create, as far as it has said.
#[derive(Debug, Clone)]
pub enum Preview {
    /// Asked for; nothing can be signed until it is here and drawn.
    Loading,
    /// The compensating proposal, its digest checked against its document.
    Shown(Box<RevertPreview>),
    /// Why there is nothing to sign: not reversible, not executed, a
    /// digest that does not match, the server away.
    Failed(String),
}

/// A revert being written: the executed proposal as shown when it opened,
/// what would undo it, and the reason that is signed.
pub struct RevertForm {
    /// The executed proposal.
    pub proposal_id: String,
    /// "isolate_host → ws-0412": what ran.
    pub what: String,
    /// The agent that ran it, and that the undo goes to.
    pub agent: String,
    /// The executed proposal's digest as shown: the revert is signed over it.
    pub digest: String,
    pub preview: Preview,
    /// A permission change's diff, `before` and `after` already swapped.
    pub diff: Option<Arc<DiffModel>>,
    /// Rows the diff is scrolled down.
    pub scroll: u16,
    pub editor: TextArea<'static>,
    pub error: Option<String>,
    /// When Enter starts to count: [`ARM_MS`](super::ARM_MS) after the
    /// preview was first drawn; `None` until it has been.
    pub armed_at: Option<i64>,
}

impl RevertForm {
    /// The preview, once it is here and checked.
    pub fn shown(&self) -> Option<&RevertPreview> {
        match &self.preview {
            Preview::Shown(p) => Some(p),
            _ => None,
        }
    }

    /// Whether Enter, read at `now`, may sign: the preview on screen for
    /// [`ARM_MS`](super::ARM_MS).
    pub fn armed(&self, now: i64) -> bool {
        self.shown().is_some() && self.armed_at.is_some_and(|a| now >= a)
    }
}

/// A revert signed here, its answer not back yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRevert {
    /// "release_host → ws-0412": what it creates.
    pub creates: String,
    /// Who runs it.
    pub agent: String,
}

/// Reverts signed in this session, by the executed proposal's id, until
/// the server answers: a second `U` on it says it is on its way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reverts {
    pub sent: BTreeMap<String, SentRevert>,
}

/// What this person's revert signature would be for the compensating
/// proposal, by the rules themselves: the first approval of a fresh one.
pub fn outlook(p: &RevertPreview, principal: &str, role: Role, key: &str) -> Outlook {
    let fresh = ProposalState {
        status: ProposalStatus::Pending,
        approvals: vec![],
        escalated_by: None,
        escalated_by_key: None,
        expires_at: i64::MAX,
        escalate_at: None,
        execute_by: None,
    };
    let me = Actor::Person {
        principal: principal.to_owned(),
        role,
        key: Some(key.to_owned()).filter(|k| !k.is_empty()),
        // The server alone judges `hardware_key`: the outlook never
        // refuses for it.
        hardware: true,
    };
    // The preview does not say whether the inverse's rule wants a
    // security key: the server judges that when it is signed.
    machine::outlook(&fresh, p.approvals, p.role, false, &me)
}

/// The outlook in words: "your signature approves it: it goes to
/// soar-bot at once", "your signature is the first of 2; a lead must
/// approve too".
pub fn outlook_text(o: &Outlook, agent: &str) -> String {
    match o {
        Outlook::Completes => format!("your signature approves it: it goes to {agent} at once"),
        Outlook::Counts {
            after,
            of,
            lead_missing,
        } => {
            let nth = if *after == 1 {
                "the first".to_owned()
            } else {
                after.to_string()
            };
            let who = if *lead_missing {
                "a lead"
            } else {
                "another person"
            };
            format!("your signature is {nth} of {of}; {who} must approve too")
        }
        Outlook::Refused(r) => format!("you cannot sign this revert: {r}"),
    }
}
