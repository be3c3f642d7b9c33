//! The store replicas share: tokens, the JWT denylist, failed authentications and used
//! assertion `jti`s on Redis (or Valkey, the same protocol), so authorization-server processes
//! that share it, the clients file and the signing keys act as one server.
//!
//! Owns: [`RedisStore`] (opening it from a `redis://` or `rediss://` URL, never showing the
//! URL's credentials), the deadline of every call, the readiness probe, and the Redis side of
//! [`TokenStore`], [`FailureCounters`] and [`ReplayCache`]. One request is one round trip: the
//! admission of its client and its operation run in one Lua script ([`scripts`]); a
//! `private_key_jwt` request makes one more, before it, to record its assertion (`SET NX`,
//! which must answer before the client counts as authenticated); the connection is one
//! multiplexed TCP (or TLS) connection per process, which redis-rs's `ConnectionManager`
//! re-opens by itself, and which pipelines the commands of concurrent requests.
//!
//! Failure, and why the numbers: a call that has no answer within [`CALL_DEADLINE`] (1 s)
//! fails, and so does the request (503 with `Retry-After`, never a guess: never a token other
//! replicas will not know, never `{"active": false}` for a token that may be live). Within the
//! deadline the manager gets [`RESPONSE_TIMEOUT`] (500 ms) per command and
//! [`CONNECTION_TIMEOUT`] (500 ms) per connection attempt, retrying with a back-off of 50 ms
//! doubling to at most [`MAX_BACKOFF`] (200 ms): a Redis that comes back is in use again
//! within about a quarter of a second. `/readyz` PINGs at most once a second and caches the
//! answer. Does not own: the record layout ([`record`]), the keys and scripts ([`scripts`]),
//! the URL grammar ([`url`]), or what the operations mean (see [`crate::auth::tokens`]).

pub mod record;
pub mod scripts;
mod url;

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Script, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::throttle::{Admission, Attempt, BudgetPolicy, FailureCounters, Policy};
use super::tokens::{
    AssertionKey, ReplayCache, StoreAnswer, StoreOp, StoreUnavailable, TokenHash, TokenRecord,
    TokenStore,
};
use crate::access_log;
use scripts::Keys;

/// The longest any one call to Redis may take before the request is answered 503.
pub const CALL_DEADLINE: Duration = Duration::from_secs(1);
/// How long the manager waits for one answer.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the manager waits for one connection (TCP, TLS and the handshake).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest wait between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_millis(200);
/// How long `/readyz` reuses a PING's answer.
pub const READY_CACHE: Duration = Duration::from_secs(1);

/// Why `--store` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUrlError {
    #[error("--store takes memory, redis://HOST:PORT[/DB] or rediss://HOST:PORT[/DB]")]
    Scheme,
    /// The URL's own text is never repeated: it may hold a password.
    #[error("--store is not a usable Redis URL")]
    Invalid,
    #[error("--store-prefix must be 1 to 64 bytes without spaces or control characters")]
    Prefix,
}

/// The Redis store. Cheap to share: one per process, behind the server's `Arc`.
pub struct RedisStore {
    connection: ConnectionManager,
    keys: Keys,
    admit: Script,
    failure: Script,
    revoke: Script,
    /// The lockout and budget policies, as the failure script's arguments.
    failure_args: [u64; 6],
    /// The budget's tolerance in ms, the first argument of both throttling scripts.
    tolerance_ms: u64,
    /// `scheme://host:port/db`: where the store is, without credentials, for logs.
    location: String,
    /// The last PING: when it was sent and what it answered.
    ready: Mutex<Option<(Instant, Result<(), StoreUnavailable>)>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Whether `--store` names a Redis store (else it must be `memory`).
pub fn is_redis_url(store: &str) -> bool {
    store.starts_with("redis://") || store.starts_with("rediss://")
}

/// How long past its `exp` Redis keeps a used assertion or a revoked JWT. Redis expires keys on
/// its own clock and a replica judges `exp` on its own: were Redis's clock ahead, an entry would
/// vanish while the replica still takes the assertion (a replay) or the JWT (revoked, yet
/// active). Tokens need no margin: a replica checks a record's `exp` itself.
pub const CLOCK_SKEW_MARGIN_SECS: u64 = 300;

impl RedisStore {
    /// A store on the Redis at `url` whose keys all start with `prefix`. Connects lazily: a
    /// Redis that is down now makes requests 503 (and `/readyz` 503) until it is up, with no
    /// restart. Must be called inside a Tokio runtime.
    pub fn open(
        url: &str,
        prefix: &str,
        lockout: &Policy,
        budget: &BudgetPolicy,
    ) -> Result<Self, StoreUrlError> {
        if prefix.is_empty()
            || prefix.len() > 64
            || prefix.bytes().any(|b| b.is_ascii_control() || b == b' ')
        {
            return Err(StoreUrlError::Prefix);
        }
        let url::StoreUrl {
            info,
            tls,
            location,
        } = url::parse(url)?;
        if tls {
            // redis-rs builds its rustls configuration with the process-wide provider: make it
            // ring, the one the rest of the crate uses (a no-op when one is already set).
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = redis::Client::open(info).map_err(|_| StoreUrlError::Invalid)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(MAX_BACKOFF)
            .set_number_of_retries(2);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|_| StoreUrlError::Invalid)?;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let tolerance = budget
            .refill_every
            .saturating_mul(budget.burst.saturating_sub(1));
        Ok(RedisStore {
            connection,
            keys: Keys::new(prefix),
            admit: Script::new(&scripts::admit()),
            failure: Script::new(&scripts::failure()),
            revoke: Script::new(scripts::REVOKE),
            failure_args: [
                ms(tolerance),
                ms(budget.refill_every),
                u64::from(lockout.free_failures),
                ms(lockout.first_lockout),
                ms(lockout.max_lockout),
                ms(lockout.forget_after),
            ],
            tolerance_ms: ms(tolerance),
            location,
            ready: Mutex::new(None),
        })
    }

    /// `redis://host:port/db` (or `rediss://`), never with credentials.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Records an assertion (by [`AssertionKey`]: SHA-256 over its client id and `jti`) as used
    /// until `exp` (and [`CLOCK_SKEW_MARGIN_SECS`] beyond): `true` the first time, `false` when
    /// any replica recorded it before (a replay). One `SET NX EXAT`: two replicas given the same
    /// assertion at once, one wins.
    pub async fn use_once(&self, jti_hash: &[u8; 32], exp: u64) -> Result<bool, StoreUnavailable> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.keys.assertion(jti_hash))
            .arg(b"")
            .arg("NX")
            .arg("EXAT")
            .arg(exp.saturating_add(CLOCK_SKEW_MARGIN_SECS));
        let answer: Value = self.query(&cmd).await?;
        Ok(matches!(answer, Value::Okay))
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreUnavailable> {
        let mut connection = self.connection.clone();
        within_deadline(cmd.query_async(&mut connection)).await
    }

    async fn run(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<(u64, Value), StoreUnavailable> {
        let mut connection = self.connection.clone();
        within_deadline(invocation.invoke_async(&mut connection)).await
    }

    async fn ping(&self) -> Result<(), StoreUnavailable> {
        let answer: String = self.query(&redis::cmd("PING")).await?;
        if answer == "PONG" {
            Ok(())
        } else {
            Err(StoreUnavailable("PING was not answered PONG".into()))
        }
    }
}

/// The answer of a call to Redis, or why there is none: its error kind (never its text, which
/// could quote a command), or the deadline.
async fn within_deadline<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreUnavailable> {
    match tokio::time::timeout(CALL_DEADLINE, call).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(StoreUnavailable(format!("Redis error ({:?})", e.kind()))),
        Err(_) => Err(StoreUnavailable(format!(
            "Redis did not answer within {CALL_DEADLINE:?}"
        ))),
    }
}

/// A script's `{wait_ms, answer}`: refused for `wait_ms` when it is not 0.
fn admission(wait_ms: u64) -> Admission {
    match wait_ms {
        0 => Ok(()),
        ms => Err(Duration::from_millis(ms)),
    }
}

fn unreadable(_: record::Unreadable) -> StoreUnavailable {
    StoreUnavailable("a token record in the store is unreadable".into())
}

impl FailureCounters for RedisStore {
    async fn admit(&self, attempt: Attempt<'_>) -> Result<Admission, StoreUnavailable> {
        Ok(self
            .admit_then(attempt, StoreOp::Nothing)
            .await?
            .map(|_| ()))
    }

    async fn count_failure(&self, attempt: Attempt<'_>) -> Result<Admission, StoreUnavailable> {
        let mut invocation = self.failure.prepare_invoke();
        invocation
            .key(self.keys.lockout(&attempt))
            .key(self.keys.budget(&attempt));
        for arg in self.failure_args {
            invocation.arg(arg);
        }
        let (wait_ms, _) = self.run(&invocation).await?;
        Ok(admission(wait_ms))
    }
}

/// What an admitted operation's answer is read as.
enum Expect {
    Done,
    /// A record, live at this second.
    Record(u64),
    Flag,
}

impl ReplayCache for RedisStore {
    async fn first_use(
        &self,
        key: AssertionKey,
        exp: u64,
        _now: u64,
    ) -> Result<bool, StoreUnavailable> {
        self.use_once(&key, exp).await
    }
}

impl TokenStore for RedisStore {
    async fn insert(&self, hash: TokenHash, record: TokenRecord) -> Result<(), StoreUnavailable> {
        let value = record::encode(&record).ok_or_else(unstorable)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.keys.token(&hash))
            .arg(value)
            .arg("EXAT")
            .arg(record.exp);
        self.query::<()>(&cmd).await
    }

    async fn get(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreUnavailable> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.keys.token(hash));
        let value: Option<Vec<u8>> = self.query(&cmd).await?;
        live(value.as_deref(), now)
    }

    async fn revoke(&self, hash: &TokenHash, client_id: &str) -> Result<bool, StoreUnavailable> {
        let mut invocation = self.revoke.prepare_invoke();
        invocation
            .key(self.keys.token(hash))
            .arg(record::owner_prefix(client_id));
        let mut connection = self.connection.clone();
        let removed: u64 = within_deadline(invocation.invoke_async(&mut connection)).await?;
        Ok(removed == 1)
    }

    async fn deny(&self, hash: TokenHash, exp: u64) -> Result<(), StoreUnavailable> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.keys.denied(&hash))
            .arg(b"")
            .arg("EXAT")
            .arg(exp.saturating_add(CLOCK_SKEW_MARGIN_SECS));
        self.query::<()>(&cmd).await
    }

    async fn is_denied(&self, hash: &TokenHash, _now: u64) -> Result<bool, StoreUnavailable> {
        // The entry outlives the token's `exp` by the skew margin, on Redis's clock.
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(self.keys.denied(hash));
        Ok(self.query::<u64>(&cmd).await? == 1)
    }

    async fn admit_then(
        &self,
        attempt: Attempt<'_>,
        op: StoreOp<'_>,
    ) -> Result<Result<StoreAnswer, Duration>, StoreUnavailable> {
        let mut invocation = self.admit.prepare_invoke();
        invocation
            .key(self.keys.lockout(&attempt))
            .key(self.keys.budget(&attempt))
            .arg(self.tolerance_ms);
        let expect = match op {
            StoreOp::Nothing => {
                invocation.key(self.keys.unused()).arg("n");
                Expect::Done
            }
            StoreOp::Insert(hash, record) => {
                let value = record::encode(&record).ok_or_else(unstorable)?;
                invocation.key(self.keys.token(&hash)).arg("i");
                invocation.arg(value).arg(record.exp);
                Expect::Done
            }
            StoreOp::Get(hash, now) => {
                invocation.key(self.keys.token(&hash)).arg("g");
                Expect::Record(now)
            }
            StoreOp::Revoke(hash, owner) => {
                invocation.key(self.keys.token(&hash)).arg("r");
                invocation.arg(record::owner_prefix(owner));
                Expect::Flag
            }
            StoreOp::Deny(hash, exp) => {
                invocation.key(self.keys.denied(&hash)).arg("d");
                invocation
                    .arg(b"")
                    .arg(exp.saturating_add(CLOCK_SKEW_MARGIN_SECS));
                Expect::Done
            }
            StoreOp::IsDenied(hash, _) => {
                invocation.key(self.keys.denied(&hash)).arg("q");
                Expect::Flag
            }
        };
        let (wait_ms, value) = self.run(&invocation).await?;
        if let Err(wait) = admission(wait_ms) {
            return Ok(Err(wait));
        }
        Ok(Ok(match (expect, value) {
            (Expect::Done, _) => StoreAnswer::Done,
            (Expect::Flag, Value::Int(flag)) => StoreAnswer::Flag(flag == 1),
            (Expect::Record(_), Value::Int(0)) => StoreAnswer::Record(None),
            (Expect::Record(now), Value::BulkString(bytes)) => {
                StoreAnswer::Record(live(Some(&bytes), now)?)
            }
            _ => return Err(StoreUnavailable("Redis answered a script oddly".into())),
        }))
    }

    async fn readiness(&self) -> Result<(), StoreUnavailable> {
        let mut last = self.ready.lock().await;
        if let Some((at, answer)) = &*last {
            if at.elapsed() < READY_CACHE {
                return answer.clone();
            }
        }
        let sent = Instant::now();
        let answer = self.ping().await;
        let was_ready = last.as_ref().is_none_or(|(_, answer)| answer.is_ok());
        match &answer {
            Err(e) if was_ready => {
                access_log::event(format_args!("store {} unavailable: {}", self.location, e.0))
            }
            Ok(()) if !was_ready => {
                access_log::event(format_args!("store {} available again", self.location))
            }
            _ => {}
        }
        *last = Some((sent, answer.clone()));
        answer
    }
}

/// A record as stored, if it is there and live at `now`.
fn live(value: Option<&[u8]>, now: u64) -> Result<Option<TokenRecord>, StoreUnavailable> {
    let Some(bytes) = value else {
        return Ok(None);
    };
    let record = record::decode(bytes).map_err(unreadable)?;
    Ok(Some(record).filter(|r| r.exp > now))
}

fn unstorable() -> StoreUnavailable {
    StoreUnavailable("a token record too large to store".into())
}
