//! `GET /v1/oversight?since=…&until=…`: the lead's view of how the gate is
//! used, computed from the signed record (the audit log) over a window.

use crate::domain::text::visible;
use crate::domain::time::to_rfc3339;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The figures, as `domain::oversight` computes them and the server sends
/// them; the text report on them is here.
pub use crate::domain::oversight::{AgentRow, AnalystRow, Oversight, RuleRow, SampleFinding};

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OversightParams {
    /// Start of the window: an RFC 3339 time, or a span back from now
    /// (`30m`, `24h`, `7d`). Default `24h`.
    pub since: Option<String>,
    /// End of the window (RFC 3339 or a span back from now); default now.
    pub until: Option<String>,
}

fn opt(v: Option<f64>, scale: f64, suffix: &str) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{:.1}{suffix}", x * scale))
}

/// A column of a report table: its heading, whether it is text (left
/// aligned), and how long it stays when the table must be narrowed
/// (higher stays longer).
struct Col {
    head: &'static str,
    text: bool,
    keep: u8,
}

const fn col(head: &'static str, keep: u8) -> Col {
    Col {
        head,
        text: false,
        keep,
    }
}

const fn name(head: &'static str) -> Col {
    Col {
        head,
        text: true,
        keep: u8::MAX,
    }
}

/// Writes a table no wider than `max` columns of text: the columns that
/// matter least are left out first (the name column never).
fn table(out: &mut String, max: usize, cols: &[Col], rows: &[Vec<String>]) {
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |v| v.chars().count()))
                .chain([c.head.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut shown: Vec<usize> = (0..cols.len()).collect();
    let total = |shown: &[usize]| -> usize {
        shown.iter().map(|&i| widths[i]).sum::<usize>() + 2 * shown.len().saturating_sub(1)
    };
    while total(&shown) > max && shown.len() > 1 {
        let Some(pos) = (0..shown.len()).min_by_key(|&p| (cols[shown[p]].keep, usize::MAX - p))
        else {
            break;
        };
        shown.remove(pos);
    }
    let line = |cells: &dyn Fn(usize) -> String| -> String {
        let mut l = shown
            .iter()
            .map(|&i| {
                let (v, w) = (cells(i), widths[i]);
                if cols[i].text {
                    format!("{v:<w$}")
                } else {
                    format!("{v:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ");
        l.truncate(l.trim_end().len());
        l
    };
    let _ = writeln!(out, "{}", line(&|i| cols[i].head.to_owned()));
    for r in rows {
        let _ = writeln!(out, "{}", line(&|i| r.get(i).cloned().unwrap_or_default()));
    }
}

impl Oversight {
    /// The report as text: three tables and the latest findings. Names come
    /// from agents and the policy file: control and invisible characters are
    /// written as escapes. `countersign oversight` prints it whole.
    pub fn report(&self) -> String {
        self.report_within(usize::MAX)
    }

    /// The report with each table at most `max` columns wide: the columns
    /// that judge the gate's use (high-risk approvals unexamined, approvals
    /// halted or failed, overturned) stay longest; the console shows it to
    /// leads at the terminal's width.
    pub fn report_within(&self, max: usize) -> String {
        let o = self;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "oversight {} .. {}\n",
            to_rfc3339(o.since),
            to_rfc3339(o.until)
        );
        let analysts: Vec<Vec<String>> = o
            .analysts
            .iter()
            .map(|a| {
                vec![
                    visible(&a.principal),
                    a.decisions.to_string(),
                    a.approvals.to_string(),
                    a.rejections.to_string(),
                    a.in_groups.to_string(),
                    opt(a.median_review_secs, 1.0, " s"),
                    a.unexamined_high_approvals.to_string(),
                    a.approvals_halted_or_failed.to_string(),
                    a.overturned_by_second.to_string(),
                    a.disagreed_as_second.to_string(),
                ]
            })
            .collect();
        table(
            &mut out,
            max,
            &[
                name("ANALYST"),
                col("DECISIONS", 6),
                col("APPROVED", 4),
                col("REJECTED", 3),
                col("IN GROUPS", 1),
                col("MEDIAN REVIEW", 5),
                col("HIGH UNEXAMINED", 9),
                col("HALTED/FAILED", 8),
                col("OVERTURNED", 7),
                col("DISAGREED", 2),
            ],
            &analysts,
        );
        let agents: Vec<Vec<String>> = o
            .agents
            .iter()
            .map(|a| {
                vec![
                    visible(&a.agent),
                    a.proposals.to_string(),
                    a.approved.to_string(),
                    a.rejected.to_string(),
                    a.expired.to_string(),
                    opt(a.approval_rate, 100.0, " %"),
                    opt(a.rejection_rate, 100.0, " %"),
                    a.false_positives.to_string(),
                ]
            })
            .collect();
        out.push('\n');
        table(
            &mut out,
            max,
            &[
                name("AGENT"),
                col("PROPOSALS", 6),
                col("APPROVED", 3),
                col("REJECTED", 2),
                col("EXPIRED", 1),
                col("APPROVAL RATE", 5),
                col("REJECTION RATE", 7),
                col("FALSE POSITIVES", 8),
            ],
            &agents,
        );
        let rules: Vec<Vec<String>> = o
            .rules
            .iter()
            .map(|r| {
                vec![
                    visible(&r.rule),
                    r.auto_approved.to_string(),
                    r.sampled.to_string(),
                    r.confirmed.to_string(),
                    r.flagged.to_string(),
                    r.unreviewed.to_string(),
                    opt(r.flag_rate, 100.0, " %"),
                ]
            })
            .collect();
        out.push('\n');
        table(
            &mut out,
            max,
            &[
                name("RULE (approves alone)"),
                col("AUTO", 6),
                col("SAMPLED", 2),
                col("CONFIRMED", 3),
                col("FLAGGED", 7),
                col("UNREVIEWED", 5),
                col("FLAG RATE", 8),
            ],
            &rules,
        );
        if !o.findings.is_empty() {
            let _ = writeln!(out, "\nFLAGGED BY SAMPLED REVIEW (newest first)");
            for f in &o.findings {
                let _ = writeln!(
                    out,
                    "{}  {}  {}  {}: {}",
                    to_rfc3339(f.at),
                    visible(&f.rule),
                    f.proposal_id,
                    visible(&f.principal),
                    visible(&f.reason)
                );
            }
        }
        out
    }
}
