//! `countersign receipt`: fetch an approval receipt, and check one offline.

use super::{AgentConnection, emit};
use crate::config::FileConfig;
use crate::domain::time::now_millis;
use crate::receipt::verify::{self, Checked, Expect};
use crate::signing::allowed_signers::AllowedSigners;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Check a receipt offline: the server's signature, every person's
    /// signature against allowed_signers, the digest of the approved
    /// document, and the time window. Exit 0 valid, 1 invalid, 3 expired.
    Verify(VerifyArgs),
    /// Print the signed receipt of an approved proposal (JSON), to keep or
    /// to hand to an executor.
    Get(GetArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The receipt file (`{"receipt": …, "signature": …}`); `-` reads stdin
    pub file: PathBuf,
    /// The server's public key (or its private key file)
    #[arg(long)]
    pub server_key: PathBuf,
    /// allowed_signers: who may approve
    #[arg(long)]
    pub signers: PathBuf,
    /// Fail unless the approved digest is this one
    #[arg(long)]
    pub expect_digest: Option<String>,
    /// Fail unless the receipt is for this proposal
    #[arg(long)]
    pub expect_proposal: Option<String>,
    /// Print the receipt's document (JSON) on success
    #[arg(long)]
    pub print_document: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The proposal id
    pub proposal: String,
    #[command(flatten)]
    pub connection: AgentConnection,
}

pub async fn run(cmd: ReceiptCommand, file: &FileConfig) -> anyhow::Result<ExitCode> {
    match cmd {
        ReceiptCommand::Verify(args) => verify_file(&args),
        ReceiptCommand::Get(args) => {
            let client = args.connection.client(file)?;
            let r = client.receipt(&args.proposal).await?;
            emit(&format!("{}\n", serde_json::to_string_pretty(&r)?))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn verify_file(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
        v
    } else {
        std::fs::read(&args.file).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?
    };
    let server_key = crate::server::server_key::read_public(&args.server_key)?;
    let signers = AllowedSigners::load(&args.signers)?;
    let expect = Expect {
        digest: args.expect_digest.clone(),
        proposal_id: args.expect_proposal.clone(),
    };
    match verify::check(&bytes, &server_key, &signers, &expect, now_millis()) {
        Checked::Valid(r) => {
            let people: Vec<String> = r
                .approvals
                .iter()
                .map(|a| match a {
                    crate::receipt::ReceiptApproval::Person { principal, .. } => principal.clone(),
                    crate::receipt::ReceiptApproval::Policy { rule, .. } => {
                        format!("policy rule {rule}")
                    }
                })
                .collect();
            eprintln!(
                "valid: receipt {} for proposal {} ({} on {}), digest {}, approved by {}, execute by {}",
                r.receipt_id,
                r.proposal_id,
                r.action,
                r.target,
                r.digest,
                people.join(", "),
                r.execute_by.as_deref().unwrap_or("(no limit)")
            );
            if args.print_document {
                emit(&format!("{}\n", serde_json::to_string_pretty(&r.document)?))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Checked::Expired(r) => {
            eprintln!(
                "expired: receipt {} for proposal {} was valid until {}; run nothing",
                r.receipt_id,
                r.proposal_id,
                r.execute_by.as_deref().unwrap_or("?")
            );
            Ok(ExitCode::from(3))
        }
        Checked::Invalid(problems) => {
            for p in problems {
                eprintln!("invalid: {p}");
            }
            Ok(ExitCode::from(1))
        }
    }
}
