//! Random secrets and tokens, their hashes, and a string type that keeps secrets out of logs.
//!
//! Owns: generating 256-bit URL-safe values from the OS (client secrets and access tokens),
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

/// A new 256-bit random value, base64url-encoded without padding (43 characters).
pub fn random_secret() -> Result<SecretString, RandomUnavailable> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::getrandom(&mut bytes).map_err(|_| RandomUnavailable)?;
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
