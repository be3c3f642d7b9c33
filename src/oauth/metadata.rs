//! Authorization server metadata (RFC 8414): the document and where it lives.
//!
//! Owns: [`ServerMetadata`], which the authorization server renders and discovery reads, and
//! [`metadata_url`] (RFC 8414 §3.1: the well-known path goes between the host and any path of
//! the issuer). Does not own: fetching or trusting the document (see [`crate::discovery`]).

use std::fmt;

use http::Uri;
use serde::{Deserialize, Deserializer, Serialize};

use super::METADATA_PATH;

/// The members of an RFC 8414 document that tollgate writes or reads. Reading ignores members
/// it does not know, and list members that are not lists of strings, since a foreign server's
/// extras are none of our business; the members discovery needs are checked there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMetadata {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(default, deserialize_with = "lenient_list")]
    pub response_types_supported: Vec<String>,
    #[serde(default, deserialize_with = "lenient_list")]
    pub grant_types_supported: Vec<String>,
    #[serde(default, deserialize_with = "lenient_list")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default, deserialize_with = "lenient_list")]
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default, deserialize_with = "lenient_list")]
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default, deserialize_with = "lenient_list")]
    pub scopes_supported: Vec<String>,
}

/// A list of strings, or empty for anything else (null, a string, a list with other items).
fn lenient_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        _ => return Ok(Vec::new()),
    };
    Ok(items
        .into_iter()
        .filter_map(|item| match item {
            serde_json::Value::String(s) => Some(s),
            _ => None,
        })
        .collect())
}

/// An issuer that cannot be one: not an absolute `https` URL, or with a query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadIssuer(pub String);

impl fmt::Display for BadIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the issuer {:?} is not an absolute https URL without query or fragment",
            self.0
        )
    }
}

impl std::error::Error for BadIssuer {}

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
        assert!(parsed.scopes_supported.is_empty());
        assert_eq!(parsed.grant_types_supported, ["client_credentials"]);
    }
}
