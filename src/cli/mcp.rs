//! `countersign mcp --server URL --token TOKEN`: the gate's MCP tools on
//! stdin/stdout, for agents that call tools over MCP (their MCP client
//! starts this command). Logs go to stderr; stdout is the protocol.

use crate::client::ApiClient;
use crate::config::{self, FileConfig};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Server URL
    #[arg(long, env = "COUNTERSIGN_SERVER")]
    pub server: Option<String>,
    /// Agent token (from `countersign token create --role agent`)
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Trust this CA certificate (PEM) for an https:// server
    #[arg(long, env = "COUNTERSIGN_CA")]
    pub ca: Option<PathBuf>,
}

pub async fn run(args: McpArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let server = args
        .server
        .or_else(|| file.client.server.clone())
        .unwrap_or_else(|| config::DEFAULT_SERVER.to_owned());
    let Some(token) = args.token.or_else(|| file.client.token.clone()) else {
        anyhow::bail!("no agent token: pass --token or set COUNTERSIGN_TOKEN");
    };
    let ca = args.ca.or_else(|| file.client.ca.clone());
    let client = ApiClient::with_ca(&server, Some(token), ca.as_deref())?;
    crate::mcp::serve_stdio(Arc::new(client)).await?;
    Ok(ExitCode::SUCCESS)
}
