//! A value replaced whole on reload, read without waiting.

use std::sync::{Arc, RwLock};

/// A value replaced whole on reload (policy, allowed signers).
pub struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    pub fn new(v: T) -> Self {
        Swap(RwLock::new(Arc::new(v)))
    }

    pub fn get(&self) -> Arc<T> {
        match self.0.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set(&self, v: T) {
        let mut slot = match self.0.write() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(v);
    }
}
