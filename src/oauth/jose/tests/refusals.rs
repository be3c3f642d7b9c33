//! What must be refused, and with which error: RFC 8725's attacks and every strictness rule.

use super::*;

fn good_es256() -> String {
    let params = HeaderParams {
        kid: Some("ec-1"),
        typ: Some("at+jwt"),
    };
    sign(&keys().es256, &params, CLAIMS).unwrap()
}

fn parts(token: &str) -> Vec<&str> {
    token.split('.').collect()
}

fn check(token: &str) -> Result<Verified, JwsError> {
    verify(token, &keys().set, DEFAULT_MAX_LEN)
}

#[test]
fn the_good_token_these_tests_alter_verifies() {
    let verified = check(&good_es256()).unwrap();
    assert_eq!(verified.header.kid.as_deref(), Some("ec-1"));
    assert_eq!(verified.key_index, 0);
}

#[test]
fn alg_none_is_refused_with_or_without_a_signature() {
    for header in [
        r#"{"alg":"none"}"#,
        r#"{"alg":"none","kid":"ec-1"}"#,
        r#"{"alg":"NONE"}"#,
    ] {
        let unsigned = format!("{}.{}.", b64(header.as_bytes()), b64(CLAIMS));
        assert_eq!(check(&unsigned).unwrap_err(), JwsError::ForbiddenAlgorithm);
        let signed = format!("{unsigned}{}", parts(&good_es256())[2]);
        assert_eq!(check(&signed).unwrap_err(), JwsError::ForbiddenAlgorithm);
    }
}

#[test]
fn hmac_is_refused_even_keyed_with_the_public_key() {
    // The RFC 8725 §2.1 confusion: an HMAC whose secret is the verifier's own public key, in
    // each form a careless verifier might use as "the key bytes".
    let public = keys().set.keys()[0].clone();
    let jwk_text = public.to_jwk().to_string();
    let mut point = vec![4u8];
    point.extend(decode(public.to_jwk()["x"].as_str().unwrap()));
    point.extend(decode(public.to_jwk()["y"].as_str().unwrap()));
    for (alg, hmac) in [
        ("HS256", ring::hmac::HMAC_SHA256),
        ("HS384", ring::hmac::HMAC_SHA384),
        ("HS512", ring::hmac::HMAC_SHA512),
    ] {
        for secret in [jwk_text.as_bytes(), &point[..]] {
            let header = format!(r#"{{"alg":"{alg}","kid":"ec-1"}}"#);
            let input = format!("{}.{}", b64(header.as_bytes()), b64(CLAIMS));
            let tag = ring::hmac::sign(&ring::hmac::Key::new(hmac, secret), input.as_bytes());
            let token = format!("{input}.{}", b64(tag.as_ref()));
            assert_eq!(check(&token).unwrap_err(), JwsError::ForbiddenAlgorithm);
        }
    }
}

#[test]
fn crit_is_refused_even_with_a_valid_signature() {
    for header in [
        r#"{"alg":"ES256","kid":"ec-1","crit":["exp"],"exp":1}"#,
        r#"{"alg":"ES256","kid":"ec-1","crit":[]}"#,
        r#"{"alg":"ES256","kid":"ec-1","b64":false,"crit":["b64"]}"#,
    ] {
        let token = sign_with_header(&keys().es256, header, CLAIMS);
        assert_eq!(check(&token).unwrap_err(), JwsError::CriticalHeader);
    }
}

#[test]
fn a_key_checks_only_its_own_algorithm() {
    // An EdDSA token whose kid names an ES256 key: refused before any signature check.
    let shared =
        VerifyingKeySet::new(vec![keys().es256.verifying_key().with_kid("shared")]).unwrap();
    let params = HeaderParams {
        kid: Some("shared"),
        typ: None,
    };
    let eddsa = sign(&keys().eddsa, &params, CLAIMS).unwrap();
    assert_eq!(
        verify(&eddsa, &shared, DEFAULT_MAX_LEN),
        Err(JwsError::AlgorithmMismatch)
    );
    // The same with the header claiming ES256 over an EdDSA signature: the ES256 key refuses it.
    let relabelled = sign_with_header(&keys().eddsa, r#"{"alg":"ES256","kid":"shared"}"#, CLAIMS);
    assert_eq!(
        verify(&relabelled, &shared, DEFAULT_MAX_LEN),
        Err(JwsError::BadSignature)
    );
    // Without a kid, only keys of the header's algorithm are tried.
    let no_kid = sign(&keys().eddsa, &HeaderParams::default(), CLAIMS).unwrap();
    assert_eq!(
        verify(&no_kid, &shared, DEFAULT_MAX_LEN),
        Err(JwsError::NoKeyForAlgorithm)
    );
    assert_eq!(check(&no_kid).unwrap().key_index, 1);
}

#[test]
fn a_jwk_alg_that_contradicts_its_key_type_is_refused() {
    let jwk = RFC7515_A3_JWK.replace('}', r#","alg":"EdDSA"}"#);
    assert_eq!(
        VerifyingKey::from_jwk(jwk.as_bytes()),
        Err(JwkError::AlgorithmMismatch)
    );
    let jwk = RFC7515_A3_JWK.replace('}', r#","alg":"ES384"}"#);
    assert_eq!(
        VerifyingKey::from_jwk(jwk.as_bytes()),
        Err(JwkError::UnsupportedAlgorithm)
    );
    let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","alg":"Ed25519"}}"#);
    assert_eq!(
        VerifyingKey::from_jwk(jwk.as_bytes()),
        Err(JwkError::UnsupportedAlgorithm)
    );
}

#[test]
fn a_changed_payload_or_header_breaks_the_signature() {
    let token = good_es256();
    let p = parts(&token);
    let other_claims = b64(&CLAIMS
        .iter()
        .map(|&b| if b == b's' { b'S' } else { b })
        .collect::<Vec<_>>());
    let changed_payload = format!("{}.{other_claims}.{}", p[0], p[2]);
    assert_eq!(check(&changed_payload).unwrap_err(), JwsError::BadSignature);
    let other_header = b64(br#"{"alg":"ES256","kid":"ec-1","typ":"jwt"}"#);
    let changed_header = format!("{other_header}.{}.{}", p[1], p[2]);
    assert_eq!(check(&changed_header).unwrap_err(), JwsError::BadSignature);
}

#[test]
fn padding_and_the_standard_alphabet_are_refused() {
    let token = good_es256();
    let p = parts(&token);
    // 86 characters encode the 64-byte signature; padded base64 would add "==".
    assert_eq!(p[2].len(), 86);
    for padded in [
        format!("{}.{}.{}==", p[0], p[1], p[2]),
        format!("{}=.{}.{}", p[0], p[1], p[2]),
        format!("{}.{}=.{}", p[0], p[1], p[2]),
    ] {
        assert!(
            matches!(check(&padded), Err(JwsError::Malformed(_))),
            "{padded}"
        );
    }
    // The RFC 7515 A.3 signature has both '-' and '_'; in the standard alphabet it is refused,
    // not decoded to the same bytes.
    let standard = RFC7515_A3_JWS.replace('-', "+").replace('_', "/");
    assert_ne!(standard, RFC7515_A3_JWS);
    let rfc_keys = VerifyingKeySet::new(vec![
        VerifyingKey::from_jwk(RFC7515_A3_JWK.as_bytes()).unwrap()
    ])
    .unwrap();
    assert!(matches!(
        verify(&standard, &rfc_keys, DEFAULT_MAX_LEN),
        Err(JwsError::Malformed(_))
    ));
    // Whitespace and non-canonical trailing bits ("Rw" -> "Rx" decodes the same bytes in a
    // lax decoder) are refused too.
    let spaced = format!("{}.{} .{}", p[0], p[1], p[2]);
    assert!(matches!(check(&spaced), Err(JwsError::Malformed(_))));
    let a2_loose = RFC7515_A2_JWS.replace("Ge77Rw", "Ge77Rx");
    assert_ne!(a2_loose, RFC7515_A2_JWS);
    assert!(matches!(
        verify(&a2_loose, &keys().set, DEFAULT_MAX_LEN),
        Err(JwsError::Malformed(_))
    ));
}

#[test]
fn the_length_cap_is_checked_before_anything_is_decoded() {
    let token = good_es256();
    assert_eq!(
        verify(&token, &keys().set, token.len() - 1),
        Err(JwsError::TooLong {
            max_len: token.len() - 1
        })
    );
    assert!(verify(&token, &keys().set, token.len()).is_ok());
    let garbage = "!".repeat(DEFAULT_MAX_LEN + 1);
    assert_eq!(
        check(&garbage),
        Err(JwsError::TooLong {
            max_len: DEFAULT_MAX_LEN
        })
    );
}

#[test]
fn only_exactly_three_parts_are_a_compact_jws() {
    let token = good_es256();
    let p = parts(&token);
    for wrong in [
        p[0].to_string(),
        format!("{}.{}", p[0], p[1]),
        format!("{}.{}.{}.{}", p[0], p[1], p[2], p[2]),
        format!("{token}."),
        String::new(),
        "..".into(),
    ] {
        assert!(
            matches!(check(&wrong), Err(JwsError::Malformed(_))),
            "{wrong}"
        );
    }
    // Three parts with an empty signature, under an algorithm that would otherwise be tried.
    let empty_signature = format!("{}.{}.", p[0], p[1]);
    assert_eq!(
        check(&empty_signature),
        Err(JwsError::Malformed("the signature is empty"))
    );
}

#[test]
fn the_header_must_be_one_json_object_with_typed_members() {
    let signature = parts(&good_es256())[2].to_string();
    let with_header = |header: &[u8]| format!("{}.{}.{signature}", b64(header), b64(CLAIMS));
    for header in [
        &b"[]"[..],
        b"\"ES256\"",
        b"null",
        b"",
        b"{\"alg\":\"ES256\"",
        b"{\"alg\":\"ES256\"}x",
        br#"{"alg":"ES256","alg":"ES256"}"#,
        br#"{"alg":"ES256","kid":7}"#,
        br#"{"alg":"ES256","typ":null}"#,
        br#"{"alg":"ES256","cty":["a"]}"#,
        br#"{"alg":256}"#,
    ] {
        assert!(
            matches!(check(&with_header(header)), Err(JwsError::Malformed(_))),
            "{}",
            String::from_utf8_lossy(header)
        );
    }
    for header in [
        &br#"{}"#[..],
        br#"{"alg":"ES384"}"#,
        br#"{"alg":"PS256"}"#,
        br#"{"alg":"Ed25519"}"#,
        br#"{"alg":"es256"}"#,
    ] {
        assert_eq!(
            check(&with_header(header)),
            Err(JwsError::UnsupportedAlgorithm),
            "{}",
            String::from_utf8_lossy(header)
        );
    }
}

#[test]
fn an_unknown_kid_is_reported_as_such() {
    let params = HeaderParams {
        kid: Some("rotated-away"),
        typ: None,
    };
    let token = sign(&keys().es256, &params, CLAIMS).unwrap();
    assert_eq!(check(&token), Err(JwsError::UnknownKid));
    assert!(!keys().set.contains_kid("rotated-away") && keys().set.contains_kid("ec-1"));
}

#[test]
fn jwks_with_private_members_are_refused() {
    let private = RFC7515_A3_JWK.replace('}', &format!(r#","d":"{RFC7515_A3_D}"}}"#));
    assert_eq!(
        VerifyingKey::from_jwk(private.as_bytes()),
        Err(JwkError::PrivateKeyMaterial)
    );
    let set = format!(r#"{{"keys":[{RFC7515_A3_JWK},{private}]}}"#);
    for mode in [JwksMode::SkipUnusable, JwksMode::RefuseUnusable] {
        assert_eq!(
            VerifyingKeySet::from_jwks(set.as_bytes(), mode),
            Err(JwksError::Key {
                index: 1,
                error: JwkError::PrivateKeyMaterial
            })
        );
    }
    let rsa_private = RFC7638_JWK.replace(r#""e":"AQAB""#, r#""e":"AQAB","p":"AQAB""#);
    assert_eq!(
        VerifyingKey::from_jwk(rsa_private.as_bytes()),
        Err(JwkError::PrivateKeyMaterial)
    );
}

#[test]
fn rsa_keys_under_2048_bits_are_refused() {
    for n in [vec![0xc1; 128], [&[0x7f][..], &[0xff; 255]].concat()] {
        let jwk = format!(r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#, b64(&n));
        assert_eq!(
            VerifyingKey::from_jwk(jwk.as_bytes()),
            Err(JwkError::RsaKeyTooSmall)
        );
    }
    let just_enough = [&[0x80][..], &[0xff; 255]].concat();
    let jwk = format!(r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#, b64(&just_enough));
    assert!(VerifyingKey::from_jwk(jwk.as_bytes()).is_ok());
}
