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
//! pipelined TCP (or TLS) connection per process, which `link` re-opens by itself (our own
//! small RESP2 client, [`resp`]: redis-rs and its connection manager were 657 KB of the
//! `oauth-server` binary, which must stay under 3 MiB, for five commands).
//!
//! Failure, and why the numbers: a call that has no answer within [`CALL_DEADLINE`] (1 s)
//! fails, and so does the request (503 with `Retry-After`, never a guess: never a token other
//! replicas will not know, never `{"active": false}` for a token that may be live). Within the
//! deadline the link gets [`RESPONSE_TIMEOUT`] (500 ms) per command and
//! [`CONNECTION_TIMEOUT`] (500 ms) per connection attempt, and after a failed attempt (or a
//! connection that ended within a second of opening) waits 50 ms, doubling to at most
//! [`MAX_BACKOFF`] (200 ms), before the next: a Redis that comes back is in use again within
//! about a quarter of a second. `/readyz` PINGs at most once a second and caches the answer.
//! Does not own: the record layout ([`record`]), the keys and scripts ([`scripts`]), the URL
//! grammar (`url`), the protocol ([`resp`]), the connection (`link`), or what the operations
//! mean (see [`crate::auth::tokens`]).

mod link;
pub mod record;
pub mod resp;
pub mod scripts;
mod url;

use std::time::Duration;

use link::{CallError, Link};
use resp::{decimal, Command, Script, Value};
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
/// How long the link waits for one answer.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the link waits for one connection (TCP, TLS, `AUTH` and `SELECT`).
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
    link: Link,
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
        let url::StoreUrl { target, location } = url::parse(url)?;
        let link = Link::new(target).map_err(|_| StoreUrlError::Invalid)?;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let tolerance = budget
            .refill_every
            .saturating_mul(budget.burst.saturating_sub(1));
        Ok(RedisStore {
            link,
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
        let mut cmd = Command::new("SET");
        cmd.arg(self.keys.assertion(jti_hash))
            .arg(b"")
            .arg("NX")
            .arg("EXAT")
            .num(exp.saturating_add(CLOCK_SKEW_MARGIN_SECS));
        match self.query(&cmd).await? {
            Value::Nil => Ok(false),
            answer if answer.is_ok() => Ok(true),
            _ => Err(odd("SET NX")),
        }
    }

    /// One command's reply; an error reply is an error.
    async fn query(&self, cmd: &Command) -> Result<Value, StoreUnavailable> {
        within_deadline(self.link.call(cmd)).await
    }

    /// A command whose only good reply is `+OK`.
    async fn query_ok(&self, cmd: &Command) -> Result<(), StoreUnavailable> {
        match self.query(cmd).await? {
            answer if answer.is_ok() => Ok(()),
            _ => Err(odd("a write")),
        }
    }

    /// A script's reply, by its hash, sent whole when Redis does not know it yet.
    async fn eval(
        &self,
        script: &Script,
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
    ) -> Result<Value, StoreUnavailable> {
        within_deadline(async {
            let answer = self.link.call(&script.by_hash(keys, args)).await?;
            if answer.error_kind() == Some("NOSCRIPT") {
                return self.link.call(&script.whole(keys, args)).await;
            }
            Ok(answer)
        })
        .await
    }

    /// A throttling script's `{wait_ms, answer}`.
    async fn run(
        &self,
        script: &Script,
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
    ) -> Result<(u64, Value), StoreUnavailable> {
        match self.eval(script, keys, args).await? {
            Value::Array(items) => match <[Value; 2]>::try_from(items) {
                Ok([Value::Int(wait_ms), answer]) => {
                    Ok((u64::try_from(wait_ms).map_err(|_| odd("a script"))?, answer))
                }
                _ => Err(odd("a script")),
            },
            _ => Err(odd("a script")),
        }
    }

    async fn ping(&self) -> Result<(), StoreUnavailable> {
        match self.query(&Command::new("PING")).await? {
            Value::Status(pong) if pong == "PONG" => Ok(()),
            _ => Err(StoreUnavailable("PING was not answered PONG".into())),
        }
    }
}

/// A reply of the wrong shape for `what`.
fn odd(what: &str) -> StoreUnavailable {
    StoreUnavailable(format!("Redis answered {what} oddly"))
}

/// The reply of a call to Redis, or why there is none: an error reply's kind (its first word,
/// never its text, which could quote a command), why the link has none, or the deadline.
async fn within_deadline(
    call: impl std::future::Future<Output = Result<Value, CallError>>,
) -> Result<Value, StoreUnavailable> {
    match tokio::time::timeout(CALL_DEADLINE, call).await {
        Ok(Ok(Value::Error(text))) => {
            let kind = text.split(' ').next().unwrap_or_default();
            let kind: String = kind
                .chars()
                .filter(char::is_ascii_uppercase)
                .take(32)
                .collect();
            Err(StoreUnavailable(format!("Redis error ({kind})")))
        }
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(CallError(why))) => Err(StoreUnavailable(format!("Redis error ({why})"))),
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
        let keys = [self.keys.lockout(&attempt), self.keys.budget(&attempt)];
        let args: Vec<Vec<u8>> = self.failure_args.iter().map(|&a| decimal(a)).collect();
        let (wait_ms, _) = self.run(&self.failure, &keys, &args).await?;
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
        let mut cmd = Command::new("SET");
        cmd.arg(self.keys.token(&hash))
            .arg(value)
            .arg("EXAT")
            .num(record.exp);
        self.query_ok(&cmd).await
    }

    async fn get(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreUnavailable> {
        let mut cmd = Command::new("GET");
        cmd.arg(self.keys.token(hash));
        match self.query(&cmd).await? {
            Value::Nil => Ok(None),
            Value::Bulk(bytes) => live(Some(&bytes), now),
            _ => Err(odd("GET")),
        }
    }

    async fn revoke(&self, hash: &TokenHash, client_id: &str) -> Result<bool, StoreUnavailable> {
        let keys = [self.keys.token(hash)];
        let args = [record::owner_prefix(client_id)];
        match self.eval(&self.revoke, &keys, &args).await? {
            Value::Int(removed) => Ok(removed == 1),
            _ => Err(odd("a script")),
        }
    }

    async fn deny(&self, hash: TokenHash, exp: u64) -> Result<(), StoreUnavailable> {
        let mut cmd = Command::new("SET");
        cmd.arg(self.keys.denied(&hash))
            .arg(b"")
            .arg("EXAT")
            .num(exp.saturating_add(CLOCK_SKEW_MARGIN_SECS));
        self.query_ok(&cmd).await
    }

    async fn is_denied(&self, hash: &TokenHash, _now: u64) -> Result<bool, StoreUnavailable> {
        // The entry outlives the token's `exp` by the skew margin, on Redis's clock.
        let mut cmd = Command::new("EXISTS");
        cmd.arg(self.keys.denied(hash));
        match self.query(&cmd).await? {
            Value::Int(n) => Ok(n == 1),
            _ => Err(odd("EXISTS")),
        }
    }

    async fn admit_then(
        &self,
        attempt: Attempt<'_>,
        op: StoreOp<'_>,
    ) -> Result<Result<StoreAnswer, Duration>, StoreUnavailable> {
        // The script's keys: the pair's lockout, the source's budget, the operation's key; its
        // arguments: the budget's tolerance, the operation's tag and the operation's own.
        let mut args = vec![decimal(self.tolerance_ms)];
        let (key, expect) = match op {
            StoreOp::Nothing => {
                args.push(b"n".to_vec());
                (self.keys.unused(), Expect::Done)
            }
            StoreOp::Insert(hash, record) => {
                let value = record::encode(&record).ok_or_else(unstorable)?;
                args.extend([b"i".to_vec(), value, decimal(record.exp)]);
                (self.keys.token(&hash), Expect::Done)
            }
            StoreOp::Get(hash, now) => {
                args.push(b"g".to_vec());
                (self.keys.token(&hash), Expect::Record(now))
            }
            StoreOp::Revoke(hash, owner) => {
                args.extend([b"r".to_vec(), record::owner_prefix(owner)]);
                (self.keys.token(&hash), Expect::Flag)
            }
            StoreOp::Deny(hash, exp) => {
                let until = exp.saturating_add(CLOCK_SKEW_MARGIN_SECS);
                args.extend([b"d".to_vec(), Vec::new(), decimal(until)]);
                (self.keys.denied(&hash), Expect::Done)
            }
            StoreOp::IsDenied(hash, _) => {
                args.push(b"q".to_vec());
                (self.keys.denied(&hash), Expect::Flag)
            }
        };
        let keys = [self.keys.lockout(&attempt), self.keys.budget(&attempt), key];
        let (wait_ms, value) = self.run(&self.admit, &keys, &args).await?;
        if let Err(wait) = admission(wait_ms) {
            return Ok(Err(wait));
        }
        Ok(Ok(match (expect, value) {
            (Expect::Done, _) => StoreAnswer::Done,
            (Expect::Flag, Value::Int(flag)) => StoreAnswer::Flag(flag == 1),
            (Expect::Record(_), Value::Int(0)) => StoreAnswer::Record(None),
            (Expect::Record(now), Value::Bulk(bytes)) => {
                StoreAnswer::Record(live(Some(&bytes), now)?)
            }
            _ => return Err(odd("a script")),
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
