//! One upstream MCP server the gateway fronts: a child process over stdio
//! (with its own environment, where its credentials live) or a
//! streamable-HTTP server (with its own headers). The gateway is its MCP
//! client.

use super::config::UpstreamConfig;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Map, Value};
use std::time::Duration;

/// Connected, with the tools it listed at start.
pub struct Upstream {
    pub config: UpstreamConfig,
    client: RunningService<RoleClient, ()>,
    pub tools: Vec<Tool>,
}

/// How long connecting and listing may take.
const CONNECT: Duration = Duration::from_secs(30);

impl Upstream {
    pub async fn connect(config: UpstreamConfig) -> anyhow::Result<Upstream> {
        let name = config.name.clone();
        let client = tokio::time::timeout(CONNECT, start(&config))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "upstream `{name}` did not answer within {} s",
                    CONNECT.as_secs()
                )
            })??;
        let tools = tokio::time::timeout(CONNECT, client.list_all_tools())
            .await
            .map_err(|_| anyhow::anyhow!("upstream `{name}` did not list its tools in time"))?
            .map_err(|e| anyhow::anyhow!("upstream `{name}`: listing tools: {e}"))?;
        Ok(Upstream {
            config,
            client,
            tools,
        })
    }

    /// One call, within `timeout`: the upstream's result, or why there is
    /// none.
    pub async fn call(
        &self,
        tool: &str,
        arguments: Map<String, Value>,
        timeout: Duration,
    ) -> Result<CallToolResult, String> {
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        match tokio::time::timeout(timeout, self.client.call_tool(params)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(format!("upstream `{}`: {e}", self.config.name)),
            Err(_) => Err(format!(
                "upstream `{}` gave no answer within {} s",
                self.config.name,
                timeout.as_secs()
            )),
        }
    }
}

async fn start(config: &UpstreamConfig) -> anyhow::Result<RunningService<RoleClient, ()>> {
    let name = &config.name;
    if let Some(argv) = &config.command {
        let Some((program, args)) = argv.split_first() else {
            anyhow::bail!("upstream `{name}`: an empty command");
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).envs(&config.env);
        let transport = TokioChildProcess::new(cmd)
            .map_err(|e| anyhow::anyhow!("upstream `{name}`: cannot start {program}: {e}"))?;
        return ()
            .serve(transport)
            .await
            .map_err(|e| anyhow::anyhow!("upstream `{name}`: MCP initialise: {e}"));
    }
    let Some(url) = &config.url else {
        anyhow::bail!("upstream `{name}` has neither command nor url");
    };
    let mut headers = std::collections::HashMap::new();
    for (k, v) in &config.headers {
        let key = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| anyhow::anyhow!("upstream `{name}`: header `{k}`: {e}"))?;
        let value = reqwest::header::HeaderValue::from_str(v)
            .map_err(|e| anyhow::anyhow!("upstream `{name}`: header `{k}`: {e}"))?;
        headers.insert(key, value);
    }
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(headers),
    );
    ().serve(transport)
        .await
        .map_err(|e| anyhow::anyhow!("upstream `{name}` at {url}: MCP initialise: {e}"))
}
