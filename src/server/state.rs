//! What every handler shares.

use super::metrics::Metrics;
use super::store::Store;
use crate::domain::policy::Policy;
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted.
    pub max_body: usize,
    /// Longest long-poll a client may ask for.
    pub max_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1024 * 1024,
            max_wait: Duration::from_secs(300),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    policy: Arc<RwLock<Arc<Policy>>>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, policy: Policy, limits: Limits) -> Self {
        AppState {
            store,
            policy: Arc::new(RwLock::new(Arc::new(policy))),
            metrics: Arc::new(Metrics::new()),
            limits,
        }
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_policy(&self, policy: Policy) {
        let mut slot = match self.policy.write() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(policy);
    }
}
