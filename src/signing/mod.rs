//! SSHSIG signatures (the format of `ssh-keygen -Y sign`), allowed_signers,
//! and the payloads people sign.

pub mod allowed_signers;
pub mod decision;
pub mod freeze;
pub mod payload;
pub mod signer;
pub mod sshsig;

use ssh_key::public::KeyData;
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
    #[error("the security key was not touched: its signature lacks the user-presence flag")]
    NoUserPresence,
}

/// A signature that verified: by `key`, presented with `certificate` when
/// the signer sent one. Whether the key (or the certificate's authority)
/// may sign for someone is the allowed_signers' question
/// ([`allowed_signers::AllowedSigners::check_signer`]).
#[derive(Debug, Clone)]
pub struct Verified {
    pub key: PublicKey,
    pub certificate: Option<ssh_key::Certificate>,
    /// A FIDO security key's flags (user presence set: [`verify`] refuses
    /// it otherwise).
    pub sk_flags: Option<u8>,
}

/// Parses an armored SSHSIG, checks its namespace and verifies it over
/// `msg` with the key it names (a certificate's key, when it carries a
/// certificate). A security key's signature verifies only if the key was
/// touched (user presence, PROTOCOL.u2f).
pub fn verify(armored: &str, msg: &[u8], namespace: &str) -> Result<Verified, SigError> {
    let sshsig::Envelope {
        key,
        certificate,
        sig,
    } = sshsig::parse(armored)?;
    if sig.namespace() != namespace {
        return Err(SigError::WrongNamespace {
            got: sig.namespace().to_owned(),
            want: namespace.to_owned(),
        });
    }
    match key.key_data() {
        KeyData::Ed25519(pk) => verify_ed25519(&sig, pk, msg)?,
        _ => key
            .verify(namespace, msg, &sig)
            .map_err(|_| SigError::Invalid)?,
    }
    let sk_flags = sshsig::sk_flags(&sig);
    if sk_flags.is_some_and(|f| f & sshsig::SK_USER_PRESENT == 0) {
        return Err(SigError::NoUserPresence);
    }
    Ok(Verified {
        key,
        certificate,
        sk_flags,
    })
}

/// What `PublicKey::verify` does for an ed25519 key (the same signed
/// data, the same `ed25519-dalek` verification), with the key's
/// decompressed point kept per thread: decompressing it is a good part of
/// one verification, and a log holds thousands by a few keys.
fn verify_ed25519(
    sig: &SshSig,
    pk: &ssh_key::public::Ed25519PublicKey,
    msg: &[u8],
) -> Result<(), SigError> {
    use ed25519_dalek::Verifier;
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static KEYS: RefCell<HashMap<[u8; 32], ed25519_dalek::VerifyingKey>> =
            RefCell::new(HashMap::new());
    }
    if sig.signature().algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(SigError::Invalid);
    }
    let signature = ed25519_dalek::Signature::from_slice(sig.signature_bytes())
        .map_err(|_| SigError::Invalid)?;
    let data =
        SshSig::signed_data(sig.namespace(), sig.hash_alg(), msg).map_err(|_| SigError::Invalid)?;
    let key = KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some(k) = keys.get(&pk.0) {
            return Ok(*k);
        }
        let k = ed25519_dalek::VerifyingKey::from_bytes(&pk.0).map_err(|_| SigError::Invalid)?;
        if keys.len() >= 4096 {
            keys.clear();
        }
        keys.insert(pk.0, k);
        Ok(k)
    })?;
    key.verify(&data, &signature).map_err(|_| SigError::Invalid)
}

/// A FIDO security key (`sk-ssh-ed25519@openssh.com`,
/// `sk-ecdsa-sha2-nistp256@openssh.com`): [`verify`] accepts its
/// signatures only with the user-presence flag set.
pub fn is_hardware(key: &PublicKey) -> bool {
    matches!(
        key.algorithm(),
        ssh_key::Algorithm::SkEd25519 | ssh_key::Algorithm::SkEcdsaSha2NistP256
    )
}

/// `SHA256:…` as ssh-keygen prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
}

pub(crate) fn armor(sig: &SshSig) -> Result<String, ssh_key::Error> {
    sig.to_pem(LineEnding::LF)
}
