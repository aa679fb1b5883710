//! The freezes in force, as handlers read them to tell agents (a
//! submission's answer, a long-poll, the gateway): kept for a second, and
//! dropped at once when this server writes one or a waiter is told every
//! proposal may have changed. What a freeze stops is decided in the store,
//! on the rows of the write, never on this copy.

use super::store::Store;
use crate::domain::freeze::{self, Freeze};
use crate::server::store::ops::Freezes;
use crate::workflow::StoreError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a read of the freezes is used again.
const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct FreezeCache {
    last: Mutex<Option<(Instant, Arc<Vec<Freeze>>)>>,
}

impl FreezeCache {
    /// Every freeze in force, read again when older than a second.
    pub async fn all(&self, store: &dyn Store) -> Result<Arc<Vec<Freeze>>, StoreError> {
        if let Ok(last) = self.last.lock()
            && let Some((at, all)) = last.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return Ok(all.clone());
        }
        let all = Arc::new(store.run(Freezes).await?);
        self.set(all.clone());
        Ok(all)
    }

    /// The freeze that stops `agent`, if any.
    pub async fn of(&self, store: &dyn Store, agent: &str) -> Result<Option<Freeze>, StoreError> {
        Ok(freeze::for_agent(&self.all(store).await?, agent).cloned())
    }

    /// What this server just wrote.
    pub fn set(&self, all: Arc<Vec<Freeze>>) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), all));
        }
    }

    /// Read again next time (another replica may have written one).
    pub fn forget(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = None;
        }
    }
}
