//! `countersign serve`.

use crate::config::{self, FileConfig};
use crate::domain::policy::Policy;
use crate::server::serve::{self, DbUrl, ServerConfig};
use crate::server::state::Limits;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Database: sqlite:PATH (default, under $XDG_DATA_HOME/countersign) or postgres://…
    #[arg(long, env = "COUNTERSIGN_DB")]
    pub db: Option<String>,
    /// Address to listen on
    #[arg(long, env = "COUNTERSIGN_LISTEN")]
    pub listen: Option<String>,
    /// Policy TOML file (default: the built-in policy)
    #[arg(long, env = "COUNTERSIGN_POLICY")]
    pub policy: Option<PathBuf>,
    /// Largest request body in bytes
    #[arg(long, env = "COUNTERSIGN_MAX_BODY")]
    pub max_body: Option<usize>,
}

pub fn db_url(flag: Option<String>, file: &FileConfig) -> anyhow::Result<DbUrl> {
    let text = flag
        .or_else(|| file.server.db.clone())
        .unwrap_or_else(config::default_db_url);
    Ok(text.parse()?)
}

pub async fn run(args: ServeArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let db = db_url(args.db, file)?;
    let policy = match args.policy.or_else(|| file.server.policy.clone()) {
        Some(path) => Policy::load(&path)?,
        None => Policy::builtin(),
    };
    let listen = args
        .listen
        .or_else(|| file.server.listen.clone())
        .unwrap_or_else(|| config::DEFAULT_LISTEN.to_owned());
    let mut limits = Limits::default();
    if let Some(n) = args.max_body.or(file.server.max_body) {
        limits.max_body = n;
    }
    let store = serve::open_store(&db).await?;
    let server = serve::start(
        store,
        ServerConfig {
            listen,
            policy,
            limits,
        },
    )
    .await?;
    eprintln!("countersign serving on {} with {db}", server.url());
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!("countersign: shutting down");
        let _ = stop.send(true);
    });
    server
        .wait()
        .await
        .context("server stopped with an error")?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
