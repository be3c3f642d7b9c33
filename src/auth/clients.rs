//! The client registry: who may ask for tokens, with which scopes, and how they prove it.
//!
//! Owns: the clients file (human-readable JSON holding only SHA-256 hashes of secrets), its
//! strict validation at start-up, `add-client`'s safe update of it (a sibling `FILE.lock`,
//! a temporary file in the same directory, fsync, rename, fsync of the directory), and the
//! constant-time check of a presented secret. Does not own: extracting credentials from a
//! request (see `auth::credentials`) or throttling failures (see `auth::throttle`).
//!
//! File format:
//! ```json
//! { "clients": [ { "client_id": "svc", "secret_sha256": "<64 hex digits>",
//!                  "scope": "read write", "introspect": false } ] }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::secret::{self, SecretString};

/// Longest client id accepted.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// One registered client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    secret_hash: [u8; 32],
    /// Registered scopes, in file order, without duplicates.
    pub scopes: Vec<String>,
    /// May call the introspection endpoint (a resource server).
    pub introspect: bool,
}

/// All registered clients, read once at start-up.
#[derive(Debug)]
pub struct ClientRegistry {
    clients: HashMap<String, Client>,
    /// Compared against when the id is unknown, so a miss costs what a hit costs.
    dummy_hash: [u8; 32],
}

/// The result of checking presented credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    Authenticated(&'a Client),
    Refused,
}

impl ClientRegistry {
    pub fn from_clients(clients: Vec<Client>) -> Result<Self, ClientsFileError> {
        let mut map = HashMap::with_capacity(clients.len());
        for client in clients {
            if map.contains_key(&client.id) {
                return Err(ClientsFileError::Invalid(format!(
                    "client_id {:?} appears more than once",
                    client.id
                )));
            }
            map.insert(client.id.clone(), client);
        }
        Ok(ClientRegistry {
            clients: map,
            dummy_hash: secret::sha256(b"tollgate: no such client"),
        })
    }

    /// Reads and validates a clients file; any problem stops start-up.
    pub fn load(path: &Path) -> Result<Self, ClientsFileError> {
        let text = fs::read_to_string(path).map_err(|e| ClientsFileError::Io {
            path: path.to_owned(),
            action: "read",
            source: e,
        })?;
        let file = parse_clients_file(&text).map_err(|e| e.in_file(path))?;
        Self::from_clients(file).map_err(|e| e.in_file(path))
    }

    pub fn get(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    pub fn all_ids(&self) -> impl Iterator<Item = &str> {
        self.clients.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Every scope any client may be granted, sorted, for the metadata document.
    pub fn all_scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = self
            .clients
            .values()
            .flat_map(|c| c.scopes.iter().cloned())
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// Checks a client id and secret. The secret's hash is compared in constant time, and an
    /// unknown id is compared against a dummy hash, so timing tells nothing about which ids
    /// exist.
    pub fn verify(&self, id: &str, presented_secret: &str) -> Verdict<'_> {
        let presented = secret::sha256(presented_secret.as_bytes());
        let client = self.clients.get(id);
        let expected = client.map_or(&self.dummy_hash, |c| &c.secret_hash);
        let matches: bool = presented.ct_eq(expected).into();
        match client {
            Some(client) if matches => Verdict::Authenticated(client),
            _ => Verdict::Refused,
        }
    }
}

/// A client id is 1–64 characters of `A-Za-z0-9._-`.
pub fn is_valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A scope token is one or more of RFC 6749 §3.3's NQCHAR: `%x21 / %x23-5B / %x5D-7E`.
pub fn is_valid_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Splits a space-separated scope string into tokens, checking each and dropping repeats.
pub fn parse_scope_list(text: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for token in text.split(' ').filter(|t| !t.is_empty()) {
        if !is_valid_scope_token(token) {
            return Err(format!("{token:?} is not a valid scope (RFC 6749 §3.3)"));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    Ok(scopes)
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
    secret_sha256: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    introspect: bool,
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
            let secret_hash = secret::hash_from_hex(&entry.secret_sha256).ok_or_else(|| {
                ClientsFileError::Invalid(format!(
                    "client {:?}: secret_sha256 is not 64 hex digits",
                    entry.client_id
                ))
            })?;
            let scopes = parse_scope_list(&entry.scope).map_err(|e| {
                ClientsFileError::Invalid(format!("client {:?}: {e}", entry.client_id))
            })?;
            Ok(Client {
                id: entry.client_id,
                secret_hash,
                scopes,
                introspect: entry.introspect,
            })
        })
        .collect()
}

fn render_clients_file(clients: &[Client]) -> String {
    let file = ClientsFile {
        clients: clients
            .iter()
            .map(|c| ClientEntry {
                client_id: c.id.clone(),
                secret_sha256: secret::to_hex(&c.secret_hash),
                scope: c.scopes.join(" "),
                introspect: c.introspect,
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
    text.push('\n');
    text
}

/// Problems with the clients file, each naming the file and what went wrong.
#[derive(Debug)]
pub enum ClientsFileError {
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    Invalid(String),
    InFile {
        path: PathBuf,
        detail: String,
    },
    BadArgument(String),
    Random(secret::RandomUnavailable),
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

impl fmt::Display for ClientsFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientsFileError::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            ClientsFileError::Invalid(detail) => f.write_str(detail),
            ClientsFileError::InFile { path, detail } => {
                write!(f, "clients file {}: {detail}", path.display())
            }
            ClientsFileError::BadArgument(detail) => f.write_str(detail),
            ClientsFileError::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ClientsFileError {}

/// Creates or updates `path` with client `id`: a fresh secret (returned, and never stored),
/// the given scopes and introspection right. Concurrent runs are serialised by a lock on the
/// sibling `FILE.lock` (a lock on the file itself would be lost when the rename replaces it).
pub fn add_client(
    path: &Path,
    id: &str,
    scopes: Vec<String>,
    introspect: bool,
) -> Result<SecretString, ClientsFileError> {
    add_client_with(path, id, scopes, introspect, &mut |file, text| {
        file.write_all(text)
    })
}

/// [`add_client`] with the write of the new contents injected, so tests can make it fail.
pub fn add_client_with(
    path: &Path,
    id: &str,
    scopes: Vec<String>,
    introspect: bool,
    write: &mut dyn FnMut(&mut File, &[u8]) -> io::Result<()>,
) -> Result<SecretString, ClientsFileError> {
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
    let lock_path = sibling(path, ".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path, "create the lock file"))?;
    lock.lock().map_err(io_err(&lock_path, "lock"))?;

    let mut clients = match fs::read_to_string(path) {
        Ok(text) => parse_clients_file(&text).map_err(|e| e.in_file(path))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(path, "read")(e)),
    };
    let secret = secret::random_secret().map_err(ClientsFileError::Random)?;
    let client = Client {
        id: id.to_owned(),
        secret_hash: secret::sha256(secret.expose().as_bytes()),
        scopes,
        introspect,
    };
    match clients.iter_mut().find(|c| c.id == id) {
        Some(existing) => *existing = client,
        None => clients.push(client),
    }
    let text = render_clients_file(&clients);

    let tmp_path = sibling(path, &format!(".tmp.{}", std::process::id()));
    let written = (|| {
        let mut tmp = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp_path)
            .map_err(io_err(&tmp_path, "create"))?;
        write(&mut tmp, text.as_bytes()).map_err(io_err(&tmp_path, "write"))?;
        tmp.sync_all().map_err(io_err(&tmp_path, "sync"))?;
        fs::rename(&tmp_path, path).map_err(io_err(path, "replace"))
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(e);
    }
    // The rename is durable only once the directory entry is on disk.
    if let Ok(dir) = File::open(parent_dir(path)) {
        let _ = dir.sync_all();
    }
    drop(lock);
    Ok(secret)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-clients-{name}-{}-{}",
            std::process::id(),
            secret::to_hex(&secret::sha256(name.as_bytes()))[..8].to_owned()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn client_ids_follow_the_contract() {
        for good in ["a", "svc", "A.b_c-9", &"x".repeat(64)] {
            assert!(is_valid_client_id(good), "{good}");
        }
        for bad in ["", "a b", "a:b", "é", "a/b", &"x".repeat(65)] {
            assert!(!is_valid_client_id(bad), "{bad}");
        }
    }

    #[test]
    fn scope_lists_drop_repeats_and_refuse_bad_characters() {
        assert_eq!(
            parse_scope_list("read  write read").unwrap(),
            vec!["read", "write"]
        );
        assert!(parse_scope_list("re\"ad").is_err());
        assert!(parse_scope_list("re\\ad").is_err());
        assert_eq!(parse_scope_list("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn added_clients_verify_with_their_secret_only() {
        let dir = temp_dir("verify");
        let file = dir.join("clients.json");
        let secret = add_client(&file, "svc", vec!["read".into()], false).unwrap();
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
        let dir = temp_dir("update");
        let file = dir.join("clients.json");
        let old = add_client(&file, "svc", vec!["read".into()], false).unwrap();
        add_client(&file, "other", vec![], true).unwrap();
        let new = add_client(&file, "svc", vec!["write".into()], false).unwrap();
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
        let dir = temp_dir("enospc");
        let file = dir.join("clients.json");
        add_client(&file, "svc", vec!["read".into()], false).unwrap();
        let before = fs::read(&file).unwrap();
        let err = add_client_with(&file, "new", vec![], false, &mut |_, _| {
            Err(io::Error::from_raw_os_error(28)) // ENOSPC
        })
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
        let dir = temp_dir("badid");
        let file = dir.join("clients.json");
        assert!(add_client(&file, "a b", vec![], false).is_err());
        assert!(!file.exists());
    }

    #[test]
    fn corrupt_or_duplicate_files_are_refused() {
        let dir = temp_dir("corrupt");
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
            assert!(add_client(&file, "b", vec![], false).is_err());
            assert_eq!(fs::read_to_string(&file).unwrap(), text);
        }
    }
}
