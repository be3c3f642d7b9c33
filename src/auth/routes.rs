//! The authorization server's route table: the paths it answers, made once from its issuer's
//! path (RFC 8414 §3: endpoints under an issuer with a path are served under that path, the
//! metadata at `/.well-known/oauth-authorization-server` followed by it), and which endpoint a
//! request path names. Does not own: what an endpoint does (the parent and one file each).

use crate::oauth::{
    Issuer, HEALTH_PATH, INTROSPECT_PATH, JWKS_PATH, METADATA_PATH, READY_PATH, REVOKE_PATH,
    TOKEN_PATH,
};

/// What a request path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    Token,
    Introspect,
    Revoke,
    Jwks,
    Metadata,
    Health,
    Ready,
}

/// The paths this server answers, made once from its issuer's path.
#[derive(Debug)]
pub(super) struct Routes {
    pub(super) token: String,
    pub(super) introspect: String,
    pub(super) revoke: String,
    pub(super) jwks: String,
    pub(super) metadata: String,
}

impl Routes {
    pub(super) fn new(issuer: Option<&Issuer>) -> Self {
        let under = |path: &str| issuer.map_or_else(|| path.to_owned(), |i| i.endpoint_path(path));
        Routes {
            token: under(TOKEN_PATH),
            introspect: under(INTROSPECT_PATH),
            revoke: under(REVOKE_PATH),
            jwks: under(JWKS_PATH),
            metadata: issuer.map_or_else(|| METADATA_PATH.to_owned(), Issuer::metadata_path),
        }
    }

    /// Every path served, for the metrics' route labels.
    pub(super) fn all(&self) -> [&str; 7] {
        [
            &self.token,
            &self.introspect,
            &self.revoke,
            &self.jwks,
            &self.metadata,
            HEALTH_PATH,
            READY_PATH,
        ]
    }

    pub(super) fn find(&self, path: &str) -> Option<Route> {
        Some(match path {
            HEALTH_PATH => Route::Health,
            READY_PATH => Route::Ready,
            p if p == self.token => Route::Token,
            p if p == self.introspect => Route::Introspect,
            p if p == self.revoke => Route::Revoke,
            p if p == self.jwks => Route::Jwks,
            p if p == self.metadata => Route::Metadata,
            _ => return None,
        })
    }
}
