//! TLS to PostgreSQL. The URL says it the way libpq does:
//! `sslmode=require` or `sslmode=verify-full` (both verify the server's
//! certificate chain and name: a connection that can be intercepted is not
//! worth encrypting) and `sslrootcert=FILE` for a private CA (else the
//! system's roots). Without `sslmode` the connection is plain, as before;
//! `sslmode=disable` says so explicitly.

use crate::server::store::StoreError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::str::FromStr;
use std::sync::Arc;
use tokio_postgres::Config;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where to connect and how.
pub struct Target {
    pub config: Config,
    pub tls: MakeRustlsConnect,
}

fn bad(message: String) -> StoreError {
    StoreError::Unavailable(format!("bad PostgreSQL URL: {message}"))
}

/// Parses a `postgres://` URL, taking out what tokio-postgres does not read
/// (`sslrootcert`, the `verify-*` modes) and building the TLS connector.
pub fn target(url: &str) -> Result<Target, StoreError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = None;
    let mut root_cert = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => mode = Some(v.to_owned()),
            "sslrootcert" => root_cert = Some(v.to_owned()),
            _ => rest.push(pair),
        }
    }
    let plain = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config = Config::from_str(&plain).map_err(|e| bad(e.to_string()))?;
    let ssl = match mode.as_deref() {
        None | Some("disable") => SslMode::Disable,
        Some("require" | "verify-ca" | "verify-full") => SslMode::Require,
        Some(other) => {
            return Err(bad(format!(
                "sslmode={other}: use disable, require or verify-full (require verifies the certificate too)"
            )));
        }
    };
    config.ssl_mode(ssl);
    let roots = roots(root_cert.as_deref())?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Internal(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Target {
        config,
        tls: MakeRustlsConnect::new(client),
    })
}

/// The CA file's certificates, or the system's roots.
fn roots(ca: Option<&str>) -> Result<rustls::RootCertStore, StoreError> {
    let mut store = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| bad(format!("sslrootcert={path}: {e}")))?;
            if certs.is_empty() {
                return Err(bad(format!("sslrootcert={path}: no certificate in it")));
            }
            for c in certs {
                store
                    .add(c)
                    .map_err(|e| bad(format!("sslrootcert={path}: {e}")))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_options() {
        let t = target("postgres://u@h/db").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        let t = target("postgres://u@h/db?sslmode=verify-full&application_name=x").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(t.config.get_application_name(), Some("x"));
        let e = target("postgres://u@h/db?sslmode=allow").err().unwrap();
        assert!(e.to_string().contains("sslmode=allow"), "{e}");
        let e = target("postgres://u@h/db?sslmode=require&sslrootcert=/nope.pem")
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nope.pem"), "{e}");
    }
}
