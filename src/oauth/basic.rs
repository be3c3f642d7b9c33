//! HTTP Basic client credentials (RFC 6749 §2.3.1), both directions.
//!
//! Owns: making the `Authorization: Basic ...` value of a client id and secret, and reading one
//! back. RFC 6749 §2.3.1 has the id and the secret "encoded using the
//! application/x-www-form-urlencoded encoding algorithm" *before* base64, so both directions
//! form-encode; RFC 7617 alone would not. Does not own: which method a request used or whether
//! the secret is right (see `auth::credentials`, `auth::clients`).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::form::{decode_form_component, encode_form_component};
use crate::secret::SecretString;

/// Standard base64, accepting input with or without its padding.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a Basic header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicError {
    NotBasic,
    BadBase64,
    NoColon,
    BadEncoding,
    EmptyId,
}

impl BasicError {
    /// What is wrong, for an error description.
    pub fn description(self) -> &'static str {
        match self {
            BasicError::NotBasic => "use HTTP Basic client authentication",
            BasicError::BadBase64 => "the Basic credentials are not valid base64",
            BasicError::NoColon => "the Basic credentials have no ':' separator",
            BasicError::BadEncoding => "the Basic credentials are not valid form-urlencoded UTF-8",
            BasicError::EmptyId => "the Basic credentials have an empty client id",
        }
    }
}

/// `Basic` credentials as RFC 6749 §2.3.1 wants them: id and secret form-encoded first.
pub fn basic_authorization(client_id: &str, secret: &SecretString) -> SecretString {
    let pair = SecretString::new(format!(
        "{}:{}",
        encode_form_component(client_id),
        encode_form_component(secret.expose())
    ));
    SecretString::new(format!("Basic {}", STANDARD.encode(pair.expose())))
}

/// Parses an `Authorization: Basic ...` value into a client id and secret.
pub fn parse_basic(value: &[u8]) -> Result<(String, SecretString), BasicError> {
    let (decoded, colon) = decode_basic(value)?;
    let id = decode_form_component(&decoded[..colon]).map_err(|_| BasicError::BadEncoding)?;
    let secret =
        decode_form_component(&decoded[colon + 1..]).map_err(|_| BasicError::BadEncoding)?;
    if id.is_empty() {
        return Err(BasicError::EmptyId);
    }
    Ok((id, SecretString::new(secret)))
}

/// The client id a Basic value that [`parse_basic`] refused was meant to carry, for a log line:
/// what stands before the first `:` of the decoded credentials, form-decoded where it can be
/// and as sent where it cannot. Never anything after the colon, and nothing at all without one
/// (the whole value might then be a secret) or when the value is not Basic or not base64.
pub fn basic_client_id_hint(value: &[u8]) -> Option<String> {
    let (decoded, colon) = decode_basic(value).ok()?;
    let raw = &decoded[..colon];
    let id =
        decode_form_component(raw).unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned());
    (!id.is_empty()).then_some(id)
}

/// The base64-decoded credentials of a Basic value (wiped when dropped) and where their first
/// `:` is.
fn decode_basic(value: &[u8]) -> Result<(zeroize::Zeroizing<Vec<u8>>, usize), BasicError> {
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(BasicError::NotBasic);
    }
    let encoded = rest.trim_ascii();
    if encoded.is_empty() {
        return Err(BasicError::BadBase64);
    }
    let decoded = zeroize::Zeroizing::new(
        BASIC_BASE64
            .decode(encoded)
            .map_err(|_| BasicError::BadBase64)?,
    );
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(BasicError::NoColon)?;
    Ok((decoded, colon))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(raw)).into_bytes()
    }

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        let value = basic_authorization("a b", &SecretString::new("p:w%".into()));
        let encoded = value.expose().strip_prefix("Basic ").unwrap();
        assert_eq!(STANDARD.decode(encoded).unwrap(), b"a%20b:p%3Aw%25");
    }

    #[test]
    fn basic_credentials_are_form_decoded_after_base64() {
        let (id, secret) = parse_basic(&basic("my%20id:p%3Ass+word")).unwrap();
        assert_eq!(id, "my id");
        assert_eq!(secret.expose(), "p:ss word");
    }

    #[test]
    fn what_we_send_we_read_back() {
        let value = basic_authorization("svc.1", &SecretString::new("s3:cr%t +".into()));
        let (id, secret) = parse_basic(value.expose().as_bytes()).unwrap();
        assert_eq!((id.as_str(), secret.expose()), ("svc.1", "s3:cr%t +"));
    }

    #[test]
    fn basic_scheme_is_case_insensitive_and_padding_optional() {
        let header = format!("bAsIc {}", STANDARD.encode("a:b").trim_end_matches('='));
        let (id, secret) = parse_basic(header.as_bytes()).unwrap();
        assert_eq!((id.as_str(), secret.expose()), ("a", "b"));
    }

    #[test]
    fn malformed_basic_headers_are_named() {
        assert_eq!(
            parse_basic(b"Bearer abc").unwrap_err(),
            BasicError::NotBasic
        );
        assert_eq!(parse_basic(b"Basic").unwrap_err(), BasicError::BadBase64);
        assert_eq!(
            parse_basic(b"Basic !!!").unwrap_err(),
            BasicError::BadBase64
        );
        assert_eq!(
            parse_basic(&basic("nocolon")).unwrap_err(),
            BasicError::NoColon
        );
        assert_eq!(
            parse_basic(&basic("a%zz:b")).unwrap_err(),
            BasicError::BadEncoding
        );
        assert_eq!(
            parse_basic(&basic("a:%ff")).unwrap_err(),
            BasicError::BadEncoding
        );
        assert_eq!(parse_basic(&basic(":b")).unwrap_err(), BasicError::EmptyId);
    }

    #[test]
    fn the_id_hint_of_a_refused_value_never_reaches_past_the_colon() {
        assert_eq!(
            basic_client_id_hint(&basic("svc%zz:s3cret")).as_deref(),
            Some("svc%zz")
        );
        assert_eq!(
            basic_client_id_hint(&basic("a%20b:%ff")).as_deref(),
            Some("a b")
        );
        assert_eq!(basic_client_id_hint(&basic("nocolons3cret")), None);
        assert_eq!(basic_client_id_hint(&basic(":s3cret")), None);
        assert_eq!(basic_client_id_hint(b"Bearer abc"), None);
        assert_eq!(basic_client_id_hint(b"Basic !!!"), None);
    }
}
