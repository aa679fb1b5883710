//! Starting the server: open the store, start the deadline task, bind, serve
//! until shutdown. Used by `countersign serve`, the demo, tests and benches.

use super::policy::record_policy;
use super::router;
use super::state::{AppState, Identity, Limits};
use super::store::sqlite::SqliteStore;
use super::store::{NewToken, Store};
use super::tls::TlsFiles;
use crate::domain::policy::Policy;
use crate::domain::time::now_millis;
use crate::domain::types::TokenRole;
use crate::server::store::ops::{AuditHead, SweepExpired};
use crate::signing::allowed_signers::AllowedSigners;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("bad --db `{0}`: use sqlite:PATH or postgres://USER@HOST/DB")]
    BadDbUrl(String),
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    /// The OS error is the message's end, not a source: printed once.
    #[error("cannot listen on {addr}: {error}")]
    Bind { addr: String, error: std::io::Error },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

impl std::str::FromStr for DbUrl {
    type Err = ServeError;

    fn from_str(s: &str) -> Result<Self, ServeError> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(s.to_owned()));
        }
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
            .unwrap_or(s);
        if path.is_empty() || s.contains("://") && !s.starts_with("sqlite://") {
            return Err(ServeError::BadDbUrl(s.to_owned()));
        }
        Ok(DbUrl::Sqlite(PathBuf::from(path)))
    }
}

impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            DbUrl::Postgres(url) => f.write_str(url),
        }
    }
}

/// Opens the store a URL names.
pub async fn open_store(db: &DbUrl) -> Result<Arc<dyn Store>, ServeError> {
    match db {
        DbUrl::Sqlite(path) => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
            Ok(Arc::new(store))
        }
        DbUrl::Postgres(url) => Ok(Arc::new(super::store::postgres::PgStore::open(url).await?)),
    }
}

pub struct ServerConfig {
    pub listen: String,
    pub policy: Policy,
    pub identity: Identity,
    pub limits: Limits,
    /// Reloaded on SIGHUP or when the file changes.
    pub policy_file: Option<PathBuf>,
    pub signers_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain and key (PEM); both are
    /// reloaded on SIGHUP or when they change.
    pub tls: Option<TlsFiles>,
    /// `[[notify]]` sinks and when to remind.
    pub notify: NotifySettings,
    /// `[[upstreams]]`, connected: served at `/mcp/gateway` for agent
    /// tokens (`crate::gateway`).
    pub gateway: Option<Arc<crate::gateway::Upstreams>>,
    /// `[[agents.oidc]]`, keys loaded: JWT bearers that are agents.
    pub oidc: Option<Arc<super::oidc::Verifier>>,
}

#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub sinks: Vec<crate::config::NotifyConfig>,
    /// `[[executors]]`: the gate runs their actions (`server::execute`).
    pub executors: Vec<crate::config::ExecutorConfig>,
    /// Share of the time to decide after which `proposal.expiring` is sent.
    pub remind_at: f64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            sinks: Vec::new(),
            executors: Vec::new(),
            remind_at: 0.75,
        }
    }
}

/// A server running in this process.
pub struct RunningServer {
    pub addr: SocketAddr,
    tls: bool,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), std::io::Error>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, and waits.
    pub async fn stop(self) -> Result<(), ServeError> {
        let _ = self.shutdown.send(true);
        self.task
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(())
    }

    /// Waits until the server stops by itself (or the shutdown signal).
    pub async fn wait(self) -> Result<(), ServeError> {
        self.task
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(())
    }

    /// Drops the listener and every connection at once, as a crash would
    /// (benchmarks of a replica dying).
    pub fn abort(self) {
        self.task.abort();
        let _ = self.shutdown.send(true);
    }

    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// A server on a loopback port over SQLite in one directory, with an
/// agent token and a reviewer token: the demo's embedded default.
pub struct Embedded {
    pub server: RunningServer,
    pub agent_token: String,
    /// Read-only: the audit export at the end of the demo.
    pub reviewer_token: String,
    /// The database held no entries when it opened.
    pub fresh: bool,
}

/// Opens (or reopens) `dir/countersign.db` and `dir/server_key`, creates the
/// tokens, and serves on 127.0.0.1 with the signers file reloaded on change.
pub async fn start_embedded(
    dir: &Path,
    policy: Policy,
    signers_file: &Path,
    agent: &str,
    server_name: &str,
) -> Result<Embedded, ServeError> {
    let server_key = super::server_key::load_or_create(&dir.join("server_key"))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let store = open_store(&DbUrl::Sqlite(dir.join("countersign.db"))).await?;
    let fresh = store.run(AuditHead).await?.seq == 0;
    let agent_token = issue_token(&*store, agent, TokenRole::Agent).await?;
    let reviewer_token = issue_token(&*store, "demo-auditor", TokenRole::Reviewer).await?;
    let signers =
        AllowedSigners::load(signers_file).map_err(|e| std::io::Error::other(e.to_string()))?;
    let server = start(
        store,
        ServerConfig {
            listen: "127.0.0.1:0".into(),
            policy,
            identity: Identity {
                signers,
                server_key,
                server_name: server_name.to_owned(),
            },
            // The demo's agent waits on every proposal it sent, one
            // long-poll each: more than a real agent's default cap.
            limits: Limits {
                max_waits_per_agent: 256,
                ..Limits::default()
            },
            policy_file: None,
            signers_file: Some(signers_file.to_owned()),
            tls: None,
            notify: NotifySettings::default(),
            gateway: None,
            oidc: None,
        },
    )
    .await?;
    Ok(Embedded {
        server,
        agent_token,
        reviewer_token,
        fresh,
    })
}

async fn issue_token(store: &dyn Store, name: &str, role: TokenRole) -> Result<String, ServeError> {
    let (token, hash) = super::auth::new_token();
    store
        .run(NewToken::unlimited(name, role, hash, now_millis()))
        .await?;
    Ok(token)
}

/// Binds and serves in the background; returns once listening.
pub async fn start(
    store: Arc<dyn Store>,
    config: ServerConfig,
) -> Result<RunningServer, ServeError> {
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|error| ServeError::Bind {
            addr: config.listen.clone(),
            error,
        })?;
    let addr = listener.local_addr()?;
    // The policy is evidence: in the log before anything is judged under it.
    record_policy(
        &*store,
        &config.policy,
        &config.identity.server_name,
        "start",
    )
    .await?;
    let (shutdown, mut stop_rx) = watch::channel(false);
    let mut state = AppState::new(
        store.clone(),
        config.policy,
        config.identity,
        config.limits,
        stop_rx.clone(),
    );
    let tls = match &config.tls {
        Some(files) => Some((files.load().await.map_err(ServeError::Tls)?, files.clone())),
        None => None,
    };
    // Sessions outlive a restart, and allowed_signers may have changed
    // meanwhile: before serving, end those it no longer lets in.
    let sessions_checked = super::reload::end_sessions(&state).await;
    if config.policy_file.is_some() || config.signers_file.is_some() || tls.is_some() {
        tokio::spawn(super::reload::reload_loop(
            state.clone(),
            !sessions_checked,
            super::reload::Watched {
                policy: config.policy_file,
                signers: config.signers_file,
                tls: tls.clone(),
            },
            stop_rx.clone(),
        ));
    }

    state.issuer.executors = Arc::new(config.notify.executors);
    state.tool_upstreams = config.gateway;
    if let Some(oidc) = &config.oidc {
        oidc.spawn_refresh(stop_rx.clone());
    }
    state.oidc = config.oidc;
    let notifier = Arc::new(
        super::notify::Notifier::new(
            store.clone(),
            config.notify.sinks,
            state.metrics.clone(),
            config.notify.remind_at,
        )
        .with_executors(state.issuer.clone()),
    );
    state.notify_sinks = Arc::new(notifier.sink_names());
    notifier.spawn(stop_rx.clone());

    let mut deadline_stop = stop_rx.clone();
    let sweeper = state.clone();
    tokio::spawn(async move {
        let mut last_sweep = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = deadline_stop.changed() => break,
            }
            if let Err(e) = store.run_deadlines(now_millis()).await {
                tracing::warn!(error = %e, "deadline sweep failed; will retry");
            }
            let (policy, sampler) = (sweeper.policy(), sweeper.sampler.clone());
            if let Err(e) = store.end_containments(now_millis(), policy, sampler).await {
                tracing::warn!(error = %e, "ending containments failed; will retry");
            }
            // Once a minute: expired challenges and sessions, and rate
            // limiter keys that are idle again.
            if last_sweep.elapsed() >= Duration::from_secs(60) {
                last_sweep = tokio::time::Instant::now();
                if let Err(e) = store.run(SweepExpired(now_millis())).await {
                    tracing::warn!(error = %e, "sweeping expired logins failed; will retry");
                }
                sweeper.rate_limits.sweep();
            }
        }
    });

    let conn = state.limits.conn.clone();
    let body_timeout = conn.body_timeout;
    let app = router::router(state.clone()).layer(axum::middleware::from_fn(move |req, next| {
        super::conn::guard(body_timeout, req, next)
    }));
    let is_tls = tls.is_some();
    // One server for both: axum-server, whose hyper builder carries the
    // request-head deadline and whose acceptor counts connections.
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let listener = listener.into_std()?;
    let capped = super::conn::Capped::new(axum_server::accept::DefaultAcceptor, &conn);
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    let on_refused = |addr: Option<&SocketAddr>, e: &std::io::Error| {
        tracing::debug!(client = ?addr, error = %e, "connection not served");
    };
    let task = match tls {
        None => {
            // HTTP/1 only, as before (axum::serve without the http2 feature).
            let mut server = axum_server::from_tcp(listener)?
                .acceptor(capped)
                .handle(handle)
                .http1_only()
                .first_request_timeout(conn.header_timeout)
                .accept_error_handler(on_refused);
            configure_http(server.http_builder(), &conn);
            tokio::spawn(async move { server.serve(make).await })
        }
        Some((rustls, _)) => {
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
                .handshake_timeout(conn.tls_handshake_timeout)
                .acceptor(capped);
            let mut server = axum_server::from_tcp(listener)?
                .acceptor(acceptor)
                .handle(handle)
                .first_request_timeout(conn.header_timeout)
                .accept_error_handler(on_refused);
            configure_http(server.http_builder(), &conn);
            tokio::spawn(async move { server.serve(make).await })
        }
    };
    Ok(RunningServer {
        tls: is_tls,
        addr,
        state,
        shutdown,
        task,
    })
}

/// hyper's own deadlines: a request head within `header_timeout` of the
/// connection's start or the previous answer's end (so an idle keep-alive
/// connection closes then too); HTTP/2 (over TLS) pings an idle peer and
/// drops one that stops answering.
fn configure_http(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    conn: &super::conn::ConnLimits,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(conn.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(conn.header_timeout)
        .keep_alive_timeout(conn.header_timeout);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_urls() {
        assert_eq!(
            "sqlite:/tmp/x.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            "sqlite:///tmp/x.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            "x.db".parse::<DbUrl>().unwrap(),
            DbUrl::Sqlite("x.db".into())
        );
        assert!(matches!(
            "postgres://u@h/db".parse::<DbUrl>().unwrap(),
            DbUrl::Postgres(_)
        ));
        assert!("mysql://h/db".parse::<DbUrl>().is_err());
        assert!("sqlite:".parse::<DbUrl>().is_err());
    }
}
