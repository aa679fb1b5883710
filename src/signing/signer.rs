//! Signing with the person's own key: an OpenSSH private key file
//! (passphrase-protected ones too), or a running ssh-agent
//! (`SSH_AUTH_SOCK`), so hardware-backed keys work. A user certificate
//! beside the key (`id_ed25519-cert.pub`, as `ssh-keygen -s` writes it),
//! or held by the agent for it, goes in every signature, so a server that
//! trusts the certificate's authority knows the person.

use super::armor;
use ssh_key::{Certificate, HashAlg, PrivateKey, PublicKey, SshSig};
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
        certificate: Option<Box<Certificate>>,
    },
    /// One connection per signature: the agent client is not `Send`, and a
    /// Unix-socket connect costs little next to a human decision.
    Agent {
        socket: PathBuf,
        public: PublicKey,
        certificate: Option<Box<Certificate>>,
    },
}

/// `key-cert.pub` for `key`, as ssh-keygen names it.
fn certificate_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push("-cert.pub");
    PathBuf::from(name)
}

/// The certificate at `path` for `key`, if the file exists.
fn certificate_beside(
    path: &Path,
    key: &PublicKey,
) -> Result<Option<Box<Certificate>>, SignerError> {
    if !path.exists() {
        return Ok(None);
    }
    let err = |message: String| SignerError::Read {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let cert = Certificate::from_openssh(text.trim()).map_err(|e| err(e.to_string()))?;
    if cert.public_key() != key.key_data() {
        return Err(err("the certificate is for another key".into()));
    }
    Ok(Some(Box::new(cert)))
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
        // `-f key-cert.pub`, as ssh-keygen -Y sign takes it: the private
        // key is the same name without `-cert.pub`.
        if let Some(bare) = path
            .to_str()
            .and_then(|p| p.strip_suffix("-cert.pub"))
            .map(Path::new)
        {
            return Self::from_file(bare, passphrase);
        }
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
        let certificate = certificate_beside(&certificate_path(path), key.public_key())?;
        Ok(Signer::File {
            key: Box::new(key),
            certificate,
        })
    }

    pub fn from_key(key: PrivateKey) -> Self {
        Signer::File {
            key: Box::new(key),
            certificate: None,
        }
    }

    /// Signs with `key`, presenting `certificate` (which must certify it).
    pub fn with_certificate(
        key: PrivateKey,
        certificate: Certificate,
    ) -> Result<Self, SignerError> {
        if certificate.public_key() != key.public_key().key_data() {
            return Err(SignerError::Sign(
                "the certificate is for another key".into(),
            ));
        }
        Ok(Signer::File {
            key: Box::new(key),
            certificate: Some(Box::new(certificate)),
        })
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
        // The agent's certificate for the key, if it holds one (`ssh-add`
        // loads `key-cert.pub` with the key).
        let certificate = ids.into_iter().find_map(|id| match id {
            ssh_agent_client_rs::Identity::Certificate(c)
                if c.public_key() == public.key_data() =>
            {
                Some(Box::new(c.into_owned()))
            }
            _ => None,
        });
        Ok(Signer::Agent {
            socket: socket.to_owned(),
            public,
            certificate,
        })
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            Signer::File { key, .. } => key.public_key().clone(),
            Signer::Agent { public, .. } => public.clone(),
        }
    }

    pub fn fingerprint(&self) -> String {
        super::fingerprint(&self.public_key())
    }

    /// The certificate presented with each signature, if any.
    pub fn certificate(&self) -> Option<&Certificate> {
        match self {
            Signer::File { certificate, .. } | Signer::Agent { certificate, .. } => {
                certificate.as_deref()
            }
        }
    }

    /// An armored SSHSIG over `msg` in `namespace`.
    pub fn sign(&self, namespace: &str, msg: &[u8]) -> Result<String, SignerError> {
        let sig = match self {
            Signer::File { key, .. } => key
                .sign(namespace, HashAlg::Sha512, msg)
                .map_err(|e| SignerError::Sign(e.to_string()))?,
            Signer::Agent { socket, public, .. } => {
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
        let cert = self.certificate();
        if cert.is_some() || super::is_hardware(&self.public_key()) {
            return super::sshsig::armor(&sig, cert).map_err(|e| SignerError::Sign(e.to_string()));
        }
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
        assert_eq!(k.key, s.public_key());
        assert!(k.certificate.is_none());
        assert_eq!(
            crate::signing::verify(&sig, b"payloaD", crate::signing::NS_DECISION).err(),
            Some(crate::signing::SigError::Invalid)
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
