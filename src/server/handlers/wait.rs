//! Long-poll support: wait until a commit touches what the caller watches,
//! or the deadline passes.

use crate::server::store::ChangeSet;
use std::sync::Arc;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};

/// Waits for a change set that `relevant` accepts. Returns `false` on
/// timeout or server shutdown. A lagged receiver counts as relevant: the
/// caller re-reads.
pub async fn changed(
    rx: &mut Receiver<Arc<ChangeSet>>,
    deadline: Instant,
    shutdown: &watch::Receiver<bool>,
    relevant: impl Fn(&ChangeSet) -> bool,
) -> bool {
    let mut shutdown = shutdown.clone();
    loop {
        let next = tokio::select! {
            r = timeout_at(deadline, rx.recv()) => r,
            _ = shutdown.wait_for(|s| *s) => return false,
        };
        match next {
            Err(_) => return false,
            Ok(Ok(cs)) if cs.reset || relevant(&cs) => return true,
            Ok(Ok(_)) => continue,
            Ok(Err(RecvError::Lagged(_))) => return true,
            // The store is gone (shutdown): stop waiting.
            Ok(Err(RecvError::Closed)) => return false,
        }
    }
}

/// A long-poll slot for `caller` when the request will wait at all (a
/// `wait` of 0 answers at once and takes none).
pub fn slot(
    state: &crate::server::state::AppState,
    caller: &str,
    deadline: Instant,
) -> Result<Option<crate::server::limits::WaitSlot>, crate::server::error::ApiError> {
    if deadline <= Instant::now() {
        return Ok(None);
    }
    state.waits.enter(caller).map(Some)
}

/// `wait=SECS` capped by the server's limit.
pub fn deadline(wait_secs: Option<f64>, max: std::time::Duration) -> Instant {
    // Capped before the conversion: `from_secs_f64` panics on 1e300.
    let wait = wait_secs
        .filter(|w| w.is_finite() && *w > 0.0)
        .map(|w| std::time::Duration::from_secs_f64(w.min(max.as_secs_f64())))
        .unwrap_or_default();
    Instant::now() + wait
}
