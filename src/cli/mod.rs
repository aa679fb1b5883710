//! The command line (clap). Each subcommand lives in its own file; `main`
//! only parses and dispatches.

mod audit;
mod demo;
mod exec;
mod freeze;
mod gateway;
pub(crate) mod hook;
mod mcp;
mod notify;
mod oversight;
mod policy;
mod receipt;
mod serve;
mod submit;
pub(crate) mod token;
mod tui;

use crate::config::{ClientSection, FileConfig, ServerSection};
use crate::server::serve::DbUrl;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "countersign",
    version,
    about = "A human approval gate for AI-proposed security actions"
)]
pub struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/countersign/config.toml)
    #[arg(long, global = true, env = "COUNTERSIGN_CONFIG")]
    pub config: Option<PathBuf>,

    /// Without a subcommand: the console, if a server is configured.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole loop on an embedded default: server, simulated agent, console.
    Demo(demo::DemoArgs),
    /// Run the backend queue server.
    Serve(Box<serve::ServeArgs>),
    /// Manage agent and reviewer API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Submit an alert with proposals (the agent side); --wait for the decision.
    Submit(submit::SubmitArgs),
    /// Run a command only if a person approved exactly that command line (checked receipt).
    Exec(Box<exec::ExecArgs>),
    /// A pre-tool-use hook for Claude Code, Codex or Gemini CLI: only an approved call runs.
    Hook(hook::HookArgs),
    /// The gate's MCP tools over stdio, for agents that call tools over MCP.
    Mcp(mcp::McpArgs),
    /// An MCP server in front of your real tool servers: only what a person approved is forwarded.
    Gateway(gateway::GatewayArgs),
    /// The review console for analysts and leads.
    Tui(tui::TuiArgs),
    /// Export and verify the hash-chained audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Notification sinks: list them, send a test event.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// The lead's oversight report: analysts, agents and auto rules over a window.
    Oversight(oversight::OversightArgs),
    /// Stop an agent (or every agent) at once: leads only, signed with your SSH key.
    Freeze(freeze::FreezeArgs),
    /// Lift a freeze: leads only, signed with your SSH key.
    Unfreeze(freeze::UnfreezeArgs),
    /// What is frozen now.
    Freezes(freeze::FreezesArgs),
    /// Check, explain and test a policy; list the built-in sensitive targets.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Approval receipts: fetch one, check one offline.
    #[command(subcommand)]
    Receipt(receipt::ReceiptCommand),
}

/// How an agent-side command (`hook`, `mcp`) reaches the server: flags,
/// then `COUNTERSIGN_*`, then `[client]` in the config file.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentConnection {
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

impl AgentConnection {
    pub fn client(&self, file: &FileConfig) -> anyhow::Result<crate::client::ApiClient> {
        let c = file.client_with(ClientSection {
            server: self.server.clone(),
            token: self.token.clone(),
            ca: self.ca.clone(),
            ..ClientSection::default()
        });
        let Some(token) = c.token.clone() else {
            anyhow::bail!("no agent token: pass --token or set COUNTERSIGN_TOKEN");
        };
        Ok(crate::client::ApiClient::with_ca(
            &c.server_or_default(),
            Some(token),
            c.ca.as_deref(),
        )?)
    }
}

/// Writes a command's output to stdout. A reader that went away (`| head`)
/// is not an error: there is nobody left to tell (print! would panic).
pub fn emit(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The database a server-side command (`serve`, `token`, `audit`,
/// `policy test`) opens: `--db`, then `[server] db` in the config file,
/// then the default under the data directory.
fn db_url(flag: Option<String>, file: &FileConfig) -> anyhow::Result<DbUrl> {
    let server = file.server_with(ServerSection {
        db: flag,
        ..ServerSection::default()
    });
    Ok(server.db_or_default().parse()?)
}

/// Runs a parsed command line. Errors are printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // A hook that fails must still deny: even a bad config file. After
    // the call (post), it must never fail the runtime.
    if let Some(Command::Hook(args)) = cli.command {
        return match FileConfig::load(cli.config.as_deref()) {
            Ok(file) => hook::run(args, &file).await,
            Err(e) if args.event == hook::HookEvent::Post => {
                eprintln!("countersign hook (post): {e:#}; nothing reported");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Ok(ExitCode::from(hook::emit(
                args.runtime,
                &hook::Answer::Deny(format!("countersign: {e:#}; denied (fail closed)")),
            ))),
        };
    }
    let file = FileConfig::load(cli.config.as_deref())?;
    let Some(command) = cli.command else {
        let configured =
            file.client.server.is_some() || std::env::var_os("COUNTERSIGN_SERVER").is_some();
        if !configured {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            eprintln!(
                "\n\nTry `countersign demo`. With a server configured ([client] server in the config file, or COUNTERSIGN_SERVER), `countersign` alone opens the console."
            );
            return Ok(ExitCode::from(2));
        }
        return tui::run_tui(tui::TuiArgs::from_env(), &file).await;
    };
    match command {
        Command::Serve(args) => serve::run(*args, &file).await,
        Command::Token(cmd) => token::run(cmd, &file).await,
        Command::Submit(args) => submit::run(args, &file).await,
        Command::Hook(args) => hook::run(args, &file).await,
        Command::Exec(args) => exec::run(*args, &file).await,
        Command::Mcp(args) => mcp::run(args, &file).await,
        Command::Gateway(args) => gateway::run(args, &file).await,
        Command::Audit(cmd) => audit::run(cmd, &file).await,
        Command::Tui(args) => tui::run_tui(args, &file).await,
        Command::Demo(args) => demo::run_demo(args, &file).await,
        Command::Policy(cmd) => policy::run(cmd, &file).await,
        Command::Notify(cmd) => notify::run(cmd, &file).await,
        Command::Oversight(args) => oversight::run(args, &file).await,
        Command::Freeze(args) => freeze::freeze(args, &file).await,
        Command::Unfreeze(args) => freeze::unfreeze(args, &file).await,
        Command::Freezes(args) => freeze::list(args, &file).await,
        Command::Receipt(cmd) => receipt::run(cmd, &file).await,
    }
}
