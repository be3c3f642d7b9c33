//! Client certificates on the TLS listener: asked for, never required (RFC 8446 §4.3.2,
//! RFC 5246 §7.4.4), and handed to the service as a request extension.
//!
//! Owns: the listener's verifier when certificates are asked for, which accepts any
//! certificate at the TLS layer (one that chains to nothing, too: a self-signed client is
//! known by its certificate alone) but still checks the handshake signature, so a peer that
//! presents a certificate holds its private key; [`ClientCertificate`], the chain a connection
//! presented with its leaf's SHA-256, put in every request's extensions; [`ClientCa`], the
//! chain check against a configured CA (validity, `clientAuth` usage), for the service that
//! needs it, when it needs it, its verdict kept with the connection's certificate for
//! [`VERDICT_TTL`] (a chain check is a signature verification: a keep-alive connection of a
//! `tls_client_auth` client must not pay it on every request). Does not own: what a
//! certificate means to a service (which client it authenticates, which tokens it may carry):
//! the roles decide, this layer knows no OAuth.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::tls::{crypto_provider, load_certificates, TlsSetupError};

/// The certificate chain the peer of a connection presented in its TLS handshake, leaf first.
/// Cheap to clone (one per connection, shared by its requests). Certificates are public:
/// `Debug` shows the leaf's SHA-256 only, for brevity.
#[derive(Clone)]
pub struct ClientCertificate(Arc<Presented>);

struct Presented {
    chain: Vec<CertificateDer<'static>>,
    /// SHA-256 of the leaf's DER, made once per connection (RFC 8705 §3.1 binds tokens to it).
    leaf_sha256: [u8; 32],
    /// The last [`ClientCa::issued`] verdict on this chain: which CA, when, and what it said.
    verdict: Mutex<Option<(u64, Instant, bool)>>,
}

/// How long a chain verdict is reused on one connection: a certificate that expires while its
/// connection is open is refused at most this much later.
pub const VERDICT_TTL: Duration = Duration::from_secs(60);

impl ClientCertificate {
    /// The chain a peer presented, or `None` for an empty one (no certificate).
    pub fn from_chain(chain: Vec<CertificateDer<'static>>) -> Option<ClientCertificate> {
        let leaf = chain.first()?;
        let digest = ring::digest::digest(&ring::digest::SHA256, leaf.as_ref());
        let mut leaf_sha256 = [0u8; 32];
        leaf_sha256.copy_from_slice(digest.as_ref());
        Some(ClientCertificate(Arc::new(Presented {
            chain,
            leaf_sha256,
            verdict: Mutex::new(None),
        })))
    }

    /// The peer's own certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `from_chain` refuses an empty chain.
        &self.0.chain[0]
    }

    /// The certificates the peer sent after its own, in its order.
    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.0.chain[1..]
    }

    /// SHA-256 of the leaf's DER encoding.
    pub fn leaf_sha256(&self) -> &[u8; 32] {
        &self.0.leaf_sha256
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: String = self
            .0
            .leaf_sha256
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        f.debug_struct("ClientCertificate")
            .field("leaf_sha256", &hex)
            .field("chain", &self.0.chain.len())
            .finish()
    }
}

/// The CA that issues client certificates: answers whether a presented chain leads to it.
#[derive(Clone)]
pub struct ClientCa {
    verifier: Arc<dyn ClientCertVerifier>,
    origin: String,
    /// Tells this CA (and its clones) from every other loaded in the process, for the
    /// verdicts kept with certificates.
    id: u64,
}

impl fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCa")
            .field("origin", &self.origin)
            .finish()
    }
}

impl ClientCa {
    /// The CA certificate(s) in the PEM file `path`.
    pub fn load(path: &Path) -> Result<ClientCa, TlsSetupError> {
        let origin = path.display().to_string();
        let mut roots = rustls::RootCertStore::empty();
        for cert in load_certificates(path)? {
            roots.add(cert).map_err(|e| TlsSetupError::BadCertificate {
                path: origin.clone(),
                detail: e.to_string(),
            })?;
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto_provider())
                .build()
                .map_err(|e| TlsSetupError::BadCertificate {
                    path: origin.clone(),
                    detail: e.to_string(),
                })?;
        static LOADED: AtomicU64 = AtomicU64::new(0);
        let id = LOADED.fetch_add(1, Ordering::Relaxed);
        Ok(ClientCa {
            verifier,
            origin,
            id,
        })
    }

    /// Whether `cert` chains to this CA now: signatures along the chain, validity periods,
    /// and the `clientAuth` extended key usage wherever one is stated. Checked at most once
    /// per `VERDICT_TTL` for the certificate of one connection.
    pub fn issued(&self, cert: &ClientCertificate) -> bool {
        let ca = self.id;
        let now = Instant::now();
        if let Ok(verdict) = cert.0.verdict.lock() {
            if let Some((of, at, issued)) = *verdict {
                if of == ca && now.duration_since(at) < VERDICT_TTL {
                    return issued;
                }
            }
        }
        let issued = self
            .verifier
            .verify_client_cert(cert.leaf(), cert.intermediates(), UnixTime::now())
            .is_ok();
        if let Ok(mut verdict) = cert.0.verdict.lock() {
            *verdict = Some((ca, now, issued));
        }
        issued
    }
}

/// The verifier of a listener that asks for client certificates: see the module doc.
#[derive(Debug)]
pub(super) struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyClientCertificate {
    pub(super) fn new() -> Arc<AnyClientCertificate> {
        Arc::new(AnyClientCertificate {
            algorithms: crypto_provider().signature_verification_algorithms,
        })
    }
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // Secret and assertion clients, and callers with unbound tokens, have no certificate.
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // An empty list means "any certificate" (RFC 8446 §4.2.4): self-signed ones too.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Trust is the service's decision (a CA's chain for one client, a registered
        // thumbprint for another); possession of the key is checked below, and a certificate
        // that cannot be parsed fails there.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_chain_is_no_certificate_and_the_leaf_hash_is_of_the_first() {
        assert!(ClientCertificate::from_chain(Vec::new()).is_none());
        let leaf = CertificateDer::from(b"abc".to_vec());
        let cert = ClientCertificate::from_chain(vec![leaf, CertificateDer::from(b"ca".to_vec())])
            .unwrap();
        assert_eq!(cert.leaf().as_ref(), b"abc");
        assert_eq!(cert.intermediates().len(), 1);
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert!(format!("{cert:?}")
            .contains("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    }
}
