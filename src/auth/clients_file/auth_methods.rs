//! How the clients file stores each client's authentication method, and what `add-client`
//! registers for each.
//!
//! Owns: the four members of an entry, exactly one of which says how its client authenticates
//! (`secret_sha256`, `jwks`, `tls_client_auth_subject_dn`, `self_signed_cert_sha256`), reading
//! them ([`entry_auth`]), writing them back ([`auth_members`]), a client's JWK Set
//! ([`client_jwks`]), and what a [`Proof`] given to `add-client` becomes. Does not own: the
//! rest of the file (the parent) or the methods themselves (see `auth::clients`).

use serde_json::Value;

use super::super::clients::ClientAuth;
use super::super::dn::SubjectDn;
use super::{ClientEntry, ClientsFileError};
use crate::oauth::jose::{JwksMode, VerifyingKeySet};
use crate::secret::{self, SecretString};

/// How a client `add-client` registers will authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// A fresh secret, shown once (`client_secret_basic`, `client_secret_post`).
    Secret,
    /// Its public keys (`private_key_jwt`), read with [`client_jwks`].
    Jwks(VerifyingKeySet),
    /// Its certificate's subject, an RFC 4514 string (`tls_client_auth`).
    TlsSubjectDn(String),
    /// Its certificate, by the SHA-256 of the DER (`self_signed_tls_client_auth`).
    SelfSignedCert([u8; 32]),
}

/// How an entry's client authenticates: exactly one of the four members says.
pub(super) fn entry_auth(entry: &ClientEntry) -> Result<ClientAuth, String> {
    let hash = |hex: &str, member: &str| {
        secret::hash_from_hex(hex).ok_or_else(|| format!("{member} is not 64 hex digits"))
    };
    match (
        &entry.secret_sha256,
        &entry.jwks,
        &entry.tls_client_auth_subject_dn,
        &entry.self_signed_cert_sha256,
    ) {
        (Some(hex), None, None, None) => Ok(ClientAuth::Secret {
            hash: hash(hex, "secret_sha256")?,
        }),
        (None, Some(jwks), None, None) => Ok(ClientAuth::PrivateKeyJwt(client_jwks(
            &serde_json::to_vec(jwks).unwrap_or_default(),
        )?)),
        (None, None, Some(dn), None) => Ok(ClientAuth::TlsClientAuth(
            SubjectDn::parse(dn).map_err(|e| format!("tls_client_auth_subject_dn is {e}"))?,
        )),
        (None, None, None, Some(hex)) => Ok(ClientAuth::SelfSignedTlsClientAuth {
            cert_sha256: hash(hex, "self_signed_cert_sha256")?,
        }),
        _ => Err(
            "needs exactly one of secret_sha256, jwks, tls_client_auth_subject_dn and \
                  self_signed_cert_sha256"
                .into(),
        ),
    }
}

/// A client's JWK Set (RFC 7517 §5): every key usable for a signature algorithm we verify
/// (RS256, ES256, EdDSA), at least one.
pub fn client_jwks(json: &[u8]) -> Result<VerifyingKeySet, String> {
    let keys = VerifyingKeySet::from_jwks(json, JwksMode::RefuseUnusable)
        .map_err(|e| format!("jwks: {e}"))?;
    if keys.is_empty() {
        return Err("jwks holds no key".into());
    }
    Ok(keys)
}

/// The four members of an entry for `auth`, all `None` but the one that says it.
pub(super) fn auth_members(
    auth: &ClientAuth,
) -> (
    Option<String>,
    Option<Value>,
    Option<String>,
    Option<String>,
) {
    match auth {
        ClientAuth::Secret { hash } => (Some(secret::to_hex(hash)), None, None, None),
        ClientAuth::PrivateKeyJwt(keys) => (None, Some(keys.to_jwks()), None, None),
        ClientAuth::TlsClientAuth(dn) => (None, None, Some(dn.as_str().to_owned()), None),
        ClientAuth::SelfSignedTlsClientAuth { cert_sha256 } => {
            (None, None, None, Some(secret::to_hex(cert_sha256)))
        }
    }
}

/// What a registration's proof becomes, with the fresh secret of a [`Proof::Secret`].
pub(super) fn proof_auth(
    proof: &Proof,
) -> Result<(ClientAuth, Option<SecretString>), ClientsFileError> {
    Ok(match proof {
        Proof::Secret => {
            let secret = secret::random_secret().map_err(ClientsFileError::Random)?;
            let hash = secret::sha256(secret.expose().as_bytes());
            (ClientAuth::Secret { hash }, Some(secret))
        }
        Proof::Jwks(keys) if keys.is_empty() => {
            return Err(ClientsFileError::BadArgument(
                "the JWK Set holds no key".into(),
            ))
        }
        Proof::Jwks(keys) => (ClientAuth::PrivateKeyJwt(keys.clone()), None),
        Proof::TlsSubjectDn(dn) => (
            ClientAuth::TlsClientAuth(
                SubjectDn::parse(dn)
                    .map_err(|e| ClientsFileError::BadArgument(format!("{dn:?} is {e}")))?,
            ),
            None,
        ),
        Proof::SelfSignedCert(cert_sha256) => (
            ClientAuth::SelfSignedTlsClientAuth {
                cert_sha256: *cert_sha256,
            },
            None,
        ),
    })
}
