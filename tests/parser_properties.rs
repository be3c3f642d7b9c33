//! Property tests of the parsers that read what clients send: form bodies, HTTP Basic
//! credentials, Bearer headers and the clients file. Whatever the input, they answer or refuse; they never
//! panic, and what tollgate's own encoders write, they read back unchanged.

use base64::Engine as _;
use proptest::prelude::*;
use tollgate::auth::clients::ClientRegistry;
use tollgate::form::{decode_form_component, encode_form_component, Form, FormError};
use tollgate::oauth::parse_basic;
use tollgate::resource::parse_bearer;

fn authorization(value: &[u8]) -> Option<http::HeaderMap> {
    let value = http::HeaderValue::from_bytes(value).ok()?;
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    Some(headers)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn form_parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Form::parse(&body);
    }

    #[test]
    fn encoded_forms_parse_back_to_their_pairs(
        pairs in proptest::collection::btree_map("\\PC{1,12}", "\\PC{0,24}", 0..8)
    ) {
        let body = pairs
            .iter()
            .map(|(n, v)| format!("{}={}", encode_form_component(n), encode_form_component(v)))
            .collect::<Vec<_>>()
            .join("&");
        let form = Form::parse(body.as_bytes()).expect("an encoded form parses");
        for (name, value) in &pairs {
            prop_assert!(form.contains(name));
            let expected = if value.is_empty() { None } else { Some(value.as_str()) };
            prop_assert_eq!(form.get(name), expected);
        }
    }

    #[test]
    fn a_repeated_name_is_always_refused(name in "[a-z_]{1,10}", a in "\\PC{0,8}", b in "\\PC{0,8}") {
        let body = format!("{0}={1}&{0}={2}", name, encode_form_component(&a), encode_form_component(&b));
        prop_assert_eq!(Form::parse(body.as_bytes()).err(), Some(FormError::Repeated(name)));
    }

    #[test]
    fn component_encoding_round_trips(text in "\\PC{0,64}") {
        let encoded = encode_form_component(&text);
        prop_assert_eq!(decode_form_component(encoded.as_bytes()).expect("decodes"), text);
    }

    #[test]
    fn basic_parsing_never_panics(value in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_basic(&value);
        let mut prefixed = b"Basic ".to_vec();
        prefixed.extend_from_slice(&value);
        let _ = parse_basic(&prefixed);
    }

    #[test]
    fn basic_credentials_round_trip_through_form_encoding_and_base64(
        id in "\\PC{1,32}", secret in "\\PC{0,64}"
    ) {
        let raw = format!("{}:{}", encode_form_component(&id), encode_form_component(&secret));
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
        let (parsed_id, parsed_secret) = parse_basic(header.as_bytes()).expect("parses");
        prop_assert_eq!(parsed_id, id);
        prop_assert_eq!(parsed_secret.expose(), secret.as_str());
    }

    #[test]
    fn clients_file_parsing_never_panics(text in "\\PC{0,300}") {
        let _ = ClientRegistry::parse(&text);
    }

    #[test]
    fn clients_files_with_valid_entries_load_and_verify_nothing_else(
        ids in proptest::collection::btree_set("[A-Za-z0-9._-]{1,64}", 1..6),
        scope in "[a-z]{1,8}( [a-z]{1,8}){0,3}",
    ) {
        let entries = ids
            .iter()
            .map(|id| format!(
                "{{\"client_id\":\"{id}\",\"secret_sha256\":\"{}\",\"scope\":\"{scope}\"}}",
                "ab".repeat(32)
            ))
            .collect::<Vec<_>>()
            .join(",");
        let registry = ClientRegistry::parse(&format!("{{\"clients\":[{entries}]}}")).expect("valid file");
        prop_assert_eq!(registry.len(), ids.len());
        for id in &ids {
            prop_assert!(registry.get(id).is_some());
            prop_assert_eq!(registry.verify(id, "not the secret"), tollgate::auth::clients::Verdict::Refused);
        }
    }

    #[test]
    fn bearer_parsing_never_panics(value in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Some(headers) = authorization(&value) {
            let _ = parse_bearer(&headers);
        }
        let mut prefixed = b"Bearer ".to_vec();
        prefixed.extend_from_slice(&value);
        if let Some(headers) = authorization(&prefixed) {
            let _ = parse_bearer(&headers);
        }
    }

    #[test]
    fn a_b64token_after_any_casing_of_bearer_is_the_token(
        scheme in "[bB][eE][aA][rR][eE][rR]",
        token in "[A-Za-z0-9._~+/-]{1,64}=*",
    ) {
        let headers = authorization(format!("{scheme} {token}").as_bytes()).expect("valid header");
        prop_assert_eq!(parse_bearer(&headers), Ok(Some(token.as_str())));
    }

    #[test]
    fn two_tokens_or_none_after_bearer_are_malformed(a in "[A-Za-z0-9]{1,20}", b in "[A-Za-z0-9]{1,20}") {
        let two = authorization(format!("Bearer {a} {b}").as_bytes()).expect("valid header");
        prop_assert!(parse_bearer(&two).is_err());
        let none = authorization(b"Bearer").expect("valid header");
        prop_assert!(parse_bearer(&none).is_err());
    }
}
