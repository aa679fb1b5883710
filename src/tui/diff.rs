//! The permission diff, computed once per proposal (cached by digest), never
//! per frame: what the change really grants (`domain::permissions`, the same
//! analysis the server's risk floor uses) and, below it, the text diff.
//! Line-level alignment and word-level emphasis come from `similar`; JSON
//! documents are pretty-printed first so a one-line policy still diffs line
//! by line. Added lines that carry a new grant are marked.

use super::sanitize;
use crate::domain::permissions::{self, Analysis};
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffModel {
    /// What the change grants, by access, not by text.
    pub analysis: Analysis,
    pub rows: Vec<Row>,
    /// Lines added and removed (structural lines not counted).
    pub added: usize,
    pub removed: usize,
    /// Added lines that carry a new grant.
    pub risky: usize,
}

fn is_permission_line(s: &str) -> bool {
    s.chars().any(|c| c.is_alphanumeric() || c == '*')
}

/// Does an added line carry one of the analysis's new grants?
fn carries_grant(line: &str, a: &Analysis) -> bool {
    let lower = line.to_ascii_lowercase();
    a.new_grants.iter().any(|g| {
        let action = g.action.to_ascii_lowercase();
        (action.len() > 1 && lower.contains(&action))
            || g.principal
                .as_deref()
                .and_then(|p| p.split_once(':').map(|(_, rest)| rest))
                .is_some_and(|p| p.len() > 1 && line.contains(p))
    })
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
        let analysis = permissions::analyse(format, before, after);
        let before = sanitize::text(&normalise(format, before));
        let after = sanitize::text(&normalise(format, after));
        let diff = TextDiff::from_lines(&before, &after);
        let mut model = DiffModel {
            analysis,
            rows: Vec::new(),
            added: 0,
            removed: 0,
            risky: 0,
        };
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
                        let risk = perm && carries_grant(&text, &model.analysis);
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

    /// The one-line verdict: "grants new access: 2 privilege escalation,
    /// 1 read · 1 grant removed · +1 deny · text +3 −1 lines".
    pub fn summary(&self) -> String {
        let a = &self.analysis;
        let mut s = a.verdict.text().to_owned();
        let mut by_class = std::collections::BTreeMap::new();
        for g in &a.new_grants {
            *by_class.entry(g.class).or_insert(0usize) += 1;
        }
        if !by_class.is_empty() {
            let parts: Vec<String> = by_class
                .iter()
                .map(|(c, n)| format!("{n} {}", c.text()))
                .collect();
            s.push_str(&format!(": {}", parts.join(", ")));
        }
        if !a.removed.is_empty() {
            s.push_str(&format!(" · {} grant(s) removed", a.removed.len()));
        }
        if !a.added_denies.is_empty() {
            s.push_str(&format!(" · +{} deny", a.added_denies.len()));
        }
        if !a.removed_denies.is_empty() {
            s.push_str(&format!(" · −{} deny", a.removed_denies.len()));
        }
        s.push_str(&format!(" · text +{} −{} lines", self.added, self.removed));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadened_policy_is_flagged_by_what_it_grants() {
        let before = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::builds/*"}]}"#;
        let after = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","iam:PassRole"],"Resource":"arn:aws:s3:::builds/*"},{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#;
        let d = DiffModel::compute("json", before, after);
        assert!(d.added >= 2, "{d:?}");
        assert!(d.risky >= 2, "{d:?}");
        assert!(
            d.summary()
                .starts_with("grants new access: 2 privilege escalation"),
            "{}",
            d.summary()
        );
        // A quarantine Deny adds lines but no access: nothing is marked.
        let quarantine = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::builds/*"},{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
        let q = DiffModel::compute("json", before, quarantine);
        assert_eq!(q.risky, 0, "{q:?}");
        assert!(
            q.summary().starts_with("no new access · +1 deny"),
            "{}",
            q.summary()
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
        assert_eq!((d.added, d.removed), (1, 1));
    }

    #[test]
    fn escape_sequences_in_documents_are_data() {
        let d = DiffModel::compute("text", "a\n", "a\n\u{1b}]0;x\u{7}\n");
        let added = d.rows[1].right.as_ref().unwrap().text();
        assert!(!added.contains('\u{1b}') && added.contains("^["), "{added}");
    }
}
