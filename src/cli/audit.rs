//! `countersign audit export | verify | checkpoint`.

use super::db_url;
use crate::audit::checkpoint;
use crate::audit::verify::{every_core, parse_checkpoint, parse_export, verify_log};
use crate::client::ApiClient;
use crate::config::{self, ClientSection, FileConfig, ServerSection};
use crate::domain::time::now_millis;
use crate::server::serve::open_store;
use crate::server::server_key;
use crate::signing::allowed_signers::AllowedSigners;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write the whole log as JSON Lines, ending with a signed checkpoint.
    Export(ExportArgs),
    /// Re-check the log offline: chain, signatures, checkpoints, approvals.
    ///
    /// Re-checks the hash chain, every signature, the checkpoints and every
    /// approval against the recorded policy it names, offline. Exit 0
    /// intact and every entry covered by a checkpoint signed by the server
    /// key; 1 broken (naming the first bad entry), a rule not met (naming
    /// each entry), no server checkpoint, or entries after the last one
    /// (unless --accept-open-tail); 2 intact but some signers not trusted
    /// by this allowed_signers (revoked since); 3 no --server-key given:
    /// the chain holds but nothing is proven about who wrote it.
    Verify(VerifyArgs),
    /// Save the server's current signed checkpoint (JSON), to catch a later
    /// truncation or rewrite with `verify --checkpoint`.
    Checkpoint(RemoteArgs),
}

#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Server URL
    #[arg(long, env = "COUNTERSIGN_SERVER")]
    pub server: Option<String>,
    /// Reviewer token (or a session token)
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Trust this CA certificate (PEM) for an https:// server, besides the system's roots
    #[arg(long, env = "COUNTERSIGN_CA")]
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Read the database directly instead of a server
    #[arg(long, env = "COUNTERSIGN_DB", conflicts_with = "server")]
    pub db: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// With --db: the server key that signs the closing checkpoint (the key
    /// `serve` uses: --server-key, [server] server_key, or its default)
    #[arg(long, env = "COUNTERSIGN_SERVER_KEY")]
    pub server_key: Option<PathBuf>,
    /// With --db: export without a closing checkpoint
    #[arg(long, conflicts_with = "server_key")]
    pub no_checkpoint: bool,
    /// Write here instead of standard output
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An export made by `audit export`
    pub file: PathBuf,
    /// allowed_signers file the decisions were signed under
    #[arg(long)]
    pub signers: PathBuf,
    /// The server's public key (.pub) or private key file. Without it the
    /// server's checkpoint signatures are not checked and nothing is proven
    /// about who wrote the log (exit 3)
    #[arg(long)]
    pub server_key: Option<PathBuf>,
    /// A checkpoint saved earlier (`audit checkpoint`); may repeat
    #[arg(long)]
    pub checkpoint: Vec<PathBuf>,
    /// Knowingly accept entries after the last server checkpoint: they are
    /// reported as not covered by a checkpoint instead of failing
    #[arg(long)]
    pub accept_open_tail: bool,
    /// Check signatures on this many threads (default: every core)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

pub async fn run(cmd: AuditCommand, file: &FileConfig) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Export(args) => export(args, file).await,
        AuditCommand::Verify(args) => verify(args),
        AuditCommand::Checkpoint(args) => {
            let cp = remote(&args, file)?.checkpoint().await?;
            println!("{}", serde_json::to_string(&cp)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

impl RemoteArgs {
    /// `[client]` with these flags in front.
    fn settings(&self, file: &FileConfig) -> ClientSection {
        file.client_with(ClientSection {
            server: self.server.clone(),
            token: self.token.clone(),
            ca: self.ca.clone(),
            ..ClientSection::default()
        })
    }
}

fn remote(args: &RemoteArgs, file: &FileConfig) -> anyhow::Result<ApiClient> {
    let c = args.settings(file);
    Ok(ApiClient::with_ca(
        &c.server_or_default(),
        c.token.clone(),
        c.ca.as_deref(),
    )?)
}

async fn export(args: ExportArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let (entries, cp) = if args.db.is_some() || args.remote.settings(file).server.is_none() {
        let store = open_store(&db_url(args.db.clone(), file)?).await?;
        let entries = store.audit_all().await?;
        // The key `serve` signs checkpoints with, never a new one: a
        // checkpoint signed by another key would not verify against
        // the server's.
        let configured = file
            .server_with(ServerSection {
                server_key: args.server_key,
                ..ServerSection::default()
            })
            .server_key;
        let default_key = config::data_dir().join("server_key");
        let key_path = match configured {
            _ if args.no_checkpoint => None,
            Some(p) => Some(p),
            None if default_key.exists() => Some(default_key),
            None => bail!(
                "no server key to sign the closing checkpoint: pass --server-key FILE (the key `countersign serve` uses) or --no-checkpoint"
            ),
        };
        let cp = if let Some(key_path) = key_path {
            let key = server_key::load(&key_path)?;
            eprintln!(
                "countersign: closing checkpoint signed with {}",
                key_path.display()
            );
            let (seq, hash) = entries
                .last()
                .map_or((0, crate::audit::chain::GENESIS.to_owned()), |e| {
                    (e.seq, e.hash.clone())
                });
            Some(checkpoint::sign(
                &key,
                "countersign-export",
                seq,
                &hash,
                now_millis(),
            )?)
        } else {
            None
        };
        (entries, cp)
    } else {
        let client = remote(&args.remote, file)?;
        // Checkpoint first: everything up to it must be in what follows.
        // The export ends at it, so that every entry in it is covered by a
        // checkpoint; entries written since are for the next export.
        let cp = client.checkpoint().await?;
        let covered = checkpoint::CheckpointBody::seq_of(&cp)?;
        let mut entries = client.audit_all(0).await?;
        let later = entries.iter().filter(|e| e.seq > covered).count();
        if later > 0 {
            entries.retain(|e| e.seq <= covered);
            eprintln!(
                "countersign: the export ends at the server's checkpoint (seq {covered}); {later} entries written since are left for the next export"
            );
        }
        (entries, Some(cp))
    };
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    crate::audit::export::write_jsonl(&mut out, &entries, cp).context("cannot write the export")?;
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let signers = AllowedSigners::load(&args.signers)?;
    let server_key = match &args.server_key {
        Some(p) => Some(server_key::read_public(p)?),
        None => None,
    };
    let (entries, mut checkpoints) = match parse_export(&text) {
        Ok(x) => x,
        Err(e) => {
            println!("BROKEN: {}: {e}", args.file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    for path in &args.checkpoint {
        let t = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        match parse_checkpoint(&t) {
            Ok(cp) => checkpoints.push(cp),
            Err(e) => bail!("{}: {e}", path.display()),
        }
    }
    let threads = args.threads.map(usize::from).unwrap_or_else(every_core);
    match verify_log(
        &entries,
        &checkpoints,
        &signers,
        server_key.as_ref(),
        threads,
    ) {
        Ok(r) => {
            let chain = format!(
                "{} entries, {} signed decisions verified, head {} at seq {}",
                r.entries,
                r.signed,
                &r.head.hash[..16],
                r.head.seq,
            );
            // Whether the server is shown to have written the entries:
            // only a checkpoint signed by the key the auditor trusts says so.
            let mut uncovered = false;
            let mut unauthenticated = false;
            match (server_key.is_some(), r.checkpoint_seq, r.open_tail) {
                (false, _, _) => {
                    unauthenticated = true;
                    println!("chain consistent: {chain}");
                    println!(
                        "NOT AUTHENTICATED: no --server-key given, so the server's checkpoint signatures were not checked ({} in the file): nothing is proven about who wrote this log; anyone can write a correctly chained one",
                        r.unchecked_checkpoints
                    );
                }
                (true, Some(cp), None) => {
                    println!("intact: {chain}, server checkpoint at seq {cp} verified");
                }
                (true, Some(cp), Some((first, last))) if cp > 0 && args.accept_open_tail => {
                    println!(
                        "intact up to seq {cp}: {chain}, server checkpoint at seq {cp} verified"
                    );
                    println!(
                        "not covered by a checkpoint: {} (accepted with --accept-open-tail): nothing proves the server wrote {}",
                        entry_range(first, last),
                        if first == last { "it" } else { "them" }
                    );
                }
                (true, Some(cp), Some((first, last))) if cp > 0 => {
                    uncovered = true;
                    println!("chain consistent: {chain}, server checkpoint at seq {cp} verified");
                    println!(
                        "NOT COVERED: {} after the last checkpoint signed by the server key (seq {cp}): nothing proves the server wrote {}. Save a newer checkpoint (`countersign audit checkpoint`) and verify again, or pass --accept-open-tail to accept them knowingly",
                        entry_range(first, last),
                        if first == last { "it" } else { "them" }
                    );
                }
                (true, None, None) => {
                    println!("intact: {chain}, empty log");
                }
                (true, _, _) => {
                    uncovered = true;
                    println!("chain consistent: {chain}");
                    println!(
                        "NOT INTACT: no checkpoint signed by the server key covers any entry: nothing proves the server wrote this log; anyone can write a correctly chained one"
                    );
                }
            }
            println!(
                "policy: {} recorded; {} approved proposals re-checked against the policy they name{}",
                r.policies,
                r.rechecked,
                if r.not_rechecked > 0 {
                    format!(
                        "; {} not re-checked: no policy recorded (written before policies were)",
                        r.not_rechecked
                    )
                } else {
                    String::new()
                }
            );
            if !r.unmet.is_empty() {
                println!(
                    "RULE NOT MET: {} recorded decision{} did not have what the policy in force required:",
                    r.unmet.len(),
                    if r.unmet.len() == 1 { "" } else { "s" }
                );
                for u in r.unmet.iter().take(50) {
                    let of = u
                        .proposal_id
                        .as_deref()
                        .map(|p| format!(" (proposal {p})"))
                        .unwrap_or_default();
                    println!("  entry {}{of}: {}", u.seq, u.problem);
                }
                if r.unmet.len() > 50 {
                    println!("  … and {} more", r.unmet.len() - 50);
                }
                return Ok(ExitCode::FAILURE);
            }
            if uncovered {
                return Ok(ExitCode::FAILURE);
            }
            if r.untrusted.is_empty() {
                return Ok(if unauthenticated {
                    ExitCode::from(3)
                } else {
                    ExitCode::SUCCESS
                });
            }
            println!(
                "UNTRUSTED SIGNERS: {} signed decisions are intact but their keys are not trusted by {} (revoked since, or an older file):",
                r.untrusted.len(),
                args.signers.display()
            );
            for u in r.untrusted.iter().take(20) {
                println!(
                    "  entry {}: {} with {}: {}",
                    u.seq, u.principal, u.fingerprint, u.problem
                );
            }
            if r.untrusted.len() > 20 {
                println!("  … and {} more", r.untrusted.len() - 20);
            }
            Ok(ExitCode::from(if unauthenticated { 3 } else { 2 }))
        }
        Err(b) => {
            println!("BROKEN at entry {}: {}", b.seq, b.problem);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// "entry 7" or "entries 7–9".
fn entry_range(first: i64, last: i64) -> String {
    if first == last {
        format!("entry {first}")
    } else {
        format!("entries {first}–{last}")
    }
}
