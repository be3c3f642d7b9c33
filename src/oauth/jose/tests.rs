//! Tests of the whole module: published vectors, refusals, round trips, properties.
//!
//! Shared here: the RFC vectors (each checks itself: a wrong byte fails its signature or
//! thumbprint), a fixed pair of generated keys, and a signer that writes any header, for the
//! tokens [`sign`] would never make.

use std::sync::OnceLock;

use super::*;

mod jwks;
mod properties;
mod refusals;
mod round_trips;
mod vectors;

/// RFC 7515 appendix A.1 to A.3 payload (with its CRLFs), base64url.
const RFC7515_PAYLOAD: &str =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

/// RFC 7515 appendix A.3: the ES256 example JWS (ECDSA is randomized, so only this signature
/// can be checked) and the public part of its key.
const RFC7515_A3_JWS: &str = concat!(
    "eyJhbGciOiJFUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
);
const RFC7515_A3_JWK: &str = r#"{"kty":"EC","crv":"P-256",
    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
/// The same key's private `d`, for a JWK that must be refused.
const RFC7515_A3_D: &str = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";

/// RFC 7515 appendix A.2: the RS256 example JWS (PKCS#1 v1.5 is deterministic) and its key.
const RFC7515_A2_JWS: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
    "p0igcN_IoypGlUPQGe77Rw",
);
const RFC7515_A2_JWK: &str = concat!(
    r#"{"kty":"RSA","e":"AQAB","n":""#,
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx",
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH",
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8",
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
    r#""}"#,
);

/// RFC 8037 appendix A.1: the Ed25519 private key (`d` is the seed) and public key.
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
/// RFC 8037 appendix A.3: the thumbprint of the A.1 key.
const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
/// RFC 8037 appendix A.4: the payload and the JWS its key makes (Ed25519 is deterministic).
const RFC8037_PAYLOAD: &[u8] = b"Example of Ed25519 signing";
const RFC8037_JWS: &str = concat!(
    "eyJhbGciOiJFZERTQSJ9",
    ".",
    "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc",
    ".",
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
);

/// RFC 7638 §3.1: an RSA JWK (the RFC 7517 A.1 key) and its thumbprint.
const RFC7638_JWK: &str = concat!(
    r#"{"kty":"RSA","n":""#,
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    r#"","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
);
const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/// A fixed 2048-bit RSA key in PKCS#8 PEM, made once with OpenSSL for tests only.
const RSA_TEST_KEY_PEM: &[u8] = include_bytes!("../../../tests/data/rsa2048_test_key.pem");

fn b64(bytes: &[u8]) -> String {
    b64url_encode(bytes)
}

fn decode(text: &str) -> Vec<u8> {
    b64url_decode(text.as_bytes()).expect("test vectors are base64url")
}

/// The RFC 8037 A.1 key as a `SigningKey`, through a PKCS#8 v1 document built around its seed
/// (RFC 8410 §7: the fixed Ed25519 prefix, then the 32-byte seed).
fn rfc8037_signing_key() -> SigningKey {
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&decode(RFC8037_D));
    SigningKey::from_pkcs8_der(&pkcs8).expect("the RFC 8037 key loads")
}

/// A compact JWS with any header text, signed by `key`'s own algorithm.
fn sign_with_header(key: &SigningKey, header: &str, payload: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(payload));
    let signature = key.sign_bytes(signing_input.as_bytes()).expect("signs");
    format!("{signing_input}.{}", b64(signature.as_ref()))
}

/// Two generated keys and the set that publishes them, made once for all tests.
struct Keys {
    es256: SigningKey,
    eddsa: SigningKey,
    /// The ES256 key as `ec-1` and the EdDSA key as `ed-1`.
    set: VerifyingKeySet,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let es256 = SigningKey::generate(Algorithm::ES256).expect("generates");
        let eddsa = SigningKey::generate(Algorithm::EdDSA).expect("generates");
        let set = VerifyingKeySet::new(vec![
            es256.verifying_key().with_kid("ec-1"),
            eddsa.verifying_key().with_kid("ed-1"),
        ])
        .expect("two keys");
        Keys { es256, eddsa, set }
    })
}

const CLAIMS: &[u8] = br#"{"iss":"https://as.example","sub":"svc","aud":"rs","exp":4102444800}"#;
