//! Reloads the policy, the allowed signers and the TLS certificate on
//! SIGHUP or when a file changes. A bad new file is logged and the old one
//! stays in force; so does the old policy when a new one has rules that can
//! never be met. New allowed_signers always take effect (removing someone
//! must work), with an error logged for each rule they leave unmeetable,
//! and end every open session whose key they no longer let log in.

use super::policy::record_policy;
use super::session_keys;
use super::state::AppState;
use super::tls::TlsFiles;
use crate::domain::policy::{self, Policy, SignerSet};
use crate::domain::time::now_millis;
use crate::signing::allowed_signers::AllowedSigners;
use axum_server::tls_rustls::RustlsConfig;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// What is watched.
pub(super) struct Watched {
    pub policy: Option<PathBuf>,
    pub signers: Option<PathBuf>,
    pub tls: Option<(RustlsConfig, TlsFiles)>,
}

fn modified(path: Option<&Path>) -> Option<SystemTime> {
    std::fs::metadata(path?).and_then(|m| m.modified()).ok()
}

impl Watched {
    fn stamps(&self) -> [Option<SystemTime>; 4] {
        let tls = self.tls.as_ref().map(|(_, f)| f);
        [
            modified(self.policy.as_deref()),
            modified(self.signers.as_deref()),
            modified(tls.map(|f| f.cert.as_path())),
            modified(tls.map(|f| f.key.as_path())),
        ]
    }
}

async fn hangup(hup: &mut Option<tokio::signal::unix::Signal>) {
    match hup.as_mut() {
        Some(h) => {
            h.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

fn kept(what: &str, e: impl std::fmt::Display) {
    tracing::error!(error = %e, "{what} not reloaded; the old one stays in force");
}

/// The people allowed_signers lets sign, when it lists anyone (with nobody
/// listed yet, as at a first start, only the policy alone is judged).
fn known(signers: &AllowedSigners) -> Option<SignerSet> {
    (!signers.is_empty()).then(|| signers.decision_signers(now_millis()))
}

/// Ends the sessions the allowed_signers in force no longer let in, and
/// says whose (never their tokens); false if the database could not be
/// asked.
pub(super) async fn end_sessions(state: &AppState) -> bool {
    match session_keys::end_unadmitted(state, now_millis()).await {
        Ok(ended) if ended.is_empty() => true,
        Ok(ended) => {
            tracing::warn!(
                ended = ended.len(),
                principals = %ended.join(", "),
                "sessions ended: allowed_signers no longer let their keys log in"
            );
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "sessions not checked against the allowed signers in force; tried again at the next look for changes (2 s)");
            false
        }
    }
}

/// Watches `w` until `stop`. `unchecked`: the sessions are still to be
/// checked against the allowed_signers in force (the check at start
/// failed: the database was unavailable); tried again at each look until
/// it is done.
pub(super) async fn reload_loop(
    state: AppState,
    mut unchecked: bool,
    w: Watched,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen = w.stamps();
    // A policy read but not yet recorded in the audit log (the database
    // was unavailable): tried again at the next look.
    let mut unrecorded = false;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let forced = tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => false,
            _ = hangup(&mut hup) => true,
        };
        let now = w.stamps();
        if let Some(path) = &w.policy
            && (forced || unrecorded || now[0] != seen[0])
        {
            unrecorded = false;
            match Policy::load(path) {
                Ok(p) => {
                    let problems = policy::unmeetable(&p, known(&state.signers()).as_ref());
                    if p.digest() == state.policy().digest() {
                        tracing::debug!(path = %path.display(), "policy unchanged");
                    } else if problems.is_empty() {
                        // Recorded first: a decision judged under it names
                        // a digest the log already holds.
                        match record_policy(&*state.store, &p, &state.server_name, "reload").await {
                            Ok(()) => {
                                state.set_policy(p);
                                tracing::info!(path = %path.display(), "policy reloaded");
                            }
                            Err(e) => {
                                unrecorded = true;
                                kept(
                                    "policy",
                                    format!("it could not be recorded in the audit log: {e}"),
                                );
                            }
                        }
                    } else {
                        let all = problems.iter().map(ToString::to_string);
                        kept("policy", all.collect::<Vec<_>>().join("; "));
                    }
                }
                Err(e) => kept("policy", e),
            }
        }
        if let Some(path) = &w.signers
            && (forced || now[1] != seen[1])
        {
            match AllowedSigners::load(path) {
                Ok(s) => {
                    for problem in policy::unmeetable(&state.policy(), known(&s).as_ref()) {
                        tracing::error!(%problem, "with the new allowed signers, a rule of the policy in force can never be met");
                    }
                    state.set_signers(s);
                    tracing::info!(path = %path.display(), "allowed signers reloaded");
                    unchecked = true;
                }
                Err(e) => kept("allowed signers", e),
            }
        }
        if unchecked {
            unchecked = !end_sessions(&state).await;
        }
        if let Some((config, files)) = &w.tls
            && (forced || now[2] != seen[2] || now[3] != seen[3])
        {
            match config.reload_from_pem_file(&files.cert, &files.key).await {
                Ok(()) => tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded"),
                Err(e) => kept("TLS certificate", e),
            }
        }
        seen = now;
    }
}
