//! SSHSIG signatures (the format of `ssh-keygen -Y sign`), allowed_signers,
//! and the payloads people sign.

pub mod allowed_signers;
pub mod decision;
pub mod payload;
pub mod signer;

use ssh_key::{LineEnding, PublicKey, SshSig};

/// Namespace of signed decisions and annotations.
pub const NS_DECISION: &str = "countersign-decision";
/// Namespace of console login challenges.
pub const NS_LOGIN: &str = "countersign-login";
/// Namespace of the server's audit checkpoints.
pub const NS_CHECKPOINT: &str = "countersign-checkpoint";
/// Namespace of the server's approval receipts (`crate::receipt`).
pub const NS_RECEIPT: &str = "countersign-receipt";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("not an armored SSH signature (-----BEGIN SSH SIGNATURE-----): {0}")]
    Malformed(String),
    #[error("signed in namespace `{got}`, expected `{want}`")]
    WrongNamespace { got: String, want: String },
    #[error("the signature does not verify over the payload bytes")]
    Invalid,
}

/// Parses an armored SSHSIG, checks its namespace and verifies it over
/// `msg` with the key it names. Returns that key: whether it may sign for
/// someone is the allowed_signers' question.
pub fn verify(armored: &str, msg: &[u8], namespace: &str) -> Result<PublicKey, SigError> {
    let sig = SshSig::from_pem(armored.trim()).map_err(|e| SigError::Malformed(e.to_string()))?;
    if sig.namespace() != namespace {
        return Err(SigError::WrongNamespace {
            got: sig.namespace().to_owned(),
            want: namespace.to_owned(),
        });
    }
    let key = PublicKey::from(sig.public_key().clone());
    key.verify(namespace, msg, &sig)
        .map_err(|_| SigError::Invalid)?;
    Ok(key)
}

/// `SHA256:…` as ssh-keygen prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
}

pub(crate) fn armor(sig: &SshSig) -> Result<String, ssh_key::Error> {
    sig.to_pem(LineEnding::LF)
}
