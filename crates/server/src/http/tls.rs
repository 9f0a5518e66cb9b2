//! HTTPS: a given certificate and key, or a self-signed pair generated once in the data folder.
//!
//! The official SDKs refuse plain HTTP, so a developer starts `b24lite serve --tls`, then points
//! `REQUESTS_CA_BUNDLE` (Python) or `NODE_EXTRA_CA_CERTS` (Node) at the printed certificate.

use std::path::{Path, PathBuf};

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;

/// The certificate and key files to serve, generating a self-signed pair when none are given.
/// Returns `(certificate, key)`.
pub fn ensure_certificate(
    data_dir: &Path,
    given: Option<(PathBuf, PathBuf)>,
    hosts: &[String],
) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let Some(pair) = given {
        return Ok(pair);
    }
    let dir = data_dir.join("tls");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    names.extend(
        hosts
            .iter()
            .filter(|h| !names.contains(h))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let certified =
        rcgen::generate_simple_self_signed(names).context("generating a certificate")?;
    std::fs::write(&cert_path, certified.cert.pem())?;
    std::fs::write(&key_path, certified.signing_key.serialize_pem())?;
    Ok((cert_path, key_path))
}

/// Makes ring the process's TLS crypto provider (for the server and the outbound HTTP client).
/// Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub async fn rustls_config(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "loading TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })
}
