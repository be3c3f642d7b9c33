//! Authorization server metadata (RFC 8414): the document and where it lives.
//!
//! Owns: [`ServerMetadata`], which the authorization server renders and discovery reads;
//! [`Issuer`], an issuer identifier checked against RFC 8414 §2 (an `https` URL with a host and
//! no query or fragment), with the URLs and paths that follow from it: its endpoints under its
//! path, and its metadata where §3.1 puts it (the well-known path between the host and the
//! issuer's path); and [`metadata_url`]. A trailing `/` on the issuer is kept byte for byte in
//! the `issuer` member but never doubled into `//` in a URL made from it. Does not own:
//! fetching or trusting the document (see [`crate::discovery`]).

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
    /// The JWS algorithms of `private_key_jwt` assertions (RFC 8414 §2), at each endpoint.
    #[serde(skip_serializing_if = "StringList::is_empty")]
    pub token_endpoint_auth_signing_alg_values_supported: StringList,
    #[serde(skip_serializing_if = "StringList::is_empty")]
    pub introspection_endpoint_auth_signing_alg_values_supported: StringList,
    #[serde(skip_serializing_if = "StringList::is_empty")]
    pub revocation_endpoint_auth_signing_alg_values_supported: StringList,
    /// RFC 8705 §3.3: tokens issued over a connection with a client certificate are bound to
    /// it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_certificate_bound_access_tokens: Option<bool>,
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

impl StringList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<const N: usize> From<[&str; N]> for StringList {
    fn from(items: [&str; N]) -> Self {
        StringList(items.iter().map(|s| s.to_string()).collect())
    }
}

/// An issuer that cannot be one: not an absolute `https` URL with a host, or with a query, a
/// fragment, user information, or a path with empty or dot segments (which clients may
/// normalise into another path than the one served).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the issuer {0:?} is not an https URL with a host and without query or fragment \
     (RFC 8414 §2), such as https://localhost:5003 or https://auth.example.com/tenant"
)]
pub struct BadIssuer(pub String);

/// A checked issuer identifier (RFC 8414 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// As configured, byte for byte: the `issuer` member and `iss` say exactly this.
    text: String,
    /// `https://AUTHORITY`.
    origin: String,
    /// The issuer's path without its trailing `/`: empty, or `/tenant`.
    path: String,
}

impl Issuer {
    pub fn parse(text: &str) -> Result<Issuer, BadIssuer> {
        let bad = || BadIssuer(text.to_owned());
        let uri: Uri = text.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("https") || uri.query().is_some() || text.contains('#') {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?;
        if authority.host().is_empty() || authority.as_str().contains('@') {
            return Err(bad());
        }
        let path = uri.path().trim_end_matches('/');
        let mut segments = path.split('/').skip(1);
        if segments.any(|segment| matches!(segment, "" | "." | "..")) {
            return Err(bad());
        }
        Ok(Issuer {
            text: text.to_owned(),
            origin: format!("https://{authority}"),
            path: path.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The issuer's path without its trailing `/`: empty for an issuer without one.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Where this issuer serves `endpoint_path` (`/oauth/token`): under its own path.
    pub fn endpoint_path(&self, endpoint_path: &str) -> String {
        format!("{}{endpoint_path}", self.path)
    }

    /// The URL of `endpoint_path` at this issuer.
    pub fn endpoint_url(&self, endpoint_path: &str) -> String {
        format!("{}{}{endpoint_path}", self.origin, self.path)
    }

    /// Where this issuer's metadata lives (RFC 8414 §3.1): the well-known path, then the
    /// issuer's path.
    pub fn metadata_path(&self) -> String {
        format!("{METADATA_PATH}{}", self.path)
    }

    /// The URL of this issuer's metadata.
    pub fn metadata_url(&self) -> Result<Uri, BadIssuer> {
        format!("{}{}", self.origin, self.metadata_path())
            .parse()
            .map_err(|_| BadIssuer(self.text.clone()))
    }
}

/// The metadata URL of `issuer` (RFC 8414 §3.1).
pub fn metadata_url(issuer: &str) -> Result<Uri, BadIssuer> {
    Issuer::parse(issuer)?.metadata_url()
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
            "https://localhost:5003/?",
            "https://localhost#x",
            "https://localhost/#",
            "https://user:pw@localhost",
            "https:///tenant",
            "https://localhost//tenant",
            "https://localhost/a/../b",
            "https://localhost/./b",
            "/tenant",
            "localhost:5003",
            "",
        ] {
            assert!(Issuer::parse(bad).is_err(), "{bad}");
            assert!(metadata_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_go_under_the_issuer_path_and_a_trailing_slash_is_never_doubled() {
        let root = Issuer::parse("https://localhost:5003/").unwrap();
        assert_eq!(root.as_str(), "https://localhost:5003/");
        assert_eq!(
            root.endpoint_url("/oauth/token"),
            "https://localhost:5003/oauth/token"
        );
        assert_eq!(root.metadata_path(), METADATA_PATH);
        let tenant = Issuer::parse("https://as.example:8443/t1/x/").unwrap();
        assert_eq!(tenant.endpoint_path("/oauth/token"), "/t1/x/oauth/token");
        assert_eq!(
            tenant.endpoint_url("/oauth/revoke"),
            "https://as.example:8443/t1/x/oauth/revoke"
        );
        assert_eq!(
            tenant.metadata_url().unwrap(),
            "https://as.example:8443/.well-known/oauth-authorization-server/t1/x"
        );
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
