//! When each agent token was last used (`token list`'s LAST USED), without
//! a write per request: each token's use is written at most once a
//! minute, by a task of its own, so the request never waits for it and a
//! failed write never fails the request.

use super::store::Store;
use crate::domain::machine::Millis;
use crate::server::store::ops::TouchToken;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How often one token's use is written at most.
pub const RECORD_EVERY_MS: Millis = 60_000;
/// Past this many tokens remembered, those not recorded within the last
/// interval are forgotten (they would be written again anyway).
const REMEMBER: usize = 4096;

/// Token id → when its use was last written by this server.
#[derive(Debug, Default)]
pub struct TokenUses(Mutex<HashMap<String, Millis>>);

impl TokenUses {
    /// Notes a use of token `id` at `now`; writes it if this server has
    /// not in the last minute.
    pub fn record(&self, store: &Arc<dyn Store>, id: &str, now: Millis) {
        if !self.due(id, now) {
            return;
        }
        let store = store.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = store
                .run(TouchToken {
                    id: id.clone(),
                    at: now,
                })
                .await
            {
                tracing::warn!(error = %e, token = %id, "recording a token's last use failed");
            }
        });
    }

    /// Whether a write is due, marking it done if so.
    fn due(&self, id: &str, now: Millis) -> bool {
        let mut seen = match self.0.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen
            .get(id)
            .is_some_and(|last| now.saturating_sub(*last) < RECORD_EVERY_MS)
        {
            return false;
        }
        if seen.len() >= REMEMBER {
            seen.retain(|_, last| now.saturating_sub(*last) < RECORD_EVERY_MS);
        }
        seen.insert(id.to_owned(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_a_minute_per_token() {
        let uses = TokenUses::default();
        assert!(uses.due("a", 1_000));
        assert!(!uses.due("a", 1_000 + RECORD_EVERY_MS - 1));
        assert!(uses.due("b", 1_500));
        assert!(uses.due("a", 1_000 + RECORD_EVERY_MS));
    }

    #[test]
    fn forgets_old_entries_when_full() {
        let uses = TokenUses::default();
        for i in 0..REMEMBER {
            assert!(uses.due(&format!("t{i}"), 0));
        }
        assert!(uses.due("new", RECORD_EVERY_MS));
        let len = uses.0.lock().map(|m| m.len()).unwrap_or_default();
        assert_eq!(len, 1);
    }
}
