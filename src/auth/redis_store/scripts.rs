//! What the Redis store writes: its keys and the Lua scripts that make one request one round
//! trip.
//!
//! Owns: [`Keys`] (every key is `PREFIX` + a one-letter tag + a hash: `t` a token and `d` a
//! revoked JWT by the token's SHA-256, `j` a used assertion `jti` by its SHA-256, `l` the
//! lockout of a (source, client id) pair and `b` the failure budget of a source by the first
//! 16 bytes of the SHA-256 of the source's address key (and the id): keys hold hashes, never a
//! token or a secret) and the scripts. Every key is written with an expiry: a token and a
//! denylist entry at the token's `exp`, a lockout `forget_after` after its last failure (or at
//! its end, if later), a budget when it is full again: no sweep job, no unbounded growth.
//!
//! Both throttling scripts start from `REFUSAL`, which reads the pair's lockout
//! (`count:locked_until_ms`) and the source's budget (the millisecond at which it is full
//! again, GCRA) on Redis's own clock (`TIME`), so replicas whose clocks differ still count
//! alike; [`admit`] then clears the pair and runs the request's operation, [`failure`] counts
//! the failure. Scripts run atomically, so two replicas failing at once both count.
//! Does not own: talking to Redis (see the parent).

use crate::auth::throttle::Attempt;
use crate::auth::tokens::TokenHash;
use crate::secret::sha256;

/// The keys of one store, all under its prefix.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: Box<[u8]>,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.as_bytes().into(),
        }
    }

    fn key(&self, tag: u8, hash: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + 1 + hash.len());
        key.extend_from_slice(&self.prefix);
        key.push(tag);
        key.extend_from_slice(hash);
        key
    }

    pub fn token(&self, hash: &TokenHash) -> Vec<u8> {
        self.key(b't', hash)
    }

    pub fn denied(&self, hash: &TokenHash) -> Vec<u8> {
        self.key(b'd', hash)
    }

    pub fn assertion(&self, jti_hash: &[u8; 32]) -> Vec<u8> {
        self.key(b'j', jti_hash)
    }

    pub fn lockout(&self, attempt: &Attempt<'_>) -> Vec<u8> {
        let mut raw = attempt.address.to_vec();
        raw.extend_from_slice(attempt.client_id.as_bytes());
        self.key(b'l', &sha256(&raw)[..16])
    }

    pub fn budget(&self, attempt: &Attempt<'_>) -> Vec<u8> {
        self.key(b'b', &sha256(&attempt.address)[..16])
    }

    /// A key no script touches, for the third key of an operation that has none.
    pub fn unused(&self) -> Vec<u8> {
        self.key(b'-', &[])
    }
}

/// The start of both throttling scripts. KEYS[1]: the pair's lockout, KEYS[2]: the source's
/// budget; ARGV[1]: the budget's tolerance in milliseconds (how far ahead of now its full time
/// may be while one more failure still fits). Leaves `now`, `lock` (the lockout's value or
/// false), `full` (the budget's full time, 0 for none) and `wait` (ms; > 0: refused).
const REFUSAL: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lock = redis.call('GET', KEYS[1])
local wait = 0
if lock then
  local locked_until = tonumber(string.match(lock, ':(%d+)$')) or 0
  if locked_until > now then wait = locked_until - now end
end
local full = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local over = full - now - tonumber(ARGV[1])
if over > wait then wait = over end
if wait > 0 then return {wait, 0} end
";

/// An authenticated attempt: refused (`{wait_ms, 0}`) or admitted, its pair cleared and its
/// operation run: `{0, answer}`. KEYS[3]: the token or denylist key; ARGV[2]: the operation
/// (`n` nothing, `i` insert, `g` get, `r` revoke, `d` deny, `q` is denied), ARGV[3]: the record
/// (insert) or the owner's record prefix (revoke), ARGV[4]: the expiry, Unix seconds.
const ADMIT_TAIL: &str = r"
if lock then redis.call('DEL', KEYS[1]) end
local op = ARGV[2]
if op == 'i' then
  redis.call('SET', KEYS[3], ARGV[3], 'EXAT', ARGV[4])
elseif op == 'g' then
  return {0, redis.call('GET', KEYS[3]) or 0}
elseif op == 'r' then
  local record = redis.call('GET', KEYS[3])
  if record and string.sub(record, 1, #ARGV[3]) == ARGV[3] then
    redis.call('DEL', KEYS[3])
    return {0, 1}
  end
elseif op == 'd' then
  redis.call('SET', KEYS[3], '', 'EXAT', ARGV[4])
elseif op == 'q' then
  return {0, redis.call('EXISTS', KEYS[3])}
end
return {0, 0}
";

/// A failed attempt: refused (`{wait_ms, 0}`, not counted) or counted (`{0, 0}`). ARGV[2]: the
/// budget's refill interval, ARGV[3]: failures allowed in a row, ARGV[4]: the first lockout,
/// ARGV[5]: the longest lockout, ARGV[6]: how long a pair's failures are remembered (ms).
const FAILURE_TAIL: &str = r"
local count = 1
if lock then count = (tonumber(string.match(lock, '^(%d+):')) or 0) + 1 end
local locked_until = 0
local beyond = count - tonumber(ARGV[3])
if beyond > 0 then
  local lockout = tonumber(ARGV[4]) * 2 ^ math.min(beyond - 1, 16)
  locked_until = now + math.min(lockout, tonumber(ARGV[5]))
end
local keep = math.max(tonumber(ARGV[6]), locked_until - now)
redis.call('SET', KEYS[1], string.format('%d:%d', count, locked_until), 'PX', string.format('%d', keep))
local refilled = string.format('%d', math.max(full, now) + tonumber(ARGV[2]))
redis.call('SET', KEYS[2], refilled, 'PXAT', refilled)
return {0, 0}
";

/// Revocation without admission (the store's single-step `revoke`): `KEYS[1]` the token,
/// `ARGV[1]` the owner's record prefix; 1 when removed.
pub const REVOKE: &str = r"
local record = redis.call('GET', KEYS[1])
if record and string.sub(record, 1, #ARGV[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

pub fn admit() -> String {
    [REFUSAL, ADMIT_TAIL].concat()
}

pub fn failure() -> String {
    [REFUSAL, FAILURE_TAIL].concat()
}
