//! `countersign oversight`: the lead's report, as the console's oversight
//! view shows it, for a terminal or a script (`--json`).

use super::tui::{Person, PersonConnection};
use crate::config::FileConfig;
use clap::Args;
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
        print!("{}", o.report());
    }
    Ok(ExitCode::SUCCESS)
}
