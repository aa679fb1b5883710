//! Starting the server: open the store, start the deadline task, bind, serve
//! until shutdown. Used by `countersign serve`, the demo, tests and benches.

use super::router;
use super::state::{AppState, Limits};
use super::store::Store;
use super::store::sqlite::SqliteStore;
use crate::domain::policy::Policy;
use crate::domain::time::now_millis;
use std::net::SocketAddr;
use std::path::PathBuf;
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
    #[error("PostgreSQL is not supported by this build yet; use sqlite:PATH")]
    PostgresUnsupported,
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
        DbUrl::Postgres(_) => Err(ServeError::PostgresUnsupported),
    }
}

pub struct ServerConfig {
    pub listen: String,
    pub policy: Policy,
    pub limits: Limits,
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
    let state = AppState::new(store.clone(), config.policy, config.limits);
    let (shutdown, mut stop_rx) = watch::channel(false);

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
