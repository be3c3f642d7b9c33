//! Property tests: whatever the input, the parsers answer or refuse and never panic; any
//! change to a valid token is refused.

use proptest::prelude::*;

use super::*;

/// Characters a token is made of, plus the ones a strict reader must refuse.
const TOKENISH: &str = "[A-Za-z0-9_\\-+/=. ]{0,400}";

fn jws_parts() -> impl Strategy<Value = String> {
    // Three parts, each possibly a base64url encoding of JSON-ish text.
    let part = prop_oneof![
        "[A-Za-z0-9_-]{0,120}",
        "\\PC{0,60}".prop_map(|text| b64(text.as_bytes())),
        "\\{\"alg\":\"(ES256|EdDSA|RS256|none|HS256)\"(,\"kid\":\"(ec-1|ed-1|x)\")?(,\"crit\":\\[\\])?\\}"
            .prop_map(|text| b64(text.as_bytes())),
    ];
    (part.clone(), part.clone(), part).prop_map(|(h, p, s)| format!("{h}.{p}.{s}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_verify_and_never_panic(token in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert!(verify(&token, &keys().set, DEFAULT_MAX_LEN).is_err());
    }

    #[test]
    fn random_dotted_strings_never_verify_and_never_panic(token in TOKENISH) {
        prop_assert!(verify(&token, &keys().set, DEFAULT_MAX_LEN).is_err());
    }

    #[test]
    fn random_three_part_tokens_never_verify_and_never_panic(token in jws_parts()) {
        prop_assert!(verify(&token, &keys().set, DEFAULT_MAX_LEN).is_err());
    }

    #[test]
    fn any_change_to_a_valid_token_is_refused(
        eddsa in any::<bool>(),
        position in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_\\-.=+/]",
    ) {
        let key = if eddsa { &keys().eddsa } else { &keys().es256 };
        let params = HeaderParams { kid: Some(if eddsa { "ed-1" } else { "ec-1" }), typ: None };
        let token = sign(key, &params, CLAIMS).unwrap();
        let at = position.index(token.len());
        let mut changed = token.clone().into_bytes();
        changed[at] = replacement.as_bytes()[0];
        prop_assume!(changed != token.as_bytes());
        prop_assert!(verify(&changed, &keys().set, DEFAULT_MAX_LEN).is_err());
    }

    #[test]
    fn jwk_and_jwks_parsing_never_panics(text in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = VerifyingKey::from_jwk(&text);
        let _ = VerifyingKeySet::from_jwks(&text, JwksMode::SkipUnusable);
        let _ = VerifyingKeySet::from_jwks(&text, JwksMode::RefuseUnusable);
    }

    #[test]
    fn jwks_of_random_members_never_panic(
        kty in "(EC|OKP|RSA|oct|)", crv in "(P-256|Ed25519|X25519|)",
        x in "[A-Za-z0-9_-]{0,50}", y in "[A-Za-z0-9_-]{0,50}", alg in "(ES256|EdDSA|RS256|none|)",
    ) {
        let jwk = format!(r#"{{"kty":"{kty}","crv":"{crv}","x":"{x}","y":"{y}","n":"{x}","e":"{y}","alg":"{alg}"}}"#);
        let _ = VerifyingKey::from_jwk(jwk.as_bytes());
        let set = format!(r#"{{"keys":[{jwk},{RFC7515_A3_JWK}]}}"#);
        let parsed = VerifyingKeySet::from_jwks(set.as_bytes(), JwksMode::SkipUnusable).unwrap();
        prop_assert!(!parsed.is_empty());
    }

    #[test]
    fn claims_and_private_key_parsing_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Claims::from_payload(&bytes);
        let _ = SigningKey::from_pem(&bytes);
        let _ = SigningKey::from_pkcs8_der(&bytes);
    }
}
