//! `countersign token create|list|revoke`: works on the database directly,
//! so the server need not run (SQLite's WAL lets both share the file).

use super::db_url;
use crate::config::FileConfig;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::domain::types::TokenRole;
use crate::server::auth::new_token;
use crate::server::serve::open_store;
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints it once on stdout. Only its hash is stored.
    Create(CreateArgs),
    /// List tokens (names and roles; never the secrets).
    List(DbArg),
    /// Revoke every active token with a name.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct DbArg {
    /// Database URL (as for `serve --db`)
    #[arg(long, env = "COUNTERSIGN_DB")]
    pub db: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Identity the token acts as (the agent's name, e.g. soar-bot)
    #[arg(long)]
    pub name: String,
    /// agent: submits proposals; reviewer: reads the queue
    #[arg(long, default_value = "agent")]
    pub role: TokenRole,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub db: DbArg,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

pub async fn run(cmd: TokenCommand, file: &FileConfig) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create(args) => {
            anyhow::ensure!(
                valid_name(&args.name),
                "--name must be 1-64 characters of letters, digits, - _ . @"
            );
            let store = open_store(&db_url(args.db.db, file)?).await?;
            let (token, hash) = new_token();
            store
                .create_token(args.name.clone(), args.role, hash, now_millis())
                .await?;
            println!("{token}");
            eprintln!(
                "created {} token for `{}`; it is shown only now",
                args.role, args.name
            );
        }
        TokenCommand::List(db) => {
            let store = open_store(&db_url(db.db, file)?).await?;
            for t in store.list_tokens().await? {
                let state = t.revoked_at.map_or_else(
                    || "active".to_owned(),
                    |r| format!("revoked {}", to_rfc3339(r)),
                );
                println!(
                    "{}\t{}\t{}\t{}",
                    t.name,
                    t.role,
                    to_rfc3339(t.created_at),
                    state
                );
            }
        }
        TokenCommand::Revoke(args) => {
            let store = open_store(&db_url(args.db.db, file)?).await?;
            let n = store.revoke_token(&args.name, now_millis()).await?;
            anyhow::ensure!(n > 0, "no active token named `{}`", args.name);
            eprintln!("revoked {n} token(s) named `{}`", args.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
