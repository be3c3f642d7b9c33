//! Random secrets and tokens, their hashes, and a string type that keeps secrets out of logs.
//!
//! Owns: generating 256-bit URL-safe values from the OS (client secrets and access tokens;
//! the OS's bytes are fetched a kilobyte at a time per thread, each byte handed out once and
//! wiped from the pool as it is),
//! SHA-256 (ring's, already linked by rustls), hex, and [`SecretString`], whose `Debug` and
//! `Display` never show the value, whose only comparison is constant-time, and whose memory is
//! wiped on drop. A 256-bit random value needs no slow password hash: one SHA-256 makes the
//! stored form useless to a thief, and a slow hash would cap every authenticated endpoint at a
//! few hundred requests per second. Does not own: where secrets are stored or which hashes are
//! compared (see `auth::clients`).

use std::fmt;

use base64::Engine as _;
use zeroize::Zeroize;

/// Bytes of entropy in every generated secret and token.
pub const SECRET_BYTES: usize = 32;

/// The OS random source failed; nothing secret can be made without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number source failed")]
pub struct RandomUnavailable;

/// Bytes of OS randomness one thread fetches at a time: one `getrandom` system call per 32
/// tokens rather than one per token. The price: a thread's next values (31 at most) sit in its
/// pool until handed out, as a user-space generator's state would, and a dump of the process's
/// memory would show tokens not issued yet; one would show its TLS and signing keys already.
const POOL_BYTES: usize = 32 * SECRET_BYTES;

/// OS random bytes not yet handed out, `pool[used..]`; what was handed out is zero.
struct RandomPool {
    pool: [u8; POOL_BYTES],
    used: usize,
}

impl Drop for RandomPool {
    fn drop(&mut self) {
        self.pool.zeroize();
    }
}

thread_local! {
    static POOL: std::cell::RefCell<RandomPool> = const {
        std::cell::RefCell::new(RandomPool { pool: [0; POOL_BYTES], used: POOL_BYTES })
    };
}

/// Fills `out` with bytes from the OS's CSPRNG, through this thread's pool: every byte comes
/// straight from `getrandom` and is handed out once (no generator of our own stretches them).
fn os_random(out: &mut [u8; SECRET_BYTES]) -> Result<(), RandomUnavailable> {
    // `try_with`: a thread being torn down has no pool, and gets an error, not a panic.
    let with_pool = POOL.try_with(|pool| {
        let mut pool = pool.try_borrow_mut().map_err(|_| RandomUnavailable)?;
        let pool = &mut *pool;
        if pool.used + SECRET_BYTES > POOL_BYTES {
            getrandom::getrandom(&mut pool.pool).map_err(|_| RandomUnavailable)?;
            pool.used = 0;
        }
        let taken = &mut pool.pool[pool.used..pool.used + SECRET_BYTES];
        out.copy_from_slice(taken);
        taken.zeroize();
        pool.used += SECRET_BYTES;
        Ok(())
    });
    with_pool.map_err(|_| RandomUnavailable)?
}

/// A new 256-bit random value, base64url-encoded without padding (43 characters).
pub fn random_secret() -> Result<SecretString, RandomUnavailable> {
    let mut bytes = [0u8; SECRET_BYTES];
    os_random(&mut bytes)?;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    bytes.zeroize();
    Ok(SecretString::new(encoded))
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Exactly 32 bytes from 64 hex digits (either case), or `None`.
pub fn hash_from_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi << 4 | lo) as u8;
    }
    Some(out)
}

/// A secret (client secret or access token) as text: never shown by `Debug` or `Display`,
/// wiped from memory when dropped. It has no `==`: a derived one stops at the first differing
/// byte, so its timing would tell a guesser how much of a guess was right; compare with
/// [`SecretString::ct_eq`].
#[derive(Clone)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        SecretString(value)
    }

    /// The secret itself, for the few places that must send or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether two secrets are equal, in time that depends only on their lengths.
    pub fn ct_eq(&self, other: &SecretString) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.0.as_bytes(), other.0.as_bytes()).into()
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_43_url_safe_characters_and_differ() {
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert!(a
            .expose()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert!(!a.ct_eq(&b));
        assert!(a.ct_eq(&a.clone()));
    }

    #[test]
    fn the_pool_hands_out_fresh_bytes_across_refills() {
        // 200 values: six refills of a thread's pool. No value repeats and none is the
        // wiped (zero) part of the pool: 32 zero bytes encode as 43 'A's.
        let values: std::collections::HashSet<String> = (0..200)
            .map(|_| random_secret().unwrap().expose().to_owned())
            .collect();
        assert_eq!(values.len(), 200);
        assert!(!values.contains(&"A".repeat(43)));
        let mut bytes = [0u8; SECRET_BYTES];
        os_random(&mut bytes).unwrap();
        assert_ne!(bytes, [0; SECRET_BYTES]);
    }

    #[test]
    fn secret_strings_have_no_variable_time_equality() {
        // An inherent constant applies only when its bound holds; otherwise the trait's does.
        trait NoEq {
            const EQ: bool = false;
        }
        struct Probe<T>(T);
        impl<T> NoEq for Probe<T> {}
        impl<T: PartialEq> Probe<T> {
            const EQ: bool = true;
        }
        // Checked when the tests are built: adding == to SecretString stops the build.
        const { assert!(Probe::<String>::EQ, "the probe itself works") };
        const { assert!(!Probe::<SecretString>::EQ, "SecretString has ==") };
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = SecretString::new("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            to_hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        let hash = sha256(b"x");
        assert_eq!(hash_from_hex(&to_hex(&hash)), Some(hash));
        assert_eq!(hash_from_hex(&to_hex(&hash).to_uppercase()), Some(hash));
        assert_eq!(hash_from_hex("abc"), None);
        assert_eq!(hash_from_hex(&"g".repeat(64)), None);
    }
}
