//! Asking the authorization server about a token (RFC 7662) and reading its answer.
//!
//! Owns: the introspection request (authenticated with the resource server's own client
//! credentials, client_secret_basic) and the strict reading of the answer: only a 200 with a
//! well-formed RFC 7662 body is a verdict; an `active` token of another issuer, without a
//! `client_id`, or with a `cnf` the guard cannot check, is treated as inactive. Does not own: caching or sharing answers (the guard).

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;

use super::binding::read_cnf;
use super::{Caller, TokenGuard, Verdict};
use crate::access_log;
use crate::form::encode_form_component;
use crate::oauth::form_post;
use crate::oauth::scope::scope_tokens;
use crate::secret::SecretString;

/// The outcomes `tollgate_introspections_total` counts: an active token, an inactive one, no
/// usable answer.
pub(super) const OUTCOMES: [&str; 3] = ["active", "inactive", "error"];
const ACTIVE: usize = 0;
const INACTIVE: usize = 1;
const ERROR: usize = 2;

impl TokenGuard {
    /// Asks the authorization server about `token` (RFC 7662).
    pub(super) async fn introspect(&self, token: &SecretString) -> Verdict {
        // Not discovered yet (the server was down at start): try now rather than wait for the
        // background retry, so the first request after the server is back is served.
        let metadata = match self.inner.discovered.get_or_fetch().await {
            Ok(metadata) => metadata,
            Err(e) => {
                access_log::event(format_args!("introspection impossible: {e}"));
                return Verdict::Unavailable;
            }
        };
        let Some(endpoint) = metadata.introspection_endpoint.clone() else {
            access_log::event(format_args!(
                "introspection: the authorization server advertises no introspection endpoint"
            ));
            return Verdict::Unavailable;
        };
        let body = SecretString::new(format!("token={}", encode_form_component(token.expose())));
        let form = Bytes::copy_from_slice(body.expose().as_bytes());
        let Ok(request) = form_post(endpoint, form, Some(&self.inner.basic)) else {
            access_log::event(format_args!(
                "introspection impossible: this service's client credentials cannot be sent"
            ));
            return Verdict::Unavailable;
        };
        // Counted however it ends: an answer, a failure, or the budget's timeout dropping it.
        let mut outcome = self.inner.introspections.begin(ERROR);
        let verdict = self.ask(request).await;
        outcome.settle(match verdict {
            Verdict::Active(_) => ACTIVE,
            Verdict::Inactive => INACTIVE,
            Verdict::Unavailable => ERROR,
        });
        verdict
    }

    /// Sends one introspection request and reads its answer.
    async fn ask(&self, request: http::Request<http_body_util::Full<Bytes>>) -> Verdict {
        let answer = match self.inner.outbound.send_repeatable(request).await {
            Ok(answer) => answer,
            Err(e) => {
                access_log::event(format_args!("introspection failed: {e}"));
                return Verdict::Unavailable;
            }
        };
        if answer.status != StatusCode::OK {
            // 401/403 mean our own credentials are wrong: an operator must see it.
            access_log::event(format_args!(
                "introspection answered {}; the token is not judged",
                answer.status.as_u16()
            ));
            return Verdict::Unavailable;
        }
        self.parse_introspection(&answer.body)
    }

    fn parse_introspection(&self, body: &[u8]) -> Verdict {
        #[derive(Deserialize)]
        struct Introspection {
            active: bool,
            client_id: Option<String>,
            scope: Option<String>,
            exp: Option<u64>,
            iss: Option<String>,
            /// RFC 7662 §2.2: a string or an array of strings.
            #[serde(default)]
            aud: Option<AudienceValue>,
            /// RFC 8705 §3.2: the certificate a bound token is bound to.
            cnf: Option<serde_json::Value>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum AudienceValue {
            One(String),
            Many(Vec<String>),
        }
        let Ok(parsed) = serde_json::from_slice::<Introspection>(body) else {
            access_log::event(format_args!(
                "introspection answered a body that is not RFC 7662 JSON"
            ));
            return Verdict::Unavailable;
        };
        if !parsed.active {
            return Verdict::Inactive;
        }
        if parsed
            .iss
            .as_deref()
            .is_some_and(|iss| iss != self.inner.discovered.issuer())
        {
            return Verdict::Inactive;
        }
        // A caller nobody can name cannot be served.
        let Some(client_id) = parsed.client_id else {
            return Verdict::Inactive;
        };
        let scopes = scope_tokens(parsed.scope.as_deref().unwrap_or_default())
            .map(str::to_owned)
            .collect();
        let audiences = match parsed.aud {
            None => Vec::new(),
            Some(AudienceValue::One(one)) => vec![one],
            Some(AudienceValue::Many(many)) => many,
        };
        let Ok(certificate_sha256) = read_cnf(parsed.cnf.as_ref()) else {
            return Verdict::Inactive;
        };
        Verdict::Active(Arc::new(Caller {
            client_id,
            scopes,
            exp: parsed.exp,
            audiences,
            certificate_sha256,
        }))
    }
}
