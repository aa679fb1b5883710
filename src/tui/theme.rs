//! Themes as semantic slots (`severity_critical`, `diff_added`, `muted`, …).
//! The built-in themes are `themes/*.toml`, embedded; a user file overrides
//! any slot. `NO_COLOR` turns colour off (emphasis stays: bold, reverse).

use crate::domain::types::{Risk, Severity};
use ratatui::style::{Color, Modifier, Style};
use std::collections::BTreeMap;
use std::str::FromStr;

pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub text: Style,
    pub muted: Style,
    pub accent: Style,
    pub border: Style,
    pub border_focus: Style,
    pub selection: Style,
    pub severity_critical: Style,
    pub severity_high: Style,
    pub severity_medium: Style,
    pub severity_low: Style,
    pub severity_info: Style,
    pub diff_added: Style,
    pub diff_removed: Style,
    pub diff_risk: Style,
    pub status_ok: Style,
    pub status_warn: Style,
    pub status_error: Style,
    /// Control characters made visible in untrusted text.
    pub escaped: Style,
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error(
        "unknown theme `{0}` (built in: dark, light, high-contrast; or a path to a .toml file)"
    )]
    Unknown(String),
    #[error("theme {origin}: {message}")]
    Invalid { origin: String, message: String },
}

const SLOTS: &[&str] = &[
    "text",
    "muted",
    "accent",
    "border",
    "border_focus",
    "selection_fg",
    "selection_bg",
    "severity_critical",
    "severity_high",
    "severity_medium",
    "severity_low",
    "severity_info",
    "diff_added",
    "diff_removed",
    "diff_risk",
    "status_ok",
    "status_warn",
    "status_error",
    "escaped",
];

fn parse_color(s: &str) -> Option<Color> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix('#') {
        let v = u32::from_str_radix(hex, 16)
            .ok()
            .filter(|_| hex.len() == 6)?;
        return Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    Color::from_str(&s.replace('_', "")).ok()
}

impl Theme {
    /// A built-in theme by name, or a TOML file; `overrides` (a user file's
    /// slots) win. `no_color` drops every colour.
    pub fn load(
        name: &str,
        overrides: Option<(&str, &str)>,
        no_color: bool,
    ) -> Result<Theme, ThemeError> {
        let base = match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => (*text).to_owned(),
            None => {
                std::fs::read_to_string(name).map_err(|_| ThemeError::Unknown(name.to_owned()))?
            }
        };
        let mut slots = Self::slots(&base, name)?;
        if let Some((text, origin)) = overrides {
            slots.extend(Self::slots(text, origin)?);
        }
        let get = |slot: &str| -> Result<Color, ThemeError> {
            let raw = slots.get(slot).map(String::as_str).unwrap_or("reset");
            parse_color(raw).ok_or_else(|| ThemeError::Invalid {
                origin: name.to_owned(),
                message: format!("`{slot}`: unknown colour `{raw}`"),
            })
        };
        let fg = |slot: &str| -> Result<Style, ThemeError> {
            Ok(if no_color {
                Style::default()
            } else {
                Style::default().fg(get(slot)?)
            })
        };
        let bold = Modifier::BOLD;
        Ok(Theme {
            text: fg("text")?,
            muted: fg("muted")?,
            accent: fg("accent")?.add_modifier(bold),
            border: fg("border")?,
            border_focus: fg("border_focus")?.add_modifier(bold),
            selection: if no_color {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
                    .fg(get("selection_fg")?)
                    .bg(get("selection_bg")?)
            },
            severity_critical: fg("severity_critical")?.add_modifier(bold),
            severity_high: fg("severity_high")?.add_modifier(bold),
            severity_medium: fg("severity_medium")?,
            severity_low: fg("severity_low")?,
            severity_info: fg("severity_info")?,
            diff_added: fg("diff_added")?,
            diff_removed: fg("diff_removed")?,
            diff_risk: fg("diff_risk")?.add_modifier(bold),
            status_ok: fg("status_ok")?,
            status_warn: fg("status_warn")?.add_modifier(bold),
            status_error: fg("status_error")?.add_modifier(bold),
            escaped: fg("escaped")?.add_modifier(Modifier::UNDERLINED),
        })
    }

    fn slots(text: &str, origin: &str) -> Result<BTreeMap<String, String>, ThemeError> {
        let slots: BTreeMap<String, String> =
            toml::from_str(text).map_err(|e| ThemeError::Invalid {
                origin: origin.to_owned(),
                message: e.message().to_owned(),
            })?;
        if let Some(bad) = slots.keys().find(|k| !SLOTS.contains(&k.as_str())) {
            return Err(ThemeError::Invalid {
                origin: origin.to_owned(),
                message: format!("unknown slot `{bad}` (slots: {})", SLOTS.join(", ")),
            });
        }
        Ok(slots)
    }

    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Critical => self.severity_critical,
            Severity::High => self.severity_high,
            Severity::Medium => self.severity_medium,
            Severity::Low => self.severity_low,
            Severity::Info => self.severity_info,
        }
    }

    pub fn risk(&self, r: Risk) -> Style {
        match r {
            Risk::Critical => self.severity_critical,
            Risk::High => self.severity_high,
            Risk::Medium => self.severity_medium,
            Risk::Low => self.severity_low,
        }
    }
}

impl Default for Theme {
    #[allow(
        clippy::expect_used,
        reason = "the built-in theme is a constant; tests load it"
    )]
    fn default() -> Self {
        Theme::load("dark", None, false).expect("built-in dark theme is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load_and_no_color_strips() {
        for (name, _) in BUILTIN {
            Theme::load(name, None, false).unwrap();
        }
        let t = Theme::load("dark", None, true).unwrap();
        assert_eq!(t.diff_added.fg, None);
        assert!(t.selection.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn overrides_and_errors() {
        let t = Theme::load("dark", Some(("accent = \"#ff0000\"", "user")), false).unwrap();
        assert_eq!(t.accent.fg, Some(Color::Rgb(255, 0, 0)));
        let e = Theme::load("dark", Some(("acent = \"red\"", "user.toml")), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("user.toml") && e.contains("acent"), "{e}");
        let e = Theme::load("dark", Some(("accent = \"blurple\"", "u")), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("blurple"), "{e}");
        assert!(Theme::load("neon", None, false).is_err());
    }
}
