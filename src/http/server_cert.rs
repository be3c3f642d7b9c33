//! The certificate and key a server presents, re-readable while it serves.
//!
//! Owns: [`ServerCertificate`], a rustls [`ResolvesServerCert`] over one [`CertifiedKey`]
//! swapped whole when the files are read again (SIGHUP): every new handshake gets the
//! certificate in place when it starts, while connections already open keep the one they
//! negotiated, untouched. A pair that fails to load (a file missing or unreadable, no
//! certificate, a key that does not match the certificate) is refused as a whole, and the pair
//! in use stays. Does not own: the rest of the TLS configuration (`tls`), nor client
//! certificates, which a verifier on the same configuration checks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::tls::{crypto_provider, load_certificates, load_private_key, TlsSetupError};

/// A server's certificate chain and key, from two PEM files, swappable.
pub struct ServerCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ServerCertificate {
    // The key stays out: only where it came from is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("cert", &self.cert_path)
            .field("key", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ServerCertificate {
    /// Reads the pair; any problem is an error (start-up stops on it).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, TlsSetupError> {
        let certified = read_pair(cert_path, key_path)?;
        Ok(Arc::new(ServerCertificate {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: RwLock::new(Arc::new(certified)),
        }))
    }

    /// Reads the same two files again and, if they make a good pair, presents it from the next
    /// handshake on; otherwise keeps the pair in use and says why.
    pub fn reload(&self) -> Result<(), TlsSetupError> {
        let certified = Arc::new(read_pair(&self.cert_path, &self.key_path)?);
        match self.current.write() {
            Ok(mut current) => *current = certified,
            // A panic elsewhere while swapping: the lock's content is still a whole pair.
            Err(poisoned) => *poisoned.into_inner() = certified,
        }
        Ok(())
    }

    /// The certificate file, for messages.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A certificate chain and its private key, checked to belong together.
fn read_pair(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsSetupError> {
    let certs = load_certificates(cert_path)?;
    let key = load_private_key(key_path)?;
    let signing_key = crypto_provider()
        .key_provider
        .load_private_key(key)
        .map_err(TlsSetupError::Rustls)?;
    let certified = CertifiedKey::new(certs, signing_key);
    // Strict, unlike rustls' own loader, which lets a pair it cannot compare through: a pair
    // that does not provably match would fail every handshake.
    certified.keys_match().map_err(TlsSetupError::Rustls)?;
    Ok(certified)
}
