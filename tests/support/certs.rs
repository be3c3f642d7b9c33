//! Certificates and temporary directories: the development certificates of a test binary are
//! made once ([`certs`]); a test that needs a second, unrelated CA makes one with
//! [`Certs::generate`]; client certificates (RFC 8705) come from a CA ([`Certs::client`]) or
//! sign themselves ([`self_signed`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

/// A fresh, empty directory under the system temp dir, unique within this process.
pub fn temp_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tollgate-it-{}-{label}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A CA, a server certificate it signs (for `localhost`, 127.0.0.1 and ::1) and its key.
#[derive(Clone)]
pub struct Certs {
    pub dir: PathBuf,
    tls: Arc<rustls::ServerConfig>,
}

impl Certs {
    /// Generates a new set in a fresh temporary directory.
    pub fn generate(label: &str) -> Certs {
        let dir = temp_dir(label);
        tollgate::certs::generate(&dir, false).expect("generate certificates");
        let tls = tollgate::http::server_tls_config(
            &dir.join(tollgate::certs::CERT_FILE),
            &dir.join(tollgate::certs::KEY_FILE),
        )
        .expect("server TLS config");
        Certs { dir, tls }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join(tollgate::certs::CA_FILE)
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join(tollgate::certs::CERT_FILE)
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join(tollgate::certs::KEY_FILE)
    }

    /// The server configuration of the library (ALPN `h2`, `http/1.1`), loaded once.
    pub fn server_tls(&self) -> Arc<rustls::ServerConfig> {
        self.tls.clone()
    }

    /// A new client certificate this CA signs, subject `CN=NAME` where NAME is `label` made
    /// unique within the process (the subject is [`ClientCert::dn`]).
    pub fn client(&self, label: &str) -> ClientCert {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!("{label}-{}", COUNTER.fetch_add(1, Ordering::Relaxed));
        let (cert, key) =
            tollgate::certs::generate_client(&self.dir, &name, false).expect("client certificate");
        ClientCert::read(cert, key, format!("CN={name}"))
    }
}

/// A client certificate and its key, in PEM files.
#[derive(Clone, Debug)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The leaf's DER.
    pub der: Vec<u8>,
    /// The subject, as RFC 4514 writes it.
    pub dn: String,
}

impl ClientCert {
    fn read(cert: PathBuf, key: PathBuf, dn: String) -> ClientCert {
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_file(&cert)
            .expect("read the client certificate")
            .to_vec();
        ClientCert { cert, key, der, dn }
    }

    /// `x5t#S256`: base64url of the SHA-256 of the DER (RFC 8705 §3.1).
    pub fn x5t(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tollgate::secret::sha256(&self.der))
    }
}

/// A new self-signed client certificate (`CN=label`) in a fresh directory.
pub fn self_signed(label: &str) -> ClientCert {
    let dir = temp_dir(label);
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, label);
    params.distinguished_name = dn;
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed certificate");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("cert.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write the certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("write the key");
    ClientCert::read(cert_path, key_path, format!("CN={label}"))
}

/// The certificates of this test binary, generated on first use. Also silences the access log
/// on stderr (capturing still works): test binaries answer thousands of requests.
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        tollgate::access_log::discard_output();
        Certs::generate("certs")
    })
}
