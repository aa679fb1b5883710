//! `countersign policy check FILE [--signers FILE]` and `countersign policy
//! explain ALERT.json [--policy FILE]`: validate a policy (and that its
//! rules can be met), and show for a submission what the gate would judge
//! and require, before any agent sends it.

use crate::domain::policy::{self, Policy, Problem, Rule, SignerSet};
use crate::domain::risk;
use crate::domain::submission;
use crate::domain::time::now_millis;
use crate::signing::allowed_signers::AllowedSigners;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file: exit 0 valid, 1 with the line that is wrong
    /// or the rules that can never be met.
    Check {
        file: PathBuf,
        /// allowed_signers: also check there are enough people, and leads,
        /// to meet every rule
        #[arg(long)]
        signers: Option<PathBuf>,
    },
    /// For each proposal of an alert JSON: the analysis, the floor, the
    /// effective risk, every matching rule and the resulting requirement.
    Explain(ExplainArgs),
    /// The built-in sensitive targets and protected hosts, with the floor
    /// each sets (drop one with `[assets] ignore_builtin = ["PATTERN"]`).
    Builtin,
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
        PolicyCommand::Check { file, signers } => Ok(check(&file, signers.as_deref())),
        PolicyCommand::Explain(args) => explain(args),
        PolicyCommand::Builtin => {
            print!("{}", builtin());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The built-in list, one pattern a line, grouped by what it names.
fn builtin() -> String {
    use risk::sensitive::{BUILTIN, Kind, PROTECTED};
    let mut out = String::new();
    for (kind, title) in [
        (Kind::Host, "hosts (isolate_host, block_indicator)"),
        (
            Kind::Account,
            "accounts (disable_account, reset_credentials, rotate_secret, revoke_token, modify_policy)",
        ),
        (
            Kind::Process,
            "processes (kill_process; names, paths or PIDs)",
        ),
        (Kind::Path, "paths (quarantine_file)"),
    ] {
        out.push_str(&format!("{title}:\n"));
        for e in BUILTIN.iter().filter(|e| e.kind == kind) {
            out.push_str(&format!(
                "  {:<36} {:<8} {}\n",
                e.pattern,
                e.floor.as_str(),
                e.why
            ));
        }
    }
    out.push_str("protected hosts (never blocked or isolated by policy alone: high):\n");
    for p in PROTECTED {
        out.push_str(&format!("  {p} (and its subdomains)\n"));
    }
    out.push_str("Any action kind the policy does not know is checked against all of them.\n");
    out
}

fn check(file: &std::path::Path, signers: Option<&std::path::Path>) -> ExitCode {
    let p = match Policy::load(file) {
        Ok(p) => p,
        Err(e) => {
            println!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let set = match signers.map(AllowedSigners::load).transpose() {
        Ok(s) => s.map(|s| s.decision_signers(now_millis())),
        Err(e) => {
            println!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for w in warnings(&p, set.as_ref()) {
        println!("warning: {w}");
    }
    let problems = policy::unmeetable(&p, set.as_ref());
    if !problems.is_empty() {
        println!("{}", cannot_be_met(&file.display().to_string(), &problems));
        return ExitCode::FAILURE;
    }
    println!(
        "ok: {} ({} rules; leads: {}{})",
        file.display(),
        p.rules().len(),
        leads(&p),
        set.map(|s| format!("; {} signers", s.keys()))
            .unwrap_or_default()
    );
    ExitCode::SUCCESS
}

/// The lead patterns, as `serve` and `policy check` print them.
pub(crate) fn leads(p: &Policy) -> String {
    let leads: Vec<&str> = p.leads().collect();
    match leads.as_slice() {
        [] => "none named".into(),
        ["*"] => "* (everyone allowed_signers lets sign)".into(),
        _ => leads.join(", "),
    }
}

/// Lead patterns that match nobody in allowed_signers: not fatal while
/// another lead can sign (see `policy::idle_leads`).
pub(crate) fn warnings(p: &Policy, signers: Option<&SignerSet>) -> Vec<String> {
    let Some(signers) = signers else {
        return Vec::new();
    };
    policy::idle_leads(p, signers)
        .into_iter()
        .map(|lead| format!("lead `{lead}` matches nobody in allowed_signers: they cannot sign"))
        .collect()
}

/// The message `policy check` prints and `serve` stops with.
pub(crate) fn cannot_be_met(origin: &str, problems: &[Problem]) -> String {
    let mut out = format!("policy {origin}: rules that can never be met:");
    for p in problems {
        out.push_str(&format!("\n  {p}"));
    }
    out
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
