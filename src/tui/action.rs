//! Named actions: what a key does. Keys are bound to these in the keymap,
//! each action in the mode where it is read.

use crate::domain::types::Label;
use serde::{Deserialize, Serialize};

/// Where a key is read. A key may mean one thing in the queue and another
/// in a dialog; within one mode it means one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// The queue and the detail.
    Main,
    /// Typing a filter (other keys are typed into it).
    Filter,
    /// A reason, note or confirmation dialog (other keys are typed).
    Dialog,
}

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
    /// Scroll the detail (a diff's long lines) sideways.
    ScrollRight,
    ScrollLeft,
    NextEvidence,
    PrevEvidence,
    NextProposal,
    Approve,
    Reject,
    Escalate,
    Annotate,
    Halt,
    Claim,
    /// Sampled view: what policy approved was right (signed).
    ConfirmSample,
    /// Sampled view: policy should not have approved it alone (signed, reason).
    FlagSample,
    /// Collapse like proposals into group rows, or list them one by one.
    ToggleGroups,
    /// Go to the group of the agent in a burst.
    GotoBurst,
    /// Leads: the oversight report of the last day.
    Oversight,
    /// Leads: freeze or unfreeze the selected row's agent, or every agent
    /// (signed, reason).
    Freeze,
    /// Undo an executed proposal: see what would undo it, then sign a
    /// revert with a reason.
    Revert,
    /// Approve as amended: narrow the target, a permission change's
    /// `after` or the expiry, then sign one approval over both digests.
    Amend,
    /// Keep an executed containment in place longer than its rule's time,
    /// with a reason.
    Extend,
    Filter,
    Sort,
    Refresh,
    TabSummary,
    TabDiff,
    TabEvidence,
    TabContext,
    TabHistory,
    /// Clear the message line.
    Dismiss,
    /// Filter: keep the filter and go back to the queue.
    FilterDone,
    /// Filter: clear it and go back.
    FilterClear,
    /// Dialog: sign what was typed (or confirm).
    Submit,
    /// Dialog: close without signing.
    Cancel,
    LabelFalsePositive,
    LabelTruePositive,
    LabelBenign,
    LabelNeedsInfo,
    /// Freeze dialog: the row's agent or every agent.
    ToggleAllAgents,
    /// Freeze dialog: no_auto, hold (and unfreeze where it is frozen).
    CycleFreezeMode,
}

impl Action {
    pub fn mode(self) -> Mode {
        match self {
            Action::FilterDone | Action::FilterClear => Mode::Filter,
            Action::Submit
            | Action::Cancel
            | Action::LabelFalsePositive
            | Action::LabelTruePositive
            | Action::LabelBenign
            | Action::LabelNeedsInfo
            | Action::ToggleAllAgents
            | Action::CycleFreezeMode => Mode::Dialog,
            _ => Mode::Main,
        }
    }

    /// The label a note-editor action toggles.
    pub fn label(self) -> Option<Label> {
        match self {
            Action::LabelFalsePositive => Some(Label::FalsePositive),
            Action::LabelTruePositive => Some(Label::TruePositive),
            Action::LabelBenign => Some(Label::Benign),
            Action::LabelNeedsInfo => Some(Label::NeedsInfo),
            _ => None,
        }
    }

    /// A word for the compact help lines (tab jumps, filter, dialogs);
    /// `None` for actions that get a line of their own.
    pub fn short(self) -> Option<&'static str> {
        Some(match self {
            Action::TabSummary => "summary",
            Action::TabDiff => "diff",
            Action::TabEvidence => "evidence",
            Action::TabContext => "context",
            Action::TabHistory => "history",
            Action::FilterDone => "keep",
            Action::FilterClear => "clear",
            Action::Submit => "sign",
            Action::Cancel => "cancel",
            Action::LabelFalsePositive => "false_positive",
            Action::LabelTruePositive => "true_positive",
            Action::LabelBenign => "benign",
            Action::LabelNeedsInfo => "needs_info",
            Action::ToggleAllAgents => "freeze: every agent",
            Action::CycleFreezeMode => "freeze: mode",
            _ => return None,
        })
    }

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
            Action::ScrollRight => "scroll long lines right",
            Action::ScrollLeft => "scroll long lines left",
            Action::NextEvidence => "next evidence item",
            Action::PrevEvidence => "previous evidence item",
            Action::NextProposal => "next proposal of this alert",
            Action::Approve => "approve (signed)",
            Action::Reject => "reject, with a reason (signed)",
            Action::Escalate => "escalate to a lead (signed)",
            Action::Annotate => "note + labels on alert (signed)",
            Action::Halt => "halt before it runs (signed)",
            Action::Claim => "claim / release the item",
            Action::ConfirmSample => "sampled: confirm what policy approved (signed)",
            Action::FlagSample => "sampled: flag it, with a reason (signed)",
            Action::ToggleGroups => "group alike proposals / list one by one",
            Action::GotoBurst => "go to the bursting agent's group",
            Action::Oversight => "leads: oversight of the last 24 h",
            Action::Freeze => "leads: freeze / unfreeze an agent (signed)",
            Action::Revert => "revert an executed proposal, with a reason (signed)",
            Action::Amend => "approve as amended: narrow it first (signed)",
            Action::Extend => "keep a timed containment longer, with a reason (signed)",
            Action::Filter => "filter the queue",
            Action::Sort => "change sort order",
            Action::Refresh => "reload from the server",
            Action::TabSummary => "summary tab",
            Action::TabDiff => "permission diff tab",
            Action::TabEvidence => "evidence tab",
            Action::TabContext => "context tab",
            Action::TabHistory => "history tab",
            Action::Dismiss => "clear the message line",
            Action::FilterDone => "filter: keep it, back to the queue",
            Action::FilterClear => "filter: clear it, back to the queue",
            Action::Submit => "dialog: sign (or confirm)",
            Action::Cancel => "dialog: close without signing",
            Action::LabelFalsePositive => "note: toggle false_positive",
            Action::LabelTruePositive => "note: toggle true_positive",
            Action::LabelBenign => "note: toggle benign",
            Action::LabelNeedsInfo => "note: toggle needs_info",
            Action::ToggleAllAgents => "freeze: the row's agent / every agent",
            Action::CycleFreezeMode => "freeze: no_auto / hold / unfreeze",
        }
    }
}
