//! `countersign submit FILE --server URL --token TOKEN [--wait] [--timeout SECS]`
//!
//! Exit codes (scripts rely on them): 0 every proposal approved, 2 one was
//! rejected or halted, 3 one expired or lapsed, 4 `--timeout` passed first,
//! 1 any error.

use crate::api::DecisionView;
use crate::client::{ApiClient, Backoff, ClientError};
use crate::config::{ClientSection, FileConfig};
use crate::domain::records::DecidedBy;
use crate::domain::types::ProposalStatus;
use anyhow::{Context, bail};
use clap::Args;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::{Instant, sleep};

pub const EXIT_APPROVED: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_REJECTED: u8 = 2;
pub const EXIT_EXPIRED: u8 = 3;
pub const EXIT_TIMEOUT: u8 = 4;

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Alert + proposals JSON file, or - for standard input
    pub file: PathBuf,
    /// Server URL
    #[arg(long, env = "COUNTERSIGN_SERVER")]
    pub server: Option<String>,
    /// Agent token (from `countersign token create`)
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Block until every proposal is decided
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 4)
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Print JSON lines instead of text
    #[arg(long)]
    pub json: bool,
    /// Trust this CA certificate (PEM) for an https:// server, besides the system's roots
    #[arg(long, env = "COUNTERSIGN_CA")]
    pub ca: Option<PathBuf>,
}

pub(crate) fn read_input(path: &PathBuf) -> anyhow::Result<serde_json::Value> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Exit code for one final-enough status.
pub fn exit_code_for(status: ProposalStatus) -> Option<u8> {
    use ProposalStatus::*;
    match status {
        Approved | Executing | Executed | Failed => Some(EXIT_APPROVED),
        Rejected | Halted => Some(EXIT_REJECTED),
        Expired | Lapsed => Some(EXIT_EXPIRED),
        Pending | AwaitingSecond | Escalated => None,
    }
}

fn describe(d: &DecisionView) -> String {
    let by = match &d.decided_by {
        Some(DecidedBy::Person { principal }) => format!(" by {principal}"),
        Some(DecidedBy::Policy { rule }) => format!(" by policy rule \"{rule}\""),
        Some(DecidedBy::Deadline) => " by deadline".to_owned(),
        Some(DecidedBy::Agent { name }) => format!(" by agent {name}"),
        Some(DecidedBy::Executor { name }) => format!(" by executor {name}"),
        None => String::new(),
    };
    let reason = d
        .reason
        .as_deref()
        .map(|r| format!(": {}", r.escape_debug()))
        .unwrap_or_default();
    let amended = d
        .amendment_note()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    format!("{} {}{by}{reason}{amended}", d.proposal_id, d.status)
}

/// Retries transient failures (server down, 503) with backoff until
/// `deadline`. Submissions are idempotent on external_id, so a retry after a
/// lost answer is safe.
async fn retrying<T, F, Fut>(deadline: Option<Instant>, mut f: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut delay = backoff.next_delay();
    let mut tries = 1;
    loop {
        match f().await {
            Err(e) if e.is_transient() && deadline.is_none_or(|d| Instant::now() + delay < d) => {
                let left = deadline
                    .map(|d| {
                        format!(
                            ", giving up in {} s",
                            d.saturating_duration_since(Instant::now()).as_secs()
                        )
                    })
                    .unwrap_or_default();
                eprintln!(
                    "countersign: try {tries}: {e}; again in {:.1} s{left}",
                    delay.as_secs_f64()
                );
                sleep(delay).await;
                delay = backoff.next_delay();
                tries += 1;
            }
            other => return other,
        }
    }
}

pub async fn run(args: SubmitArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let c = file.client_with(ClientSection {
        server: args.server,
        token: args.token,
        ca: args.ca,
        ..ClientSection::default()
    });
    let Some(token) = c.token.clone() else {
        bail!(
            "no token: pass --token, set COUNTERSIGN_TOKEN, or create one with `countersign token create`"
        );
    };
    let body = read_input(&args.file)?;
    let client = ApiClient::with_ca(&c.server_or_default(), Some(token), c.ca.as_deref())?;
    let deadline = args
        .timeout
        .map(|s| Instant::now() + Duration::from_secs(s));
    // Without --timeout, a dead server is retried for a minute before giving up.
    let submit_deadline = deadline.or_else(|| Some(Instant::now() + Duration::from_secs(60)));
    let resp = retrying(submit_deadline, || client.submit_alert(&body)).await?;
    for p in &resp.proposals {
        if args.json {
            println!(
                "{}",
                serde_json::json!({"event": "submitted", "alert_id": resp.alert_id, "proposal": p})
            );
        } else {
            println!(
                "proposal {} ({}) {} digest {}",
                p.id, resp.alert_id, p.status, p.digest
            );
        }
    }
    let mut told = resp.frozen.clone();
    if let Some(f) = &told {
        eprintln!("countersign: this agent is {}", f.describe());
    }
    if !args.wait {
        return Ok(ExitCode::from(EXIT_APPROVED));
    }
    let mut code = EXIT_APPROVED;
    for p in &resp.proposals {
        let decided = loop {
            // 50 s a request: under a load balancer's 60 s idle timeout.
            let wait = deadline.map_or(50, |d| {
                d.saturating_duration_since(Instant::now())
                    .as_secs()
                    .min(50)
            });
            let view = retrying(deadline, || client.decision(&p.id, wait)).await?;
            if view.frozen != told {
                match &view.frozen {
                    Some(f) => eprintln!("countersign: this agent is {}", f.describe()),
                    None => eprintln!("countersign: the freeze on this agent was lifted"),
                }
                told = view.frozen.clone();
            }
            // Approved but held by a freeze: not yet a go.
            if view.decided && !view.held() {
                break Some(view);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break None;
            }
        };
        let Some(view) = decided else {
            eprintln!("countersign: timed out waiting for {}", p.id);
            return Ok(ExitCode::from(EXIT_TIMEOUT));
        };
        if args.json {
            println!(
                "{}",
                serde_json::json!({"event": "decided", "decision": view})
            );
        } else {
            println!("{}", describe(&view));
        }
        let c = exit_code_for(view.status).unwrap_or(EXIT_ERROR);
        if code == EXIT_APPROVED {
            code = c;
        }
    }
    Ok(ExitCode::from(code))
}
