//! Signing with the person's own key: an OpenSSH private key file
//! (passphrase-protected ones too), or a running ssh-agent
//! (`SSH_AUTH_SOCK`), so hardware-backed keys work.

use super::armor;
use ssh_key::{HashAlg, PrivateKey, PublicKey, SshSig};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("cannot read key {path}: {message}")]
    Read { path: String, message: String },
    #[error("key {0} is encrypted and no passphrase was given")]
    NeedsPassphrase(String),
    #[error("wrong passphrase for {0}")]
    BadPassphrase(String),
    #[error("ssh-agent: {0}")]
    Agent(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

pub enum Signer {
    File {
        key: Box<PrivateKey>,
    },
    /// One connection per signature: the agent client is not `Send`, and a
    /// Unix-socket connect costs little next to a human decision.
    Agent {
        socket: PathBuf,
        public: PublicKey,
    },
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", super::fingerprint(&self.public_key()))
    }
}

impl Signer {
    /// Loads a private key file. `passphrase` is asked only if the key is
    /// encrypted.
    pub fn from_file(
        path: &Path,
        passphrase: impl FnOnce() -> Option<String>,
    ) -> Result<Self, SignerError> {
        let read_err = |message: String| SignerError::Read {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| read_err(e.to_string()))?;
        if PublicKey::from_openssh(text.trim()).is_ok() {
            return Err(read_err(
                "that is a public key; pass the private key (the same name without .pub) or use ssh-agent (--agent)".into(),
            ));
        }
        let key = PrivateKey::from_openssh(&text).map_err(|e| read_err(e.to_string()))?;
        let key = if key.is_encrypted() {
            let pass = passphrase()
                .ok_or_else(|| SignerError::NeedsPassphrase(path.display().to_string()))?;
            key.decrypt(pass.as_bytes())
                .map_err(|_| SignerError::BadPassphrase(path.display().to_string()))?
        } else {
            key
        };
        Ok(Signer::File { key: Box::new(key) })
    }

    pub fn from_key(key: PrivateKey) -> Self {
        Signer::File { key: Box::new(key) }
    }

    /// Uses the ssh-agent at `socket` and the identity whose public key is
    /// `public` (e.g. the `.pub` beside a hardware key's handle).
    pub fn from_agent(socket: &Path, public: PublicKey) -> Result<Self, SignerError> {
        let mut client = ssh_agent_client_rs::Client::connect(socket).map_err(|e| {
            SignerError::Agent(format!("cannot connect to {}: {e}", socket.display()))
        })?;
        let ids = client
            .list_all_identities()
            .map_err(|e| SignerError::Agent(e.to_string()))?;
        let held = ids.iter().any(|id| match id {
            ssh_agent_client_rs::Identity::PublicKey(k) => k.key_data() == public.key_data(),
            ssh_agent_client_rs::Identity::Certificate(_) => false,
        });
        if !held {
            return Err(SignerError::Agent(format!(
                "the agent holds no key {}",
                super::fingerprint(&public)
            )));
        }
        Ok(Signer::Agent {
            socket: socket.to_owned(),
            public,
        })
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            Signer::File { key } => key.public_key().clone(),
            Signer::Agent { public, .. } => public.clone(),
        }
    }

    pub fn fingerprint(&self) -> String {
        super::fingerprint(&self.public_key())
    }

    /// An armored SSHSIG over `msg` in `namespace`.
    pub fn sign(&self, namespace: &str, msg: &[u8]) -> Result<String, SignerError> {
        let sig = match self {
            Signer::File { key } => key
                .sign(namespace, HashAlg::Sha512, msg)
                .map_err(|e| SignerError::Sign(e.to_string()))?,
            Signer::Agent { socket, public } => {
                let data = SshSig::signed_data(namespace, HashAlg::Sha512, msg)
                    .map_err(|e| SignerError::Sign(e.to_string()))?;
                let mut client = ssh_agent_client_rs::Client::connect(socket).map_err(|e| {
                    SignerError::Agent(format!("cannot connect to {}: {e}", socket.display()))
                })?;
                let signature = client
                    .sign(public.clone(), &data)
                    .map_err(|e| SignerError::Agent(e.to_string()))?;
                SshSig::new(
                    public.key_data().clone(),
                    namespace,
                    HashAlg::Sha512,
                    signature,
                )
                .map_err(|e| SignerError::Sign(e.to_string()))?
            }
        };
        armor(&sig).map_err(|e| SignerError::Sign(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify() {
        let key = PrivateKey::random(&mut rand_core_rng(), ssh_key::Algorithm::Ed25519).unwrap();
        let s = Signer::from_key(key);
        let sig = s.sign(crate::signing::NS_DECISION, b"payload").unwrap();
        assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"));
        let k = crate::signing::verify(&sig, b"payload", crate::signing::NS_DECISION).unwrap();
        assert_eq!(k, s.public_key());
        assert_eq!(
            crate::signing::verify(&sig, b"payloaD", crate::signing::NS_DECISION),
            Err(crate::signing::SigError::Invalid)
        );
        assert!(matches!(
            crate::signing::verify(&sig, b"payload", crate::signing::NS_LOGIN),
            Err(crate::signing::SigError::WrongNamespace { .. })
        ));
    }

    fn rand_core_rng() -> ssh_key::rand_core::OsRng {
        ssh_key::rand_core::OsRng
    }
}
