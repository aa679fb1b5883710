//! `countersign demo`: the whole loop on an embedded default. The server
//! runs in-process on a loopback port with SQLite in a temporary directory
//! (kept after exit so the log can be verified; `--data DIR` to choose it),
//! demo keys and allowed_signers are made for an analyst (alice), a lead
//! (carol) and a night-shift analyst (bob) whose signed decisions give the
//! lead a queue, the simulated agent keeps proposing, and the console opens.

pub mod agent;
pub mod seed;

use crate::api::View;
use crate::client::ApiClient;
use crate::domain::policy::Policy;
use crate::domain::time::now_millis;
use crate::server::serve::start_embedded;
use crate::signing::payload::{DecisionDraft, PayloadVerdict, Review, Target};
use crate::signing::signer::Signer;
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;
use anyhow::Context;
use ssh_key::{Algorithm, LineEnding, PrivateKey};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const ANALYST: &str = "alice";
pub const LEAD: &str = "carol";
pub const NIGHT_SHIFT: &str = "bob";

pub struct DemoOptions {
    pub data: Option<PathBuf>,
    pub lead: bool,
    pub rate: Duration,
    pub theme: Theme,
    pub keymap: Keymap,
}

fn key_for(dir: &Path, name: &str) -> anyhow::Result<PrivateKey> {
    let path = dir.join("keys").join(name);
    if path.exists() {
        return PrivateKey::read_openssh_file(&path)
            .with_context(|| format!("reading {}", path.display()));
    }
    std::fs::create_dir_all(dir.join("keys"))?;
    let key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519)?;
    key.write_openssh_file(&path, LineEnding::LF)?;
    std::fs::write(
        path.with_extension("pub"),
        format!("{} {name}@demo\n", key.public_key().to_openssh()?),
    )?;
    Ok(key)
}

/// The demo's data directory: chosen, or a new one under the system's
/// temporary directory.
fn data_dir(chosen: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match chosen {
        Some(d) => d,
        None => std::env::temp_dir().join(format!(
            "countersign-demo-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The night shift's signed decisions: escalations and first approvals for
/// the lead, through the public API like any console.
async fn night_shift(url: &str, bob: &Signer) -> anyhow::Result<()> {
    let mut c = ApiClient::new(url, None)?;
    c.login(NIGHT_SHIFT, bob).await?;
    let q = c.queue(View::Pending, 0, 0, 1000).await?;
    let mut escalated = 0;
    let mut approved = 0;
    for item in q.page.items {
        let p = &item.proposal;
        let (verdict, reason) = match p.risk {
            crate::domain::types::Risk::High | crate::domain::types::Risk::Critical
                if approved < 3 && p.action.as_str() != "modify_policy" =>
            {
                approved += 1;
                (
                    PayloadVerdict::Approve,
                    "checked the process tree and the C2 indicators; needs a lead's second approval",
                )
            }
            crate::domain::types::Risk::Medium
                if escalated < 2 && item.entity_kind.as_str() == "user" =>
            {
                escalated += 1;
                (
                    PayloadVerdict::Escalate,
                    "VIP user: a lead should decide whether to disable the account",
                )
            }
            _ => continue,
        };
        let d = DecisionDraft {
            target: Target::Proposal(p.id.clone()),
            digest: p.digest.clone(),
            verdict,
            reason: reason.into(),
            labels: vec![],
            review: Review {
                seconds: 95.0,
                panes: vec!["summary".into(), "evidence".into()],
                group: None,
            },
            revert_digest: None,
            amend: None,
            amended_digest: None,
            contain_until: None,
        };
        c.post_decision(&d.sign(NIGHT_SHIFT, now_millis(), bob)?.decision)
            .await?;
    }
    Ok(())
}

/// The built-in policy with the demo's lead named in its text, so the
/// policy the audit log records is the one in force.
pub fn demo_policy() -> anyhow::Result<Policy> {
    const EVERYONE: &str = "leads = [\"*\"]";
    let builtin = crate::domain::policy::DEFAULT_POLICY;
    if !builtin.contains(EVERYONE) {
        anyhow::bail!("the built-in policy no longer names its leads as {EVERYONE}");
    }
    let text = builtin.replacen(EVERYONE, &format!("leads = [\"{LEAD}\"]"), 1);
    Ok(Policy::from_toml(&text, "(built-in, demo leads)")?)
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let dir = data_dir(opts.data)?;
    let keys: Vec<(&str, PrivateKey)> = [ANALYST, LEAD, NIGHT_SHIFT]
        .into_iter()
        .map(|n| key_for(&dir, n).map(|k| (n, k)))
        .collect::<anyhow::Result<_>>()?;
    let signers_path = dir.join("allowed_signers");
    let mut signers_text = String::new();
    for (name, k) in &keys {
        signers_text.push_str(&format!("{name} {}\n", k.public_key().to_openssh()?));
    }
    std::fs::write(&signers_path, &signers_text)?;
    let embedded = start_embedded(
        &dir,
        demo_policy()?,
        &signers_path,
        "soar-bot",
        "countersign-demo",
    )
    .await?;
    let url = embedded.server.url();
    let agent = ApiClient::new(&url, Some(embedded.agent_token.clone()))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if embedded.fresh {
        for a in seed::alerts() {
            agent::submit_and_follow(&agent, &a, &stop_rx).await;
        }
        let bob = Signer::from_key(keys[2].1.clone());
        if let Err(e) = night_shift(&url, &bob).await {
            tracing::warn!(error = %e, "demo: night shift decisions failed");
        }
    }
    tokio::spawn(agent::stream(agent.clone(), opts.rate, stop_rx.clone()));

    let (who, key) = if opts.lead {
        (LEAD, &keys[1].1)
    } else {
        (ANALYST, &keys[0].1)
    };
    let console = crate::tui::run(crate::tui::ConsoleConfig {
        server: url.clone(),
        principal: who.to_owned(),
        signer: Arc::new(Signer::from_key(key.clone())),
        theme: opts.theme,
        keymap: opts.keymap,
        outbox: dir.join(format!("outbox-{who}.jsonl")),
        ca: None,
        burst: Default::default(),
        initial_view: if opts.lead {
            View::Escalated
        } else {
            View::Pending
        },
    })
    .await;
    let _ = stop_tx.send(true);
    let auditor = ApiClient::new(&url, Some(embedded.reviewer_token.clone()))?;
    let exported = export(&auditor, &dir).await;
    embedded.server.stop().await?;
    console?;
    let (entries, last) = exported?;
    print_summary(&dir, entries, last.as_deref())?;
    Ok(())
}

/// Writes `audit.jsonl` (with a signed checkpoint) and the last decision's
/// payload and signature as files for `ssh-keygen -Y verify`.
async fn export(auditor: &ApiClient, dir: &Path) -> anyhow::Result<(usize, Option<String>)> {
    // The checkpoint first: every entry it covers is then in the export,
    // which ends at it (nothing in it uncovered).
    let cp = auditor.checkpoint().await?;
    let covered = crate::audit::checkpoint::CheckpointBody::seq_of(&cp)?;
    let mut entries = auditor.audit_all(0).await?;
    entries.retain(|e| e.seq <= covered);
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("audit.jsonl"))?);
    crate::audit::export::write_jsonl(&mut out, &entries, Some(cp))?;
    // The last signed decision as files, for `ssh-keygen -Y verify`.
    let last = entries.iter().rev().find_map(|e| {
        let body: serde_json::Value = serde_json::from_str(&e.entry).ok()?;
        Some((
            body["data"]["payload"].as_str()?.to_owned(),
            body["data"]["signature"].as_str()?.to_owned(),
            body["actor"]["principal"].as_str()?.to_owned(),
        ))
    });
    let who = match last {
        Some((p, s, who)) => {
            std::fs::write(dir.join("last-decision.payload"), p)?;
            std::fs::write(dir.join("last-decision.sig"), s)?;
            Some(who)
        }
        None => None,
    };
    Ok((entries.len(), who))
}

fn print_summary(dir: &Path, entries: usize, last_signer: Option<&str>) -> anyhow::Result<()> {
    let exe = std::env::current_exe()
        .map_or_else(|_| "countersign".to_owned(), |p| p.display().to_string());
    let d = dir.display();
    println!("countersign demo finished. Everything is kept in {d}");
    println!("  audit log     {d}/audit.jsonl ({entries} entries, with a signed checkpoint)");
    println!("  database      {d}/countersign.db");
    println!("  signers       {d}/allowed_signers");
    println!("  server key    {d}/server_key.pub");
    println!();
    println!("Verify the whole log offline (chain, every signature, the checkpoint):");
    println!(
        "  {exe} audit verify {d}/audit.jsonl --signers {d}/allowed_signers --server-key {d}/server_key.pub"
    );
    if let Some(who) = last_signer {
        println!();
        println!("Verify the last signed decision with OpenSSH alone:");
        println!(
            "  ssh-keygen -Y verify -f {d}/allowed_signers -I {who} -n countersign-decision -s {d}/last-decision.sig < {d}/last-decision.payload"
        );
    }
    println!();
    println!("Continue with the same data: {exe} demo --data {d}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::Role;

    /// The demo names its lead in the policy's text, so the policy the log
    /// records is the one in force.
    #[test]
    fn the_demo_policy_names_its_lead() {
        let demo = demo_policy().unwrap();
        assert_eq!(
            (demo.role_of(LEAD), demo.role_of(ANALYST)),
            (Role::Lead, Role::Analyst)
        );
        assert!(demo.text().contains("leads = [\"carol\"]"));
    }
}
