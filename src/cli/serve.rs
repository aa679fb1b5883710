//! `countersign serve`.

use super::policy as cli_policy;
use crate::config::{self, FileConfig, ServerSection};
use crate::domain::policy::{Policy, unmeetable};
use crate::domain::time::now_millis;
use crate::server::serve::{self, DbUrl, NotifySettings, ServerConfig};
use crate::server::server_key;
use crate::server::state::{Identity, Limits};
use crate::server::tls::TlsFiles;
use crate::signing::allowed_signers::AllowedSigners;
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Database: sqlite:PATH (default, under $XDG_DATA_HOME/countersign) or postgres://…
    #[arg(long, env = "COUNTERSIGN_DB")]
    pub db: Option<String>,
    /// Address to listen on
    #[arg(long, env = "COUNTERSIGN_LISTEN")]
    pub listen: Option<String>,
    /// Policy TOML file (default: the built-in policy)
    #[arg(long, env = "COUNTERSIGN_POLICY")]
    pub policy: Option<PathBuf>,
    /// Largest request body in bytes
    #[arg(long, env = "COUNTERSIGN_MAX_BODY")]
    pub max_body: Option<usize>,
    /// Longest long-poll in seconds (`?wait=` is capped to it; default 300)
    #[arg(long, env = "COUNTERSIGN_MAX_WAIT")]
    pub max_wait: Option<u64>,
    /// Connections served at once (default: the file descriptor limit, ulimit -n, less a reserve); past it a few spare connections answer /healthz only
    #[arg(long, env = "COUNTERSIGN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Spare connections past --max-connections that answer /healthz and refuse the rest with 503 (default 8)
    #[arg(long, env = "COUNTERSIGN_SPARE_CONNECTIONS")]
    pub spare_connections: Option<usize>,
    /// Seconds a connection may take to send a request head; an idle keep-alive connection is closed after it too (default 10)
    #[arg(long, env = "COUNTERSIGN_HEADER_TIMEOUT")]
    pub header_timeout: Option<f64>,
    /// Seconds a request body may take to arrive in full (default 30)
    #[arg(long, env = "COUNTERSIGN_BODY_TIMEOUT")]
    pub body_timeout: Option<f64>,
    /// Seconds a TLS handshake may take (default 10)
    #[arg(long, env = "COUNTERSIGN_TLS_HANDSHAKE_TIMEOUT")]
    pub tls_handshake_timeout: Option<f64>,
    /// Largest audit page in bytes (GET /v1/audit); a page ends before the entry that would pass it (default 4194304)
    #[arg(long, env = "COUNTERSIGN_AUDIT_PAGE_BYTES")]
    pub audit_page_bytes: Option<usize>,
    /// A host name (or host:port) the /mcp endpoint answers besides loopback (repeatable)
    #[arg(long = "mcp-allowed-host")]
    pub mcp_allowed_hosts: Vec<String>,
    /// OpenSSH allowed_signers file: who may sign (default: $XDG_CONFIG_HOME/countersign/allowed_signers)
    #[arg(long, env = "COUNTERSIGN_SIGNERS")]
    pub signers: Option<PathBuf>,
    /// The server's own SSH key for checkpoints; created if absent (default: $XDG_DATA_HOME/countersign/server_key)
    #[arg(long, env = "COUNTERSIGN_SERVER_KEY")]
    pub server_key: Option<PathBuf>,
    /// Name of this server in login challenges and checkpoints
    #[arg(long, env = "COUNTERSIGN_NAME")]
    pub name: Option<String>,
    /// Submissions per second one agent may sustain (default 50); past it, 429
    #[arg(long, env = "COUNTERSIGN_AGENT_RATE")]
    pub agent_rate: Option<u32>,
    /// Submissions one agent may send in a burst (default 500)
    #[arg(long, env = "COUNTERSIGN_AGENT_BURST")]
    pub agent_burst: Option<u32>,
    /// Request-body bytes of submissions one agent may send per minute (default 8 MiB, at least --max-body); past it, 429
    #[arg(long, env = "COUNTERSIGN_AGENT_BYTES_PER_MIN")]
    pub agent_bytes_per_min: Option<u32>,
    /// Long-polls one agent (or reviewer) may hold open at once (default 32); past it, 429
    #[arg(long, env = "COUNTERSIGN_MAX_WAITS_PER_AGENT")]
    pub max_waits_per_agent: Option<usize>,
    /// MCP sessions one agent may hold open (default 16); past it, 429
    #[arg(long, env = "COUNTERSIGN_MCP_SESSIONS_PER_AGENT")]
    pub mcp_sessions_per_agent: Option<usize>,
    /// MCP sessions all agents together may hold open (default 1000)
    #[arg(long, env = "COUNTERSIGN_MCP_SESSIONS")]
    pub mcp_sessions: Option<usize>,
    /// Seconds without a request after which an MCP session ends (default 120; keep it above 50, the longest tool call)
    #[arg(long, env = "COUNTERSIGN_MCP_IDLE_TIMEOUT")]
    pub mcp_idle_timeout: Option<u64>,
    /// Serve HTTPS: certificate chain (PEM); reloaded on SIGHUP or change
    #[arg(long, env = "COUNTERSIGN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM)
    #[arg(long, env = "COUNTERSIGN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServeArgs {
    /// The flags that have a `[server]` key, as that section.
    fn settings(&self) -> ServerSection {
        ServerSection {
            db: self.db.clone(),
            listen: self.listen.clone(),
            policy: self.policy.clone(),
            max_body: self.max_body,
            max_wait: self.max_wait,
            remind_at: None,
            mcp_allowed_hosts: (!self.mcp_allowed_hosts.is_empty())
                .then(|| self.mcp_allowed_hosts.clone()),
            signers: self.signers.clone(),
            server_key: self.server_key.clone(),
            agent_rate: self.agent_rate,
            agent_burst: self.agent_burst,
            agent_bytes_per_min: self.agent_bytes_per_min,
            max_waits_per_agent: self.max_waits_per_agent,
            mcp_sessions_per_agent: self.mcp_sessions_per_agent,
            mcp_sessions: self.mcp_sessions,
            mcp_idle_timeout: self.mcp_idle_timeout,
            login_rate_per_addr: None,
            login_rate_per_principal: None,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
        }
    }
}

/// The limits `s` sets over the defaults, each checked.
fn limits_from(s: &ServerSection, mut limits: Limits) -> anyhow::Result<Limits> {
    if let Some(n) = s.max_body {
        limits.max_body = n;
    }
    if let Some(secs) = s.max_wait {
        limits.max_wait = std::time::Duration::from_secs(secs);
    }
    limits
        .mcp_allowed_hosts
        .extend(s.mcp_allowed_hosts.iter().flatten().cloned());
    let rates = &mut limits.rates;
    for (value, slot) in [
        (s.agent_rate, &mut rates.agent_per_sec),
        (s.agent_burst, &mut rates.agent_burst),
        (s.login_rate_per_addr, &mut rates.login_per_addr_per_min),
        (
            s.login_rate_per_principal,
            &mut rates.login_per_principal_per_min,
        ),
    ] {
        if let Some(n) = value {
            anyhow::ensure!(n > 0, "rate limits must be at least 1 (got 0)");
            *slot = n;
        }
    }
    if let Some(n) = s.agent_bytes_per_min {
        limits.rates.agent_bytes_per_min = n;
    }
    anyhow::ensure!(
        limits.rates.agent_bytes_per_min as usize >= limits.max_body,
        "the agent byte budget ({} bytes a minute) must be at least --max-body ({} bytes), or no submission of the largest size could ever be accepted",
        limits.rates.agent_bytes_per_min,
        limits.max_body
    );
    for (value, slot) in [
        (s.max_waits_per_agent, &mut limits.max_waits_per_agent),
        (s.mcp_sessions_per_agent, &mut limits.mcp_sessions_per_agent),
        (s.mcp_sessions, &mut limits.mcp_sessions),
    ] {
        if let Some(n) = value {
            anyhow::ensure!(n > 0, "caps must be at least 1 (got 0)");
            *slot = n;
        }
    }
    if let Some(secs) = s.mcp_idle_timeout {
        anyhow::ensure!(secs > 0, "--mcp-idle-timeout must be at least 1 s");
        limits.mcp_idle_timeout = std::time::Duration::from_secs(secs);
    }
    Ok(limits)
}

pub async fn run(args: ServeArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    let mut limits = Limits::default();
    connection_limits(&mut limits, &args)?;
    let s = file.server_with(args.settings());
    let limits = limits_from(&s, limits)?;
    let db: DbUrl = s.db_or_default().parse()?;
    let policy_file = s.policy.clone();
    let policy = match &policy_file {
        Some(path) => Policy::load(path)?,
        None => Policy::builtin(),
    };
    let listen = s
        .listen
        .clone()
        .unwrap_or_else(|| config::DEFAULT_LISTEN.to_owned());
    let explicit_signers = s.signers.clone();
    let signers_file = explicit_signers
        .clone()
        .unwrap_or_else(|| config::config_dir().join("allowed_signers"));
    let signers = if signers_file.exists() || explicit_signers.is_some() {
        AllowedSigners::load(&signers_file)?
    } else {
        AllowedSigners::default()
    };
    in_force(&policy, policy_file.as_deref(), &signers, &signers_file)?;
    let key_path = s
        .server_key
        .clone()
        .unwrap_or_else(|| config::data_dir().join("server_key"));
    let server_key = server_key::load_or_create(&key_path)?;
    let name = args.name.unwrap_or_else(|| format!("countersign@{listen}"));
    let tls = match (s.tls_cert.clone(), s.tls_key.clone()) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => anyhow::bail!("TLS needs both a certificate (--tls-cert) and its key (--tls-key)"),
    };
    eprintln!("countersign: limits: {}", describe_limits(&limits));
    if limits.mcp_idle_timeout.as_secs() <= crate::mcp::MAX_WAIT_SECS {
        eprintln!(
            "countersign: warning: --mcp-idle-timeout {} s is not above {} s, the longest MCP wait_for_decision call: a session can end in the middle of one",
            limits.mcp_idle_timeout.as_secs(),
            crate::mcp::MAX_WAIT_SECS
        );
    }
    eprintln!("countersign: connections: {}", limits.conn.describe());
    if let Some(w) = limits.conn.over_fd_limit() {
        eprintln!("countersign: warning: {w}");
    }
    eprintln!(
        "countersign: audit pages: at most {} bytes",
        limits.audit_page_bytes
    );
    let store = serve::open_store(&db).await?;
    let gateway = if file.upstreams.is_empty() {
        None
    } else {
        let settings = file.gateway.clone().unwrap_or_default();
        let upstreams = crate::gateway::Upstreams::connect(&settings, file.upstreams.clone()).await;
        let (up, down) = upstreams.counts();
        eprintln!(
            "countersign: /mcp/gateway fronts {up} upstream(s){}",
            if down > 0 {
                format!("; {down} could not be started (above), their tools are not offered")
            } else {
                String::new()
            }
        );
        Some(std::sync::Arc::new(upstreams))
    };
    let oidc = crate::server::oidc::Verifier::load(&file.agents.oidc)
        .await
        .map_err(anyhow::Error::msg)?;
    if oidc.is_some() {
        eprintln!(
            "countersign: agents may also authenticate with JWTs of {} [[agents.oidc]] issuer(s)",
            file.agents.oidc.len()
        );
    }
    let server = serve::start(
        store,
        ServerConfig {
            listen,
            policy,
            identity: Identity {
                signers,
                server_key,
                server_name: name,
            },
            limits,
            policy_file,
            signers_file: Some(signers_file),
            tls,
            notify: NotifySettings {
                sinks: file.notify.clone(),
                executors: file.executors.clone(),
                remind_at: s.remind_at.unwrap_or(0.75),
            },
            gateway,
            oidc,
        },
    )
    .await?;
    eprintln!("countersign serving on {} with {db}", server.url());
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        eprintln!("countersign: shutting down");
        let _ = stop.send(true);
    });
    server
        .wait()
        .await
        .context("server stopped with an error")?;
    Ok(ExitCode::SUCCESS)
}

/// One line: what one caller may do.
pub fn describe_limits(l: &Limits) -> String {
    let r = &l.rates;
    format!(
        "body {} bytes; wait <= {} s; per agent: {}/s (burst {}), {} submission bytes/min, {} long-polls, {} MCP sessions ({} in all, idle {} s); login {}/min per address, {} failed/min per principal",
        l.max_body,
        l.max_wait.as_secs(),
        r.agent_per_sec,
        r.agent_burst,
        r.agent_bytes_per_min,
        l.max_waits_per_agent,
        l.mcp_sessions_per_agent,
        l.mcp_sessions,
        l.mcp_idle_timeout.as_secs(),
        r.login_per_addr_per_min,
        r.login_per_principal_per_min,
    )
}

/// The connection cap and deadlines from the flags; every one at least 1.
fn connection_limits(limits: &mut Limits, args: &ServeArgs) -> anyhow::Result<()> {
    let conn = &mut limits.conn;
    if let Some(n) = args.max_connections {
        anyhow::ensure!(n > 0, "--max-connections must be at least 1");
        conn.max_connections = n;
    }
    if let Some(n) = args.spare_connections {
        conn.spare_connections = n;
    }
    for (value, slot, flag) in [
        (
            args.header_timeout,
            &mut conn.header_timeout,
            "--header-timeout",
        ),
        (args.body_timeout, &mut conn.body_timeout, "--body-timeout"),
        (
            args.tls_handshake_timeout,
            &mut conn.tls_handshake_timeout,
            "--tls-handshake-timeout",
        ),
    ] {
        if let Some(secs) = value {
            *slot = std::time::Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|d| !d.is_zero() && secs <= 86_400.0)
                .with_context(|| format!("{flag} must be more than 0 and at most 86400 seconds"))?;
        }
    }
    if let Some(n) = args.audit_page_bytes {
        anyhow::ensure!(n >= 1024, "--audit-page-bytes must be at least 1024");
        limits.audit_page_bytes = n;
    }
    Ok(())
}

/// The first lines: which policy, how many signers and which leads are in
/// force; then refuses a policy whose rules can never be met. With no
/// allowed_signers yet (nobody can sign; the file is watched) only what the
/// policy says alone is judged.
fn in_force(
    policy: &Policy,
    policy_file: Option<&Path>,
    signers: &AllowedSigners,
    signers_file: &Path,
) -> anyhow::Result<()> {
    let origin = policy_file.map_or_else(|| "(built-in)".to_owned(), |p| p.display().to_string());
    let rules = policy.rules().len();
    eprintln!(
        "countersign: policy {origin}: {rules} rule{}",
        if rules == 1 { "" } else { "s" }
    );
    let known = (!signers.is_empty()).then(|| signers.decision_signers(now_millis()));
    match &known {
        Some(set) => eprintln!(
            "countersign: signers: {} key{} may sign decisions (allowed_signers {})",
            set.keys(),
            if set.keys() == 1 { "" } else { "s" },
            signers_file.display()
        ),
        None if !signers_file.exists() => eprintln!(
            "countersign: warning: no allowed_signers at {}; nobody can log in or sign until it exists (it is watched)",
            signers_file.display()
        ),
        None => eprintln!(
            "countersign: warning: allowed_signers {} lists nobody; nobody can log in or sign until it does (it is watched)",
            signers_file.display()
        ),
    }
    eprintln!("countersign: leads: {}", cli_policy::leads(policy));
    for w in cli_policy::warnings(policy, known.as_ref()) {
        eprintln!("countersign: warning: {w}");
    }
    let problems = unmeetable(policy, known.as_ref());
    anyhow::ensure!(
        problems.is_empty(),
        "{}",
        cli_policy::cannot_be_met(&origin, &problems)
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
