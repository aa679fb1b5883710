//! `countersign gateway`: an MCP server over stdio in front of the real
//! tool servers; gated calls wait for a person (`crate::gateway`).

use crate::config::FileConfig;
use crate::gateway::{ToolGateway, Upstreams};
use clap::Args;
use std::process::ExitCode;

/// Configured in the config file (`--config FILE`): `[gateway]` (the
/// countersign server, an agent token, how long a call is held) and
/// `[[upstreams]]` (the tool servers it fronts, with their credentials and
/// what is allowed, gated or denied).
#[derive(Debug, Args)]
pub struct GatewayArgs {}

pub async fn run(_args: GatewayArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let Some(s) = &file.gateway else {
        anyhow::bail!(
            "no [gateway] section in the config file (--config FILE): it names the countersign server and an agent token"
        );
    };
    anyhow::ensure!(
        !file.upstreams.is_empty(),
        "no [[upstreams]] in the config file: name the MCP servers the gateway fronts"
    );
    let server = s.server_or(&file.client).map_err(anyhow::Error::msg)?;
    let token = s.token().map_err(anyhow::Error::msg)?;
    let client = crate::client::ApiClient::with_ca(&server, Some(token), s.ca.as_deref())?;
    let connect = crate::mcp::Fixed(std::sync::Arc::new(client));
    let upstreams = Upstreams::connect(s, file.upstreams.clone()).await;
    let gateway = ToolGateway::new(
        std::sync::Arc::new(upstreams),
        Box::new(connect),
        crate::gateway::Via::Stdio,
    );
    crate::gateway::serve_stdio(gateway).await?;
    Ok(ExitCode::SUCCESS)
}
