//! Where a dialog's box goes, and what a signing dialog says while it
//! does not read keys yet.

use ratatui::layout::Rect;

/// A box of `w` × `h` in the middle of `area` (smaller if it must be).
pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Said while a dialog that signs does not read keys yet, with what Esc
/// does there.
pub(super) fn waiting(esc: &str) -> String {
    format!("wait… (keys typed before this appeared are ignored) · {esc}")
}
