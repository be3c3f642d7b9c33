//! The client registry: who may ask for tokens, with which scopes, and how they prove it.
//!
//! Owns: the registered clients in memory, how each one authenticates ([`ClientAuth`]: a
//! secret, a JWK Set for `private_key_jwt`, a certificate subject or a certificate for the two
//! mTLS methods), and the constant-time checks of a presented secret and of a presented
//! certificate's thumbprint. Does not own: the clients file and its updates (see
//! [`super::clients_file`]), extracting credentials from a request (see
//! `super::credentials`), verifying assertions (see `assertion`) or throttling failures (see
//! [`super::throttle`]).

use std::collections::HashMap;
use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::dn::SubjectDn;
use crate::oauth::jose::VerifyingKeySet;
use crate::secret;

/// Longest client id accepted.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// How a client proves who it is: exactly one method per client.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` or `client_secret_post` (RFC 6749 §2.3.1): the SHA-256 of the
    /// secret; the secret itself is never stored.
    Secret { hash: [u8; 32] },
    /// `private_key_jwt` (RFC 7523 §2.2): assertions signed by one of these public keys.
    PrivateKeyJwt(VerifyingKeySet),
    /// `tls_client_auth` (RFC 8705 §2.1): a certificate that chains to the client CA and has
    /// this subject.
    TlsClientAuth(SubjectDn),
    /// `self_signed_tls_client_auth` (RFC 8705 §2.2): this certificate, by the SHA-256 of its
    /// DER.
    SelfSignedTlsClientAuth { cert_sha256: [u8; 32] },
}

impl ClientAuth {
    /// The method's name in metadata (RFC 8414, RFC 8705 §2.1.1, §2.2.1).
    pub fn method(&self) -> &'static str {
        match self {
            ClientAuth::Secret { .. } => "client_secret_basic",
            ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
            ClientAuth::TlsClientAuth(_) => "tls_client_auth",
            ClientAuth::SelfSignedTlsClientAuth { .. } => "self_signed_tls_client_auth",
        }
    }

    /// Whether the client authenticates by its TLS certificate.
    pub fn is_certificate(&self) -> bool {
        matches!(
            self,
            ClientAuth::TlsClientAuth(_) | ClientAuth::SelfSignedTlsClientAuth { .. }
        )
    }
}

/// One registered client. Its `Debug` names its authentication method only: nothing about a
/// secret belongs in a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    /// How it authenticates.
    pub auth: ClientAuth,
    /// Registered scopes, in file order, without duplicates.
    pub scopes: Vec<String>,
    /// May call the introspection endpoint (a resource server).
    pub introspect: bool,
    /// The resources (RFC 8707) this client may ask tokens for, in file order; empty: its
    /// tokens carry no audience restriction (opaque) or the server's default audience (JWT).
    pub audiences: Vec<Box<str>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("auth", &self.auth.method())
            .field("scopes", &self.scopes)
            .field("introspect", &self.introspect)
            .finish_non_exhaustive()
    }
}

/// All registered clients, read at start-up and again on each reload. Clients are shared
/// (`Arc`), so a request keeps the client it authenticated even while a reload swaps the
/// registry.
pub struct ClientRegistry {
    clients: HashMap<String, Arc<Client>>,
    /// Compared against when the id is unknown, so a miss costs what a hit costs.
    dummy_hash: [u8; 32],
}

impl std::fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.clients.values()).finish()
    }
}

/// The result of checking presented credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    Authenticated(&'a Arc<Client>),
    Refused,
}

/// Two clients with one id: the registry cannot tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("client_id {0:?} appears more than once")]
pub struct DuplicateClient(pub String);

impl ClientRegistry {
    pub fn from_clients(clients: Vec<Client>) -> Result<Self, DuplicateClient> {
        let mut map = HashMap::with_capacity(clients.len());
        for client in clients {
            if map.contains_key(&client.id) {
                return Err(DuplicateClient(client.id));
            }
            map.insert(client.id.clone(), Arc::new(client));
        }
        Ok(ClientRegistry {
            clients: map,
            dummy_hash: secret::sha256(b"tollgate: no such client"),
        })
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Client>> {
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
    /// unknown id, or a client that has no secret, is compared against a dummy hash, so timing
    /// tells nothing about which ids exist or how they authenticate.
    pub fn verify(&self, id: &str, presented_secret: &str) -> Verdict<'_> {
        let presented = secret::sha256(presented_secret.as_bytes());
        let client = self.clients.get(id);
        let expected = match client.map(|c| &c.auth) {
            Some(ClientAuth::Secret { hash }) => hash,
            _ => &self.dummy_hash,
        };
        let matches: bool = presented.ct_eq(expected).into();
        match client {
            Some(client) if matches && matches!(client.auth, ClientAuth::Secret { .. }) => {
                Verdict::Authenticated(client)
            }
            _ => Verdict::Refused,
        }
    }
}

/// Whether a presented certificate's SHA-256 is the registered one, compared in constant
/// time (a thumbprint is no secret, but the habit costs nothing).
pub fn same_certificate(registered: &[u8; 32], presented: &[u8; 32]) -> bool {
    registered.ct_eq(presented).into()
}

/// A client id is 1–64 characters of `A-Za-z0-9._-`.
pub fn is_valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn unknown_ids_and_wrong_secrets_are_refused() {
        let secret = "s3cret";
        let registry = ClientRegistry::from_clients(vec![Client {
            id: "svc".into(),
            auth: ClientAuth::Secret {
                hash: secret::sha256(secret.as_bytes()),
            },
            scopes: vec!["read".into()],
            introspect: false,
            audiences: Vec::new(),
        }])
        .unwrap();
        assert!(matches!(
            registry.verify("svc", secret),
            Verdict::Authenticated(c) if c.id == "svc"
        ));
        assert_eq!(registry.verify("svc", "wrong"), Verdict::Refused);
        assert_eq!(registry.verify("nobody", secret), Verdict::Refused);
        let shown = format!("{registry:?}");
        assert!(shown.contains("svc"), "{shown}");
        assert!(!shown.contains("hash"), "{shown}");
    }

    #[test]
    fn a_client_without_a_secret_is_refused_whatever_secret_is_tried() {
        let registry = ClientRegistry::from_clients(vec![Client {
            id: "pkj".into(),
            auth: ClientAuth::PrivateKeyJwt(VerifyingKeySet::default()),
            scopes: Vec::new(),
            introspect: false,
            audiences: Vec::new(),
        }])
        .unwrap();
        // The dummy hash's preimage is known: even it does not make a secret of it.
        assert_eq!(
            registry.verify("pkj", "tollgate: no such client"),
            Verdict::Refused
        );
        assert_eq!(registry.verify("pkj", ""), Verdict::Refused);
    }
}
