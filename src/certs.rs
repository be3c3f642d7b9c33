//! Development certificates: a private CA, a server certificate it signs directly, and client
//! certificates it signs for mTLS (RFC 8705).
//!
//! Owns: `oauth-server gen-certs` and the demo's first-run set-up. The server certificate is
//! valid for `localhost`, `127.0.0.1` and `::1`; clients trust `ca.pem` alone. The CA's key is
//! kept in `ca.key` so that client certificates can be made later ([`generate_client`]:
//! `ID.pem` and `ID.key`, subject `CN=ID`, for TLS client authentication only, checked to
//! chain to `ca.pem` before they are written). Existing files are never overwritten unless
//! asked (`force`), and nothing is written if any of them exists (a link counts, even one that
//! points nowhere). Each file is replaced atomically, never written through a link planted at
//! its name; private keys are 0600 whatever was there before, the certificates 0644. Does not
//! own: loading certificates for serving (see the transport's `server_tls_config`) or how
//! files are replaced (see [`crate::files`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::files::{self, FileError, OWNER_ONLY};

pub const CA_FILE: &str = "ca.pem";
pub const CERT_FILE: &str = "server.pem";
pub const KEY_FILE: &str = "server.key";
/// The development CA's private key, for signing client certificates later.
pub const CA_KEY_FILE: &str = "ca.key";

/// The subject of the development CA.
const CA_NAME: &str = "tollgate development CA";

/// Why certificates were not written.
#[derive(Debug, thiserror::Error)]
pub enum GenCertsError {
    #[error(
        "{} already exists; nothing was written (use --force to replace the certificates)",
        .0.display()
    )]
    Exists(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    File(#[from] FileError),
    #[error("cannot make a certificate: {0}")]
    Rcgen(#[source] rcgen::Error),
    /// A client id that cannot name a certificate file.
    #[error("client {0:?}: use 1-64 characters of A-Za-z0-9._- not starting with a dot")]
    BadClientName(String),
    /// The CA's key is missing, unreadable or does not match `ca.pem`.
    #[error("{}: {detail}", path.display())]
    BadCa { path: PathBuf, detail: String },
}

/// Whether all three files are already in `dir`.
pub fn exist(dir: &Path) -> bool {
    [CA_FILE, CERT_FILE, KEY_FILE]
        .iter()
        .all(|name| dir.join(name).exists())
}

/// Writes `ca.pem`, `server.pem` and `server.key` into `dir` (created if needed).
pub fn generate(dir: &Path, force: bool) -> Result<(), GenCertsError> {
    let paths = [CA_FILE, CERT_FILE, KEY_FILE].map(|name| dir.join(name));
    if !force {
        if let Some(existing) = paths.iter().find(|p| fs::symlink_metadata(p).is_ok()) {
            return Err(GenCertsError::Exists(existing.clone()));
        }
    }

    let ca_key = KeyPair::generate().map_err(GenCertsError::Rcgen)?;
    let ca_cert = ca_certificate(&ca_key)?;

    let names = ["localhost", "127.0.0.1", "::1"]
        .map(str::to_owned)
        .to_vec();
    let server = ExtendedKeyUsagePurpose::ServerAuth;
    let (server_cert, server_key) = signed_leaf(names, "localhost", server, &ca_cert, &ca_key)?;

    fs::create_dir_all(dir).map_err(|source| GenCertsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    // The keys first and the CA last: a reader that finds ca.pem finds a complete set.
    write_file(
        &dir.join(CA_KEY_FILE),
        ca_key.serialize_pem().as_bytes(),
        OWNER_ONLY,
    )?;
    write_file(&paths[2], server_key.serialize_pem().as_bytes(), OWNER_ONLY)?;
    write_file(&paths[1], server_cert.pem().as_bytes(), PUBLIC)?;
    write_file(&paths[0], ca_cert.pem().as_bytes(), PUBLIC)?;
    Ok(())
}

/// The CA certificate of `ca_key`: the same subject and key identifier whenever it is made,
/// so certificates it signs chain to the `ca.pem` written first.
fn ca_certificate(ca_key: &KeyPair) -> Result<rcgen::Certificate, GenCertsError> {
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(GenCertsError::Rcgen)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name = name(CA_NAME);
    ca_params.self_signed(ca_key).map_err(GenCertsError::Rcgen)
}

/// A new key and a certificate for it, subject `CN=common_name`, valid for `names` and for
/// `usage` only, signed by the CA.
fn signed_leaf(
    names: Vec<String>,
    common_name: &str,
    usage: ExtendedKeyUsagePurpose,
    ca_cert: &rcgen::Certificate,
    ca_key: &KeyPair,
) -> Result<(rcgen::Certificate, KeyPair), GenCertsError> {
    let mut params = CertificateParams::new(names).map_err(GenCertsError::Rcgen)?;
    params.distinguished_name = name(common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().map_err(GenCertsError::Rcgen)?;
    let cert = params
        .signed_by(&key, ca_cert, ca_key)
        .map_err(GenCertsError::Rcgen)?;
    Ok((cert, key))
}

/// Whether `dir` holds a client certificate and key for `client`.
pub fn client_exists(dir: &Path, client: &str) -> bool {
    let (cert, key) = client_paths(dir, client);
    cert.exists() && key.exists()
}

/// `DIR/ID.pem` and `DIR/ID.key`.
pub fn client_paths(dir: &Path, client: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{client}.pem")),
        dir.join(format!("{client}.key")),
    )
}

/// Writes a client certificate for `client` (subject `CN=client`, extended key usage
/// `clientAuth`) signed by the CA in `dir` (`ca.pem`, `ca.key`), and its key: `DIR/ID.pem`
/// (0644) and `DIR/ID.key` (0600). Returns their paths.
pub fn generate_client(
    dir: &Path,
    client: &str,
    force: bool,
) -> Result<(PathBuf, PathBuf), GenCertsError> {
    let valid = !client.is_empty()
        && client.len() <= 64
        && !client.starts_with('.')
        && client
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !["ca", "server"].contains(&client);
    if !valid {
        return Err(GenCertsError::BadClientName(client.to_owned()));
    }
    let (cert_path, key_path) = client_paths(dir, client);
    if !force {
        if let Some(existing) = [&cert_path, &key_path]
            .into_iter()
            .find(|p| fs::symlink_metadata(p).is_ok())
        {
            return Err(GenCertsError::Exists(existing.clone()));
        }
    }
    let ca_key_path = dir.join(CA_KEY_FILE);
    let bad_ca = |path: &Path, detail: String| GenCertsError::BadCa {
        path: path.to_owned(),
        detail,
    };
    let ca_key_pem = fs::read_to_string(&ca_key_path).map_err(|e| {
        bad_ca(
            &ca_key_path,
            format!(
                "{e} (certificates made before client certificates existed: run gen-certs --force)"
            ),
        )
    })?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| bad_ca(&ca_key_path, e.to_string()))?;
    let ca_cert = ca_certificate(&ca_key)?;

    let usage = ExtendedKeyUsagePurpose::ClientAuth;
    let (cert, key) = signed_leaf(Vec::new(), client, usage, &ca_cert, &ca_key)?;
    let ca_path = dir.join(CA_FILE);
    chains_to(&ca_path, cert.der()).map_err(|detail| bad_ca(&ca_key_path, detail))?;
    write_file(&key_path, key.serialize_pem().as_bytes(), OWNER_ONLY)?;
    write_file(&cert_path, cert.pem().as_bytes(), PUBLIC)?;
    Ok((cert_path, key_path))
}

/// Whether `cert` chains to the CA in `ca_path` as a client certificate: a `ca.key` that does
/// not belong to `ca.pem` must not yield certificates nobody will accept.
fn chains_to(ca_path: &Path, cert: &rustls::pki_types::CertificateDer<'_>) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls::pki_types::CertificateDer::pem_file_iter(ca_path)
        .map_err(|e| format!("cannot read {}: {e}", ca_path.display()))?
    {
        let ca = ca.map_err(|e| format!("cannot read {}: {e}", ca_path.display()))?;
        roots.add(ca).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
            .build()
            .map_err(|e| e.to_string())?;
    verifier
        .verify_client_cert(cert, &[], rustls::pki_types::UnixTime::now())
        .map(|_| ())
        .map_err(|e| format!("does not sign for {}: {e}", ca_path.display()))
}

/// Permission bits of the certificates: anyone may read them.
const PUBLIC: u32 = 0o644;

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), GenCertsError> {
    files::replace(path, mode, &mut |file| file.write_all(contents))?;
    Ok(())
}
