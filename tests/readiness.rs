//! `GET /readyz` against `/healthz`: readiness says whether a service can do its job now,
//! liveness only that it runs. The authorization server is ready while its token store
//! answers; client1 and client2 once they know the authorization server's metadata.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};

use support::{auth_on, http, start_client1, start_client2, Clients, Proto, Reserved};
use tollgate::auth::clients::ClientRegistry;
use tollgate::auth::throttle::{Admission, Attempt, FailureCounters};
use tollgate::auth::tokens::{
    AssertionKey, MemoryTokenStore, ReplayCache, StoreUnavailable, TokenHash, TokenRecord,
    TokenStore,
};
use tollgate::auth::{AuthConfig, AuthServer};

/// The in-memory store behind a switch that makes it unreachable, as a shared store's engine
/// can be.
#[derive(Default)]
struct SwitchedStore {
    memory: MemoryTokenStore,
    down: AtomicBool,
}

impl SwitchedStore {
    fn check(&self) -> Result<(), StoreUnavailable> {
        match self.down.load(Ordering::Relaxed) {
            true => Err(StoreUnavailable("the engine does not answer".into())),
            false => Ok(()),
        }
    }
}

impl ReplayCache for SwitchedStore {
    async fn first_use(
        &self,
        key: AssertionKey,
        exp: u64,
        now: u64,
    ) -> Result<bool, StoreUnavailable> {
        self.check()?;
        self.memory.first_use(key, exp, now).await
    }
}

impl FailureCounters for SwitchedStore {
    async fn admit(&self, attempt: Attempt<'_>) -> Result<Admission, StoreUnavailable> {
        self.check()?;
        self.memory.admit(attempt).await
    }

    async fn count_failure(&self, attempt: Attempt<'_>) -> Result<Admission, StoreUnavailable> {
        self.check()?;
        self.memory.count_failure(attempt).await
    }
}

impl TokenStore for SwitchedStore {
    async fn insert(&self, hash: TokenHash, record: TokenRecord) -> Result<(), StoreUnavailable> {
        self.check()?;
        self.memory.insert(hash, record).await
    }

    async fn get(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreUnavailable> {
        self.check()?;
        self.memory.get(hash, now).await
    }

    async fn revoke(&self, hash: &TokenHash, client_id: &str) -> Result<bool, StoreUnavailable> {
        self.check()?;
        self.memory.revoke(hash, client_id).await
    }

    async fn deny(&self, hash: TokenHash, exp: u64) -> Result<(), StoreUnavailable> {
        self.check()?;
        self.memory.deny(hash, exp).await
    }

    async fn is_denied(&self, hash: &TokenHash, now: u64) -> Result<bool, StoreUnavailable> {
        self.check()?;
        self.memory.is_denied(hash, now).await
    }

    async fn readiness(&self) -> Result<(), StoreUnavailable> {
        self.check()
    }
}

async fn status_of<S: TokenStore>(server: &AuthServer<S>, path: &str) -> StatusCode {
    let (parts, ()) = Request::get(path).body(()).unwrap().into_parts();
    server
        .respond(&parts, b"", [127, 0, 0, 1].into())
        .await
        .status()
}

#[tokio::test]
async fn the_authorization_server_is_not_ready_while_its_store_is_unreachable() {
    let registry = ClientRegistry::load(&Clients::shared().file).unwrap();
    let store = Arc::new(SwitchedStore::default());
    let config = AuthConfig::new("https://localhost:5003");
    let server = AuthServer::with_store(registry, config, store.clone());
    assert_eq!(status_of(&server, "/readyz").await, StatusCode::OK);
    store.down.store(true, Ordering::Relaxed);
    assert_eq!(
        status_of(&server, "/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        status_of(&server, "/healthz").await,
        StatusCode::OK,
        "still alive"
    );
    store.down.store(false, Ordering::Relaxed);
    assert_eq!(status_of(&server, "/readyz").await, StatusCode::OK);
}

#[tokio::test]
async fn client1_and_client2_are_ready_once_the_authorization_server_is_known() {
    // The authorization server's port is taken but refuses connections until it listens.
    let reserved = Reserved::new();
    let issuer = format!("https://localhost:{}", reserved.port());
    let client1 = start_client1(&issuer, Duration::from_secs(30)).await;
    let client2 = start_client2(&issuer, &client1.url("/api/resource")).await;
    let h = http(Proto::H1);
    for base in [&client1.base, &client2.base] {
        let ready = h.get(&format!("{base}/readyz")).await;
        assert_eq!(
            ready.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            ready.text()
        );
        assert_eq!(
            h.get(&format!("{base}/healthz")).await.status,
            StatusCode::OK
        );
    }
    let _auth = auth_on(reserved.listen()).await;
    for base in [&client1.base, &client2.base] {
        // Discovery retries at most every 2 s in the background.
        let mut status = StatusCode::SERVICE_UNAVAILABLE;
        for _ in 0..50 {
            status = h.get(&format!("{base}/readyz")).await.status;
            if status == StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, StatusCode::OK, "{base}/readyz");
    }
}
