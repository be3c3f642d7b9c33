//! Client assertions: `private_key_jwt` (RFC 7523 §2.2, §3; OpenID Connect Core §9).
//!
//! Owns: the checks an assertion must pass, in order: a compact JWS whose unverified `iss`
//! names the client (so its keys can be chosen, and a `client_id` parameter must say the
//! same); a signature by one of the client's registered keys with that key's own algorithm
//! (never `none` or HMAC; with no `kid`, each key of the header's algorithm is tried); `iss`
//! and `sub` both the client id; `aud`, a string or an array, containing the issuer or the URL
//! of the endpoint called (RFC 9700 §2.3 and the rfc7523bis draft prefer the issuer; OpenID
//! Connect names the token endpoint); `exp` present, in the future and at most
//! [`MAX_LIFETIME_SECS`] ahead; `nbf` and `iat`, when present, at most [`MAX_SKEW_SECS`]
//! ahead; a non-empty `jti`. What passes becomes the [`AssertionKey`] and expiry the replay
//! store's replay cache records; the caller looks it up, after these checks, so nobody without the client's
//! key can spend its `jti`s. Does not own: finding the assertion in the request
//! (`credentials`), the replay cache (`tokens`), throttling (`authenticate`).

use super::tokens::AssertionKey;
use crate::oauth::jose::{UnverifiedJws, VerifyingKeySet, DEFAULT_MAX_LEN};
use crate::secret::sha256;

/// Longest an assertion may live: `exp` at most this far ahead of now.
pub const MAX_LIFETIME_SECS: i64 = 300;
/// How far ahead of now `nbf` and `iat` may be (the client's clock runs fast).
pub const MAX_SKEW_SECS: i64 = 60;

/// A parsed, not yet verified assertion and the client it claims to come from.
pub(super) struct Claimed {
    jws: UnverifiedJws,
    /// The unverified `iss`: which client's keys to verify with. Nothing else is read before
    /// the signature is checked.
    pub(super) issuer: String,
}

/// An assertion that passed every check but the replay cache's.
#[derive(Debug)]
pub(super) struct Accepted {
    pub(super) key: AssertionKey,
    /// Its `exp`, seconds since the epoch: how long the cache must remember it.
    pub(super) exp: u64,
}

/// Reads an assertion far enough to know which client it claims to be from.
pub(super) fn claimed(assertion: &str) -> Option<Claimed> {
    let jws = UnverifiedJws::parse(assertion, DEFAULT_MAX_LEN).ok()?;
    let payload: serde_json::Value = serde_json::from_slice(jws.unverified_payload()).ok()?;
    let issuer = payload.get("iss")?.as_str()?.to_owned();
    Some(Claimed { jws, issuer })
}

/// The checks of the module doc for an assertion from `client_id`, whose keys are `keys`,
/// at an endpoint that accepts the audiences `audiences`, at `now` (seconds since the epoch).
pub(super) fn verify(
    claimed: Claimed,
    client_id: &str,
    keys: &VerifyingKeySet,
    audiences: &[&str],
    now: i64,
) -> Option<Accepted> {
    let verified = claimed.jws.verify(keys).ok()?;
    let claims = verified.claims().ok()?;
    if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
        return None;
    }
    if !audiences.iter().any(|aud| claims.has_audience(aud)) {
        return None;
    }
    let exp = claims.exp?;
    if exp <= now || exp > now.saturating_add(MAX_LIFETIME_SECS) {
        return None;
    }
    let latest_start = now.saturating_add(MAX_SKEW_SECS);
    if claims.nbf.is_some_and(|nbf| nbf > latest_start)
        || claims.iat.is_some_and(|iat| iat > latest_start)
    {
        return None;
    }
    let jti = claims.jti.filter(|jti| !jti.is_empty())?;
    Some(Accepted {
        key: replay_key(client_id, &jti),
        exp: u64::try_from(exp).ok()?,
    })
}

/// SHA-256 over the client id, a zero byte (no id holds one) and the `jti`.
fn replay_key(client_id: &str, jti: &str) -> AssertionKey {
    let mut input = Vec::with_capacity(client_id.len() + 1 + jti.len());
    input.extend_from_slice(client_id.as_bytes());
    input.push(0);
    input.extend_from_slice(jti.as_bytes());
    sha256(&input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::jose::{sign, Algorithm, HeaderParams, SigningKey};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const ISSUER: &str = "https://as.example";

    fn key() -> SigningKey {
        SigningKey::generate(Algorithm::ES256).unwrap()
    }

    fn assertion(key: &SigningKey, claims: serde_json::Value) -> String {
        sign(key, &HeaderParams::default(), claims.to_string().as_bytes()).unwrap()
    }

    fn good() -> serde_json::Value {
        json!({"iss": "pkj", "sub": "pkj", "aud": ISSUER, "exp": NOW + 60, "iat": NOW, "jti": "j1"})
    }

    fn check(key: &SigningKey, claims: serde_json::Value) -> Option<Accepted> {
        let keys = VerifyingKeySet::new(vec![key.verifying_key()]).unwrap();
        let claimed = claimed(&assertion(key, claims))?;
        verify(
            claimed,
            "pkj",
            &keys,
            &[ISSUER, "https://as.example/oauth/token"],
            NOW,
        )
    }

    fn with(member: &str, value: serde_json::Value) -> serde_json::Value {
        let mut claims = good();
        claims[member] = value;
        claims
    }

    #[test]
    fn a_good_assertion_is_accepted_until_its_exp() {
        let key = key();
        let accepted = check(&key, good()).unwrap();
        assert_eq!(accepted.exp, (NOW + 60) as u64);
        assert_eq!(accepted.key, replay_key("pkj", "j1"));
        let endpoint = json!(["https://other", "https://as.example/oauth/token"]);
        assert!(check(&key, with("aud", endpoint)).is_some());
        assert!(check(&key, with("exp", json!(NOW + MAX_LIFETIME_SECS))).is_some());
        assert!(check(&key, with("nbf", json!(NOW + MAX_SKEW_SECS))).is_some());
    }

    #[test]
    fn every_claim_is_checked() {
        let key = key();
        for (member, value) in [
            ("iss", json!("other")),
            ("sub", json!("other")),
            ("aud", json!("https://as.example/oauth/introspect")),
            ("aud", json!([])),
            ("exp", json!(NOW)),
            ("exp", json!(NOW + MAX_LIFETIME_SECS + 1)),
            ("exp", json!(null)),
            ("iat", json!(NOW + MAX_SKEW_SECS + 1)),
            ("nbf", json!(NOW + MAX_SKEW_SECS + 1)),
            ("jti", json!("")),
            ("jti", json!(7)),
        ] {
            assert!(
                check(&key, with(member, value.clone())).is_none(),
                "{member}: {value}"
            );
        }
        let mut no_jti = good();
        no_jti.as_object_mut().unwrap().remove("jti");
        assert!(check(&key, no_jti).is_none());
        // Another client's key: the signature does not verify.
        let keys = VerifyingKeySet::new(vec![key.verifying_key()]).unwrap();
        let foreign = assertion(&self::key(), good());
        assert!(verify(claimed(&foreign).unwrap(), "pkj", &keys, &[ISSUER], NOW).is_none());
    }

    #[test]
    fn jtis_of_different_clients_never_share_a_key() {
        assert_ne!(replay_key("a", "bc"), replay_key("ab", "c"));
    }
}
