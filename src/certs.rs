//! Development certificates: a private CA and a server certificate it signs directly.
//!
//! Owns: `oauth-server gen-certs` and the demo's first-run set-up. The server certificate is
//! valid for `localhost`, `127.0.0.1` and `::1`; clients trust `ca.pem` alone. Existing files are
//! never overwritten unless asked (`force`), and nothing is written if any of them exists (a
//! link counts, even one that points nowhere). Each file is replaced atomically, never written
//! through a link planted at its name; the private key is 0600 whatever was there before, the
//! certificates 0644. Does not own: loading certificates for serving (see the transport's
//! `server_tls_config`) or how files are replaced (see [`crate::files`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::files::{self, FileError, OWNER_ONLY};

pub const CA_FILE: &str = "ca.pem";
pub const CERT_FILE: &str = "server.pem";
pub const KEY_FILE: &str = "server.key";

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

    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(GenCertsError::Rcgen)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name = name("tollgate development CA");
    let ca_key = KeyPair::generate().map_err(GenCertsError::Rcgen)?;
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(GenCertsError::Rcgen)?;

    let mut server_params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(GenCertsError::Rcgen)?;
    server_params.distinguished_name = name("localhost");
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().map_err(GenCertsError::Rcgen)?;
    let server_cert = server_params
        .signed_by(&server_key, &ca_cert, &ca_key)
        .map_err(GenCertsError::Rcgen)?;

    fs::create_dir_all(dir).map_err(|source| GenCertsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    // The key first and the CA last: a reader that finds ca.pem finds a complete set.
    write_file(&paths[2], server_key.serialize_pem().as_bytes(), OWNER_ONLY)?;
    write_file(&paths[1], server_cert.pem().as_bytes(), PUBLIC)?;
    write_file(&paths[0], ca_cert.pem().as_bytes(), PUBLIC)?;
    Ok(())
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
