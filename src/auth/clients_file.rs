//! The clients file and `add-client`'s safe update of it.
//!
//! Owns: the file format (human-readable JSON holding only SHA-256 hashes of secrets), its
//! strict validation at start-up, and the update: a lock on the sibling `FILE.lock` (a lock on
//! the file itself would be lost when the rename replaces it), then an atomic replacement that
//! keeps the file's permission bits (a new file is owner-only). Does not own: the registry in
//! memory (see [`super::clients`]) or how files are created and replaced safely, never through
//! a planted link (see [`crate::files`]).
//!
//! File format (`audiences` and `introspect` may be left out); each client has exactly one of
//! `secret_sha256` (a secret), `jwks` (a JWK Set: `private_key_jwt`),
//! `tls_client_auth_subject_dn` (an RFC 4514 subject: `tls_client_auth`) and
//! `self_signed_cert_sha256` (`self_signed_tls_client_auth`):
//! ```json
//! { "clients": [ { "client_id": "svc", "secret_sha256": "<64 hex digits>",
//!                  "scope": "read write", "introspect": false,
//!                  "audiences": ["https://api.example"] },
//!                { "client_id": "pkj", "jwks": { "keys": [ ... ] } },
//!                { "client_id": "m1", "tls_client_auth_subject_dn": "CN=m1,O=example" },
//!                { "client_id": "m2", "self_signed_cert_sha256": "<64 hex digits>" } ] }
//! ```

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod auth_methods;

use super::clients::{is_valid_client_id, Client, ClientRegistry, MAX_CLIENT_ID_LEN};
use crate::files::{self, FileError};
use crate::oauth::audience::is_resource_indicator;
use auth_methods::{auth_members, entry_auth, proof_auth};

use crate::oauth::scope::parse_scope_list;
use crate::secret::{self, SecretString};
pub use auth_methods::{client_jwks, Proof};

impl ClientRegistry {
    /// Reads and validates a clients file; any problem stops start-up.
    pub fn load(path: &Path) -> Result<Self, ClientsFileError> {
        let text = fs::read_to_string(path).map_err(|e| ClientsFileError::Io {
            path: path.to_owned(),
            action: "read",
            source: e,
        })?;
        Self::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Parses and validates the text of a clients file.
    pub fn parse(text: &str) -> Result<Self, ClientsFileError> {
        Self::from_clients(parse_clients_file(text)?)
            .map_err(|e| ClientsFileError::Invalid(e.to_string()))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    clients: Vec<ClientEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwks: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_client_auth_subject_dn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    self_signed_cert_sha256: Option<String>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    introspect: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    audiences: Vec<String>,
}

fn parse_clients_file(text: &str) -> Result<Vec<Client>, ClientsFileError> {
    let file: ClientsFile = serde_json::from_str(text)
        .map_err(|e| ClientsFileError::Invalid(format!("not a valid clients file: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    file.clients
        .into_iter()
        .map(|entry| {
            if !seen.insert(entry.client_id.clone()) {
                return Err(ClientsFileError::Invalid(format!(
                    "client_id {:?} appears more than once",
                    entry.client_id
                )));
            }
            if !is_valid_client_id(&entry.client_id) {
                return Err(ClientsFileError::Invalid(format!(
                    "client_id {:?} is not 1-64 characters of A-Za-z0-9._-",
                    entry.client_id
                )));
            }
            let auth = entry_auth(&entry).map_err(|e| {
                ClientsFileError::Invalid(format!("client {:?}: {e}", entry.client_id))
            })?;
            let scopes = parse_scope_list(&entry.scope).map_err(|e| {
                ClientsFileError::Invalid(format!("client {:?}: {e}", entry.client_id))
            })?;
            let audiences = parse_audiences(entry.audiences).map_err(|e| {
                ClientsFileError::Invalid(format!("client {:?}: {e}", entry.client_id))
            })?;
            Ok(Client {
                id: entry.client_id,
                auth,
                scopes,
                introspect: entry.introspect,
                audiences,
            })
        })
        .collect()
}

/// Checks that each audience is a resource indicator (RFC 8707 §2) and drops repeats.
pub fn parse_audiences(
    audiences: impl IntoIterator<Item = String>,
) -> Result<Vec<Box<str>>, String> {
    let mut kept: Vec<Box<str>> = Vec::new();
    for audience in audiences {
        if !is_resource_indicator(&audience) {
            return Err(format!(
                "audience {audience:?} is not an absolute URI without a fragment (RFC 8707 §2)"
            ));
        }
        if !kept.iter().any(|a| **a == *audience) {
            kept.push(audience.into_boxed_str());
        }
    }
    Ok(kept)
}

fn render_clients_file(clients: &[Client]) -> String {
    let file = ClientsFile {
        clients: clients
            .iter()
            .map(|c| {
                let members = auth_members(&c.auth);
                ClientEntry {
                    client_id: c.id.clone(),
                    secret_sha256: members.0,
                    jwks: members.1,
                    tls_client_auth_subject_dn: members.2,
                    self_signed_cert_sha256: members.3,
                    scope: c.scopes.join(" "),
                    introspect: c.introspect,
                    audiences: c.audiences.iter().map(|a| a.to_string()).collect(),
                }
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
    text.push('\n');
    text
}

/// Problems with the clients file, each naming the file and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientsFileError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// The text is not a valid clients file (before we know which file it was).
    #[error("{0}")]
    Invalid(String),
    #[error("clients file {}: {detail}", path.display())]
    InFile { path: PathBuf, detail: String },
    /// What `add-client` was asked to register cannot be registered.
    #[error("{0}")]
    BadArgument(String),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Random(#[from] secret::RandomUnavailable),
}

impl ClientsFileError {
    fn in_file(self, path: &Path) -> Self {
        match self {
            ClientsFileError::Invalid(detail) => ClientsFileError::InFile {
                path: path.to_owned(),
                detail,
            },
            other => other,
        }
    }
}

/// What `add-client` registers: a client id, how it authenticates and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: String,
    pub proof: Proof,
    pub scopes: Vec<String>,
    /// May call the introspection endpoint (a resource server).
    pub introspect: bool,
    /// The resources it may ask tokens for (RFC 8707): absolute URIs without fragments.
    pub audiences: Vec<String>,
}

impl Registration {
    /// A client with no audience restriction.
    pub fn new(id: impl Into<String>, scopes: Vec<String>, introspect: bool) -> Self {
        Registration {
            id: id.into(),
            proof: Proof::Secret,
            scopes,
            introspect,
            audiences: Vec::new(),
        }
    }

    /// The same client, allowed to ask for `audiences`.
    pub fn with_audiences(mut self, audiences: Vec<String>) -> Self {
        self.audiences = audiences;
        self
    }

    /// The same client, authenticating with `proof` instead of a secret.
    pub fn with_proof(mut self, proof: Proof) -> Self {
        self.proof = proof;
        self
    }
}

/// The write of a new file's contents, injectable so tests can make it fail.
type WriteContents<'a> = &'a mut dyn FnMut(&mut File, &[u8]) -> io::Result<()>;

/// Creates or updates `path` with the client `registration` names: its proof (for
/// [`Proof::Secret`], a fresh secret, returned and never stored), the given scopes and
/// introspection right. Concurrent runs are serialised by a lock on the sibling `FILE.lock` (a
/// lock on the file itself would be lost when the rename replaces it).
pub fn register(
    path: &Path,
    registration: &Registration,
) -> Result<Option<SecretString>, ClientsFileError> {
    update(path, registration, &mut |file, text| file.write_all(text))
}

/// [`register`] for a client with a secret: the secret.
pub fn add_client(
    path: &Path,
    registration: &Registration,
) -> Result<SecretString, ClientsFileError> {
    if registration.proof != Proof::Secret {
        return Err(ClientsFileError::BadArgument(
            "add_client registers secrets; use register".into(),
        ));
    }
    register(path, registration)?
        .ok_or_else(|| ClientsFileError::BadArgument("no secret was made".into()))
}

/// [`add_client`] with the write of the new contents injected, so tests can make it fail.
#[cfg(any(test, feature = "test-hooks"))]
pub fn add_client_with(
    path: &Path,
    registration: &Registration,
    write: WriteContents<'_>,
) -> Result<Option<SecretString>, ClientsFileError> {
    update(path, registration, write)
}

fn update(
    path: &Path,
    registration: &Registration,
    write: WriteContents<'_>,
) -> Result<Option<SecretString>, ClientsFileError> {
    let id = registration.id.as_str();
    if !is_valid_client_id(id) {
        return Err(ClientsFileError::BadArgument(format!(
            "client id {id:?} is refused: use 1-{MAX_CLIENT_ID_LEN} characters of A-Za-z0-9._-"
        )));
    }
    let io_err = |path: &Path, action: &'static str| {
        let path = path.to_owned();
        move |source| ClientsFileError::Io {
            path,
            action,
            source,
        }
    };
    let lock_path = files::sibling(path, ".lock");
    let lock = files::open_lock(&lock_path)?;
    lock.lock().map_err(io_err(&lock_path, "lock"))?;

    let mut clients = match fs::read_to_string(path) {
        Ok(text) => parse_clients_file(&text).map_err(|e| e.in_file(path))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(path, "read")(e)),
    };
    // Whoever set the file's permission bits meant them; a new file is the owner's alone.
    let mode = files::mode_of(path).unwrap_or(files::OWNER_ONLY);
    let (auth, secret) = proof_auth(&registration.proof)?;
    let client = Client {
        id: id.to_owned(),
        auth,
        scopes: registration.scopes.clone(),
        introspect: registration.introspect,
        audiences: parse_audiences(registration.audiences.iter().cloned())
            .map_err(ClientsFileError::BadArgument)?,
    };
    match clients.iter_mut().find(|c| c.id == id) {
        Some(existing) => *existing = client,
        None => clients.push(client),
    }
    let text = render_clients_file(&clients);
    files::replace(path, mode, &mut |tmp| write(tmp, text.as_bytes()))?;
    drop(lock);
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::clients::Verdict;
    use crate::files::test_dir;

    #[test]
    fn added_clients_verify_with_their_secret_only() {
        let dir = test_dir("clients-verify");
        let file = dir.join("clients.json");
        let secret =
            add_client(&file, &Registration::new("svc", vec!["read".into()], false)).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert!(!text.contains(secret.expose()), "the file holds the secret");
        let registry = ClientRegistry::load(&file).unwrap();
        assert!(matches!(
            registry.verify("svc", secret.expose()),
            Verdict::Authenticated(c) if c.id == "svc"
        ));
        assert_eq!(registry.verify("svc", "wrong"), Verdict::Refused);
        assert_eq!(registry.verify("nobody", secret.expose()), Verdict::Refused);
    }

    #[test]
    fn updating_a_client_replaces_its_secret_and_scopes() {
        let dir = test_dir("clients-update");
        let file = dir.join("clients.json");
        let old = add_client(&file, &Registration::new("svc", vec!["read".into()], false)).unwrap();
        add_client(&file, &Registration::new("other", vec![], true)).unwrap();
        let new = add_client(
            &file,
            &Registration::new("svc", vec!["write".into()], false),
        )
        .unwrap();
        let registry = ClientRegistry::load(&file).unwrap();
        assert_eq!(registry.len(), 2);
        assert_eq!(registry.verify("svc", old.expose()), Verdict::Refused);
        assert!(matches!(
            registry.verify("svc", new.expose()),
            Verdict::Authenticated(c) if c.scopes == ["write"]
        ));
        assert!(registry.get("other").unwrap().introspect);
    }

    #[test]
    fn a_failing_write_leaves_the_old_file_intact() {
        let dir = test_dir("clients-enospc");
        let file = dir.join("clients.json");
        add_client(&file, &Registration::new("svc", vec!["read".into()], false)).unwrap();
        let before = fs::read(&file).unwrap();
        let err = add_client_with(
            &file,
            &Registration::new("new", vec![], false),
            &mut |_, _| {
                Err(io::Error::from_raw_os_error(28)) // ENOSPC
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("cannot write"), "{err}");
        assert_eq!(fs::read(&file).unwrap(), before);
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .collect();
        assert!(leftovers.is_empty(), "temporary file left behind");
    }

    #[test]
    fn bad_ids_are_refused_and_the_file_untouched() {
        let dir = test_dir("clients-badid");
        let file = dir.join("clients.json");
        assert!(add_client(&file, &Registration::new("a b", vec![], false)).is_err());
        assert!(!file.exists());
    }

    #[test]
    fn corrupt_or_duplicate_files_are_refused() {
        let dir = test_dir("clients-corrupt");
        let file = dir.join("clients.json");
        let hash = "0".repeat(64);
        for (text, needle) in [
            ("", "not a valid clients file"),
            ("{", "not a valid clients file"),
            ("{\"clients\": 3}", "not a valid clients file"),
            (
                &format!("{{\"clients\":[{{\"client_id\":\"a\",\"secret_sha256\":\"{hash}\"}},{{\"client_id\":\"a\",\"secret_sha256\":\"{hash}\"}}]}}") as &str,
                "more than once",
            ),
            ("{\"clients\":[{\"client_id\":\"a\",\"secret_sha256\":\"xyz\"}]}", "64 hex"),
            (
                &format!("{{\"clients\":[{{\"client_id\":\"a b\",\"secret_sha256\":\"{hash}\"}}]}}"),
                "A-Za-z0-9",
            ),
        ] {
            fs::write(&file, text).unwrap();
            let err = ClientRegistry::load(&file).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(err.contains("clients.json"), "{err}");
            // add-client never overwrites a file it cannot read.
            assert!(add_client(&file, &Registration::new("b", vec![], false)).is_err());
            assert_eq!(fs::read_to_string(&file).unwrap(), text);
        }
    }
}
