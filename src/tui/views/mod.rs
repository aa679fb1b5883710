//! Views read `&State` and `&Theme` and never change them. `render` draws
//! one frame.

mod amend;
mod detail;
mod dialog;
mod diff;
mod extend;
mod freeze;
pub mod group;
mod overlay;
mod queue;
mod revert;
mod status;
#[cfg(test)]
mod tests;

use super::keymap::Keymap;
use super::state::State;
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;

/// Whether a frame of `size` shows the open dialog (a terminal too small
/// shows only that it is).
pub fn dialog_visible(s: &State, size: (u16, u16)) -> bool {
    s.dialog.is_some() && size.0 >= MIN_WIDTH && size.1 >= MIN_HEIGHT
}

pub fn render(f: &mut Frame, s: &State, theme: &Theme, keys: &Keymap) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small: {}×{} (countersign needs at least {MIN_WIDTH}×{MIN_HEIGHT})",
            area.width, area.height
        );
        f.render_widget(
            Paragraph::new(msg)
                .style(theme.status_warn)
                .wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
        return;
    }
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .split(area);
    status::render_top(f, rows[0], s, theme);
    let (queue_area, detail_area) = split_main(rows[1]);
    queue::render(f, queue_area, s, theme);
    detail::render(f, detail_area, s, theme);
    status::render_bottom(f, rows[2], s, theme, keys);
    dialog::render(f, area, s, theme, keys);
}

/// Side by side on wide terminals, stacked on narrow ones.
pub(crate) fn split_main(area: Rect) -> (Rect, Rect) {
    if area.width >= 110 {
        let c = Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)])
            .split(area);
        (c[0], c[1])
    } else {
        let c = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Percentage(40), Constraint::Percentage(60)])
            .split(area);
        (c[0], c[1])
    }
}

/// "42s", "7m", "3h", "2d".
pub fn short_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A sanitised line where the marks that stand for control characters
/// (`^[`, `<U+202E>`) are styled so they read as data, not text.
pub fn untrusted<'a>(text: &str, base: ratatui::style::Style, theme: &Theme) -> Line<'a> {
    let clean = super::sanitize::line(text);
    styled_marks(&clean, base, theme)
}

/// A target: as [`untrusted`], whitespace runs shown as `␠×N`.
pub fn untrusted_target<'a>(text: &str, base: ratatui::style::Style, theme: &Theme) -> Line<'a> {
    let clean = super::sanitize::target(text);
    styled_marks(&clean, base, theme)
}

pub fn styled_marks<'a>(clean: &str, base: ratatui::style::Style, theme: &Theme) -> Line<'a> {
    let mut spans = Vec::new();
    let mut rest = clean;
    while !rest.is_empty() {
        let caret = rest.find('^').filter(|&i| {
            rest[i + 1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase() || "@[\\]^_?".contains(c))
        });
        let uplus = rest.find("<U+");
        let blank = rest.find("␠×");
        let next = [caret, uplus, blank].into_iter().flatten().min();
        let Some(at) = next else {
            spans.push(Span::styled(rest.to_owned(), base));
            break;
        };
        if at > 0 {
            spans.push(Span::styled(rest[..at].to_owned(), base));
        }
        let len = if rest[at..].starts_with("<U+") {
            rest[at..].find('>').map_or(rest.len() - at, |e| e + 1)
        } else if let Some(count) = rest[at..].strip_prefix("␠×") {
            "␠×".len() + count.chars().take_while(char::is_ascii_digit).count()
        } else {
            2
        };
        spans.push(Span::styled(rest[at..at + len].to_owned(), theme.escaped));
        rest = &rest[at + len..];
    }
    Line::from(spans)
}
