//! `countersign policy check FILE [--signers FILE]` and `countersign policy
//! explain ALERT.json [--policy FILE]`: validate a policy (and that its
//! rules can be met), and show for a submission what the gate would judge
//! and require, before any agent sends it. `countersign policy test FILE
//! --db URL | --export FILE` replays the recorded proposals under a new
//! policy.

use super::db_url;
use crate::audit::requirements::{Needs, Replay};
use crate::audit::verify::parse_export;
use crate::config::FileConfig;
use crate::domain::policy::{self, Policy, Problem, Rule, SignerSet};
use crate::domain::records::AuditEntry;
use crate::domain::risk;
use crate::domain::submission;
use crate::domain::time::now_millis;
use crate::domain::types::Role;
use crate::server::serve::{DbUrl, open_store};
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
    /// Replay every recorded proposal (its recorded action and effective
    /// risk) under a new policy and print what would change; exit 0.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The new policy file
    pub file: PathBuf,
    /// The database whose audit log holds the proposals (sqlite:PATH or
    /// postgres://USER@HOST/DB)
    #[arg(long, env = "COUNTERSIGN_DB", conflicts_with = "export")]
    pub db: Option<String>,
    /// An `audit export` file instead of a database
    #[arg(long)]
    pub export: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Alert + proposals JSON, as an agent would POST it
    pub alert: PathBuf,
    /// Policy file (default: the built-in policy)
    #[arg(long, env = "COUNTERSIGN_POLICY")]
    pub policy: Option<PathBuf>,
}

pub async fn run(cmd: PolicyCommand, config: &FileConfig) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { file, signers } => Ok(check(&file, signers.as_deref())),
        PolicyCommand::Explain(args) => explain(args),
        PolicyCommand::Builtin => {
            super::emit(&builtin())?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Test(args) => test(args, config).await,
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

/// The recorded log: from an export file, or read from the database.
async fn recorded_log(
    args: &TestArgs,
    config: &FileConfig,
) -> anyhow::Result<(Vec<AuditEntry>, String)> {
    if let Some(path) = &args.export {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let (entries, _) =
            parse_export(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok((entries, path.display().to_string()));
    }
    let db = db_url(args.db.clone(), config)?;
    if let DbUrl::Sqlite(path) = &db
        && !path.exists()
    {
        anyhow::bail!("no database at {} (pass --db or --export)", path.display());
    }
    let store = open_store(&db).await?;
    Ok((store.audit_all().await?, db.to_string()))
}

/// What a proposal needed, and what it would need: the changes that count.
fn changes(old: Needs, new: Needs) -> Vec<String> {
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    match (old.auto, new.auto) {
        (false, true) => vec!["now approved by policy".into()],
        (true, false) => vec!["no longer auto".into()],
        (true, true) => vec![],
        (false, false) => {
            let mut out = Vec::new();
            match (old.role, new.role) {
                (Role::Analyst, Role::Lead) => out.push("now needs a lead".into()),
                (Role::Lead, Role::Analyst) => out.push("no longer needs a lead".into()),
                _ => {}
            }
            if new.approvals > old.approvals {
                out.push(format!(
                    "now needs {} approval{}",
                    new.approvals,
                    plural(new.approvals)
                ));
            } else if new.approvals < old.approvals {
                out.push(format!(
                    "now needs only {} approval{}",
                    new.approvals,
                    plural(new.approvals)
                ));
            }
            out
        }
    }
}

async fn test(args: TestArgs, config: &FileConfig) -> anyhow::Result<ExitCode> {
    let new = match Policy::load(&args.file) {
        Ok(p) => p,
        Err(e) => {
            println!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let (entries, source) = recorded_log(&args, config).await?;
    let mut replay = Replay::new();
    for e in &entries {
        let body: serde_json::Value = serde_json::from_str(&e.entry)
            .with_context(|| format!("entry {} is not JSON", e.seq))?;
        replay.entry(e.seq, &body, None).map_err(|b| {
            anyhow::anyhow!(
                "the log is not sound at entry {}: {} (run `countersign audit verify`)",
                b.seq,
                b.problem
            )
        })?;
    }
    // Groups in a fixed order, each with its proposals in recorded order.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let (mut total, mut changed, mut unknown) = (0usize, 0usize, 0usize);
    for p in replay.proposals() {
        total += 1;
        let old = p.needs.or_else(|| {
            let recorded = replay.policy(p.policy.as_deref()?)?.as_ref().ok()?;
            Some(Needs::of(&recorded.rule_for(&p.action, p.risk)))
        });
        let Some(old) = old else {
            unknown += 1;
            continue;
        };
        let found = changes(old, Needs::of(&new.rule_for(&p.action, p.risk)));
        if !found.is_empty() {
            changed += 1;
        }
        for label in found {
            match groups.iter_mut().find(|(l, _)| *l == label) {
                Some((_, ids)) => ids.push(p.id.clone()),
                None => groups.push((label, vec![p.id.clone()])),
            }
        }
    }
    let rank = |label: &str| {
        [
            "now approved by policy",
            "no longer auto",
            "now needs a lead",
            "no longer needs a lead",
            "now needs only",
        ]
        .iter()
        .position(|l| label.starts_with(l))
        .unwrap_or(5)
    };
    groups.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.0.cmp(&b.0)));
    println!(
        "policy test {} ({}) against {total} recorded proposal{} in {source}:",
        args.file.display(),
        new.digest(),
        if total == 1 { "" } else { "s" }
    );
    for (label, ids) in &groups {
        let examples: Vec<&str> = ids.iter().take(3).map(String::as_str).collect();
        println!(
            "  {label}: {} (e.g. {}{})",
            ids.len(),
            examples.join(", "),
            if ids.len() > 3 { ", …" } else { "" }
        );
    }
    println!(
        "summary: {changed} of {total} proposals would be judged differently, {} unchanged{}",
        total - changed - unknown,
        if unknown > 0 {
            format!("; {unknown} recorded before requirements were (not compared)")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
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
