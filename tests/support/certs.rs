//! Certificates and temporary directories: the development certificates of a test binary are
//! made once ([`certs`]); a test that needs a second, unrelated CA makes one with
//! [`Certs::generate`].

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
