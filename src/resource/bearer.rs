//! Bearer tokens in requests (RFC 6750 §2.1) and the guard's answers (RFC 6750 §3).
//!
//! Owns: finding the one bearer token of a request's `Authorization` header (the scheme is
//! case-insensitive; a token in the query or body is never looked at), the b64token grammar,
//! and the error responses with their `WWW-Authenticate` challenges. Does not own: judging a
//! token (see the guard).

use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::http::Body;
use crate::oauth::error_response;

/// Why a request was refused, as RFC 6750 §3.1 names it.
pub(super) enum Refusal {
    NoToken,
    InvalidRequest(&'static str),
    InvalidToken,
    InsufficientScope(String),
    Unavailable,
}

/// The RFC 6750 §3 answer to a refusal, with its `WWW-Authenticate` challenge in `realm`.
pub(super) fn refusal_response(refusal: Refusal, realm: &str) -> Response<Body> {
    let realm = quoted(realm);
    let (status, challenge, error, description) = match refusal {
        Refusal::NoToken => (
            StatusCode::UNAUTHORIZED,
            Some(format!("Bearer realm={realm}")),
            "unauthorized",
            "a bearer token in the Authorization header is required".to_owned(),
        ),
        Refusal::InvalidRequest(description) => (
            StatusCode::BAD_REQUEST,
            Some(format!(
                "Bearer realm={realm}, error=\"invalid_request\", error_description={}",
                quoted(description)
            )),
            "invalid_request",
            description.to_owned(),
        ),
        Refusal::InvalidToken => (
            StatusCode::UNAUTHORIZED,
            Some(format!(
                "Bearer realm={realm}, error=\"invalid_token\", \
                 error_description=\"the access token is invalid, expired or revoked\""
            )),
            "invalid_token",
            "the access token is invalid, expired or revoked".to_owned(),
        ),
        Refusal::InsufficientScope(scope) => (
            StatusCode::FORBIDDEN,
            Some(format!(
                "Bearer realm={realm}, error=\"insufficient_scope\", scope={}",
                quoted(&scope)
            )),
            "insufficient_scope",
            format!("the access token lacks scope {scope:?}"),
        ),
        Refusal::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "temporarily_unavailable",
            "the authorization server cannot be reached to check the token".to_owned(),
        ),
    };
    let mut response = error_response(status, error, &description);
    if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The bearer token of a request's `Authorization` header (RFC 6750 §2.1): `Ok(None)` when
/// there is none (no header, or another scheme), `Err` with the reason when the header is
/// malformed. This is the parser [`TokenGuard::authorize`](super::TokenGuard::authorize) uses, public for tests and fuzzing.
pub fn parse_bearer(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    match bearer_token(headers) {
        Ok(token) => Ok(Some(token)),
        Err(Refusal::NoToken) => Ok(None),
        Err(Refusal::InvalidRequest(reason)) => Err(reason),
        Err(_) => Err("refused"),
    }
}

pub(super) fn bearer_token(headers: &HeaderMap) -> Result<&str, Refusal> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::NoToken);
    };
    if values.next().is_some() {
        return Err(Refusal::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    // The shape every client sends, judged in one pass over the bytes: a JWT is hundreds of
    // them, and the general parser walks them four times. Anything else takes that parser.
    match plain_bearer(value.as_bytes()) {
        Some(token) => Ok(token),
        None => parse_authorization(value),
    }
}

/// `Bearer <b64token>` with exactly one space, or `None` for every other shape; where it
/// answers, [`parse_authorization`] gives the same token (a property test holds them to it).
fn plain_bearer(value: &[u8]) -> Option<&str> {
    let (scheme, token) = value.split_at_checked(7)?;
    if !scheme[..6].eq_ignore_ascii_case(b"Bearer") || scheme[6] != b' ' || !is_b64token(token) {
        return None;
    }
    std::str::from_utf8(token).ok()
}

/// The general parser: any run of spaces and tabs around the scheme and the token, and the
/// reason for every refusal.
fn parse_authorization(value: &HeaderValue) -> Result<&str, Refusal> {
    let Ok(value) = value.to_str() else {
        return Err(Refusal::InvalidRequest(
            "the Authorization header is not visible ASCII",
        ));
    };
    let mut parts = value.split([' ', '\t']).filter(|p| !p.is_empty());
    let Some(scheme) = parts.next() else {
        return Err(Refusal::NoToken);
    };
    if !scheme.eq_ignore_ascii_case("Bearer") {
        // Another scheme (Basic, say): no bearer token, so the §3.1 answer without an error.
        return Err(Refusal::NoToken);
    }
    let Some(token) = parts.next() else {
        return Err(Refusal::InvalidRequest("the Bearer scheme needs a token"));
    };
    if parts.next().is_some() {
        return Err(Refusal::InvalidRequest(
            "the Authorization header holds more than one token",
        ));
    }
    if !is_b64token(token.as_bytes()) {
        return Err(Refusal::InvalidRequest(
            "the bearer token has characters RFC 6750 section 2.1 does not allow",
        ));
    }
    Ok(token)
}

/// The b64token characters before any trailing `=`, one entry per byte value: one load per
/// byte instead of a chain of comparisons.
static B64TOKEN_BODY: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] =
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        byte += 1;
    }
    table
};

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |last| last + 1);
    let body = &token[..body_len];
    // No early exit: a refused token is rare, and the loop without one is tighter.
    !body.is_empty()
        && body
            .iter()
            .fold(true, |ok, &b| ok & B64TOKEN_BODY[usize::from(b)])
}

/// A quoted-string with `"` and `\` escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value as one more `Authorization` field.
    fn headers(values: &[&str]) -> HeaderMap {
        let field = |v: &&str| (AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        values.iter().map(field).collect()
    }

    fn kind(result: Result<&str, Refusal>) -> &'static str {
        match result {
            Ok(_) => "token",
            Err(Refusal::NoToken) => "none",
            Err(Refusal::InvalidRequest(_)) => "invalid_request",
            Err(_) => "other",
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let map = headers(&[&format!("{scheme} abc.DEF-123_~+/==")]);
            assert_eq!(bearer_token(&map).ok(), Some("abc.DEF-123_~+/=="));
        }
    }

    #[test]
    fn missing_or_foreign_credentials_count_as_no_token() {
        assert_eq!(kind(bearer_token(&headers(&[]))), "none");
        assert_eq!(kind(bearer_token(&headers(&["Basic YTpi"]))), "none");
    }

    #[test]
    fn malformed_bearer_headers_are_invalid_requests() {
        for bad in [
            "Bearer",
            "Bearer   ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer ===",
        ] {
            assert_eq!(
                kind(bearer_token(&headers(&[bad]))),
                "invalid_request",
                "{bad}"
            );
        }
        assert_eq!(
            kind(bearer_token(&headers(&["Bearer a", "Bearer b"]))),
            "invalid_request"
        );
    }

    #[test]
    fn b64token_is_the_rfc_6750_grammar() {
        for good in ["a", "a=", "a==", "Zz09-._~+/", "eyJh.eyJi.c2ln"] {
            assert!(is_b64token(good.as_bytes()), "{good}");
        }
        for bad in [
            "", "=", "==", "a=b", "a b", "a,b", "a\"", "a%", "\u{e9}", "a\t", "a\0",
        ] {
            assert!(!is_b64token(bad.as_bytes()), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// The one-pass reader answers only where the general parser gives the same token.
        #[test]
        fn the_fast_path_agrees_with_the_general_parser(
            value in "(Bearer|bearer|BEARER|Basic|Bearer )?[ \t]{0,2}[A-Za-z0-9._~+/=, \t\"%-]{0,40}"
        ) {
            let Ok(header) = HeaderValue::from_str(&value) else { return Ok(()) };
            if let Some(token) = plain_bearer(header.as_bytes()) {
                proptest::prop_assert_eq!(parse_authorization(&header).ok(), Some(token));
            }
        }
    }

    #[test]
    fn the_fast_path_takes_the_common_shape_only() {
        assert_eq!(
            plain_bearer(b"Bearer abc.DEF-_~+/=="),
            Some("abc.DEF-_~+/==")
        );
        assert_eq!(plain_bearer(b"bEARER x"), Some("x"));
        for other in [
            &b"Bearer  x"[..],
            b"Bearer\tx",
            b"Bearer x ",
            b"Bearer ",
            b"Basic YTpi",
            b"Bearerx",
        ] {
            assert_eq!(
                plain_bearer(other),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn challenges_quote_the_realm_and_name_the_error() {
        let response = refusal_response(Refusal::InvalidToken, "a \"b\"");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer realm=\"a \\\"b\\\"\", error=\"invalid_token\""));
        let unavailable = refusal_response(Refusal::Unavailable, "r");
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.headers()[RETRY_AFTER], "1");
    }
}
