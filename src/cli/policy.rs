//! `countersign policy check FILE` and `countersign policy explain
//! ALERT.json [--policy FILE]`: validate a policy, and show for a
//! submission what the gate would judge and require, before any agent
//! sends it.

use crate::domain::policy::{Policy, Rule};
use crate::domain::risk;
use crate::domain::submission;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file (exit 0 valid, 1 with the line that is wrong).
    Check { file: PathBuf },
    /// For each proposal of an alert JSON: the analysis, the floor, the
    /// effective risk, every matching rule and the resulting requirement.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Alert + proposals JSON, as an agent would POST it
    pub alert: PathBuf,
    /// Policy file (default: the built-in policy)
    #[arg(long, env = "COUNTERSIGN_POLICY")]
    pub policy: Option<PathBuf>,
}

pub fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { file } => match Policy::load(&file) {
            Ok(p) => {
                println!(
                    "ok: {} ({} rules; leads: {})",
                    file.display(),
                    p.rules().len(),
                    p.leads().collect::<Vec<_>>().join(", ")
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("{e}");
                Ok(ExitCode::FAILURE)
            }
        },
        PolicyCommand::Explain(args) => explain(args),
    }
}

fn requirement(r: &Rule) -> String {
    if r.auto {
        return "approved by policy alone (every matching rule says auto)".into();
    }
    format!(
        "{} approval{} from distinct people, at least one {}; expires after {} s{}; execute within {} s of approval",
        r.approvals,
        if r.approvals == 1 { "" } else { "s" },
        r.role,
        r.expiry_secs,
        r.escalate_after_secs
            .map(|s| format!(", escalates to leads after {s} s"))
            .unwrap_or_default(),
        r.execution_window_secs
    )
}

fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let policy = match &args.policy {
        Some(p) => Policy::load(p)?,
        None => Policy::builtin(),
    };
    let text = std::fs::read(&args.alert)
        .with_context(|| format!("cannot read {}", args.alert.display()))?;
    if let Err(p) = crate::domain::json::check(&text) {
        anyhow::bail!("{}: {p}", args.alert.display());
    }
    let value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON", args.alert.display()))?;
    let valid =
        submission::parse(value).map_err(|e| anyhow::anyhow!("{}: {e}", args.alert.display()))?;
    for (i, vp) in valid.proposals.iter().enumerate() {
        let f = &vp.fields;
        let a = risk::assess(f, &policy);
        let effective = a.effective(f.risk);
        println!("proposals[{i}]: {} → {}", f.action, f.target.escape_debug());
        match a.expands_access {
            Some(true) => println!("  analysis:   grants new access"),
            Some(false) => println!("  analysis:   no new access"),
            None if f.permission_change.is_some() => println!("  analysis:   not analysed"),
            None => {}
        }
        for finding in &a.findings {
            println!(
                "  finding:    [{}] {} (floor {})",
                finding.class, finding.detail, finding.floor
            );
        }
        println!("  floor:      {}", a.floor);
        println!(
            "  risk:       {effective}{}",
            if effective != f.risk {
                format!(" (the agent said {})", f.risk)
            } else {
                String::new()
            }
        );
        let matching = policy.matching(&f.action, effective);
        if matching.is_empty() {
            println!("  rules:      [defaults] (no rule matches)");
        }
        for r in &matching {
            println!("  rule:       \"{}\"", r.name);
        }
        println!(
            "  requires:   {}",
            requirement(&policy.rule_for(&f.action, effective))
        );
    }
    Ok(ExitCode::SUCCESS)
}
