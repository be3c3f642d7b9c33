//! Reading public JWKs (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2) and JWK Sets (RFC 7517 §5)
//! into [`VerifyingKey`]s.
//!
//! Owns: the rules a JWK must meet to become a verifying key, and the two ways a set treats a
//! key that does not meet them ([`JwksMode`]).
//! Does not own: fetching sets or deciding when to refetch them.
//!
//! A JWK becomes a key when: it is a JSON object with distinct member names; it has no
//! private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) — a published private key is
//! compromised, so this always refuses the whole set, in either mode; `kty`/`crv` is
//! `EC`/`P-256` (with `x`, `y` of 32 bytes each, a point on the curve), `OKP`/`Ed25519` (with
//! `x` of 32 bytes) or `RSA` (with `n`, `e` minimally encoded, 2048 bits at least); `use`, if
//! present, is `sig`; `key_ops`, if present, includes `verify`; `alg`, if present, is the one
//! algorithm the key type allows (ES256, EdDSA, RS256 respectively); `kid`, if present, is a
//! string. Other members (`x5c`, `x5t`, ...) are ignored, as RFC 7517 §4 asks.

use serde_json::{Map, Value};

use super::json::{parse_object, JsonRefusal};
use super::keys::{VerifyingKey, VerifyingKeySet, MAX_KEYS_IN_SET};
use super::{b64url_decode, Algorithm};

/// What a set does with a JWK that cannot become a verifying key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksMode {
    /// Leave it out and keep the rest (counted by [`VerifyingKeySet::skipped`]): for a set
    /// fetched from an issuer, which may also publish encryption keys or key types we do not
    /// implement. A key with private members still refuses the whole set.
    SkipUnusable,
    /// Refuse the whole set, naming the key: for a set a client registers, where an unusable
    /// key is a mistake the client must hear about now, not at its first failed assertion.
    RefuseUnusable,
}

/// Why one JWK cannot become a verifying key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// Not a JSON object with distinct member names, or a member of the wrong JSON type, or a
    /// required member missing, or a value that is not base64url of the right length.
    #[error("malformed JWK: {0}")]
    Malformed(&'static str),
    /// A private key member is present (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`).
    #[error("the JWK holds private key material")]
    PrivateKeyMaterial,
    /// A `kty` other than `EC`, `OKP`, `RSA`.
    #[error("the JWK's kty is not EC, OKP or RSA")]
    UnknownKeyType,
    /// A `crv` other than `P-256` (EC) or `Ed25519` (OKP).
    #[error("the JWK's crv is not P-256 or Ed25519")]
    UnknownCurve,
    /// `use` is not `sig`, or `key_ops` does not include `verify`.
    #[error("the JWK is not for verifying signatures")]
    NotForSignatures,
    /// `alg` names an algorithm this module does not implement.
    #[error("the JWK's alg is not ES256, EdDSA or RS256")]
    UnsupportedAlgorithm,
    /// `alg` is one we implement, but not the one this key type allows.
    #[error("the JWK's alg does not fit its key type")]
    AlgorithmMismatch,
    /// An RSA modulus under 2048 bits (RFC 7518 §3.3).
    #[error("the RSA key is shorter than 2048 bits")]
    RsaKeyTooSmall,
    /// The key's numbers are well-formed but not a usable key (a point off the curve, an even
    /// RSA modulus or exponent, ...).
    #[error("invalid JWK: {0}")]
    InvalidKey(&'static str),
}

/// Why a JWK Set was refused as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not a JSON object with a `keys` array.
    #[error("malformed JWK Set: {0}")]
    Malformed(&'static str),
    /// More than [`MAX_KEYS_IN_SET`] keys.
    #[error("the JWK Set has over {} keys", MAX_KEYS_IN_SET)]
    TooManyKeys,
    /// The key at this index of `keys` was refused (any error in
    /// [`JwksMode::RefuseUnusable`]; only [`JwkError::PrivateKeyMaterial`] in
    /// [`JwksMode::SkipUnusable`]).
    #[error("JWK Set key {index}: {error}")]
    Key { index: usize, error: JwkError },
}

/// Members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl VerifyingKey {
    /// One public JWK, as JSON text.
    pub fn from_jwk(json: &[u8]) -> Result<VerifyingKey, JwkError> {
        let members = parse_object(json).map_err(|refusal| JwkError::Malformed(why(refusal)))?;
        key_from_members(&members)
    }

    /// One public JWK, already parsed (by a caller that took it out of a larger document).
    /// Duplicate names cannot be detected here; parse with [`from_jwk`](Self::from_jwk) when
    /// the text is at hand.
    pub fn from_jwk_value(jwk: &Value) -> Result<VerifyingKey, JwkError> {
        match jwk {
            Value::Object(members) => key_from_members(members),
            _ => Err(JwkError::Malformed("a JWK is a JSON object")),
        }
    }
}

impl VerifyingKeySet {
    /// A JWK Set document `{"keys":[...]}` as JSON text; `mode` says what an unusable key
    /// does to the set.
    pub fn from_jwks(json: &[u8], mode: JwksMode) -> Result<VerifyingKeySet, JwksError> {
        let document = parse_object(json).map_err(|refusal| JwksError::Malformed(why(refusal)))?;
        let Some(Value::Array(entries)) = document.get("keys") else {
            return Err(JwksError::Malformed("a JWK Set has a \"keys\" array"));
        };
        if entries.len() > MAX_KEYS_IN_SET {
            return Err(JwksError::TooManyKeys);
        }
        let mut keys = Vec::with_capacity(entries.len());
        let mut skipped = 0;
        for (index, entry) in entries.iter().enumerate() {
            match VerifyingKey::from_jwk_value(entry) {
                Ok(key) => keys.push(key),
                Err(error @ JwkError::PrivateKeyMaterial) => {
                    return Err(JwksError::Key { index, error })
                }
                Err(error) => match mode {
                    JwksMode::SkipUnusable => skipped += 1,
                    JwksMode::RefuseUnusable => return Err(JwksError::Key { index, error }),
                },
            }
        }
        Ok(VerifyingKeySet::with_skipped(keys, skipped))
    }
}

fn why(refusal: JsonRefusal) -> &'static str {
    match refusal {
        JsonRefusal::NotJson => "not JSON",
        JsonRefusal::NotObject => "not a JSON object",
        JsonRefusal::DuplicateMember => "a member name appears twice",
    }
}

fn key_from_members(members: &Map<String, Value>) -> Result<VerifyingKey, JwkError> {
    if PRIVATE_MEMBERS
        .iter()
        .any(|name| members.contains_key(*name))
    {
        return Err(JwkError::PrivateKeyMaterial);
    }
    let key = match string_member(members, "kty")? {
        Some("EC") => match string_member(members, "crv")? {
            Some("P-256") => {
                VerifyingKey::ec_p256(coordinate(members, "x")?, coordinate(members, "y")?)?
            }
            Some(_) => return Err(JwkError::UnknownCurve),
            None => return Err(JwkError::Malformed("an EC JWK has a crv")),
        },
        Some("OKP") => match string_member(members, "crv")? {
            Some("Ed25519") => VerifyingKey::ed25519(coordinate(members, "x")?),
            Some(_) => return Err(JwkError::UnknownCurve),
            None => return Err(JwkError::Malformed("an OKP JWK has a crv")),
        },
        Some("RSA") => {
            VerifyingKey::rsa(required_bytes(members, "n")?, required_bytes(members, "e")?)?
        }
        Some(_) => return Err(JwkError::UnknownKeyType),
        None => return Err(JwkError::Malformed("a JWK has a kty")),
    };
    if string_member(members, "use")?.is_some_and(|usage| usage != "sig") {
        return Err(JwkError::NotForSignatures);
    }
    if let Some(ops) = members.get("key_ops") {
        let Value::Array(ops) = ops else {
            return Err(JwkError::Malformed("key_ops is an array of strings"));
        };
        if !ops.iter().all(Value::is_string) {
            return Err(JwkError::Malformed("key_ops is an array of strings"));
        }
        if !ops.iter().any(|op| op == "verify") {
            return Err(JwkError::NotForSignatures);
        }
    }
    if let Some(alg) = string_member(members, "alg")? {
        match Algorithm::from_name(alg) {
            None => return Err(JwkError::UnsupportedAlgorithm),
            Some(alg) if alg != key.algorithm() => return Err(JwkError::AlgorithmMismatch),
            Some(_) => {}
        }
    }
    Ok(match string_member(members, "kid")? {
        Some(kid) => key.with_kid(kid),
        None => key,
    })
}

/// A member that must be a string when present.
fn string_member<'a>(
    members: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, JwkError> {
    match members.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(JwkError::Malformed(
            "kty, crv, use, alg and kid are strings",
        )),
    }
}

/// A required base64url member, decoded.
fn required_bytes(members: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let Some(Value::String(text)) = members.get(name) else {
        return Err(JwkError::Malformed(
            "a required key member is missing or not a string",
        ));
    };
    b64url_decode(text.as_bytes()).ok_or(JwkError::Malformed(
        "a key member is not base64url without padding",
    ))
}

/// A 32-byte key member: a P-256 coordinate (RFC 7518 §6.2.1.2 and §6.2.1.3 require the full
/// length, leading zeros kept) or an Ed25519 public key.
fn coordinate(members: &Map<String, Value>, name: &'static str) -> Result<[u8; 32], JwkError> {
    required_bytes(members, name)?
        .try_into()
        .map_err(|_| JwkError::Malformed("x and y are 32 bytes each"))
}
