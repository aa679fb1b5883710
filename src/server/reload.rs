//! Reloads the policy and allowed signers on SIGHUP or when a file changes.

use super::state::AppState;
use crate::domain::policy::Policy;
use crate::signing::allowed_signers::AllowedSigners;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads the policy and allowed signers on SIGHUP or when a file changes.
/// A bad new file is logged and the old one stays in force.
pub(super) async fn reload_loop(
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
