//! `Authorization: Bearer` values as a resource server reads them: any header value yields a
//! token, no token, or a refusal, never a panic; a token found is always non-empty.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tollgate::resource::parse_bearer;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    if let Ok(Some(token)) = parse_bearer(&headers) {
        assert!(!token.is_empty());
    }
});
