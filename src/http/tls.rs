//! TLS configuration for both directions, with ring as the one crypto provider.
//!
//! Owns: reading PEM certificates and private keys (one loader, one error type), the server
//! configuration (TLS 1.3 and 1.2, ALPN `h2` then `http/1.1`, its certificate from a
//! swappable [`ServerCertificate`]; optionally asking every client for a certificate, see
//! `client_cert`) and the client configuration (TLS 1.3 and 1.2, trusting exactly the CA
//! certificates it is given, never the system's or a "danger" verifier; optionally presenting
//! a [`ClientIdentity`]). Does not own: sockets or handshakes (`server`, [`super::outbound`]),
//! nor what a client certificate proves (`client_cert`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::client_cert::AnyClientCertificate;
use super::ServerCertificate;

/// Why a TLS configuration could not be made, naming the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The file could not be read or holds no valid PEM of the wanted kind.
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: pem::Error },
    /// The file holds no certificate.
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    /// A CA certificate that cannot be a trust anchor.
    #[error("{path} holds an unusable CA certificate: {detail}")]
    BadCertificate { path: String, detail: String },
    /// rustls refused the configuration (a key that does not match its certificate, say).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[source] rustls::Error),
}

/// The crypto provider of every TLS configuration in tollgate: ring, chosen explicitly so that
/// no second provider can be compiled in or picked by default.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file, at least one.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let shown = || path.display().to_string();
    let read_err = |source| TlsSetupError::Read {
        path: shown(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate { path: shown() });
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsSetupError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A server configuration from a PEM certificate chain and private key, offering TLS 1.3 and
/// 1.2 and ALPN `h2`, `http/1.1`.
pub fn server_tls_config(
    cert_path: &Path,
    key_path: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    server_tls(ServerCertificate::load(cert_path, key_path)?, false)
}

/// [`server_tls_config`] that, when `ask_client_certificates`, asks every client for a
/// certificate and never requires one; a certificate presented reaches the service as a
/// [`ClientCertificate`](super::ClientCertificate) request extension.
pub fn server_tls_config_with(
    cert_path: &Path,
    key_path: &Path,
    ask_client_certificates: bool,
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    server_tls(
        ServerCertificate::load(cert_path, key_path)?,
        ask_client_certificates,
    )
}

/// A server configuration presenting `certificate` (re-readable, see [`ServerCertificate`]),
/// offering TLS 1.3 and 1.2 and ALPN `h2`, `http/1.1`; asking every client for a certificate
/// (never requiring one) when `ask_client_certificates`.
pub fn server_tls(
    certificate: Arc<ServerCertificate>,
    ask_client_certificates: bool,
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let builder = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsSetupError::Rustls)?;
    let builder = if ask_client_certificates {
        builder.with_client_cert_verifier(AnyClientCertificate::new())
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_cert_resolver(certificate);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate chain and its private key that a client presents to the servers it calls.
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// Names the files' contents by size only: the key is a secret.
impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// The chain in the PEM file `cert_path` (leaf first) and the key in `key_path` (PKCS#8,
    /// PKCS#1 or SEC1).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<ClientIdentity, TlsSetupError> {
        Ok(ClientIdentity {
            chain: load_certificates(cert_path)?,
            key: load_private_key(key_path)?,
        })
    }

    /// The leaf certificate, as presented.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `load_certificates` never returns an empty chain.
        &self.chain[0]
    }
}

/// A client configuration trusting only `ca_certs`; `origin` names where they came from in
/// errors. ALPN is left to the connector, which offers what it can speak. With `identity`, its
/// certificate is presented to every server that asks for one.
pub fn client_tls_config(
    origin: &str,
    ca_certs: Vec<CertificateDer<'static>>,
    identity: Option<ClientIdentity>,
) -> Result<rustls::ClientConfig, TlsSetupError> {
    if ca_certs.is_empty() {
        return Err(TlsSetupError::NoCertificate {
            path: origin.to_owned(),
        });
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in ca_certs {
        roots.add(cert).map_err(|e| TlsSetupError::BadCertificate {
            path: origin.to_owned(),
            detail: e.to_string(),
        })?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsSetupError::Rustls)?
        .with_root_certificates(roots);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some(identity) => builder
            .with_client_auth_cert(identity.chain, identity.key)
            .map_err(TlsSetupError::Rustls),
    }
}
