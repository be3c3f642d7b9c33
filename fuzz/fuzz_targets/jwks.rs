//! JWK Sets as a resource server fetches them or a client registers them: any bytes load or
//! are refused in both modes, never a panic; a set that loads is published again with public
//! members only and reads back as the same keys.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tollgate::oauth::jose::{JwksMode, VerifyingKey, VerifyingKeySet};

fuzz_target!(|data: &[u8]| {
    let _ = VerifyingKey::from_jwk(data);
    let _ = VerifyingKeySet::from_jwks(data, JwksMode::RefuseUnusable);
    if let Ok(set) = VerifyingKeySet::from_jwks(data, JwksMode::SkipUnusable) {
        let published = set.to_jwks_json();
        let again = VerifyingKeySet::from_jwks(published.as_bytes(), JwksMode::RefuseUnusable)
            .expect("what we publish, we read");
        assert_eq!(again.keys(), set.keys());
        for key in set.keys() {
            assert_eq!(key.thumbprint().len(), 43);
        }
    }
});
