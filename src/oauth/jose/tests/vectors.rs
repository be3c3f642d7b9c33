//! The published examples: RFC 7515 A.2 and A.3, RFC 8037 A.1 to A.4, RFC 7638 §3.1.

use super::*;

fn set_of(jwk: &str) -> VerifyingKeySet {
    VerifyingKeySet::new(vec![
        VerifyingKey::from_jwk(jwk.as_bytes()).expect("the RFC JWK parses")
    ])
    .expect("one key")
}

#[test]
fn rfc7515_a3_es256_example_verifies_with_its_public_key() {
    let verified = verify(RFC7515_A3_JWS, &set_of(RFC7515_A3_JWK), DEFAULT_MAX_LEN).unwrap();
    assert_eq!(verified.header.alg, Algorithm::ES256);
    assert_eq!(verified.header.kid, None);
    assert_eq!(
        verified.payload,
        b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"
    );
    assert_eq!(verified.key_index, 0);
    let claims = verified.claims().unwrap();
    assert_eq!(claims.iss.as_deref(), Some("joe"));
    assert_eq!(claims.exp, Some(1_300_819_380));
    assert_eq!(claims.members["http://example.com/is_root"], true);
}

#[test]
fn rfc7515_a3_example_refuses_a_changed_signature_byte() {
    let mut signature = decode(RFC7515_A3_JWS.rsplit('.').next().unwrap());
    signature[10] ^= 1;
    let token = format!("eyJhbGciOiJFUzI1NiJ9.{RFC7515_PAYLOAD}.{}", b64(&signature));
    assert_eq!(
        verify(&token, &set_of(RFC7515_A3_JWK), DEFAULT_MAX_LEN),
        Err(JwsError::BadSignature)
    );
}

#[test]
fn rfc7515_a2_rs256_example_verifies_with_its_public_key() {
    let keys = set_of(RFC7515_A2_JWK);
    assert_eq!(keys.keys()[0].algorithm(), Algorithm::RS256);
    let verified = verify(RFC7515_A2_JWS, &keys, DEFAULT_MAX_LEN).unwrap();
    assert_eq!(verified.header.alg, Algorithm::RS256);
    assert_eq!(verified.claims().unwrap().iss.as_deref(), Some("joe"));
}

#[test]
fn rfc8037_a4_signing_reproduces_the_example_jws_exactly() {
    let key = rfc8037_signing_key();
    assert_eq!(key.algorithm(), Algorithm::EdDSA);
    let token = sign(&key, &HeaderParams::default(), RFC8037_PAYLOAD).unwrap();
    assert_eq!(token, RFC8037_JWS);
}

#[test]
fn rfc8037_a2_public_key_is_derived_from_the_a1_private_key() {
    let jwk = rfc8037_signing_key().verifying_key().to_jwk();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["x"], RFC8037_X);
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    assert!(jwk.get("d").is_none());
}

#[test]
fn rfc8037_a4_example_verifies_with_the_a2_public_key() {
    let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}"}}"#);
    let verified = verify(RFC8037_JWS, &set_of(&jwk), DEFAULT_MAX_LEN).unwrap();
    assert_eq!(verified.header.alg, Algorithm::EdDSA);
    assert_eq!(verified.payload, RFC8037_PAYLOAD);
}

#[test]
fn rfc8037_a3_thumbprint_of_the_a1_key() {
    assert_eq!(rfc8037_signing_key().thumbprint(), RFC8037_THUMBPRINT);
    let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","kid":"any"}}"#);
    let key = VerifyingKey::from_jwk(jwk.as_bytes()).unwrap();
    assert_eq!(key.thumbprint(), RFC8037_THUMBPRINT);
}

#[test]
fn rfc8037_a1_private_jwk_is_refused() {
    let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","d":"{RFC8037_D}","x":"{RFC8037_X}"}}"#);
    assert_eq!(
        VerifyingKey::from_jwk(jwk.as_bytes()),
        Err(JwkError::PrivateKeyMaterial)
    );
}

#[test]
fn rfc7638_3_1_thumbprint_of_the_rsa_example() {
    let key = VerifyingKey::from_jwk(RFC7638_JWK.as_bytes()).unwrap();
    assert_eq!(key.algorithm(), Algorithm::RS256);
    assert_eq!(key.kid(), Some("2011-04-29"));
    assert_eq!(key.thumbprint(), RFC7638_THUMBPRINT);
}

#[test]
fn thumbprints_ignore_optional_members_and_survive_a_jwk_round_trip() {
    let ec = VerifyingKey::from_jwk(RFC7515_A3_JWK.as_bytes()).unwrap();
    let again = VerifyingKey::from_jwk_value(&ec.clone().with_kid("k").to_jwk()).unwrap();
    assert_eq!(again.thumbprint(), ec.thumbprint());
    assert_eq!(again.kid(), Some("k"));
    let rsa = VerifyingKey::from_jwk(RFC7638_JWK.as_bytes()).unwrap();
    let again = VerifyingKey::from_jwk_value(&rsa.to_jwk()).unwrap();
    assert_eq!(again, rsa);
    assert_eq!(again.thumbprint(), RFC7638_THUMBPRINT);
}
