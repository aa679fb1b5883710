//! Starting the server: open the store, start the deadline task, bind, serve
//! until shutdown. Used by `countersign serve`, the demo, tests and benches.

use super::router;
use super::state::{AppState, Identity, Limits};
use super::store::Store;
use super::store::sqlite::SqliteStore;
use crate::domain::policy::Policy;
use crate::domain::time::now_millis;
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
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
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
}

/// A server running in this process.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), std::io::Error>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

/// Binds and serves in the background; returns once listening.
pub async fn start(
    store: Arc<dyn Store>,
    config: ServerConfig,
) -> Result<RunningServer, ServeError> {
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr()?;
    let (shutdown, mut stop_rx) = watch::channel(false);
    let state = AppState::new(
        store.clone(),
        config.policy,
        config.identity,
        config.limits,
        stop_rx.clone(),
    );
    if config.policy_file.is_some() || config.signers_file.is_some() {
        tokio::spawn(reload_loop(
            state.clone(),
            config.policy_file,
            config.signers_file,
            stop_rx.clone(),
        ));
    }

    let mut deadline_stop = stop_rx.clone();
    tokio::spawn(async move {
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
        }
    });

    let app = router::router(state.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
    });
    Ok(RunningServer {
        addr,
        state,
        shutdown,
        task,
    })
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads the policy and allowed signers on SIGHUP or when a file changes.
/// A bad new file is logged and the old one stays in force.
async fn reload_loop(
    state: AppState,
    policy_file: Option<PathBuf>,
    signers_file: Option<PathBuf>,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen = (
        policy_file.as_deref().and_then(modified),
        signers_file.as_deref().and_then(modified),
    );
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hup_fired = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fired = std::future::pending::<()>();
        let forced = tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => false,
            _ = hup_fired => true,
        };
        let now = (
            policy_file.as_deref().and_then(modified),
            signers_file.as_deref().and_then(modified),
        );
        if let Some(path) = &policy_file
            && (forced || now.0 != seen.0)
        {
            match Policy::load(path) {
                Ok(p) => {
                    state.set_policy(p);
                    tracing::info!(path = %path.display(), "policy reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "policy not reloaded; the old one stays in force")
                }
            }
        }
        if let Some(path) = &signers_file
            && (forced || now.1 != seen.1)
        {
            match AllowedSigners::load(path) {
                Ok(s) => {
                    state.set_signers(s);
                    tracing::info!(path = %path.display(), "allowed signers reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "allowed signers not reloaded; the old ones stay in force")
                }
            }
        }
        seen = now;
    }
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
