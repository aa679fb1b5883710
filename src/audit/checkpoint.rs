//! Signed checkpoints: the server signs (sequence number, head hash) with its
//! own SSH key, namespace `countersign-checkpoint`. A checkpoint saved by an
//! auditor later proves the log was not truncated or rewritten before it.

use crate::domain::time::to_rfc3339;
use crate::signing::{self, NS_CHECKPOINT};
use serde::{Deserialize, Serialize};
use ssh_key::{HashAlg, PrivateKey, PublicKey};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointBody {
    pub v: u32,
    pub kind: String,
    pub server: String,
    pub seq: i64,
    pub head: String,
    pub signed_at: String,
}

impl CheckpointBody {
    /// The sequence number a checkpoint states, unverified (for an export
    /// to end at it; `verify` is what proves it).
    pub fn seq_of(cp: &Checkpoint) -> Result<i64, CheckpointError> {
        serde_json::from_str::<CheckpointBody>(&cp.payload)
            .map(|b| b.seq)
            .map_err(|e| CheckpointError::Payload(e.to_string()))
    }
}

/// As served by `GET /v1/audit/checkpoint` and written by `audit export`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// Exact signed bytes (JSON of [`CheckpointBody`]).
    pub payload: String,
    pub signature: String,
    /// The server's public key, OpenSSH format (informational: verify with
    /// the key you trust, not this one).
    pub public_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint payload is unreadable: {0}")]
    Payload(String),
    #[error("checkpoint signature: {0}")]
    Signature(#[from] signing::SigError),
    #[error("checkpoint was signed by {got}, not the server key {want}")]
    WrongKey { got: String, want: String },
    #[error("cannot sign checkpoint: {0}")]
    Sign(String),
}

pub fn sign(
    key: &PrivateKey,
    server: &str,
    seq: i64,
    head: &str,
    now_ms: i64,
) -> Result<Checkpoint, CheckpointError> {
    let body = CheckpointBody {
        v: 1,
        kind: "checkpoint".into(),
        server: server.to_owned(),
        seq,
        head: head.to_owned(),
        signed_at: to_rfc3339(now_ms),
    };
    let payload = serde_json::to_string(&body).map_err(|e| CheckpointError::Sign(e.to_string()))?;
    let sig = key
        .sign(NS_CHECKPOINT, HashAlg::Sha512, payload.as_bytes())
        .map_err(|e| CheckpointError::Sign(e.to_string()))?;
    Ok(Checkpoint {
        payload,
        signature: signing::armor(&sig).map_err(|e| CheckpointError::Sign(e.to_string()))?,
        public_key: key
            .public_key()
            .to_openssh()
            .map_err(|e| CheckpointError::Sign(e.to_string()))?,
    })
}

/// Verifies a checkpoint against the server key the auditor trusts.
pub fn verify(cp: &Checkpoint, server_key: &PublicKey) -> Result<CheckpointBody, CheckpointError> {
    let signer = signing::verify(&cp.signature, cp.payload.as_bytes(), NS_CHECKPOINT)?.key;
    if signer.key_data() != server_key.key_data() {
        return Err(CheckpointError::WrongKey {
            got: signing::fingerprint(&signer),
            want: signing::fingerprint(server_key),
        });
    }
    serde_json::from_str(&cp.payload).map_err(|e| CheckpointError::Payload(e.to_string()))
}
