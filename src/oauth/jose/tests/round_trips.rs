//! Keys generated, written, read back, used, published and verified: the paths the
//! authorization server, the resource server and a client will take.

use super::*;

/// generate -> PEM -> load -> sign -> JWKS JSON -> parse -> verify, for one algorithm.
fn full_round_trip(alg: Algorithm) {
    let generated = SigningKey::generate(alg).unwrap();
    let pem = generated.to_pem();
    assert!(pem.expose().starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(pem.expose().ends_with("-----END PRIVATE KEY-----\n"));
    assert!(pem.expose().lines().all(|line| line.len() <= 64));
    let loaded = SigningKey::from_pem(pem.expose().as_bytes()).unwrap();
    assert_eq!(loaded.algorithm(), alg);
    assert_eq!(loaded.thumbprint(), generated.thumbprint());

    let kid = loaded.thumbprint();
    let published = VerifyingKeySet::new(vec![loaded.verifying_key().with_kid(kid.clone())])
        .unwrap()
        .to_jwks_json();
    assert!(!published.contains("\"d\""), "{published}");
    let fetched =
        VerifyingKeySet::from_jwks(published.as_bytes(), JwksMode::RefuseUnusable).unwrap();

    let params = HeaderParams {
        kid: Some(&kid),
        typ: Some("at+jwt"),
    };
    let token = sign(&loaded, &params, CLAIMS).unwrap();
    let verified = verify(&token, &fetched, DEFAULT_MAX_LEN).unwrap();
    assert_eq!(verified.header.alg, alg);
    assert_eq!(verified.header.kid.as_deref(), Some(kid.as_str()));
    assert!(verified.header.typ_is("at+jwt"));
    assert_eq!(verified.payload, CLAIMS);
    let claims = verified.claims().unwrap();
    assert_eq!(claims.sub.as_deref(), Some("svc"));
    assert_eq!(claims.check_times(unix_now(), 60), Ok(()));

    // Both ES256 and EdDSA signatures are 64 bytes: for ES256 the JWS r || s form, not DER
    // (which would be 70 to 72 bytes and start with 0x30).
    let signature = decode(token.rsplit('.').next().unwrap());
    assert_eq!(signature.len(), 64);
}

#[test]
fn es256_generate_pem_load_sign_publish_verify() {
    full_round_trip(Algorithm::ES256);
}

#[test]
fn eddsa_generate_pem_load_sign_publish_verify() {
    full_round_trip(Algorithm::EdDSA);
}

#[test]
fn rs256_pem_load_sign_publish_verify() {
    let key = SigningKey::from_pem(RSA_TEST_KEY_PEM).unwrap();
    assert_eq!(key.algorithm(), Algorithm::RS256);
    let kid = key.thumbprint();
    let set = VerifyingKeySet::new(vec![key.verifying_key().with_kid(kid.clone())]).unwrap();
    let fetched =
        VerifyingKeySet::from_jwks(set.to_jwks_json().as_bytes(), JwksMode::RefuseUnusable)
            .unwrap();
    assert_eq!(fetched, set);
    let token = sign(
        &key,
        &HeaderParams {
            kid: Some(&kid),
            typ: None,
        },
        CLAIMS,
    )
    .unwrap();
    assert_eq!(decode(token.rsplit('.').next().unwrap()).len(), 256);
    assert_eq!(
        verify(&token, &fetched, DEFAULT_MAX_LEN).unwrap().payload,
        CLAIMS
    );
    // PKCS#1 v1.5 is deterministic: the same input signs the same.
    assert_eq!(
        sign(
            &key,
            &HeaderParams {
                kid: Some(&kid),
                typ: None
            },
            CLAIMS
        )
        .unwrap(),
        token
    );
}

#[test]
fn generated_keys_differ_and_es256_signatures_are_randomized() {
    let a = SigningKey::generate(Algorithm::ES256).unwrap();
    let b = SigningKey::generate(Algorithm::ES256).unwrap();
    assert_ne!(a.thumbprint(), b.thumbprint());
    let params = HeaderParams::default();
    assert_ne!(
        sign(&a, &params, CLAIMS).unwrap(),
        sign(&a, &params, CLAIMS).unwrap()
    );
}

#[test]
fn signed_headers_carry_alg_kid_and_typ_only() {
    let params = HeaderParams {
        kid: Some("k\"1"),
        typ: Some("at+jwt"),
    };
    let token = sign(&keys().eddsa, &params, b"").unwrap();
    let header = decode(token.split('.').next().unwrap());
    assert_eq!(header, br#"{"alg":"EdDSA","kid":"k\"1","typ":"at+jwt"}"#);
    let only_alg = sign(&keys().es256, &HeaderParams::default(), b"x").unwrap();
    assert!(only_alg.starts_with("eyJhbGciOiJFUzI1NiJ9."));
}

#[test]
fn the_signing_key_never_shows_its_private_key() {
    for key in [&keys().es256, &keys().eddsa] {
        let debug = format!("{key:?}");
        let pem = key.to_pem();
        let body: String = pem
            .expose()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        assert!(!debug.contains(&body[..16]), "{debug}");
        assert!(debug.contains(&key.thumbprint()));
        assert!(!format!("{pem:?}").contains(&body[..16]));
    }
}

#[test]
fn pem_that_is_not_a_pkcs8_key_we_use_is_refused() {
    assert_eq!(
        SigningKey::from_pem(b"not pem").unwrap_err(),
        KeyError::NotPem
    );
    let certificate_only = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_eq!(
        SigningKey::from_pem(certificate_only).unwrap_err(),
        KeyError::NotPem
    );
    for label in ["EC PRIVATE KEY", "RSA PRIVATE KEY"] {
        let pem = format!("-----BEGIN {label}-----\nAAAA\n-----END {label}-----\n");
        assert_eq!(
            SigningKey::from_pem(pem.as_bytes()).unwrap_err(),
            KeyError::NotPkcs8
        );
    }
    let junk = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert_eq!(
        SigningKey::from_pem(junk.as_bytes()).unwrap_err(),
        KeyError::UnsupportedKey
    );
    let rng = ring::rand::SystemRandom::new();
    let p384 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    assert_eq!(
        SigningKey::from_pkcs8_der(p384.as_ref()).unwrap_err(),
        KeyError::UnsupportedKey
    );
    assert_eq!(
        SigningKey::generate(Algorithm::RS256).unwrap_err(),
        KeyError::CannotGenerate(Algorithm::RS256)
    );
}

#[test]
fn a_pem_file_with_a_certificate_first_still_yields_its_key() {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let text = format!(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n{}",
        key.to_pem().expose()
    );
    assert_eq!(
        SigningKey::from_pem(text.as_bytes()).unwrap().thumbprint(),
        key.thumbprint()
    );
}

#[test]
fn the_unverified_view_shows_header_and_payload_before_keys_are_chosen() {
    let params = HeaderParams {
        kid: Some("ed-1"),
        typ: Some("JWT"),
    };
    let token = sign(&keys().eddsa, &params, CLAIMS).unwrap();
    let parsed = UnverifiedJws::parse(&token, DEFAULT_MAX_LEN).unwrap();
    assert_eq!(parsed.header().kid.as_deref(), Some("ed-1"));
    assert_eq!(
        Claims::from_payload(parsed.unverified_payload())
            .unwrap()
            .iss
            .as_deref(),
        Some("https://as.example")
    );
    assert_eq!(parsed.verify(&keys().set).unwrap().key_index, 1);
}

#[test]
fn a_token_is_written_into_one_buffer_of_exactly_its_size() {
    let rsa = SigningKey::from_pem(RSA_TEST_KEY_PEM).unwrap();
    for key in [&keys().es256, &keys().eddsa, &rsa] {
        // Every remainder of the payload and header lengths modulo 3 (base64's groups).
        for extra in 0..3 {
            let kid = "k".repeat(extra + 1);
            let payload = vec![b'x'; 100 + extra];
            let params = HeaderParams {
                kid: Some(&kid),
                typ: Some("at+jwt"),
            };
            let token = sign(key, &params, &payload).unwrap();
            // `String::with_capacity` allocates exactly what is asked for: a buffer that had
            // to grow, or one sized too large, would show here.
            assert_eq!(token.capacity(), token.len(), "{:?}", key.algorithm());
            let signature = decode(token.rsplit('.').next().unwrap());
            assert_eq!(signature.len(), key.signature_len());
        }
    }
}
