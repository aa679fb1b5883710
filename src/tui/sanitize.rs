//! Untrusted text (alert titles, evidence, summaries: attacker-controlled)
//! made visible as data. Nothing here can reach the terminal as a control:
//! C0/C1 controls, ESC (and so every CSI/OSC/DCS sequence), `\r`, DEL, bidi
//! overrides and invisible format characters become printable marks.
//! Wide characters, emoji and right-to-left scripts pass through intact.

use crate::domain::text::is_invisible_format;

fn push_char(out: &mut String, c: char, keep_newlines: bool) {
    match c {
        '\n' if keep_newlines => out.push('\n'),
        '\t' => out.push_str("    "),
        '\u{1b}' => out.push_str("^["),
        '\u{7f}' => out.push_str("^?"),
        c if (c as u32) < 0x20 => {
            out.push('^');
            out.push(char::from(b'@' + c as u8));
        }
        c if ('\u{80}'..='\u{9f}').contains(&c) || is_invisible_format(c) => {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        }
        c => out.push(c),
    }
}

/// One line: newlines become `^J` too.
pub fn line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_char(&mut out, c, false);
    }
    out
}

/// A target in one line: as [`line`], and every run of four or more
/// whitespace characters shown as `␠×N`, so that 1,000 spaces cannot push
/// the rest of a command out of sight.
pub fn target(s: &str) -> String {
    crate::domain::text::blank_runs(&line(s))
}

/// Multi-line text: newlines kept, everything else made visible.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_char(&mut out, c, true);
    }
    out
}

/// Multi-line text as sanitised lines.
pub fn lines(s: &str) -> Vec<String> {
    text(s).split('\n').map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible() {
        assert_eq!(line("a\u{1b}]52;c;ZXZpbA==\u{7}b"), "a^[]52;c;ZXZpbA==^Gb");
        assert_eq!(line("\u{1b}[2J\u{1b}[H"), "^[[2J^[[H");
        assert_eq!(line("x\ry"), "x^My");
        assert_eq!(line("l1\nl2"), "l1^Jl2");
        assert_eq!(text("l1\nl2"), "l1\nl2");
        assert_eq!(line("\u{9b}31m"), "<U+009B>31m");
        assert_eq!(line("admin\u{202E}txt.exe"), "admin<U+202E>txt.exe");
        assert_eq!(
            line("\u{2066}x\u{2069}\u{200E}\u{200F}\u{061C}"),
            "<U+2066>x<U+2069><U+200E><U+200F><U+061C>"
        );
        assert_eq!(line("\u{7f}"), "^?");
        assert_eq!(line("a\tb"), "a    b");
    }

    #[test]
    fn whitespace_runs_in_a_target_are_counted() {
        let cmd = format!("ls -la /srv/app{}; curl x|sh", " ".repeat(1000));
        assert_eq!(target(&cmd), "ls -la /srv/app␠×1000; curl x|sh");
        assert_eq!(target("a   b\t\tc"), "a   b␠×8c");
    }

    #[test]
    fn real_text_is_intact() {
        for s in [
            "ws-0412",
            "日本語のホスト",
            "🔥 emoji 🚀",
            "مرحبا بالعالم",
            "Ünïcödé",
        ] {
            assert_eq!(line(s), s);
        }
    }

    #[test]
    fn nothing_below_space_survives() {
        let all: String = (0u32..0x2100).filter_map(char::from_u32).collect();
        let out = text(&all);
        assert!(out.chars().all(
            |c| c == '\n' || (c >= ' ' && c != '\u{7f}' && !('\u{80}'..='\u{9f}').contains(&c))
        ));
        assert!(!out.contains('\u{1b}'));
    }
}
