//! Issuing a receipt from what is stored: the proposal, its alert, and the
//! alert's audit entries (`crate::receipt` builds and signs it). The API
//! handler and the executor deliveries both issue through here.

use super::store::Store;
use crate::config::ExecutorConfig;
use crate::domain::records::{AuditEntry, ProposalRecord};
use crate::receipt::{self, Approved, Issued, ReceiptError};
use crate::server::store::ops::{AlertById, AuditAfter};
use crate::workflow::StoreError;
use ssh_key::PrivateKey;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a server issues receipts with: its key and name, and who runs
/// which action.
#[derive(Clone)]
pub struct Issuer {
    pub key: Arc<PrivateKey>,
    pub server: Arc<str>,
    pub executors: Arc<Vec<ExecutorConfig>>,
    /// The policy in force (shared with the server's, replaced on reload):
    /// how long what an executor ran stays contained.
    pub policy: Arc<super::swap::Swap<crate::domain::policy::Policy>>,
}

impl Issuer {
    /// The executor that runs `action`, if the gate runs it.
    pub fn executor_for(&self, action: &str) -> Option<&ExecutorConfig> {
        self.executors
            .iter()
            .find(|e| e.actions.iter().any(|a| a == action))
    }

    /// How long `p`, once executed, stays contained (`contain_for`).
    pub fn contain_for_secs(&self, p: &ProposalRecord) -> Option<u64> {
        self.policy
            .get()
            .rule_for(&p.action, p.risk)
            .contain_for_secs
    }

    /// Who may run `p`: its executor, else the agent that proposed it.
    pub fn audience(&self, p: &ProposalRecord) -> String {
        match self.executor_for(p.action.as_str()) {
            Some(e) => e.audience(),
            None => p.proposed_by.clone(),
        }
    }

    /// The receipt of `p`, built from its stored records and signed.
    pub async fn issue(&self, store: &dyn Store, p: &ProposalRecord) -> Result<Issued, IssueError> {
        receipt::issuable(p.status)?;
        let (alert, _) = store
            .run(AlertById(p.alert_id.clone()))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("alert {}", p.alert_id)))?;
        const PAGE: u32 = 10_000;
        let mut entries: Vec<AuditEntry> = Vec::new();
        loop {
            let after = entries.last().map_or(0, |e| e.seq);
            let page = store
                .run(AuditAfter {
                    after,
                    limit: PAGE,
                    alert_id: Some(p.alert_id.clone()),
                })
                .await?;
            let more = page.len() == PAGE as usize;
            entries.extend(page);
            if !more {
                break;
            }
        }
        let approved = Approved {
            alert: &alert,
            proposal: p,
            entries: &entries,
            audience: self.audience(p),
            server: &self.server,
        };
        Ok(receipt::issue(&approved, &self.key)?)
    }
}
