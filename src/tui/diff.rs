//! The permission diff, computed once per proposal (cached by digest), never
//! per frame. Line-level alignment and word-level emphasis come from
//! `similar`; JSON documents are pretty-printed first so a one-line policy
//! still diffs line by line. Added lines that grant broad privileges are
//! marked as risk.

use super::sanitize;
use similar::{ChangeTag, TextDiff};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Equal,
    Removed,
    Added,
}

/// One side of a row: line number, and segments (emphasised or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    pub line_no: usize,
    pub kind: Kind,
    pub segments: Vec<(bool, String)>,
    pub risk: bool,
}

impl Side {
    pub fn text(&self) -> String {
        self.segments.iter().map(|(_, s)| s.as_str()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub left: Option<Side>,
    pub right: Option<Side>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiffModel {
    pub rows: Vec<Row>,
    /// Permission lines added and removed (structural lines not counted).
    pub added: usize,
    pub removed: usize,
    /// Added lines that grant broad privileges.
    pub risky: usize,
}

/// Words that make an added permission line risky.
const RISKY: &[&str] = &[
    "*",
    "admin",
    "passrole",
    "escalate",
    "impersonate",
    "bind",
    "fullaccess",
    "owner",
    "assumerole",
    "putrolepolicy",
    "attach",
    "createaccesskey",
    "secrets",
    "0.0.0.0/0",
];

fn is_permission_line(s: &str) -> bool {
    s.chars().any(|c| c.is_alphanumeric() || c == '*')
}

fn is_risky(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    RISKY.iter().any(|w| lower.contains(w))
}

/// Pretty-prints JSON documents; anything else is used as is.
fn normalise(format: &str, text: &str) -> String {
    if format.eq_ignore_ascii_case("json")
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && let Ok(pretty) = serde_json::to_string_pretty(&v)
    {
        return pretty;
    }
    text.to_owned()
}

impl DiffModel {
    pub fn compute(format: &str, before: &str, after: &str) -> DiffModel {
        let before = sanitize::text(&normalise(format, before));
        let after = sanitize::text(&normalise(format, after));
        let diff = TextDiff::from_lines(&before, &after);
        let mut model = DiffModel::default();
        for op in diff.ops() {
            let mut left = Vec::new();
            let mut right = Vec::new();
            for change in diff.iter_inline_changes(op) {
                let segments: Vec<(bool, String)> = change
                    .iter_strings_lossy()
                    .map(|(emph, s)| (emph, s.trim_end_matches('\n').to_owned()))
                    .filter(|(_, s)| !s.is_empty())
                    .collect();
                let text: String = segments.iter().map(|(_, s)| s.as_str()).collect();
                match change.tag() {
                    ChangeTag::Equal => {
                        let side = |n: Option<usize>| Side {
                            line_no: n.map_or(0, |n| n + 1),
                            kind: Kind::Equal,
                            segments: segments.clone(),
                            risk: false,
                        };
                        model.rows.push(Row {
                            left: Some(side(change.old_index())),
                            right: Some(side(change.new_index())),
                        });
                    }
                    ChangeTag::Delete => {
                        if is_permission_line(&text) {
                            model.removed += 1;
                        }
                        left.push(Side {
                            line_no: change.old_index().map_or(0, |n| n + 1),
                            kind: Kind::Removed,
                            segments,
                            risk: false,
                        });
                    }
                    ChangeTag::Insert => {
                        let perm = is_permission_line(&text);
                        let risk = perm && is_risky(&text);
                        model.added += perm as usize;
                        model.risky += risk as usize;
                        right.push(Side {
                            line_no: change.new_index().map_or(0, |n| n + 1),
                            kind: Kind::Added,
                            segments,
                            risk,
                        });
                    }
                }
            }
            let n = left.len().max(right.len());
            let mut l = left.into_iter();
            let mut r = right.into_iter();
            for _ in 0..n {
                model.rows.push(Row {
                    left: l.next(),
                    right: r.next(),
                });
            }
        }
        model
    }

    /// `+N −M permissions` (and how many look risky).
    pub fn summary(&self) -> String {
        let mut s = format!("+{} −{} permissions", self.added, self.removed);
        if self.risky > 0 {
            s.push_str(&format!(
                ", {} broad grant{} added",
                self.risky,
                if self.risky == 1 { "" } else { "s" }
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadened_policy_is_flagged() {
        let before = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::builds/*"}]}"#;
        let after = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","iam:PassRole"],"Resource":"arn:aws:s3:::builds/*"},{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#;
        let d = DiffModel::compute("json", before, after);
        assert!(d.added >= 2, "{d:?}");
        assert!(d.risky >= 2, "{d:?}");
        assert!(
            d.summary()
                .starts_with(&format!("+{} −{} permissions", d.added, d.removed))
        );
        let passrole = d
            .rows
            .iter()
            .filter_map(|r| r.right.as_ref())
            .find(|s| s.text().contains("iam:PassRole"))
            .unwrap();
        assert!(passrole.risk && passrole.kind == Kind::Added);
    }

    #[test]
    fn word_emphasis_and_alignment() {
        let d = DiffModel::compute(
            "text",
            "role: viewer\nns: prod\n",
            "role: cluster-admin\nns: prod\n",
        );
        let changed = &d.rows[0];
        assert_eq!(changed.left.as_ref().unwrap().kind, Kind::Removed);
        assert_eq!(changed.right.as_ref().unwrap().kind, Kind::Added);
        assert!(
            changed
                .right
                .as_ref()
                .unwrap()
                .segments
                .iter()
                .any(|(e, s)| *e && s.contains("cluster-admin"))
        );
        assert_eq!(d.rows[1].left.as_ref().unwrap().kind, Kind::Equal);
        assert_eq!((d.added, d.removed, d.risky), (1, 1, 1));
    }

    #[test]
    fn escape_sequences_in_documents_are_data() {
        let d = DiffModel::compute("text", "a\n", "a\n\u{1b}]0;x\u{7}\n");
        let added = d.rows[1].right.as_ref().unwrap().text();
        assert!(!added.contains('\u{1b}') && added.contains("^["), "{added}");
    }
}
