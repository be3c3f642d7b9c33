//! Authorization server metadata (RFC 8414): the document and where it lives.
//!
//! Owns: [`ServerMetadata`], which the authorization server renders and discovery reads, and
//! [`metadata_url`] (RFC 8414 §3.1: the well-known path goes between the host and any path of
//! the issuer). Does not own: fetching or trusting the document (see [`crate::discovery`]).

use http::Uri;
use serde::{Deserialize, Deserializer, Serialize};

use super::METADATA_PATH;

/// The members of an RFC 8414 document that tollgate writes or reads. Reading ignores members
/// it does not know, and list members that are not lists of strings, since a foreign server's
/// extras are none of our business; the members discovery needs are checked there. Every
/// member but `issuer` may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerMetadata {
    pub issuer: String,
    pub token_endpoint: Option<String>,
    pub introspection_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    /// Only while the server has signing keys (RFC 8414 §2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    pub response_types_supported: StringList,
    pub grant_types_supported: StringList,
    pub token_endpoint_auth_methods_supported: StringList,
    pub introspection_endpoint_auth_methods_supported: StringList,
    pub revocation_endpoint_auth_methods_supported: StringList,
    pub scopes_supported: StringList,
}

/// A metadata list member: read leniently, as the strings of a JSON array (anything else, such
/// as `null`, a string, or the other items of a mixed array, reads as nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StringList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let strings = match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Array(items) => items
                .into_iter()
                .filter_map(|item| match item {
                    serde_json::Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(StringList(strings))
    }
}

impl<const N: usize> From<[&str; N]> for StringList {
    fn from(items: [&str; N]) -> Self {
        StringList(items.iter().map(|s| s.to_string()).collect())
    }
}

/// An issuer that cannot be one: not an absolute `https` URL, or with a query or fragment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the issuer {0:?} is not an absolute https URL without query or fragment")]
pub struct BadIssuer(pub String);

/// The metadata URL of `issuer` (RFC 8414 §3.1).
pub fn metadata_url(issuer: &str) -> Result<Uri, BadIssuer> {
    let bad = || BadIssuer(issuer.to_owned());
    let uri: Uri = issuer.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("https") || uri.query().is_some() || issuer.contains('#') {
        return Err(bad());
    }
    let authority = uri.authority().ok_or_else(bad)?;
    let path = uri.path().trim_end_matches('/');
    format!("https://{authority}{METADATA_PATH}{path}")
        .parse()
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_puts_the_well_known_path_before_the_issuer_path() {
        assert_eq!(
            metadata_url("https://localhost:5003").unwrap(),
            "https://localhost:5003/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            metadata_url("https://as.example/tenant/").unwrap(),
            "https://as.example/.well-known/oauth-authorization-server/tenant"
        );
    }

    #[test]
    fn issuers_that_are_not_https_or_carry_a_query_are_refused() {
        for bad in [
            "http://localhost:5003",
            "https://localhost:5003?x=1",
            "https://localhost#x",
            "localhost:5003",
            "",
        ] {
            assert!(metadata_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn foreign_extras_are_ignored_when_reading() {
        let text = r#"{"issuer":"https://a","token_endpoint":"https://a/t",
            "scopes_supported":null,"grant_types_supported":["client_credentials",3],
            "something_else":{"x":1}}"#;
        let parsed: ServerMetadata = serde_json::from_str(text).unwrap();
        assert_eq!(parsed.token_endpoint.as_deref(), Some("https://a/t"));
        assert!(parsed.scopes_supported.0.is_empty());
        assert_eq!(parsed.grant_types_supported.0, ["client_credentials"]);
    }
}
