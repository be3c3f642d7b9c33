//! Public keys that verify JWS signatures, each bound to one algorithm, and sets of them.
//!
//! Owns: [`VerifyingKey`] (the public half of an ES256, EdDSA or RS256 key, its optional
//! `kid`, its RFC 7638 thumbprint, its public JWK) and [`VerifyingKeySet`] (what a JWK Set
//! becomes, and what [`super::verify`] chooses keys from). The key type decides the algorithm:
//! a P-256 key only ever checks ES256, whatever a token or a JWK's `alg` says.
//! Does not own: reading JWKs (`jwk.rs`) or private keys (`signing.rs`).

use std::fmt;

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{json, Map, Value};

use super::jwk::JwkError;
use super::{b64url_encode, Algorithm};
use crate::secret::sha256;

/// Most keys one set holds. A token without a `kid` is tried against every key of its
/// algorithm, so the set's size bounds the work one token can cost; real sets hold two or
/// three keys (the current one and the next, during a rotation).
pub const MAX_KEYS_IN_SET: usize = 64;

/// Smallest and largest RSA moduli accepted, in bits: RFC 7518 §3.3 requires 2048 at least;
/// 8192 is the most ring's `RSA_PKCS1_2048_8192_SHA256` verifies.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// The largest public exponent ring verifies with (2^33 - 1, RFC 8017 allows more but no
/// real key uses it).
const RSA_MAX_EXPONENT: u64 = (1 << 33) - 1;

/// A public key for exactly one JWS algorithm.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    /// The JWK `kid` it is published or registered under, if any.
    kid: Option<String>,
    material: PublicMaterial,
}

/// The public key itself, in the form each JWK type carries it.
#[derive(Clone, PartialEq, Eq)]
enum PublicMaterial {
    /// An uncompressed P-256 point (RFC 7518 §6.2.1): affine coordinates, 32 bytes each.
    EcP256 { x: [u8; 32], y: [u8; 32] },
    /// An Ed25519 public key (RFC 8037 §2): 32 bytes.
    Ed25519 { x: [u8; 32] },
    /// An RSA public key (RFC 7518 §6.3.1): modulus and exponent, big-endian, no leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl VerifyingKey {
    /// A P-256 key from its coordinates, refused unless the point is on the curve.
    pub(crate) fn ec_p256(x: [u8; 32], y: [u8; 32]) -> Result<VerifyingKey, JwkError> {
        if !p256_point_is_valid(&x, &y) {
            return Err(JwkError::InvalidKey("the EC point is not on P-256"));
        }
        Ok(VerifyingKey::from_material(PublicMaterial::EcP256 { x, y }))
    }

    /// An Ed25519 key. ring checks the point's encoding when it verifies; an invalid one then
    /// fails every signature.
    pub(crate) fn ed25519(x: [u8; 32]) -> VerifyingKey {
        VerifyingKey::from_material(PublicMaterial::Ed25519 { x })
    }

    /// An RSA key from its modulus and exponent, refused unless it is one ring will verify
    /// with: minimal encodings (RFC 7518 §6.3.1.1), an odd modulus of 2048 to 8192 bits, an
    /// odd exponent from 3 to 2^33 - 1.
    pub(crate) fn rsa(n: Vec<u8>, e: Vec<u8>) -> Result<VerifyingKey, JwkError> {
        let (Some(&n_lead), Some(&e_lead)) = (n.first(), e.first()) else {
            return Err(JwkError::InvalidKey("RSA n and e must not be empty"));
        };
        if n_lead == 0 || e_lead == 0 {
            return Err(JwkError::InvalidKey(
                "RSA n and e must have no leading zero bytes",
            ));
        }
        let bits = n.len() * 8 - n_lead.leading_zeros() as usize;
        if bits < RSA_MIN_BITS {
            return Err(JwkError::RsaKeyTooSmall);
        }
        if bits > RSA_MAX_BITS || n.last().is_none_or(|&b| b & 1 == 0) {
            return Err(JwkError::InvalidKey(
                "the RSA modulus must be odd and at most 8192 bits",
            ));
        }
        let exponent = if e.len() <= 5 {
            e.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b))
        } else {
            0
        };
        if !(3..=RSA_MAX_EXPONENT).contains(&exponent) || exponent & 1 == 0 {
            return Err(JwkError::InvalidKey(
                "the RSA exponent must be odd, from 3 to 2^33 - 1",
            ));
        }
        Ok(VerifyingKey::from_material(PublicMaterial::Rsa { n, e }))
    }

    /// The public half of a P-256 key ring holds: valid by construction.
    pub(crate) fn from_trusted_ec_p256(x: [u8; 32], y: [u8; 32]) -> VerifyingKey {
        VerifyingKey::from_material(PublicMaterial::EcP256 { x, y })
    }

    /// The public half of an RSA key ring holds (minimal encodings, 2048 to 4096 bits).
    pub(crate) fn from_trusted_rsa(n: Vec<u8>, e: Vec<u8>) -> VerifyingKey {
        VerifyingKey::from_material(PublicMaterial::Rsa { n, e })
    }

    fn from_material(material: PublicMaterial) -> VerifyingKey {
        VerifyingKey {
            kid: None,
            material,
        }
    }

    /// The same key under `kid` (replacing any it had).
    pub fn with_kid(mut self, kid: impl Into<String>) -> VerifyingKey {
        self.kid = Some(kid.into());
        self
    }

    /// The `kid` this key is published or registered under, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        match self.material {
            PublicMaterial::EcP256 { .. } => Algorithm::ES256,
            PublicMaterial::Ed25519 { .. } => Algorithm::EdDSA,
            PublicMaterial::Rsa { .. } => Algorithm::RS256,
        }
    }

    /// The RFC 7638 thumbprint: SHA-256 over the key's required members in lexicographic
    /// order with no whitespace, base64url-encoded. Stable for a key whatever its `kid`,
    /// `alg` or `use`, so it makes a good `kid`.
    pub fn thumbprint(&self) -> String {
        // The members are base64url text and fixed names: nothing here needs JSON escaping.
        let canonical = match &self.material {
            PublicMaterial::EcP256 { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64url_encode(x),
                b64url_encode(y)
            ),
            PublicMaterial::Ed25519 { x } => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                b64url_encode(x)
            ),
            PublicMaterial::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                b64url_encode(e),
                b64url_encode(n)
            ),
        };
        b64url_encode(&sha256(canonical.as_bytes()))
    }

    /// The public JWK: the key type's public members, `kid` if the key has one, `alg` and
    /// `use: "sig"`. Built from public material only, so it can hold no private member.
    pub fn to_jwk(&self) -> Value {
        let mut jwk = match &self.material {
            PublicMaterial::EcP256 { x, y } => json!({
                "kty": "EC", "crv": "P-256", "x": b64url_encode(x), "y": b64url_encode(y),
            }),
            PublicMaterial::Ed25519 { x } => json!({
                "kty": "OKP", "crv": "Ed25519", "x": b64url_encode(x),
            }),
            PublicMaterial::Rsa { n, e } => json!({
                "kty": "RSA", "n": b64url_encode(n), "e": b64url_encode(e),
            }),
        };
        if let Value::Object(members) = &mut jwk {
            if let Some(kid) = &self.kid {
                members.insert("kid".into(), Value::String(kid.clone()));
            }
            members.insert("alg".into(), self.algorithm().name().into());
            members.insert("use".into(), "sig".into());
        }
        jwk
    }

    /// Whether `signature` is this key's signature over `message`, by its own algorithm.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            PublicMaterial::EcP256 { x, y } => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, uncompressed(x, y))
                    .verify(message, signature)
                    .is_ok()
            }
            PublicMaterial::Ed25519 { x } => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, signature)
                .is_ok(),
            PublicMaterial::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
        }
    }
}

/// The SEC 1 uncompressed encoding `0x04 || x || y` that ring reads.
fn uncompressed(x: &[u8; 32], y: &[u8; 32]) -> [u8; 65] {
    let mut point = [0u8; 65];
    point[0] = 4;
    point[1..33].copy_from_slice(x);
    point[33..].copy_from_slice(y);
    point
}

/// Whether `(x, y)` is a point on P-256 other than the identity. ring checks this inside every
/// verification but has no call for it alone; its ECDH does the same public-key validation
/// (SEC 1 §3.2.2.1) before agreeing, so one agreement with a throwaway key answers the
/// question at the time a JWK is read, where a bad key can be refused loudly.
fn p256_point_is_valid(x: &[u8; 32], y: &[u8; 32]) -> bool {
    use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, ECDH_P256};
    let rng = ring::rand::SystemRandom::new();
    let Ok(throwaway) = EphemeralPrivateKey::generate(&ECDH_P256, &rng) else {
        return false;
    };
    let point = uncompressed(x, y);
    agree_ephemeral(
        throwaway,
        &UnparsedPublicKey::new(&ECDH_P256, &point),
        |_| (),
    )
    .is_ok()
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid)
            .field("thumbprint", &self.thumbprint())
            .finish()
    }
}

/// The keys a token may be verified with: a parsed JWK Set, or keys put together by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyingKeySet {
    keys: Vec<VerifyingKey>,
    /// How many JWKs [`JwksMode::SkipUnusable`](super::JwksMode) left out, for a caller
    /// that logs it.
    skipped: usize,
}

impl VerifyingKeySet {
    /// A set of the given keys, at most [`MAX_KEYS_IN_SET`] of them.
    pub fn new(keys: Vec<VerifyingKey>) -> Result<VerifyingKeySet, super::JwksError> {
        if keys.len() > MAX_KEYS_IN_SET {
            return Err(super::JwksError::TooManyKeys);
        }
        Ok(VerifyingKeySet { keys, skipped: 0 })
    }

    pub(crate) fn with_skipped(keys: Vec<VerifyingKey>, skipped: usize) -> VerifyingKeySet {
        VerifyingKeySet { keys, skipped }
    }

    /// The keys, in the order they were given or published.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many JWKs of the source set were skipped as unusable (only
    /// [`JwksMode::SkipUnusable`](super::JwksMode) skips any).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Whether some key has this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid() == Some(kid))
    }

    /// The JWK Set document `{"keys":[...]}` (RFC 7517 §5) with each key's public JWK.
    pub fn to_jwks(&self) -> Value {
        let keys = self.keys.iter().map(VerifyingKey::to_jwk).collect();
        let mut set = Map::new();
        set.insert("keys".into(), Value::Array(keys));
        Value::Object(set)
    }

    /// [`to_jwks`](Self::to_jwks) as compact JSON text, ready to serve.
    pub fn to_jwks_json(&self) -> String {
        self.to_jwks().to_string()
    }
}
