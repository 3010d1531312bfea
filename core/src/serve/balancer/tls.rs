//! TLS termination: the service's certificate chain and key, read from PEM files
//! into a rustls server configuration.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::{BalancerError, TlsFiles};

fn file_error(path: &Path, what: &'static str, detail: impl ToString) -> BalancerError {
    BalancerError::TlsFile {
        path: path.to_path_buf(),
        what,
        detail: detail.to_string(),
    }
}

/// The acceptor for `files`: the certificate file holds the chain (the
/// service's certificate first), the key file one private key (PKCS#8, PKCS#1
/// or SEC1). HTTP/1.1 only, offered by ALPN.
pub(super) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, BalancerError> {
    let cert_pem = std::fs::read(&files.certfile)
        .map_err(|e| file_error(&files.certfile, "certificate", e))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(&files.certfile, "certificate", format!("not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(file_error(
            &files.certfile,
            "certificate",
            "holds no PEM certificate",
        ));
    }
    let key_pem =
        std::fs::read(&files.keyfile).map_err(|e| file_error(&files.keyfile, "key", e))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        file_error(
            &files.keyfile,
            "key",
            format!("holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })?;
    let pair_error = |e: rustls::Error| BalancerError::TlsPair {
        certfile: files.certfile.clone(),
        keyfile: files.keyfile.clone(),
        detail: e.to_string(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(pair_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(pair_error)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
