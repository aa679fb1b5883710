//! `countersign mcp --server URL --token TOKEN`: the gate's MCP tools on
//! stdin/stdout, for agents that call tools over MCP (their MCP client
//! starts this command). Logs go to stderr; stdout is the protocol.

use crate::config::FileConfig;
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub connection: super::AgentConnection,
}

pub async fn run(args: McpArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let client = args.connection.client(file)?;
    crate::mcp::serve_stdio(Arc::new(client)).await?;
    Ok(ExitCode::SUCCESS)
}
