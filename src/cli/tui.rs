//! `countersign tui`: the review console.

use crate::config::{self, ClientSection, FileConfig};
use crate::signing::signer::Signer;
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;
use crate::tui::{ConsoleConfig, run};
use anyhow::{Context, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Who a person is and where their server is: the console's and the
/// oversight report's flags, then `COUNTERSIGN_*`, then `[client]`.
#[derive(Debug, Clone, Args)]
pub struct PersonConnection {
    /// Server URL
    #[arg(long, env = "COUNTERSIGN_SERVER")]
    pub server: Option<String>,
    /// Your principal, as named in the server's allowed_signers
    #[arg(long, env = "COUNTERSIGN_PRINCIPAL")]
    pub principal: Option<String>,
    /// Your OpenSSH private key (default ~/.ssh/id_ed25519); with --agent, its .pub
    #[arg(long, env = "COUNTERSIGN_KEY")]
    pub key: Option<PathBuf>,
    /// Sign through the running ssh-agent (SSH_AUTH_SOCK) with the key whose
    /// public half is --key (hardware-backed keys work)
    #[arg(long)]
    pub agent: bool,
    /// Trust this CA certificate (PEM) for an https:// server, besides the system's roots
    #[arg(long, env = "COUNTERSIGN_CA")]
    pub ca: Option<PathBuf>,
}

/// A [`PersonConnection`] with the config file applied and the key loaded.
pub struct Person {
    pub server: String,
    pub principal: String,
    pub signer: Signer,
    pub ca: Option<PathBuf>,
}

impl PersonConnection {
    pub fn resolve(self, file: &FileConfig) -> anyhow::Result<Person> {
        let c = file.client_with(ClientSection {
            server: self.server,
            principal: self.principal,
            key: self.key,
            ca: self.ca,
            token: None,
        });
        let server = c.server_or_default();
        let Some(principal) = c.principal else {
            bail!(
                "no principal: pass --principal NAME (as in the server's allowed_signers), set COUNTERSIGN_PRINCIPAL, or [client] principal in the config file"
            );
        };
        let key = c
            .key
            .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().join(".ssh/id_ed25519")))
            .context("no key: pass --key FILE")?;
        let signer = load_signer(&key, self.agent)?;
        Ok(Person {
            server,
            principal,
            signer,
            ca: c.ca,
        })
    }
}

#[derive(Debug, Args)]
pub struct TuiArgs {
    #[command(flatten)]
    pub person: PersonConnection,
    /// Theme: dark, light, high-contrast or a .toml path
    #[arg(long, env = "COUNTERSIGN_THEME")]
    pub theme: Option<String>,
}

impl TuiArgs {
    /// The arguments as the environment gives them (no flags): for
    /// `countersign` run without a subcommand.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        TuiArgs {
            person: PersonConnection {
                server: var("COUNTERSIGN_SERVER"),
                principal: var("COUNTERSIGN_PRINCIPAL"),
                key: var("COUNTERSIGN_KEY").map(PathBuf::from),
                agent: false,
                ca: var("COUNTERSIGN_CA").map(PathBuf::from),
            },
            theme: var("COUNTERSIGN_THEME"),
        }
    }
}

/// `[tui] burst_count` / `burst_secs` over the defaults.
pub fn burst_rule(file: &FileConfig) -> crate::tui::state::BurstRule {
    let d = crate::tui::state::BurstRule::default();
    crate::tui::state::BurstRule {
        count: file.tui.burst_count.unwrap_or(d.count),
        secs: file.tui.burst_secs.unwrap_or(d.secs).max(1),
    }
}

/// Loads the signer before the terminal goes raw, so a passphrase prompt
/// works.
pub fn load_signer(key: &Path, agent: bool) -> anyhow::Result<Signer> {
    if agent {
        let sock = std::env::var_os("SSH_AUTH_SOCK")
            .context("--agent needs SSH_AUTH_SOCK (a running ssh-agent)")?;
        let pub_path = if key.extension().is_some_and(|e| e == "pub") {
            key.to_owned()
        } else {
            key.with_extension("pub")
        };
        let public = ssh_key::PublicKey::read_openssh_file(&pub_path)
            .with_context(|| format!("cannot read public key {}", pub_path.display()))?;
        return Ok(Signer::from_agent(Path::new(&sock), public)?);
    }
    let signer = Signer::from_file(key, || {
        if let Ok(p) = std::env::var("COUNTERSIGN_KEY_PASSPHRASE") {
            return Some(p);
        }
        rpassword::prompt_password(format!("passphrase for {}: ", key.display())).ok()
    })?;
    Ok(signer)
}

/// The console draws on a terminal and reads keys from it: without one it
/// stops with a message instead of failing to set the terminal up.
pub fn need_terminal() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!(
            "the console needs a terminal (stdin and stdout are not one); run it in a terminal, or use `countersign submit` and the HTTP API from scripts"
        );
    }
    Ok(())
}

pub async fn run_tui(args: TuiArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    need_terminal()?;
    let Person {
        server,
        principal,
        signer,
        ca,
    } = args.person.resolve(file)?;
    let (theme, keymap) = load_theme_and_keys(args.theme, file)?;
    let safe: String = principal
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let outbox = config::state_dir().join(format!("outbox-{safe}.jsonl"));
    run(ConsoleConfig {
        server,
        principal,
        signer: Arc::new(signer),
        theme,
        keymap,
        outbox,
        initial_view: crate::api::View::Pending,
        ca,
        burst: burst_rule(file),
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// The theme (flag, then config, then dark; NO_COLOR honoured) and the
/// keymap with the config's overrides. Bad files are errors, not panics.
pub fn load_theme_and_keys(
    flag: Option<String>,
    file: &FileConfig,
) -> anyhow::Result<(Theme, Keymap)> {
    let theme_name = flag
        .or_else(|| file.tui.theme.clone())
        .unwrap_or_else(|| "dark".into());
    let overrides = match &file.tui.theme_overrides {
        Some(p) => Some((
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read theme overrides {}", p.display()))?,
            p.display().to_string(),
        )),
        None => None,
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = Theme::load(
        &theme_name,
        overrides.as_ref().map(|(t, o)| (t.as_str(), o.as_str())),
        no_color,
    )?;
    let keys = file
        .tui
        .keys
        .iter()
        .map(|(a, k)| (a.clone(), k.to_vec()))
        .collect();
    Ok((theme, Keymap::with_overrides(&keys)?))
}
