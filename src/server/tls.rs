//! HTTPS: the certificate chain and its key (PEM files), loaded when the
//! server starts and loaded again by `reload` when they change.

use axum_server::tls_rustls::RustlsConfig;
use std::path::PathBuf;

/// The certificate chain and key a server serves HTTPS with.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// The configuration the files make, or why they make none.
    pub async fn load(&self) -> Result<RustlsConfig, String> {
        RustlsConfig::from_pem_file(&self.cert, &self.key)
            .await
            .map_err(|e| {
                format!(
                    "cannot use certificate {} with key {}: {e}",
                    self.cert.display(),
                    self.key.display()
                )
            })
    }
}
