//! The rules a JWK must meet, the two JWK Set modes, and `typ` comparison.

use super::*;

fn jwk_error(jwk: &str) -> JwkError {
    VerifyingKey::from_jwk(jwk.as_bytes()).unwrap_err()
}

fn ec_with(extra: &str) -> String {
    RFC7515_A3_JWK.replace('}', &format!(",{extra}}}"))
}

#[test]
fn keys_of_other_types_and_curves_are_unknown() {
    assert_eq!(
        jwk_error(r#"{"kty":"oct","alg":"HS256"}"#),
        JwkError::UnknownKeyType
    );
    assert_eq!(
        jwk_error(r#"{"kty":"AKP","alg":"ML-DSA-44"}"#),
        JwkError::UnknownKeyType
    );
    let p384 = RFC7515_A3_JWK.replace("P-256", "P-384");
    assert_eq!(jwk_error(&p384), JwkError::UnknownCurve);
    let x25519 = format!(r#"{{"kty":"OKP","crv":"X25519","x":"{RFC8037_X}"}}"#);
    assert_eq!(jwk_error(&x25519), JwkError::UnknownCurve);
    // A symmetric key is private material, whatever else it is.
    assert_eq!(
        jwk_error(r#"{"kty":"oct","k":"AAAA"}"#),
        JwkError::PrivateKeyMaterial
    );
}

#[test]
fn keys_for_other_uses_are_refused() {
    assert_eq!(
        jwk_error(&ec_with(r#""use":"enc""#)),
        JwkError::NotForSignatures
    );
    assert_eq!(
        jwk_error(&ec_with(r#""key_ops":["encrypt"]"#)),
        JwkError::NotForSignatures
    );
    assert!(
        VerifyingKey::from_jwk(ec_with(r#""use":"sig","key_ops":["verify"]"#).as_bytes()).is_ok()
    );
    assert!(matches!(
        jwk_error(&ec_with(r#""key_ops":"verify""#)),
        JwkError::Malformed(_)
    ));
    assert!(matches!(
        jwk_error(&ec_with(r#""use":1"#)),
        JwkError::Malformed(_)
    ));
}

#[test]
fn key_members_must_be_exact() {
    for bad in [
        r#"{"crv":"P-256","x":"AA","y":"AA"}"#.to_string(),
        RFC7515_A3_JWK.replace("\"kty\":\"EC\",", "\"kty\":\"EC\",\"kty\":\"EC\","),
        RFC7515_A3_JWK.replace("\"crv\":\"P-256\",", ""),
        RFC7515_A3_JWK.replace(
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVE",
        ),
        RFC7515_A3_JWK.replace(
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU=",
        ),
        RFC7515_A3_JWK.replace(
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            "x/FEzRu9m36HLN/tue659LNpXW6pCyStikYjKIWI5a0",
        ),
        ec_with(r#""kid":5"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, b64(&[1; 31])),
        r#"{"kty":"RSA","e":"AQAB"}"#.to_string(),
        "[]".to_string(),
    ] {
        assert!(matches!(jwk_error(&bad), JwkError::Malformed(_)), "{bad}");
    }
}

#[test]
fn numbers_that_are_no_usable_key_are_refused() {
    // (x, y + 1) is not on P-256.
    let mut y = decode("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
    y[31] ^= 1;
    let off_curve = RFC7515_A3_JWK.replace("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", &b64(&y));
    assert!(matches!(jwk_error(&off_curve), JwkError::InvalidKey(_)));
    let n = decode(RFC7638_JWK.split('"').nth(7).unwrap());
    for (n, e) in [
        ([&[0][..], &n].concat(), vec![1, 0, 1]),
        (n.clone(), vec![0, 1, 0, 1]),
        (n.clone(), vec![1, 0, 0]),
        (n.clone(), vec![1]),
        (n.clone(), vec![1, 0, 0, 0, 0, 1]),
        ([&n[..255], &[n[255] & 0xfe]].concat(), vec![1, 0, 1]),
        (vec![0xff; 1025], vec![1, 0, 1]),
    ] {
        let jwk = format!(r#"{{"kty":"RSA","n":"{}","e":"{}"}}"#, b64(&n), b64(&e));
        assert!(matches!(jwk_error(&jwk), JwkError::InvalidKey(_)), "{jwk}");
    }
}

/// One usable key, then four a fetched set may hold but we cannot use, then another usable.
fn mixed_set() -> String {
    let entries = [
        ec_with(r#""kid":"ec""#),
        ec_with(r#""kid":"enc","use":"enc""#),
        r#"{"kty":"RSA","kid":"small","n":"wQ","e":"AQAB"}"#.to_string(),
        format!(r#"{{"kty":"OKP","crv":"X25519","x":"{RFC8037_X}"}}"#),
        r#""not a key""#.to_string(),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","kid":"ed"}}"#),
    ];
    format!(r#"{{"keys":[{}],"extra":true}}"#, entries.join(","))
}

#[test]
fn a_fetched_set_skips_keys_it_cannot_use() {
    let set = VerifyingKeySet::from_jwks(mixed_set().as_bytes(), JwksMode::SkipUnusable).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(set.skipped(), 4);
    assert_eq!(set.keys()[0].kid(), Some("ec"));
    assert_eq!(set.keys()[1].kid(), Some("ed"));
}

#[test]
fn a_registered_set_refuses_the_first_key_it_cannot_use() {
    assert_eq!(
        VerifyingKeySet::from_jwks(mixed_set().as_bytes(), JwksMode::RefuseUnusable),
        Err(JwksError::Key {
            index: 1,
            error: JwkError::NotForSignatures
        })
    );
}

#[test]
fn a_set_must_be_an_object_with_a_bounded_keys_array() {
    for bad in [
        &b"[]"[..],
        b"{}",
        br#"{"keys":{}}"#,
        br#"{"keys":[],"keys":[]}"#,
        b"{",
    ] {
        for mode in [JwksMode::SkipUnusable, JwksMode::RefuseUnusable] {
            assert!(matches!(
                VerifyingKeySet::from_jwks(bad, mode),
                Err(JwksError::Malformed(_))
            ));
        }
    }
    let empty = VerifyingKeySet::from_jwks(br#"{"keys":[]}"#, JwksMode::RefuseUnusable).unwrap();
    assert!(empty.is_empty());
    assert_eq!(
        verify(RFC7515_A3_JWS, &empty, DEFAULT_MAX_LEN),
        Err(JwsError::NoKeyForAlgorithm)
    );
    let many = format!(
        r#"{{"keys":[{}]}}"#,
        vec![RFC7515_A3_JWK; MAX_KEYS_IN_SET + 1].join(",")
    );
    assert_eq!(
        VerifyingKeySet::from_jwks(many.as_bytes(), JwksMode::SkipUnusable),
        Err(JwksError::TooManyKeys)
    );
    let key = VerifyingKey::from_jwk(RFC7515_A3_JWK.as_bytes()).unwrap();
    assert_eq!(
        VerifyingKeySet::new(vec![key; MAX_KEYS_IN_SET + 1]),
        Err(JwksError::TooManyKeys)
    );
}

#[test]
fn a_published_set_holds_public_members_only() {
    let jwks = keys().set.to_jwks();
    let published = jwks["keys"].as_array().unwrap();
    assert_eq!(published.len(), 2);
    for jwk in published {
        let names: Vec<&str> = jwk
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            names
                .iter()
                .all(|name| ["kty", "crv", "x", "y", "kid", "alg", "use"].contains(name)),
            "{names:?}"
        );
        assert_eq!(jwk["use"], "sig");
    }
    assert_eq!(published[0]["kty"], "EC");
    assert_eq!(published[0]["alg"], "ES256");
    assert_eq!(published[0]["kid"], "ec-1");
    assert_eq!(published[1]["kty"], "OKP");
    assert_eq!(published[1]["alg"], "EdDSA");
}

#[test]
fn typ_compares_media_types_as_rfc_8725_asks() {
    let header = |typ: Option<&str>| JwsHeader {
        alg: Algorithm::ES256,
        kid: None,
        typ: typ.map(String::from),
        cty: None,
    };
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        assert!(header(Some(typ)).typ_is("at+jwt"), "{typ}");
        assert!(header(Some(typ)).typ_is("application/at+jwt"), "{typ}");
    }
    for typ in [
        "jwt",
        "JWT",
        "at+jwt ",
        "application/application/at+jwt",
        "text/at+jwt",
        "",
    ] {
        assert!(!header(Some(typ)).typ_is("at+jwt"), "{typ}");
    }
    assert!(!header(None).typ_is("at+jwt"));
}
