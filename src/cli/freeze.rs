//! `countersign freeze`, `unfreeze` and `freezes`: the stop button from a
//! terminal or a script, as the console's `F` does it — a lead logs in
//! with their SSH key and signs the freeze with it.

use super::tui::{Person, PersonConnection};
use crate::api::FreezeMode;
use crate::config::FileConfig;
use crate::domain::freeze::{ALL_AGENTS, Freeze};
use crate::domain::time::{now_millis, to_rfc3339};
use crate::signing::freeze::FreezeDraft;
use anyhow::bail;
use clap::Args;
use std::process::ExitCode;

/// Which agent: one by name, or every agent.
#[derive(Debug, Args)]
pub struct Whom {
    /// The agent's name (its token's name)
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub agent_name: Option<String>,
    /// Every agent
    #[arg(long)]
    pub all: bool,
}

impl Whom {
    fn name(&self) -> String {
        match &self.agent_name {
            Some(a) if !self.all => a.clone(),
            _ => ALL_AGENTS.to_owned(),
        }
    }
}

#[derive(Debug, Args)]
pub struct FreezeArgs {
    #[command(flatten)]
    pub whom: Whom,
    /// no_auto: policy approves nothing for it; hold: also nothing approved may start
    #[arg(long, value_parser = ["no_auto", "hold"])]
    pub mode: String,
    /// Why (recorded, signed, and told to the agent)
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub person: PersonConnection,
}

#[derive(Debug, Args)]
pub struct UnfreezeArgs {
    #[command(flatten)]
    pub whom: Whom,
    /// Why it may go on (recorded and signed)
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub person: PersonConnection,
}

#[derive(Debug, Args)]
pub struct FreezesArgs {
    /// Print the JSON the API returns
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub person: PersonConnection,
}

async fn logged_in(
    person: PersonConnection,
    file: &FileConfig,
) -> anyhow::Result<(crate::client::ApiClient, Person)> {
    let p = person.resolve(file)?;
    let mut client = crate::client::ApiClient::with_ca(&p.server, None, p.ca.as_deref())?;
    client.login(&p.principal, &p.signer).await?;
    Ok((client, p))
}

async fn post(
    draft: FreezeDraft,
    person: PersonConnection,
    file: &FileConfig,
) -> anyhow::Result<ExitCode> {
    if draft.reason.trim().chars().count() < 2 {
        bail!("--reason: say why, in at least two characters");
    }
    let (client, p) = logged_in(person, file).await?;
    let signed = draft.sign(&p.principal, now_millis(), &p.signer)?;
    let out = client.post_freeze(&signed.decision).await?;
    println!("{} (audit entry {})", out.event, out.audit.seq);
    print!("{}", table(&out.freezes));
    Ok(ExitCode::SUCCESS)
}

pub async fn freeze(args: FreezeArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let mode = FreezeMode::parse(&args.mode).unwrap_or(FreezeMode::Hold);
    let draft = FreezeDraft {
        agent: args.whom.name(),
        mode: Some(mode),
        reason: args.reason,
    };
    post(draft, args.person, file).await
}

pub async fn unfreeze(args: UnfreezeArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let draft = FreezeDraft {
        agent: args.whom.name(),
        mode: None,
        reason: args.reason,
    };
    post(draft, args.person, file).await
}

pub async fn list(args: FreezesArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let (client, _) = logged_in(args.person, file).await?;
    let list = client.freezes().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print!("{}", table(&list.freezes));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per freeze, or a line saying nothing is frozen. Agent names
/// and reasons are shown with their invisible characters made visible.
fn table(freezes: &[Freeze]) -> String {
    if freezes.is_empty() {
        return "nothing is frozen\n".into();
    }
    let mut out = format!(
        "{:<24} {:<8} {:<16} {:<24} REASON\n",
        "AGENT", "MODE", "BY", "SINCE"
    );
    for f in freezes {
        let agent = if f.agent == ALL_AGENTS {
            "* (every agent)".to_owned()
        } else {
            crate::domain::text::visible(&f.agent)
        };
        out.push_str(&format!(
            "{:<24} {:<8} {:<16} {:<24} {}\n",
            agent,
            f.mode.as_str(),
            crate::domain::text::visible(&f.by),
            to_rfc3339(f.since),
            crate::domain::text::visible(&f.reason)
        ));
    }
    out
}
