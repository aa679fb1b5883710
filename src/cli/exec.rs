//! `countersign exec (--proposal ID | --submit ALERT.json) --server-key PUB
//! --signers FILE -- COMMAND [ARGS…]`: run a command line only if a person
//! approved exactly that command line.
//!
//! The order is the point: wait for the decision; fetch the receipt and
//! check it offline (the server's signature, every person's signature
//! against allowed_signers, the window, the proposal) — a server that lies
//! about a decision cannot make anything run; compare the approved
//! `parameters.argv` with the command line given, byte for byte; report
//! `started` naming the receipt, so a halt, a lapse or a second run is
//! refused by the server before anything runs; run; report `executed` or
//! `failed` with what the command wrote, by hash. Anything short of that
//! runs nothing, and a dead server never leads to running.
//!
//! Exit codes: the command's own once it ran (128 + N for signal N, 127
//! when it could not be started); otherwise those of `submit --wait`: 2
//! rejected or halted, 3 expired or lapsed, 4 no decision within
//! `--timeout`, 1 any other refusal or error.

use super::AgentConnection;
use super::submit::{EXIT_ERROR, EXIT_EXPIRED, EXIT_TIMEOUT, exit_code_for};
use crate::api::{DecisionView, ExecutionReport, SignedReceipt};
use crate::client::agent::{self, Outcome};
use crate::client::{ApiClient, ClientError};
use crate::config::FileConfig;
use crate::domain::time::{now_millis, parse_rfc3339};
use crate::domain::types::ProposalStatus;
use crate::receipt::Receipt;
use crate::receipt::verify::{Expect, check_signed};
use crate::signing::allowed_signers::AllowedSigners;
use anyhow::Context;
use clap::Args;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

const HELP: &str = "\
Runs COMMAND only if it is exactly what a person approved:
  1. waits for the decision on --proposal ID, or on the one proposal of
     --submit FILE that carries parameters.argv (an error if none or several do);
  2. fetches the approval receipt and checks it offline against --server-key
     and --signers (flag, COUNTERSIGN_SERVER_KEY / COUNTERSIGN_SIGNERS, or
     [server] server_key / signers in the config file; without both it runs
     nothing), its execution window, and that the approved parameters.argv
     equals COMMAND ARGS byte for byte;
  3. reports started with the receipt id (refused if halted, lapsed or
     already started), runs COMMAND, reports executed or failed.
COMMAND's stdin is inherited; its stdout and stderr pass through pipes to
ours and are hashed (sha256) into the report, with the exit status.
Exit codes: COMMAND's own once it ran (128+N for signal N, 127 if it could
not start); else 2 rejected or halted, 3 expired or lapsed, 4 no decision
within --timeout, 1 any other refusal or error. Nothing runs in those cases.";

#[derive(Debug, Args)]
#[command(after_help = HELP)]
pub struct ExecArgs {
    /// Run under this existing proposal
    #[arg(long, required_unless_present = "submit", conflicts_with = "submit")]
    pub proposal: Option<String>,
    /// Submit this alert (JSON file, - for stdin) and run its proposal
    /// that carries parameters.argv
    #[arg(long, value_name = "ALERT.json")]
    pub submit: Option<PathBuf>,
    #[command(flatten)]
    pub connection: AgentConnection,
    /// Give up waiting for a decision after this many seconds (exit 4);
    /// by default it waits as long as the proposal is open
    #[arg(long)]
    pub timeout: Option<u64>,
    /// The server's public key (or its private key file): receipts must be
    /// signed by it
    #[arg(long, env = "COUNTERSIGN_SERVER_KEY", value_name = "PUB")]
    pub server_key: Option<PathBuf>,
    /// allowed_signers: whose approvals count
    #[arg(long, env = "COUNTERSIGN_SIGNERS", value_name = "FILE")]
    pub signers: Option<PathBuf>,
    /// The command line to run; it must equal the approved parameters.argv
    #[arg(last = true, required = true, num_args = 1.., value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Why nothing ran, and the exit code that says so.
struct NotRun {
    code: u8,
    why: String,
}

impl NotRun {
    fn new(code: u8, why: impl Into<String>) -> Self {
        NotRun {
            code,
            why: why.into(),
        }
    }
}

impl From<anyhow::Error> for NotRun {
    fn from(e: anyhow::Error) -> Self {
        NotRun::new(EXIT_ERROR, format!("{e:#}"))
    }
}

impl From<ClientError> for NotRun {
    fn from(e: ClientError) -> Self {
        NotRun::new(EXIT_ERROR, e.to_string())
    }
}

pub async fn run(args: ExecArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    match prepare(&args, file).await {
        Ok((client, proposal, receipt)) => Ok(ExitCode::from(
            execute(&client, &proposal, &receipt, &args.command).await,
        )),
        Err(n) => {
            eprintln!("countersign exec: {}; ran nothing", n.why);
            Ok(ExitCode::from(n.code))
        }
    }
}

/// Everything before running: the decision, the receipt checked, the
/// command line compared, `started` accepted. Returns the client, the
/// proposal id and the receipt.
async fn prepare(
    args: &ExecArgs,
    file: &FileConfig,
) -> Result<(ApiClient, String, Receipt), NotRun> {
    // What checks the receipt comes first: without it nothing can run,
    // so nothing is submitted either.
    let server = file.server_with(crate::config::ServerSection {
        server_key: args.server_key.clone(),
        signers: args.signers.clone(),
        ..Default::default()
    });
    let (key_path, signers_path) = match (server.server_key, server.signers) {
        (Some(k), Some(s)) => (k, s),
        _ => {
            return Err(NotRun::new(
                EXIT_ERROR,
                "exec checks the approval receipt before it runs anything and needs the server's public key (--server-key) and allowed_signers (--signers)",
            ));
        }
    };
    let server_key = crate::server::server_key::read_public(&key_path)
        .map_err(|e| NotRun::new(EXIT_ERROR, e.to_string()))?;
    let signers = AllowedSigners::load(&signers_path).map_err(|e| {
        NotRun::new(
            EXIT_ERROR,
            format!("allowed_signers {}: {e}", signers_path.display()),
        )
    })?;
    let client = args.connection.client(file)?;
    let started = Instant::now();
    // Without --timeout: as long as the proposal stays open (its own
    // deadline ends it); a dead server is retried for a minute at submit.
    let deadline = args.timeout.map_or_else(
        || started + Duration::from_secs(10 * 365 * 24 * 3600),
        |s| started + Duration::from_secs(s),
    );
    let proposal = match (&args.proposal, &args.submit) {
        (Some(id), _) => id.clone(),
        (None, Some(path)) => {
            let body = super::submit::read_input(path)?;
            let index = argv_proposal(&body).map_err(|e| NotRun::new(EXIT_ERROR, e))?;
            let submit_deadline = deadline.min(started + Duration::from_secs(60));
            let resp = agent::submit(&client, &body, submit_deadline).await?;
            let p = resp
                .proposals
                .iter()
                .find(|p| p.index as usize == index)
                .or_else(|| resp.proposals.get(index))
                .ok_or_else(|| {
                    NotRun::new(EXIT_ERROR, "the server answered without that proposal")
                })?;
            eprintln!(
                "countersign exec: proposal {} ({}) {} digest {}",
                p.id, resp.alert_id, p.status, p.digest
            );
            p.id.clone()
        }
        (None, None) => return Err(NotRun::new(EXIT_ERROR, "give --proposal or --submit")),
    };
    let view = agent::wait_for_decision(&client, &proposal, deadline).await?;
    match Outcome::of(&view) {
        Outcome::Approved { .. } => {}
        Outcome::Pending { .. } => {
            return Err(NotRun::new(
                EXIT_TIMEOUT,
                format!("no decision on {proposal} within the timeout"),
            ));
        }
        o @ Outcome::Held { .. } => {
            return Err(NotRun::new(
                EXIT_TIMEOUT,
                format!("{proposal} {} — still so at the timeout", o.describe()),
            ));
        }
        o @ Outcome::Denied { status, .. } => {
            return Err(NotRun::new(
                exit_code_for(status).unwrap_or(EXIT_ERROR),
                format!("{proposal} {}", o.describe()),
            ));
        }
        o @ Outcome::Closed { status, .. } => {
            // Approved but past its window is a lapse in all but name.
            let code = if status == ProposalStatus::Approved {
                EXIT_EXPIRED
            } else {
                EXIT_ERROR
            };
            return Err(NotRun::new(code, format!("{proposal}: {}", o.describe())));
        }
    }
    let signed = match client.receipt(&proposal).await {
        Ok(r) => r,
        Err(e) => return Err(refusal(&client, &proposal, "the receipt", e).await),
    };
    let receipt = checked(&signed, &server_key, &signers, &proposal, &view)?;
    same_argv(&receipt, &args.command).map_err(|e| NotRun::new(EXIT_ERROR, e))?;
    let report = ExecutionReport::Started {
        receipt_id: Some(receipt.receipt_id.clone()),
    };
    if let Err(e) = client.report_execution(&proposal, &report).await {
        return Err(refusal(&client, &proposal, "started", e).await);
    }
    Ok((client, proposal, receipt))
}

/// The index of the one proposal in `body` that carries `parameters.argv`.
fn argv_proposal(body: &Value) -> Result<usize, String> {
    let with: Vec<usize> = body["proposals"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .enumerate()
                .filter(|(_, p)| p["parameters"].get("argv").is_some())
                .map(|(i, _)| i)
                .collect()
        })
        .unwrap_or_default();
    match with.as_slice() {
        [one] => Ok(*one),
        [] => Err("no proposal in the alert carries parameters.argv: exec runs only an approved command line".into()),
        many => Err(format!(
            "{} proposals carry parameters.argv (proposals {}): exec runs exactly one; submit the others separately",
            many.len(),
            many.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// A refused or failed call: the exit code the proposal's state calls for
/// (2 rejected or halted, 3 expired or lapsed, 1 anything else, such as
/// already started or an unreachable server).
async fn refusal(client: &ApiClient, proposal: &str, what: &str, e: ClientError) -> NotRun {
    let why = format!("{what} for {proposal} was refused: {e}");
    if e.code() == Some(crate::api::ErrorCode::Lapsed) {
        return NotRun::new(EXIT_EXPIRED, why);
    }
    if e.is_transient() || e.code().is_none() {
        return NotRun::new(EXIT_ERROR, why);
    }
    let code = match client.decision(proposal, 0).await.map(|v| v.status) {
        Ok(
            s @ (ProposalStatus::Rejected
            | ProposalStatus::Halted
            | ProposalStatus::Expired
            | ProposalStatus::Lapsed),
        ) => exit_code_for(s).unwrap_or(EXIT_ERROR),
        _ => EXIT_ERROR,
    };
    NotRun::new(code, why)
}

/// The receipt checked offline, for this proposal and the digest the
/// decision named, inside its window.
fn checked(
    signed: &SignedReceipt,
    server_key: &ssh_key::PublicKey,
    signers: &AllowedSigners,
    proposal: &str,
    view: &DecisionView,
) -> Result<Receipt, NotRun> {
    let expect = Expect {
        digest: Some(view.digest.clone()),
        proposal_id: Some(proposal.to_owned()),
    };
    let receipt = check_signed(signed, server_key, signers, &expect).map_err(|problems| {
        NotRun::new(
            EXIT_ERROR,
            format!("the receipt is not valid: {}", problems.join("; ")),
        )
    })?;
    if let Some(by) = &receipt.execute_by {
        let Some(t) = parse_rfc3339(by) else {
            return Err(NotRun::new(
                EXIT_ERROR,
                "the receipt's execute_by is not an RFC 3339 time",
            ));
        };
        if now_millis() >= t {
            return Err(NotRun::new(
                EXIT_EXPIRED,
                format!("the receipt's execution window closed at {by}"),
            ));
        }
    }
    Ok(receipt)
}

/// Whether `given` is exactly the approved `parameters.argv`: as many
/// arguments, each byte-equal. Says which argument differs when not.
fn same_argv(receipt: &Receipt, given: &[OsString]) -> Result<(), String> {
    let approved: Vec<&str> = receipt.document["proposal"]["parameters"]["argv"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if approved.is_empty() {
        return Err(format!(
            "the approved proposal {} has no parameters.argv: there is no approved command line",
            receipt.proposal_id
        ));
    }
    let shown = |s: &[u8]| format!("{:?}", String::from_utf8_lossy(s));
    for (i, (a, g)) in approved.iter().zip(given).enumerate() {
        if a.as_bytes() != g.as_bytes() {
            return Err(format!(
                "argument {i} differs from what was approved: approved {}, given {}",
                shown(a.as_bytes()),
                shown(g.as_bytes())
            ));
        }
    }
    match approved.len().cmp(&given.len()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(format!(
            "argument {} ({}) was approved but not given: approved {} arguments, given {}",
            given.len(),
            shown(approved[given.len()].as_bytes()),
            approved.len(),
            given.len()
        )),
        std::cmp::Ordering::Less => Err(format!(
            "argument {} ({}) was given but not approved: approved {} arguments, given {}",
            approved.len(),
            shown(given[approved.len()].as_bytes()),
            approved.len(),
            given.len()
        )),
    }
}

/// What one output stream carried: its SHA-256 and length.
struct Tee {
    sha256: String,
    bytes: u64,
}

/// Copies `from` to `to` while hashing it. A reader of ours that went
/// away (`| head`) stops the copy, not the hashing: the record covers all
/// the command wrote.
async fn tee(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin) -> Tee {
    let mut hash = Sha256::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut writing = true;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = buf.get(..n).unwrap_or_default();
        hash.update(chunk);
        bytes += n as u64;
        if writing && (to.write_all(chunk).await.is_err() || to.flush().await.is_err()) {
            writing = false;
        }
    }
    Tee {
        sha256: hex::encode(hash.finalize()),
        bytes,
    }
}

/// Runs the command (started is reported) and reports how it went.
/// Returns the exit code: the command's own.
async fn execute(client: &ApiClient, proposal: &str, receipt: &Receipt, argv: &[OsString]) -> u8 {
    let (code, report) = match spawn_and_wait(argv).await {
        Ok((status, out, err)) => {
            use std::os::unix::process::ExitStatusExt;
            let (how, code) = match (status.code(), status.signal()) {
                (Some(c), _) => (format!("exit status {c}"), u8::try_from(c).unwrap_or(1)),
                (None, Some(s)) => (
                    format!("killed by signal {s}"),
                    u8::try_from(128 + s).unwrap_or(1),
                ),
                (None, None) => ("ended without a status".to_owned(), EXIT_ERROR),
            };
            let detail = format!(
                "{how}; stdout sha256:{} {} bytes; stderr sha256:{} {} bytes; receipt {}",
                out.sha256, out.bytes, err.sha256, err.bytes, receipt.receipt_id
            );
            let report = if status.success() {
                ExecutionReport::Executed { detail }
            } else {
                ExecutionReport::Failed { detail }
            };
            (code, report)
        }
        Err(e) => {
            eprintln!("countersign exec: {e:#}");
            (
                127,
                ExecutionReport::Failed {
                    detail: format!("{e:#}"),
                },
            )
        }
    };
    if let Err(e) = client.report_execution(proposal, &report).await {
        eprintln!(
            "countersign exec: warning: the command ran, but reporting how it went failed: {e}; {proposal} stays executing"
        );
    }
    code
}

async fn spawn_and_wait(argv: &[OsString]) -> anyhow::Result<(std::process::ExitStatus, Tee, Tee)> {
    use tokio::signal::unix::{SignalKind, signal};
    let (program, rest) = argv.split_first().context("there is no command to run")?;
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {:?}", program.to_string_lossy()))?;
    let out = child.stdout.take().context("no stdout pipe")?;
    let err = child.stderr.take().context("no stderr pipe")?;
    let out = tokio::spawn(tee(out, tokio::io::stdout()));
    let err = tokio::spawn(tee(err, tokio::io::stderr()));
    // Ctrl-C reaches the command (the terminal signals the whole group);
    // we outlive it to report. A SIGTERM for us ends the command too.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let status = loop {
        tokio::select! {
            s = child.wait() => break s?,
            _ = interrupt.recv() => {}
            _ = terminate.recv() => { let _ = child.start_kill(); }
        }
    };
    let out = out.await.context("stdout copy")?;
    let err = err.await.context("stderr copy")?;
    Ok((status, out, err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn receipt_with(argv: Value) -> Receipt {
        Receipt {
            v: 1,
            kind: "receipt".into(),
            receipt_id: "r".into(),
            proposal_id: "p".into(),
            alert_id: "a".into(),
            digest: "sha256:x".into(),
            document: json!({"alert": {}, "proposal": {"parameters": {"argv": argv}}}),
            action: "run_command".into(),
            target: "t".into(),
            risk: crate::domain::types::Risk::Medium,
            rule: "r".into(),
            policy: "p".into(),
            approvals: vec![],
            audit_seq: 1,
            issued_at: "".into(),
            execute_by: None,
            audience: "soar-bot".into(),
            server: "s".into(),
            amended: None,
        }
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn only_the_exact_command_line_matches() {
        let r = receipt_with(json!(["rm", "-f", "/tmp/x"]));
        assert!(same_argv(&r, &os(&["rm", "-f", "/tmp/x"])).is_ok());
        let e = same_argv(&r, &os(&["rm", "-rf", "/tmp/x"])).unwrap_err();
        assert!(e.starts_with("argument 1 differs"), "{e}");
        let e = same_argv(&r, &os(&["rm", "-f"])).unwrap_err();
        assert!(
            e.starts_with("argument 2 (\"/tmp/x\") was approved but not given"),
            "{e}"
        );
        let e = same_argv(&r, &os(&["rm", "-f", "/tmp/x", "/"])).unwrap_err();
        assert!(
            e.starts_with("argument 3 (\"/\") was given but not approved"),
            "{e}"
        );
        // A trailing space is another argument.
        assert!(same_argv(&r, &os(&["rm", "-f", "/tmp/x "])).is_err());
        assert!(same_argv(&receipt_with(Value::Null), &os(&["rm"])).is_err());
    }

    #[test]
    fn exactly_one_proposal_carries_the_command() {
        let p = |argv: bool| {
            if argv {
                json!({"parameters": {"argv": ["true"]}})
            } else {
                json!({})
            }
        };
        assert_eq!(
            argv_proposal(&json!({"proposals": [p(false), p(true)]})),
            Ok(1)
        );
        let none = argv_proposal(&json!({"proposals": [p(false)]})).unwrap_err();
        assert!(none.contains("no proposal"), "{none}");
        let two = argv_proposal(&json!({"proposals": [p(true), p(false), p(true)]})).unwrap_err();
        assert!(
            two.contains("2 proposals carry parameters.argv (proposals 0, 2)"),
            "{two}"
        );
    }
}
