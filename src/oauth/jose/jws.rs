//! Compact JWS (RFC 7515 §3.1, §7.1): parsing, verifying against a key set, and signing.
//!
//! Owns: the order of checks a token goes through (length, shape, encoding, header,
//! signature), the choice of keys to try (by `kid` when the header has one, else every key of
//! the header's algorithm), and the compact form of what [`sign`] produces.
//! Does not own: the keys (`keys.rs`, `signing.rs`), or what the payload means (`claims.rs`
//! and the callers).

use serde_json::{Map, Value};

use super::json::{parse_object, typed_member, JsonRefusal};
use super::keys::VerifyingKeySet;
use super::signing::{SignError, SigningKey};
use super::{b64url_decode, b64url_encode_onto, b64url_len, Algorithm, Claims, ClaimsError};
use crate::json::JsonObject;

/// Why a compact JWS was refused. The variants a caller acts on differently are separate:
/// [`UnknownKid`](JwsError::UnknownKid) (and, for a token without a `kid`,
/// [`NoKeyForAlgorithm`](JwsError::NoKeyForAlgorithm)) may mean the issuer rotated its keys,
/// so a resource server may refetch the JWK Set, once; every other refusal means the token
/// is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Longer than the caller's limit; nothing was decoded.
    #[error("the JWS is over {max_len} bytes")]
    TooLong { max_len: usize },
    /// Not three base64url parts, a header that is not a JSON object with distinct names, a
    /// header member of the wrong type, or an empty signature.
    #[error("malformed JWS: {0}")]
    Malformed(&'static str),
    /// `alg` is `none` or an HMAC algorithm (`HS256`, `HS384`, `HS512`): never accepted.
    #[error("the JWS alg is none or HMAC")]
    ForbiddenAlgorithm,
    /// `alg` is missing or names an algorithm this module does not implement.
    #[error("the JWS alg is not supported")]
    UnsupportedAlgorithm,
    /// The header has `crit`: no extension is understood here, so RFC 7515 §4.1.11 requires
    /// refusing any token that marks one critical.
    #[error("the JWS header has crit")]
    CriticalHeader,
    /// The header's `kid` matches no key in the set.
    #[error("the JWS kid matches no key")]
    UnknownKid,
    /// The header has no `kid` and the set holds no key for its algorithm.
    #[error("no key for the JWS alg")]
    NoKeyForAlgorithm,
    /// The header's `kid` names keys, but none for the header's algorithm.
    #[error("the kid's key is for another alg")]
    AlgorithmMismatch,
    /// No candidate key verifies the signature.
    #[error("the JWS signature does not verify")]
    BadSignature,
}

/// The protected header of a compact JWS, as far as this module reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    /// The algorithm, one this module implements.
    pub alg: Algorithm,
    /// The key id, if the signer named one.
    pub kid: Option<String>,
    /// The media type of the whole JWS (RFC 7515 §4.1.9), e.g. `at+jwt` for RFC 9068 access
    /// tokens; compare with [`typ_is`](Self::typ_is).
    pub typ: Option<String>,
    /// The media type of the payload (RFC 7515 §4.1.10).
    pub cty: Option<String>,
}

impl JwsHeader {
    /// Whether `typ` is the media type `expected` (`"at+jwt"` or `"application/at+jwt"`, say),
    /// compared as RFC 7515 §4.1.9 and RFC 8725 §3.11 ask: case-insensitively, with or
    /// without the `application/` prefix on either side.
    pub fn typ_is(&self, expected: &str) -> bool {
        let Some(typ) = self.typ.as_deref() else {
            return false;
        };
        let typ = strip_prefix_ignore_case(typ, "application/");
        let expected = strip_prefix_ignore_case(expected, "application/");
        // A media type with a slash after the prefix was removed is not a short form.
        !typ.contains('/') && typ.eq_ignore_ascii_case(expected)
    }

    fn from_json(bytes: &[u8]) -> Result<JwsHeader, JwsError> {
        let members = parse_object(bytes).map_err(|refusal| {
            JwsError::Malformed(match refusal {
                JsonRefusal::NotJson => "the header is not JSON",
                JsonRefusal::NotObject => "the header is not a JSON object",
                JsonRefusal::DuplicateMember => "a header member name appears twice",
            })
        })?;
        let alg = match members.get("alg") {
            Some(Value::String(alg)) => alg,
            Some(_) => return Err(JwsError::Malformed("alg is not a string")),
            None => return Err(JwsError::UnsupportedAlgorithm),
        };
        let alg = match Algorithm::from_name(alg) {
            Some(alg) => alg,
            None if is_forbidden_algorithm(alg) => return Err(JwsError::ForbiddenAlgorithm),
            None => return Err(JwsError::UnsupportedAlgorithm),
        };
        if members.contains_key("crit") {
            return Err(JwsError::CriticalHeader);
        }
        Ok(JwsHeader {
            alg,
            kid: optional_string(&members, "kid")?,
            typ: optional_string(&members, "typ")?,
            cty: optional_string(&members, "cty")?,
        })
    }
}

/// `none` and the HMAC family, in any case: a JOSE name is case-sensitive, so `None` would be
/// merely unknown, but naming these in the error helps whoever reads the log.
fn is_forbidden_algorithm(alg: &str) -> bool {
    ["none", "HS256", "HS384", "HS512"]
        .iter()
        .any(|forbidden| alg.eq_ignore_ascii_case(forbidden))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> &'a str {
    match text.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => &text[prefix.len()..],
        _ => text,
    }
}

fn optional_string(
    members: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, JwsError> {
    typed_member(members, name, |v| v.as_str().map(str::to_owned))
        .map_err(|()| JwsError::Malformed("kid, typ and cty are strings"))
}

/// A compact JWS that has been parsed but whose signature has not been checked. Its payload
/// is for choosing keys only (an RFC 7523 server reads `iss` to find the client's JWK Set);
/// nothing in it may be believed before [`verify`](Self::verify) succeeds.
#[derive(Debug, Clone)]
pub struct UnverifiedJws {
    header: JwsHeader,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature covers.
    signing_input: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl UnverifiedJws {
    /// Parses `token` if it is at most `max_len` bytes (checked before anything is decoded).
    pub fn parse(token: impl AsRef<[u8]>, max_len: usize) -> Result<UnverifiedJws, JwsError> {
        let token = token.as_ref();
        if token.len() > max_len {
            return Err(JwsError::TooLong { max_len });
        }
        let mut parts = token.split(|&b| b == b'.');
        let (Some(header_part), Some(payload_part), Some(signature_part), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed("a compact JWS has exactly three parts"));
        };
        let header_json =
            b64url_decode(header_part).ok_or(JwsError::Malformed("the header is not base64url"))?;
        let header = JwsHeader::from_json(&header_json)?;
        let payload = b64url_decode(payload_part)
            .ok_or(JwsError::Malformed("the payload is not base64url"))?;
        let signature = b64url_decode(signature_part)
            .ok_or(JwsError::Malformed("the signature is not base64url"))?;
        if signature.is_empty() {
            return Err(JwsError::Malformed("the signature is empty"));
        }
        let signing_input = token
            .get(..header_part.len() + 1 + payload_part.len())
            .ok_or(JwsError::Malformed("a compact JWS has exactly three parts"))?
            .to_vec();
        Ok(UnverifiedJws {
            header,
            signing_input,
            payload,
            signature,
        })
    }

    /// The header: safe to read before verification (it is how keys are chosen), but its
    /// values are the token's claims about itself.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The payload, not yet verified: use it only to decide which keys to verify with.
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Checks the signature against `keys`: with a `kid` in the header, only keys with that
    /// kid; without one, every key of the header's algorithm. A key is used only for its own
    /// algorithm, so a header cannot make an ES256 key check an EdDSA or HMAC signature.
    pub fn verify(self, keys: &VerifyingKeySet) -> Result<Verified, JwsError> {
        let alg = self.header.alg;
        let kid = self.header.kid.as_deref();
        // The keys the header points at: those under its kid, or all of them without one.
        let named = || {
            let all = keys.keys().iter().enumerate();
            all.filter(move |(_, key)| kid.is_none_or(|kid| key.kid() == Some(kid)))
        };
        let mut candidates = named().filter(|(_, key)| key.algorithm() == alg).peekable();
        if candidates.peek().is_none() {
            return Err(match kid {
                Some(_) if named().next().is_none() => JwsError::UnknownKid,
                Some(_) => JwsError::AlgorithmMismatch,
                None => JwsError::NoKeyForAlgorithm,
            });
        }
        let key_index = candidates
            .find(|(_, key)| key.verifies(&self.signing_input, &self.signature))
            .map(|(index, _)| index)
            .ok_or(JwsError::BadSignature)?;
        Ok(Verified {
            header: self.header,
            payload: self.payload,
            key_index,
        })
    }
}

/// A compact JWS whose signature one of the set's keys verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub header: JwsHeader,
    /// The payload bytes as signed (for a JWT, the claims as JSON: see [`Verified::claims`]).
    pub payload: Vec<u8>,
    /// Which key of the set verified it, by position in [`VerifyingKeySet::keys`].
    pub key_index: usize,
}

impl Verified {
    /// The payload read as a JWT Claims Set.
    pub fn claims(&self) -> Result<Claims, ClaimsError> {
        Claims::from_payload(&self.payload)
    }
}

/// Parses and verifies a compact JWS in one step: [`UnverifiedJws::parse`] then
/// [`UnverifiedJws::verify`]. Pass [`DEFAULT_MAX_LEN`](super::DEFAULT_MAX_LEN) unless a
/// profile needs another limit.
pub fn verify(
    token: impl AsRef<[u8]>,
    keys: &VerifyingKeySet,
    max_len: usize,
) -> Result<Verified, JwsError> {
    UnverifiedJws::parse(token, max_len)?.verify(keys)
}

/// What [`sign`] puts in the header besides `alg`, which always comes from the key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderParams<'a> {
    /// The `kid` the verifier will find the key under (usually its thumbprint).
    pub kid: Option<&'a str>,
    /// The `typ`, e.g. `at+jwt` for RFC 9068 access tokens.
    pub typ: Option<&'a str>,
}

/// Signs `payload` (for a JWT, the claims' JSON bytes) with `key`, by the key's algorithm,
/// into `BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature)`. The header is
/// `alg` first (always the key's), then `kid` and `typ` when given. The token is written into
/// one buffer sized for it up front: on the token endpoint in `jwt` format everything but the
/// signature itself is overhead (docs/BENCHMARKS.md, issue 10).
pub fn sign(
    key: &SigningKey,
    params: &HeaderParams<'_>,
    payload: &[u8],
) -> Result<String, SignError> {
    // `{"alg":"EdDSA","kid":"","typ":""}` is 33 bytes besides the two values.
    let mut header = JsonObject::with_capacity(
        40 + params.kid.map_or(0, str::len) + params.typ.map_or(0, str::len),
    );
    header.string("alg", key.algorithm().name());
    if let Some(kid) = params.kid {
        header.string("kid", kid);
    }
    if let Some(typ) = params.typ {
        header.string("typ", typ);
    }
    let header = header.finish();
    let mut token = String::with_capacity(
        b64url_len(header.len())
            + 1
            + b64url_len(payload.len())
            + 1
            + b64url_len(key.signature_len()),
    );
    b64url_encode_onto(&header, &mut token);
    token.push('.');
    b64url_encode_onto(payload, &mut token);
    let signature = key.sign_bytes(token.as_bytes())?;
    token.push('.');
    b64url_encode_onto(signature.as_ref(), &mut token);
    Ok(token)
}
