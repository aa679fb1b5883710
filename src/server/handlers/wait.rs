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

/// The most `wait` the API document states: the default `max_wait`.
pub const DOCUMENTED_MAX_WAIT: f64 = 300.0;

/// `wait=SECS`: from 0 to the server's `max_wait` (at least the 300 s the
/// API document states); anything else is refused, not quietly cut.
pub fn deadline(
    wait_secs: Option<f64>,
    max: std::time::Duration,
) -> Result<Instant, crate::server::error::ApiError> {
    let most = max.as_secs_f64().max(DOCUMENTED_MAX_WAIT);
    let wait = match wait_secs {
        None => 0.0,
        Some(w) if w.is_finite() && (0.0..=most).contains(&w) => w,
        Some(w) => {
            return Err(crate::server::error::ApiError::new(
                crate::api::ErrorCode::InvalidField,
                format!("wait: {w} is not a number of seconds from 0 to {most}"),
            ));
        }
    };
    // Capped by this server's own limit (checked above to be finite).
    let wait = std::time::Duration::from_secs_f64(wait.min(max.as_secs_f64()));
    Ok(Instant::now() + wait)
}
