//! Named actions: what a key does. Keys are bound to these in the keymap.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextView,
    PrevView,
    NextTab,
    PrevTab,
    ScrollDown,
    ScrollUp,
    NextEvidence,
    PrevEvidence,
    NextProposal,
    Approve,
    Reject,
    Escalate,
    Annotate,
    Halt,
    Claim,
    Filter,
    Sort,
    Refresh,
}

impl Action {
    /// One line for the help screen.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "this help",
            Action::Up => "previous item",
            Action::Down => "next item",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first item",
            Action::Bottom => "last item",
            Action::NextView => "next view (pending, escalated…)",
            Action::PrevView => "previous view",
            Action::NextTab => "next detail tab",
            Action::PrevTab => "previous detail tab",
            Action::ScrollDown => "scroll the detail down",
            Action::ScrollUp => "scroll the detail up",
            Action::NextEvidence => "next evidence item",
            Action::PrevEvidence => "previous evidence item",
            Action::NextProposal => "next proposal of this alert",
            Action::Approve => "approve (signed)",
            Action::Reject => "reject, with a reason (signed)",
            Action::Escalate => "escalate to a lead (signed)",
            Action::Annotate => "note + labels on alert (signed)",
            Action::Halt => "halt before it runs (signed)",
            Action::Claim => "claim / release the item",
            Action::Filter => "filter the queue",
            Action::Sort => "change sort order",
            Action::Refresh => "reload from the server",
        }
    }
}
