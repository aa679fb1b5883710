//! `countersign oversight`: the lead's report, as the console's oversight
//! view shows it, for a terminal or a script (`--json`).

use super::tui::{Person, PersonConnection};
use crate::api::oversight::Oversight;
use crate::config::FileConfig;
use crate::domain::text::visible;
use crate::domain::time::to_rfc3339;
use clap::Args;
use std::fmt::Write as _;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct OversightArgs {
    #[command(flatten)]
    pub person: PersonConnection,
    /// Start of the window: RFC 3339 or a span back from now (30m, 24h, 7d)
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// End of the window (default now)
    #[arg(long)]
    pub until: Option<String>,
    /// Print the JSON the API returns instead of the report
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: OversightArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let Person {
        server,
        principal,
        signer,
        ca,
    } = args.person.resolve(file)?;
    let mut client = crate::client::ApiClient::with_ca(&server, None, ca.as_deref())?;
    client.login(&principal, &signer).await?;
    let o = client.oversight(&args.since, args.until.as_deref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        print!("{}", report(&o));
    }
    Ok(ExitCode::SUCCESS)
}

fn opt(v: Option<f64>, scale: f64, suffix: &str) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{:.1}{suffix}", x * scale))
}

/// The report as text: three tables and the latest findings. Names come
/// from agents and the policy file: shown as data.
pub fn report(o: &Oversight) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "oversight {} .. {}\n",
        to_rfc3339(o.since),
        to_rfc3339(o.until)
    );
    let _ = writeln!(
        out,
        "ANALYST              DECISIONS  APPROVED  REJECTED  IN GROUPS  MEDIAN REVIEW  HIGH UNEXAMINED  HALTED/FAILED  OVERTURNED  DISAGREED"
    );
    for a in &o.analysts {
        let _ = writeln!(
            out,
            "{:<20} {:>9}  {:>8}  {:>8}  {:>9}  {:>13}  {:>15}  {:>13}  {:>10}  {:>9}",
            visible(&a.principal),
            a.decisions,
            a.approvals,
            a.rejections,
            a.in_groups,
            opt(a.median_review_secs, 1.0, " s"),
            a.unexamined_high_approvals,
            a.approvals_halted_or_failed,
            a.overturned_by_second,
            a.disagreed_as_second
        );
    }
    let _ = writeln!(
        out,
        "\nAGENT                PROPOSALS  APPROVED  REJECTED  EXPIRED  APPROVAL RATE  REJECTION RATE  FALSE POSITIVES"
    );
    for a in &o.agents {
        let _ = writeln!(
            out,
            "{:<20} {:>9}  {:>8}  {:>8}  {:>7}  {:>13}  {:>14}  {:>15}",
            visible(&a.agent),
            a.proposals,
            a.approved,
            a.rejected,
            a.expired,
            opt(a.approval_rate, 100.0, " %"),
            opt(a.rejection_rate, 100.0, " %"),
            a.false_positives
        );
    }
    let _ = writeln!(
        out,
        "\nRULE (approves alone)                     AUTO  SAMPLED  CONFIRMED  FLAGGED  UNREVIEWED  FLAG RATE"
    );
    for r in &o.rules {
        let _ = writeln!(
            out,
            "{:<40} {:>5}  {:>7}  {:>9}  {:>7}  {:>10}  {:>9}",
            visible(&r.rule),
            r.auto_approved,
            r.sampled,
            r.confirmed,
            r.flagged,
            r.unreviewed,
            opt(r.flag_rate, 100.0, " %")
        );
    }
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
