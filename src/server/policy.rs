//! The policy in force is evidence: written to the audit log before
//! anything is judged under it, when the server starts and at every reload.

use super::store::Store;
use crate::domain::policy::Policy;
use crate::domain::time::now_millis;
use crate::workflow::{RecordPolicy, StoreError};

/// Writes the policy in force to the audit log (`policy_loaded`) unless
/// the log's last policy entry already names its digest: at every start
/// and reload, before anything is judged under it.
pub async fn record_policy(
    store: &dyn Store,
    policy: &Policy,
    server: &str,
    reason: &'static str,
) -> Result<(), StoreError> {
    let written = store
        .run(RecordPolicy {
            digest: policy.digest().to_owned(),
            text: policy.text().to_owned(),
            origin: policy.origin().to_owned(),
            server: server.to_owned(),
            reason,
            now: now_millis(),
        })
        .await?;
    match written {
        Some(e) => tracing::info!(
            digest = policy.digest(),
            seq = e.seq,
            "policy recorded in the audit log"
        ),
        None => tracing::info!(
            digest = policy.digest(),
            "policy already the last one recorded in the audit log"
        ),
    }
    Ok(())
}
