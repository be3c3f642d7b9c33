//! Compact JWS as a resource server or an authorization server receives them: any bytes are
//! parsed and verified against a fixed key set (the RFC 7515 A.3 ES256 key and the RFC 8037
//! A.2 Ed25519 key) and refused, never a panic. Only the two RFC example tokens carry a
//! signature these keys accept, so any other token that verifies is a bug. (ECDSA's
//! `(r, n - s)` twin of the A.3 signature would verify too; no fuzzer finds it by chance.)
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate::oauth::jose::{verify, Claims, JwksMode, UnverifiedJws, VerifyingKeySet, DEFAULT_MAX_LEN};

const KEYS: &str = r#"{"keys":[
    {"kty":"EC","crv":"P-256","kid":"rfc7515",
     "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
     "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
    {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

const RFC7515_A3: &[u8] = b"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
const RFC8037_A4: &[u8] = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

fn keys() -> &'static VerifyingKeySet {
    static KEY_SET: OnceLock<VerifyingKeySet> = OnceLock::new();
    KEY_SET.get_or_init(|| {
        VerifyingKeySet::from_jwks(KEYS.as_bytes(), JwksMode::RefuseUnusable).expect("fixed keys")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = UnverifiedJws::parse(data, DEFAULT_MAX_LEN) {
        let _ = parsed.header().typ_is("at+jwt");
        let _ = Claims::from_payload(parsed.unverified_payload());
    }
    if let Ok(verified) = verify(data, keys(), DEFAULT_MAX_LEN) {
        assert!(
            data == RFC7515_A3 || data == RFC8037_A4,
            "a token no key signed verified"
        );
        let _ = verified.claims();
    }
});
