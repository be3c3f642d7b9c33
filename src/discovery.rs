//! Finding an authorization server's endpoints from its issuer URL (RFC 8414).
//!
//! Owns: the metadata URL of an issuer (RFC 8414 §3: the well-known path goes between the host
//! and any path of the issuer), fetching and checking the metadata (§3.3: the `issuer` in it
//! must equal the configured issuer exactly, or the document is not to be used), and
//! [`Discovered`], which holds the result once known; while the server cannot be reached it is
//! retried in the background with a bounded backoff and also on demand by the requests that
//! need it, so the first request after the server comes back is served. Does not own: the
//! document's shape or URL (see [`crate::oauth::metadata`]), the HTTPS client (see
//! [`crate::http::outbound`]) or what the endpoints are used for.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::Full;

use crate::access_log;
use crate::http::{Outbound, OutboundError};
use crate::oauth::{metadata_url, ServerMetadata};

/// First and longest wait between discovery attempts while the server is unreachable.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(2);

/// The endpoints tollgate uses, from an authorization server's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: Uri,
    pub introspection_endpoint: Option<Uri>,
    /// Where the server publishes its signing keys (RFC 8414 §2), if it signs tokens.
    pub jwks_uri: Option<Uri>,
}

/// Why discovery did not give endpoints.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The configured issuer is not an absolute `https` URL without query or fragment.
    #[error("the authorization server {0:?} is not an absolute https URL without query")]
    BadIssuer(String),
    /// The server could not be reached; worth retrying.
    #[error("authorization server metadata: {0}")]
    Unreachable(#[source] OutboundError),
    /// The server answered with a status other than 200; worth retrying (it may be starting).
    #[error("{url} answered with status {status}")]
    Status { url: String, status: u16 },
    /// The metadata names another issuer: this is not the server we were told to trust.
    #[error(
        "the authorization server's metadata names issuer {found:?}, but {expected:?} was \
         configured; they must match exactly (RFC 8414 §3.3): check --auth-server"
    )]
    IssuerMismatch { expected: String, found: String },
    /// The metadata is not usable (not JSON, or an endpoint missing or not `https`).
    #[error("{url} is not usable metadata: {detail}")]
    Invalid { url: String, detail: String },
}

impl DiscoveryError {
    /// Whether retrying cannot help: the configuration or the server is wrong.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            DiscoveryError::BadIssuer(_)
                | DiscoveryError::IssuerMismatch { .. }
                | DiscoveryError::Invalid { .. }
        )
    }
}

/// Fetches and checks the metadata of `issuer`.
pub async fn fetch(outbound: &Outbound, issuer: &str) -> Result<Metadata, DiscoveryError> {
    let url = metadata_url(issuer).map_err(|e| DiscoveryError::BadIssuer(e.0))?;
    let shown = url.to_string();
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = url;
    request.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    let answer = outbound
        .send(request)
        .await
        .map_err(DiscoveryError::Unreachable)?;
    if answer.status != http::StatusCode::OK {
        return Err(DiscoveryError::Status {
            url: shown,
            status: answer.status.as_u16(),
        });
    }
    let invalid = |detail: String| DiscoveryError::Invalid {
        url: shown.clone(),
        detail,
    };
    let raw: ServerMetadata =
        serde_json::from_slice(&answer.body).map_err(|e| invalid(e.to_string()))?;
    if raw.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: raw.issuer,
        });
    }
    let https = |name: &str, value: String| -> Result<Uri, DiscoveryError> {
        match value.parse::<Uri>() {
            Ok(uri) if uri.scheme_str() == Some("https") && uri.host().is_some() => Ok(uri),
            _ => Err(invalid(format!("{name} {value:?} is not an https URL"))),
        }
    };
    let token_endpoint = https(
        "token_endpoint",
        raw.token_endpoint
            .ok_or_else(|| invalid("no token_endpoint".into()))?,
    )?;
    let introspection_endpoint = raw
        .introspection_endpoint
        .map(|value| https("introspection_endpoint", value))
        .transpose()?;
    let jwks_uri = raw
        .jwks_uri
        .map(|value| https("jwks_uri", value))
        .transpose()?;
    Ok(Metadata {
        issuer: raw.issuer,
        token_endpoint,
        introspection_endpoint,
        jwks_uri,
    })
}

/// An issuer's metadata once discovered, shared by the requests that need it.
#[derive(Debug)]
pub struct Discovered {
    issuer: String,
    outbound: Outbound,
    /// Set once by the first successful discovery; never changes afterwards.
    metadata: RwLock<Option<Arc<Metadata>>>,
}

impl Discovered {
    pub fn new(issuer: impl Into<String>, outbound: Outbound) -> Self {
        Discovered {
            issuer: issuer.into(),
            outbound,
            metadata: RwLock::new(None),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The metadata, if discovered.
    pub fn get(&self) -> Option<Arc<Metadata>> {
        self.metadata.read().ok().and_then(|m| m.clone())
    }

    /// The metadata, discovering it now if it is not known yet (one attempt).
    pub async fn get_or_fetch(&self) -> Result<Arc<Metadata>, DiscoveryError> {
        if let Some(metadata) = self.get() {
            return Ok(metadata);
        }
        let metadata = Arc::new(fetch(&self.outbound, &self.issuer).await?);
        if let Ok(mut slot) = self.metadata.write() {
            return Ok(slot.get_or_insert(metadata).clone());
        }
        Ok(metadata)
    }

    /// Discovers the metadata, retrying with a growing wait (at most 2 s) while
    /// the server is unreachable or answers an error status. Returns early on a fatal error.
    pub async fn until_discovered(&self) -> Result<Arc<Metadata>, DiscoveryError> {
        let mut wait = FIRST_RETRY;
        loop {
            match self.get_or_fetch().await {
                Ok(metadata) => return Ok(metadata),
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    access_log::event(format_args!("discovery: {e}; retrying in {wait:?}"));
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(LONGEST_RETRY);
                }
            }
        }
    }
}
