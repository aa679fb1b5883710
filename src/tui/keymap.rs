//! Keys to named actions: built-in defaults, overridden per action from the
//! config file's `[keys]` table (`approve = "a"` or `approve = ["a", "y"]`).
//! The help screen is generated from the keymap in force.

use super::action::{Action, Mode};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCodeOrd,
    pub ctrl: bool,
    pub alt: bool,
}

/// `KeyCode` subset with an order, for a stable help screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeOrd {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Backspace,
    Delete,
}

#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("[keys]: unknown action `{0}`")]
    UnknownAction(String),
    #[error(
        "[keys] {action}: cannot read key `{key}` (examples: a, A, ctrl-c, enter, esc, tab, shift-tab, up, pgdn, f1)"
    )]
    BadKey { action: String, key: String },
    #[error("[keys]: `{key}` is bound to both {a} and {b}, which are read at the same time")]
    Clash { key: String, a: String, b: String },
}

impl Key {
    pub fn parse(s: &str) -> Option<Key> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s.trim();
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower
                .strip_prefix("ctrl-")
                .or_else(|| lower.strip_prefix("c-"))
            {
                ctrl = true;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("alt-") {
                alt = true;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCodeOrd::Enter,
            "esc" | "escape" => KeyCodeOrd::Esc,
            "tab" => KeyCodeOrd::Tab,
            "shift-tab" | "backtab" => KeyCodeOrd::BackTab,
            "up" => KeyCodeOrd::Up,
            "down" => KeyCodeOrd::Down,
            "left" => KeyCodeOrd::Left,
            "right" => KeyCodeOrd::Right,
            "pgup" | "pageup" => KeyCodeOrd::PageUp,
            "pgdn" | "pagedown" => KeyCodeOrd::PageDown,
            "home" => KeyCodeOrd::Home,
            "end" => KeyCodeOrd::End,
            "backspace" => KeyCodeOrd::Backspace,
            "delete" | "del" => KeyCodeOrd::Delete,
            "space" => KeyCodeOrd::Char(' '),
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCodeOrd::F(f[1..].parse().ok()?)
            }
            _ => {
                let mut chars = rest.chars();
                let c = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                KeyCodeOrd::Char(if ctrl { c.to_ascii_lowercase() } else { c })
            }
        };
        Some(Key { code, ctrl, alt })
    }

    pub fn from_event(e: &KeyEvent) -> Option<Key> {
        let code = match e.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(if e.modifiers.contains(KeyModifiers::CONTROL) {
                c.to_ascii_lowercase()
            } else {
                c
            }),
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Delete => KeyCodeOrd::Delete,
            _ => return None,
        };
        Some(Key {
            code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
            alt: e.modifiers.contains(KeyModifiers::ALT),
        })
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCodeOrd::Char(' ') => "space".to_owned(),
            KeyCodeOrd::Char(c) => c.to_string(),
            KeyCodeOrd::F(n) => format!("F{n}"),
            KeyCodeOrd::Enter => "Enter".into(),
            KeyCodeOrd::Esc => "Esc".into(),
            KeyCodeOrd::Tab => "Tab".into(),
            KeyCodeOrd::BackTab => "Shift-Tab".into(),
            KeyCodeOrd::Up => "↑".into(),
            KeyCodeOrd::Down => "↓".into(),
            KeyCodeOrd::Left => "←".into(),
            KeyCodeOrd::Right => "→".into(),
            KeyCodeOrd::PageUp => "PgUp".into(),
            KeyCodeOrd::PageDown => "PgDn".into(),
            KeyCodeOrd::Home => "Home".into(),
            KeyCodeOrd::End => "End".into(),
            KeyCodeOrd::Backspace => "Backspace".into(),
            KeyCodeOrd::Delete => "Del".into(),
        };
        let mut out = String::new();
        if self.ctrl {
            out.push_str("Ctrl-");
        }
        if self.alt {
            out.push_str("Alt-");
        }
        out + &base
    }
}

const DEFAULTS: &[(Action, &[&str])] = &[
    (Action::Quit, &["q", "ctrl-c"]),
    (Action::Help, &["?", "f1"]),
    (Action::Up, &["k", "up"]),
    (Action::Down, &["j", "down"]),
    (Action::PageUp, &["pgup"]),
    (Action::PageDown, &["pgdn"]),
    (Action::Top, &["g", "home"]),
    (Action::Bottom, &["G", "end"]),
    (Action::NextView, &["v"]),
    (Action::PrevView, &["V"]),
    (Action::NextTab, &["tab", "l", "right"]),
    (Action::PrevTab, &["shift-tab", "left"]),
    (Action::ScrollDown, &["J", "ctrl-d"]),
    (Action::ScrollUp, &["K", "ctrl-u"]),
    (Action::ScrollRight, &[">"]),
    (Action::ScrollLeft, &["<"]),
    (Action::NextEvidence, &["]"]),
    (Action::PrevEvidence, &["["]),
    (Action::NextProposal, &["p"]),
    (Action::Approve, &["a"]),
    (Action::Reject, &["r"]),
    (Action::Escalate, &["e"]),
    (Action::Annotate, &["n"]),
    (Action::Halt, &["h"]),
    (Action::Claim, &["c"]),
    (Action::ConfirmSample, &["y"]),
    (Action::FlagSample, &["f"]),
    (Action::ToggleGroups, &["z"]),
    (Action::GotoBurst, &["b"]),
    (Action::Oversight, &["O"]),
    (Action::Freeze, &["F"]),
    (Action::Revert, &["U"]),
    (Action::Amend, &["m"]),
    (Action::Extend, &["X"]),
    (Action::Filter, &["/"]),
    (Action::Sort, &["s"]),
    (Action::Refresh, &["R", "ctrl-r"]),
    (Action::TabSummary, &["1"]),
    (Action::TabDiff, &["2"]),
    (Action::TabEvidence, &["3"]),
    (Action::TabContext, &["4"]),
    (Action::TabHistory, &["5"]),
    (Action::Dismiss, &["esc"]),
    (Action::FilterDone, &["enter"]),
    (Action::FilterClear, &["esc"]),
    (Action::Submit, &["enter"]),
    (Action::Cancel, &["esc"]),
    (Action::LabelFalsePositive, &["ctrl-f"]),
    (Action::LabelTruePositive, &["ctrl-t"]),
    (Action::LabelBenign, &["ctrl-b"]),
    (Action::LabelNeedsInfo, &["ctrl-n"]),
    (Action::ToggleAllAgents, &["ctrl-e"]),
    (Action::CycleFreezeMode, &["tab"]),
];

#[derive(Debug, Clone)]
pub struct Keymap {
    keys: BTreeMap<(Mode, Key), Action>,
    /// Each action's keys in the order configured (first = shown in hints).
    order: BTreeMap<Action, Vec<Key>>,
}

impl Default for Keymap {
    #[allow(
        clippy::expect_used,
        reason = "the built-in keymap is a constant; tests parse it"
    )]
    fn default() -> Self {
        Keymap::with_overrides(&BTreeMap::new()).expect("built-in keymap is valid")
    }
}

impl Keymap {
    /// Built-in bindings, with `overrides` (action name → keys) replacing
    /// an action's keys.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Self, KeymapError> {
        let mut by_action: BTreeMap<Action, Vec<String>> = DEFAULTS
            .iter()
            .map(|(a, ks)| (*a, ks.iter().map(|k| k.to_string()).collect()))
            .collect();
        for (name, keys) in overrides {
            let action: Action = serde_json::from_value(serde_json::Value::String(name.clone()))
                .map_err(|_| KeymapError::UnknownAction(name.clone()))?;
            by_action.insert(action, keys.clone());
        }
        let mut keys = BTreeMap::new();
        let mut order: BTreeMap<Action, Vec<Key>> = BTreeMap::new();
        for (action, list) in &by_action {
            for k in list {
                let key = Key::parse(k).ok_or_else(|| KeymapError::BadKey {
                    action: format!("{action:?}"),
                    key: k.clone(),
                })?;
                order.entry(*action).or_default().push(key);
                if let Some(other) = keys.insert((action.mode(), key), *action)
                    && other != *action
                {
                    return Err(KeymapError::Clash {
                        key: k.clone(),
                        a: format!("{other:?}"),
                        b: format!("{action:?}"),
                    });
                }
            }
        }
        Ok(Keymap { keys, order })
    }

    /// What a key does in a mode, if anything.
    pub fn action(&self, mode: Mode, e: &KeyEvent) -> Option<Action> {
        self.keys.get(&(mode, Key::from_event(e)?)).copied()
    }

    /// Keys bound to an action, in configured order, e.g. ["q", "Ctrl-c"].
    pub fn keys_list(&self, action: Action) -> Vec<String> {
        self.order
            .get(&action)
            .map(|ks| ks.iter().map(Key::label).collect())
            .unwrap_or_default()
    }

    /// The first key of an action, for hints.
    pub fn first_key(&self, action: Action) -> String {
        self.keys_list(action)
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// All keys of an action, e.g. "q, Ctrl-c".
    pub fn keys_for(&self, action: Action) -> String {
        self.keys_list(action).join(", ")
    }

    /// (keys, description) for every action of the queue and detail, in a
    /// stable order; tab jumps, the filter and dialogs are in [`Self::help_short`].
    pub fn help(&self) -> Vec<(String, &'static str)> {
        DEFAULTS
            .iter()
            .filter(|(a, _)| a.mode() == Mode::Main && a.short().is_none())
            .map(|(a, _)| (self.keys_for(*a), a.describe()))
            .filter(|(k, _)| !k.is_empty())
            .collect()
    }

    /// One line per group of small actions: "tabs: 1 summary · 2 diff …".
    pub fn help_short(&self) -> Vec<String> {
        let group = |title: &str, pick: &dyn Fn(Action) -> bool| {
            let parts: Vec<String> = DEFAULTS
                .iter()
                .filter(|(a, _)| pick(*a))
                .filter_map(|(a, _)| {
                    let keys = self.keys_list(*a).join("/");
                    (!keys.is_empty()).then(|| format!("{keys} {}", a.short().unwrap_or_default()))
                })
                .collect();
            format!("{title}: {}", parts.join(" · "))
        };
        vec![
            group("detail tabs", &|a| {
                a.mode() == Mode::Main && a.short().is_some()
            }),
            group("typing a filter", &|a| a.mode() == Mode::Filter),
            group("in a dialog", &|a| a.mode() == Mode::Dialog),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn defaults_and_overrides() {
        let k = Keymap::default();
        assert_eq!(
            k.action(Mode::Main, &ev(KeyCode::Char('a'), KeyModifiers::NONE)),
            Some(Action::Approve)
        );
        assert_eq!(
            k.action(Mode::Main, &ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            k.action(Mode::Main, &ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        let mut o = BTreeMap::new();
        o.insert("approve".to_owned(), vec!["A".to_owned()]);
        let k = Keymap::with_overrides(&o).unwrap();
        assert_eq!(
            k.action(Mode::Main, &ev(KeyCode::Char('A'), KeyModifiers::SHIFT)),
            Some(Action::Approve)
        );
        assert_eq!(
            k.action(Mode::Main, &ev(KeyCode::Char('a'), KeyModifiers::NONE)),
            None
        );
        assert!(
            k.help()
                .iter()
                .any(|(keys, d)| keys == "A" && d.starts_with("approve"))
        );
        // Modes: Esc dismisses in the queue, cancels in a dialog; a label
        // key is read only in the note editor, and can be rebound.
        let k = Keymap::default();
        let esc = ev(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(k.action(Mode::Main, &esc), Some(Action::Dismiss));
        assert_eq!(k.action(Mode::Dialog, &esc), Some(Action::Cancel));
        assert_eq!(k.action(Mode::Filter, &esc), Some(Action::FilterClear));
        let ctrl_f = ev(KeyCode::Char('f'), KeyModifiers::CONTROL);
        assert_eq!(k.action(Mode::Main, &ctrl_f), None);
        assert_eq!(
            k.action(Mode::Dialog, &ctrl_f),
            Some(Action::LabelFalsePositive)
        );
        let mut o = BTreeMap::new();
        o.insert("label_benign".to_owned(), vec!["ctrl-y".to_owned()]);
        o.insert("tab_diff".to_owned(), vec!["d".to_owned()]);
        let k = Keymap::with_overrides(&o).unwrap();
        let ctrl_y = ev(KeyCode::Char('y'), KeyModifiers::CONTROL);
        assert_eq!(k.action(Mode::Dialog, &ctrl_y), Some(Action::LabelBenign));
        assert_eq!(
            k.action(Mode::Main, &ev(KeyCode::Char('d'), KeyModifiers::NONE)),
            Some(Action::TabDiff)
        );
        let short = k.help_short();
        assert!(short.iter().any(|l| l.contains("d diff")), "{short:?}");
        assert!(
            short.iter().any(|l| l.contains("Ctrl-y benign")),
            "{short:?}"
        );
    }

    #[test]
    fn bad_config_is_an_error() {
        let mut o = BTreeMap::new();
        o.insert("aprove".to_owned(), vec!["y".to_owned()]);
        assert!(
            Keymap::with_overrides(&o)
                .unwrap_err()
                .to_string()
                .contains("aprove")
        );
        let mut o = BTreeMap::new();
        o.insert("approve".to_owned(), vec!["ctrl-".to_owned()]);
        assert!(Keymap::with_overrides(&o).is_err());
        let mut o = BTreeMap::new();
        o.insert("approve".to_owned(), vec!["r".to_owned()]);
        assert!(
            Keymap::with_overrides(&o)
                .unwrap_err()
                .to_string()
                .contains("both")
        );
    }
}
