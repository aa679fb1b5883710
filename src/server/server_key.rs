//! The server's own SSH key, which signs audit checkpoints. Created at first
//! start if absent (ed25519, mode 0600, with a `.pub` beside it).

use ssh_key::{Algorithm, LineEnding, PrivateKey};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ServerKeyError {
    #[error("server key {path}: {message}")]
    Key { path: String, message: String },
}

/// Reads an existing key; never creates one.
pub fn load(path: &Path) -> Result<PrivateKey, ServerKeyError> {
    if !path.exists() {
        return Err(ServerKeyError::Key {
            path: path.display().to_string(),
            message: "does not exist".into(),
        });
    }
    load_or_create(path)
}

pub fn load_or_create(path: &Path) -> Result<PrivateKey, ServerKeyError> {
    let err = |message: String| ServerKeyError::Key {
        path: path.display().to_string(),
        message,
    };
    if path.exists() {
        let key = PrivateKey::read_openssh_file(path).map_err(|e| err(e.to_string()))?;
        if key.is_encrypted() {
            return Err(err(
                "is encrypted; the server needs an unencrypted key".into()
            ));
        }
        return Ok(key);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create directory: {e}")))?;
    }
    let key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519)
        .map_err(|e| err(e.to_string()))?;
    // ssh-key writes private keys with mode 0600.
    key.write_openssh_file(path, LineEnding::LF)
        .map_err(|e| err(format!("cannot write: {e}")))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| err(e.to_string()))?;
    let pub_path = path.with_extension("pub");
    std::fs::write(&pub_path, format!("{public} countersign-server\n"))
        .map_err(|e| err(format!("cannot write {}: {e}", pub_path.display())))?;
    Ok(key)
}

/// Reads a public key from a `.pub` file, or derives it from a private key
/// file, so `audit verify --server-key` takes either.
pub fn read_public(path: &Path) -> Result<ssh_key::PublicKey, ServerKeyError> {
    let err = |message: String| ServerKeyError::Key {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    if let Ok(k) = ssh_key::PublicKey::from_openssh(text.trim()) {
        return Ok(k);
    }
    PrivateKey::from_openssh(&text)
        .map(|k| k.public_key().clone())
        .map_err(|e| err(format!("neither a public nor a private OpenSSH key: {e}")))
}
