//! Certificate-bound tokens at the resource server (RFC 8705 §3).
//!
//! Owns: reading a token's confirmation (`cnf`, RFC 7800 §3.1) from an introspection answer or
//! a JWT's claims, and the check made on every request, cache hit or not: a token bound to a
//! certificate (`x5t#S256`, the base64url SHA-256 of its DER) is accepted only on a connection
//! whose client certificate has that thumbprint, compared in constant time; an unbound token
//! is accepted with or without a certificate. A `cnf` that cannot be honoured (not an object,
//! no `x5t#S256`, a thumbprint that is not 32 bytes of base64url, or only a confirmation
//! method not implemented here, such as DPoP's `jkt`) refuses the token: fail closed. Does not
//! own: the connection's certificate (see [`crate::http::ClientCertificate`]).

use base64::Engine as _;
use serde_json::Value;
use subtle::ConstantTimeEq;

/// A token's binding: `Ok(None)` unbound, `Ok(Some(sha256))` bound to that certificate, `Err`
/// a `cnf` this guard cannot check.
pub(super) fn read_cnf(cnf: Option<&Value>) -> Result<Option<[u8; 32]>, Unusable> {
    let Some(cnf) = cnf else {
        return Ok(None);
    };
    let text = cnf
        .as_object()
        .and_then(|members| members.get("x5t#S256"))
        .and_then(Value::as_str)
        .ok_or(Unusable)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Unusable)?;
    Ok(Some(bytes.try_into().map_err(|_| Unusable)?))
}

/// A `cnf` the guard cannot check: the token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unusable;

/// Whether a token bound to `bound_to` may be used on a connection whose client certificate
/// has the SHA-256 `presented`.
pub(super) fn holds(bound_to: Option<&[u8; 32]>, presented: Option<&[u8; 32]>) -> bool {
    match (bound_to, presented) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(bound), Some(presented)) => bound.ct_eq(presented).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cnf_is_read_strictly() {
        let sha = [7u8; 32];
        let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha);
        assert_eq!(read_cnf(None), Ok(None));
        assert_eq!(read_cnf(Some(&json!({ "x5t#S256": x5t }))), Ok(Some(sha)));
        for bad in [
            json!("x"),
            json!({}),
            json!({ "jkt": x5t }),
            json!({ "x5t#S256": 7 }),
            json!({ "x5t#S256": "AAAA" }),
            json!({ "x5t#S256": format!("{x5t}=") }),
        ] {
            assert_eq!(read_cnf(Some(&bad)), Err(Unusable), "{bad}");
        }
    }

    #[test]
    fn a_bound_token_needs_its_certificate_and_an_unbound_one_none() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert!(holds(None, None));
        assert!(holds(None, Some(&a)));
        assert!(holds(Some(&a), Some(&a)));
        assert!(!holds(Some(&a), Some(&b)));
        assert!(!holds(Some(&a), None));
    }
}
