//! Which characters are not text a person can see: controls, bidi controls
//! and invisible format characters. Identifiers refuse them (an executor
//! reading a C string truncates `ws\0-1` to `ws`; `dc-01\u{202E}` looks like
//! another name); prose keeps them and the console makes them visible.

/// Bidi controls and invisible format characters (Unicode Cf and friends).
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' |
        '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' |
        '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' |
        '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{1D173}'..='\u{1D17A}' |
        '\u{E0000}'..='\u{E0FFF}')
}

/// C0 and C1 controls and DEL.
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// Why a machine-read identifier (action, target, external id, entity id)
/// is refused, if it is.
pub fn identifier_problem(s: &str) -> Option<String> {
    let bad = s
        .chars()
        .find(|&c| is_control(c) || is_invisible_format(c))?;
    Some(format!(
        "contains U+{:04X}, a control or invisible character; identifiers must be visible text",
        bad as u32
    ))
}

/// `s` with every control and invisible character written as a visible
/// escape (`\n`, `\u{202e}`): for one-line text that leaves the gate
/// (hook targets, chat messages).
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_control(c) || is_invisible_format(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The shortest whitespace run shown as a count by [`blank_runs`].
pub const BLANK_RUN: usize = 4;

/// `s` with every run of [`BLANK_RUN`] or more whitespace characters shown
/// as `␠×N`: 1,000 spaces cannot push the rest of a command out of sight.
pub fn blank_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |out: &mut String, run: &mut String| {
        let n = run.chars().count();
        if n >= BLANK_RUN {
            out.push_str(&format!("␠×{n}"));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_whitespace() {
            run.push(c);
        } else {
            flush(&mut out, &mut run);
            out.push(c);
        }
    }
    flush(&mut out, &mut run);
    out
}

/// At most `max` characters, an ellipsis marking a cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Characters allowed_signers reads as a pattern or a list.
const PATTERN_CHARS: [char; 4] = ['*', '?', '!', ','];

/// Why a principal name cannot open a session, if it cannot: one concrete
/// name, not a pattern or a list, nothing invisible.
pub fn principal_problem(s: &str) -> Option<String> {
    if s.is_empty() || s.chars().count() > 256 {
        return Some("must be 1 to 256 characters".into());
    }
    if let Some(p) = identifier_problem(s) {
        return Some(p);
    }
    if s.chars().any(char::is_whitespace) {
        return Some("must not contain spaces".into());
    }
    if let Some(c) = s.chars().find(|c| PATTERN_CHARS.contains(c)) {
        return Some(format!(
            "must be one concrete name: `{c}` makes it an allowed_signers pattern or list"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_principals() {
        for ok in [
            "ws-0412",
            "arn:aws:iam::1:role/x",
            "ceo@corp",
            "日本語-host",
            "a b",
        ] {
            assert_eq!(identifier_problem(ok), None, "{ok}");
        }
        for bad in [
            "ws\0-1",
            "dc-01\u{202E}",
            "a\u{200B}b",
            "x\u{1b}[31m",
            "\u{85}",
            "t\u{E0041}",
        ] {
            assert!(identifier_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(principal_problem("alice@soc.example"), None);
        for bad in [
            "*@soc.example",
            "dave,erin",
            "!x",
            "a?",
            "al ice",
            "",
            "al\u{200D}ice",
        ] {
            assert!(principal_problem(bad).is_some(), "{bad:?}");
        }
    }
}
