//! What every signing dialog starts from: an editor for its reason, and
//! how closely the proposal was looked at (signed with the verdict).

use crate::signing::payload::Review;
use crate::tui::state::State;
use tui_textarea::TextArea;

/// An empty editor showing `placeholder`.
pub(super) fn editor(placeholder: &str) -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text(placeholder);
    t
}

/// Refused reasons: fewer than two characters.
pub(super) const REASON_REQUIRED: &str = "a reason of at least two characters is required";

/// What was typed in `editor`, without the whitespace around it.
pub(super) fn typed(editor: &TextArea) -> String {
    editor.lines().join("\n").trim().to_owned()
}

/// The reason typed in `editor`, or why it cannot be signed.
pub(super) fn reason(editor: &TextArea) -> Result<String, &'static str> {
    let reason = typed(editor);
    if crate::domain::machine::reason_ok(&reason) {
        Ok(reason)
    } else {
        Err(REASON_REQUIRED)
    }
}

/// Seconds since `since`, to a tenth: how long something was looked at.
pub(super) fn seconds_since(s: &State, since: i64) -> f64 {
    ((s.session.now_ms - since).max(0) as f64 / 100.0).round() / 10.0
}

/// How closely the selected proposal was looked at, for the signed payload.
pub(super) fn review(s: &State) -> Review {
    Review {
        seconds: seconds_since(s, s.detail.review.opened_ms),
        panes: s
            .detail
            .review
            .panes
            .iter()
            .map(|t| t.name().to_owned())
            .collect(),
        group: None,
    }
}
