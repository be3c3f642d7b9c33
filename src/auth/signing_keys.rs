//! The authorization server's signing keys: a directory of PKCS#8 PEM files, one key each.
//!
//! Owns: `gen-signing-key` (a new ES256 or EdDSA key, written 0600 into a 0700 directory, never
//! over an existing file) and reading the directory back into [`SigningKeys`]: the key created
//! last signs new tokens, and every key is published in the JWK Set, so a new key can be added
//! and an old one removed once the longest token lifetime has passed without breaking anyone.
//! Files are named `UTCSTAMP-KID.pem` (`20261201T094512.123456789Z-<kid>.pem`): the stamp gives
//! the creation order whatever the kid, and the kid is the key's RFC 7638 thumbprint (checked
//! against the key when loading, so a renamed file cannot publish a key under another kid).
//! Does not own: JWS itself (see [`crate::oauth::jose`]) or when the directory is re-read (the
//! binary does that on SIGHUP).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::access_log::civil_from_days;
use crate::oauth::jose::{Algorithm, KeyError, SigningKey, VerifyingKeySet, MAX_KEYS_IN_SET};

/// Why the keys directory could not be used, naming the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeysError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    #[error(
        "{} holds no signing key; make one with `oauth-server gen-signing-key --keys {}`",
        .0.display(), .0.display()
    )]
    NoKeys(PathBuf),
    #[error("{}: {source}", path.display())]
    BadKey { path: PathBuf, source: KeyError },
    #[error(
        "{} is not named like a key gen-signing-key wrote (UTCSTAMP-KID.pem)",
        .0.display()
    )]
    BadName(PathBuf),
    #[error("{} is named for kid {named} but holds the key with thumbprint {actual}", path.display())]
    KidMismatch {
        path: PathBuf,
        named: String,
        actual: String,
    },
    #[error("{} holds more than {MAX_KEYS_IN_SET} keys", .0.display())]
    TooMany(PathBuf),
    #[error("only ES256 and EdDSA keys can be generated here, not {0}")]
    CannotGenerate(Algorithm),
    #[error("cannot make a key: {0}")]
    Generate(#[source] KeyError),
}

/// A key `gen-signing-key` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    pub kid: String,
    pub alg: Algorithm,
    pub path: PathBuf,
}

/// The key that signs, with the kid its tokens name.
pub struct CurrentKey {
    pub key: SigningKey,
    pub kid: String,
}

/// Every key of a directory: the signing one and the published set.
pub struct SigningKeys {
    /// The key created last; `None` for a server without keys (opaque tokens only).
    current: Option<CurrentKey>,
    /// Every key's public half under its kid: what verifies our own JWTs (introspection,
    /// revocation) and what `GET /oauth/jwks` publishes.
    published: VerifyingKeySet,
    /// The JWK Set as served, rendered once per load.
    jwks: Bytes,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("signing_kid", &self.current.as_ref().map(|c| &c.kid))
            .field("published", &self.published.len())
            .finish()
    }
}

impl SigningKeys {
    /// No keys at all: a server that issues opaque tokens only.
    pub fn none() -> SigningKeys {
        let published = VerifyingKeySet::default();
        SigningKeys {
            current: None,
            jwks: Bytes::from(published.to_jwks_json()),
            published,
        }
    }

    /// The keys in `dir`, at least one; the last by file name signs.
    pub fn load(dir: &Path) -> Result<SigningKeys, SigningKeysError> {
        let io_err = |action| {
            move |source| SigningKeysError::Io {
                path: dir.to_owned(),
                action,
                source,
            }
        };
        let entries = match fs::read_dir(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SigningKeysError::NoKeys(dir.to_owned()))
            }
            entries => entries.map_err(io_err("read the keys directory"))?,
        };
        let mut files: Vec<PathBuf> = entries
            .collect::<Result<Vec<_>, _>>()
            .map_err(io_err("read the keys directory"))?
            .into_iter()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(SigningKeysError::NoKeys(dir.to_owned()));
        }
        if files.len() > MAX_KEYS_IN_SET {
            return Err(SigningKeysError::TooMany(dir.to_owned()));
        }
        let mut keys = Vec::with_capacity(files.len());
        for path in &files {
            keys.push(load_key(path)?);
        }
        let published = VerifyingKeySet::new(
            keys.iter()
                .map(|k| k.key.verifying_key().with_kid(k.kid.clone()))
                .collect(),
        )
        .map_err(|_| SigningKeysError::TooMany(dir.to_owned()))?;
        Ok(SigningKeys {
            current: keys.pop(),
            jwks: Bytes::from(published.to_jwks_json()),
            published,
        })
    }

    /// The key new tokens are signed with, if any.
    pub fn current(&self) -> Option<&CurrentKey> {
        self.current.as_ref()
    }

    /// Every published key, for verifying tokens this server issued.
    pub fn published(&self) -> &VerifyingKeySet {
        &self.published
    }

    /// The JWK Set document (public members only).
    pub fn jwks(&self) -> &Bytes {
        &self.jwks
    }

    pub fn is_empty(&self) -> bool {
        self.published.is_empty()
    }
}

/// Reads one key file and checks its name.
fn load_key(path: &Path) -> Result<CurrentKey, SigningKeysError> {
    let named = key_file_kid(path).ok_or_else(|| SigningKeysError::BadName(path.to_owned()))?;
    let pem = fs::read(path).map_err(|source| SigningKeysError::Io {
        path: path.to_owned(),
        action: "read",
        source,
    })?;
    let pem = zeroize::Zeroizing::new(pem);
    let key = SigningKey::from_pem(&pem).map_err(|source| SigningKeysError::BadKey {
        path: path.to_owned(),
        source,
    })?;
    let kid = key.thumbprint();
    if named != kid {
        return Err(SigningKeysError::KidMismatch {
            path: path.to_owned(),
            named: named.to_owned(),
            actual: kid,
        });
    }
    Ok(CurrentKey { key, kid })
}

/// The kid in a key file's name `STAMP-KID.pem`, if the name has that shape.
fn key_file_kid(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?.strip_suffix(".pem")?;
    let (stamp, kid) = name.split_once('-')?;
    let stamp_ok = stamp.len() == 26
        && stamp.ends_with('Z')
        && stamp
            .bytes()
            .all(|b| b.is_ascii_digit() || b"T.Z".contains(&b));
    (stamp_ok && !kid.is_empty()).then_some(kid)
}

/// Makes a new key in `dir` (created 0700 if missing) and writes it 0600 under a new name.
pub fn generate(dir: &Path, alg: Algorithm) -> Result<GeneratedKey, SigningKeysError> {
    if alg == Algorithm::RS256 {
        return Err(SigningKeysError::CannotGenerate(alg));
    }
    let key = SigningKey::generate(alg).map_err(SigningKeysError::Generate)?;
    let kid = key.thumbprint();
    if !dir.is_dir() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| SigningKeysError::Io {
                path: dir.to_owned(),
                action: "create the keys directory",
                source,
            })?;
    }
    let path = dir.join(format!("{}-{kid}.pem", file_stamp(SystemTime::now())));
    let io_err = |action| {
        let path = path.clone();
        move |source| SigningKeysError::Io {
            path,
            action,
            source,
        }
    };
    // create_new: O_EXCL, so an existing file (or a link planted at the name) is never
    // written through.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err("create"))?;
    let pem = key.to_pem();
    file.write_all(pem.expose().as_bytes())
        .map_err(io_err("write"))?;
    file.sync_all().map_err(io_err("sync"))?;
    Ok(GeneratedKey { kid, alg, path })
}

/// `20261201T094512.123456789Z`: sorts as the time it names, and is a file name anywhere.
fn file_stamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    /// A directory no test has used: the stamp is unique.
    fn temp_dir(name: &str) -> PathBuf {
        let stamp = file_stamp(SystemTime::now());
        std::env::temp_dir().join(format!(
            "tollgate-keys-{name}-{}-{stamp}",
            std::process::id()
        ))
    }

    #[test]
    fn stamps_sort_as_time_and_look_like_names() {
        let a = file_stamp(UNIX_EPOCH + Duration::from_millis(1_795_444_016_789));
        assert_eq!(a, "20261123T142656.789000000Z");
        let b = file_stamp(UNIX_EPOCH + Duration::from_millis(1_795_444_016_790));
        assert!(a < b);
        let name = format!("{a}-abc.pem");
        assert_eq!(key_file_kid(Path::new(&name)), Some("abc"));
        assert_eq!(key_file_kid(Path::new("mykey.pem")), None);
        assert_eq!(key_file_kid(Path::new("2026-abc.pem")), None);
    }

    #[test]
    fn generated_keys_are_private_and_the_last_one_signs() {
        let dir = temp_dir("gen").join("keys");
        let first = generate(&dir, Algorithm::ES256).unwrap();
        let second = generate(&dir, Algorithm::EdDSA).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&first.path), 0o600);
        let keys = SigningKeys::load(&dir).unwrap();
        let current = keys.current().unwrap();
        assert_eq!(current.kid, second.kid);
        assert_eq!(current.key.algorithm(), Algorithm::EdDSA);
        assert_eq!(keys.published().len(), 2);
        let jwks = String::from_utf8(keys.jwks().to_vec()).unwrap();
        assert!(jwks.contains(&first.kid) && jwks.contains(&second.kid));
        assert!(!jwks.contains("\"d\""), "no private member: {jwks}");
    }

    #[test]
    fn empty_misnamed_and_renamed_keys_are_refused() {
        let dir = temp_dir("bad");
        fs::create_dir_all(&dir).unwrap();
        assert!(matches!(
            SigningKeys::load(&dir),
            Err(SigningKeysError::NoKeys(_))
        ));
        let key = generate(&dir, Algorithm::ES256).unwrap();
        let renamed = dir.join(format!("{}-other.pem", file_stamp(SystemTime::now())));
        fs::copy(&key.path, &renamed).unwrap();
        assert!(matches!(
            SigningKeys::load(&dir),
            Err(SigningKeysError::KidMismatch { .. })
        ));
        fs::remove_file(&renamed).unwrap();
        fs::write(dir.join("mine.pem"), b"x").unwrap();
        assert!(matches!(
            SigningKeys::load(&dir),
            Err(SigningKeysError::BadName(_))
        ));
        assert!(SigningKeys::load(&dir.join("missing")).is_err());
    }
}
