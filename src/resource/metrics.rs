//! The guard's metric families: `tollgate_introspections_total{outcome}`,
//! `tollgate_token_cache_hits_total` and `tollgate_jwks_fetches_total`, each present from the
//! first scrape, in either validation mode.
//!
//! Owns: their names and help texts. Does not own: the counts (the guard's, its cache's and
//! its key set's, each counted where the thing happens).

use super::TokenGuard;
use crate::metrics::Exposition;

impl TokenGuard {
    /// Writes the guard's families.
    pub fn write_metrics(&self, out: &mut Exposition) {
        self.inner.introspections.write(
            out,
            "tollgate_introspections_total",
            "Introspection requests sent to the authorization server, by outcome.",
        );
        out.counter(
            "tollgate_token_cache_hits_total",
            "Requests whose token was judged from the cache.",
            self.cache_hits(),
        );
        out.counter(
            "tollgate_jwks_fetches_total",
            "JWK Set requests sent to the authorization server.",
            self.jwks_fetches(),
        );
    }
}
