//! The registered JWT claims (RFC 7519 §4.1), read strictly from a verified payload, and the
//! time checks every profile shares.
//!
//! Owns: [`Claims`]: `iss`, `sub`, `jti` as strings; `aud` as a string or an array of strings,
//! exposed as a list; `exp`, `nbf`, `iat` as JSON integers (a float, a string or an integer
//! outside `i64` is refused rather than rounded); every member, registered or not, kept in
//! [`Claims::members`]. And [`Claims::check_times`], with a leeway for clock skew.
//! Does not own: a profile's rules (which claims are required, what `iss` or `aud` must be,
//! how long a token may live): RFC 9068 and RFC 7523 callers check those themselves.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::json::{parse_object, typed_member};

/// Why a payload's claims were refused, or why its times do not hold now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// The payload is not a JSON object with distinct member names.
    #[error("the claims are not a JSON object")]
    NotAnObject,
    /// A registered claim has the wrong JSON type (named here).
    #[error("the {0} claim has the wrong type")]
    WrongType(&'static str),
    /// No `exp`: [`Claims::check_times`] refuses a token that never expires.
    #[error("the token has no exp")]
    MissingExpiry,
    /// `exp` has passed, even allowing the leeway.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still ahead, even allowing the leeway.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// `iat` is ahead, even allowing the leeway.
    #[error("the token's iat is in the future")]
    IssuedInTheFuture,
}

/// A JWT Claims Set: the registered claims, typed, and all members as they were.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    /// The audiences: one for a string `aud`, each for an array, none when absent. An empty
    /// array is refused, so "no audience" has one spelling.
    pub aud: Vec<String>,
    /// Expiry, in seconds since the epoch (NumericDate, RFC 7519 §2), integers only.
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
    /// Every member of the payload, registered claims included, for the profile's own claims
    /// (`client_id`, `scope`, ...).
    pub members: Map<String, Value>,
}

impl Claims {
    /// The claims in a JWS payload (JSON, no duplicate names).
    pub fn from_payload(payload: &[u8]) -> Result<Claims, ClaimsError> {
        let members = parse_object(payload).map_err(|_| ClaimsError::NotAnObject)?;
        Ok(Claims {
            iss: string_claim(&members, "iss")?,
            sub: string_claim(&members, "sub")?,
            aud: audience(&members)?,
            exp: date_claim(&members, "exp")?,
            nbf: date_claim(&members, "nbf")?,
            iat: date_claim(&members, "iat")?,
            jti: string_claim(&members, "jti")?,
            members,
        })
    }

    /// Whether `audience` is one of the token's audiences (exact comparison, RFC 7519 §4.1.3).
    pub fn has_audience(&self, audience: &str) -> bool {
        self.aud.iter().any(|aud| aud == audience)
    }

    /// Checks the times at `now` (seconds since the epoch) allowing `leeway_secs` of clock
    /// skew either way: `exp` must be present and `now < exp + leeway` (RFC 7519 §4.1.4);
    /// `nbf` and `iat`, when present, must be at most `now + leeway`.
    pub fn check_times(&self, now: i64, leeway_secs: u64) -> Result<(), ClaimsError> {
        let leeway = i64::try_from(leeway_secs).unwrap_or(i64::MAX);
        let exp = self.exp.ok_or(ClaimsError::MissingExpiry)?;
        if exp.saturating_add(leeway) <= now {
            return Err(ClaimsError::Expired);
        }
        let latest_start = now.saturating_add(leeway);
        if self.nbf.is_some_and(|nbf| nbf > latest_start) {
            return Err(ClaimsError::NotYetValid);
        }
        if self.iat.is_some_and(|iat| iat > latest_start) {
            return Err(ClaimsError::IssuedInTheFuture);
        }
        Ok(())
    }
}

/// Seconds since the epoch now, as the time claims count them (0 if the clock is before
/// 1970, which no check then passes by accident: every `exp` is later).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

fn string_claim(
    members: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, ClaimsError> {
    typed_member(members, name, |v| v.as_str().map(str::to_owned))
        .map_err(|()| ClaimsError::WrongType(name))
}

/// A NumericDate: a JSON integer. serde_json reads `1.0` and `1e3` as floats, which
/// `as_i64` refuses, as it does integers beyond `i64`.
fn date_claim(
    members: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, ClaimsError> {
    typed_member(members, name, Value::as_i64).map_err(|()| ClaimsError::WrongType(name))
}

fn audience(members: &Map<String, Value>) -> Result<Vec<String>, ClaimsError> {
    match members.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(aud)) => Ok(vec![aud.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(aud) => Ok(aud.clone()),
                _ => Err(ClaimsError::WrongType("aud")),
            })
            .collect(),
        Some(_) => Err(ClaimsError::WrongType("aud")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Result<Claims, ClaimsError> {
        Claims::from_payload(json.as_bytes())
    }

    #[test]
    fn registered_claims_are_read_with_their_types_and_the_rest_kept() {
        let c = claims(
            r#"{"iss":"https://as","sub":"svc","aud":["rs1","rs2"],"exp":2000,"nbf":1000,
                "iat":1000,"jti":"j1","client_id":"svc","scope":"read"}"#,
        )
        .unwrap();
        assert_eq!(c.iss.as_deref(), Some("https://as"));
        assert_eq!(c.sub.as_deref(), Some("svc"));
        assert_eq!(c.aud, ["rs1", "rs2"]);
        assert!(c.has_audience("rs2") && !c.has_audience("rs"));
        assert_eq!((c.exp, c.nbf, c.iat), (Some(2000), Some(1000), Some(1000)));
        assert_eq!(c.jti.as_deref(), Some("j1"));
        assert_eq!(c.members["scope"], "read");
        assert_eq!(claims(r#"{"aud":"rs"}"#).unwrap().aud, ["rs"]);
        assert!(claims("{}").unwrap().aud.is_empty());
    }

    #[test]
    fn numeric_dates_must_be_json_integers() {
        for bad in [
            r#"{"exp":1.5}"#,
            r#"{"exp":1.0}"#,
            r#"{"exp":1e9}"#,
            r#"{"exp":"2000"}"#,
            r#"{"exp":18446744073709551615}"#,
            r#"{"nbf":true}"#,
            r#"{"iat":null}"#,
        ] {
            assert!(
                matches!(claims(bad), Err(ClaimsError::WrongType(_))),
                "{bad}"
            );
        }
        assert_eq!(claims(r#"{"exp":-1}"#).unwrap().exp, Some(-1));
    }

    #[test]
    fn string_claims_and_audiences_must_be_strings() {
        for bad in [
            r#"{"iss":1}"#,
            r#"{"sub":["a"]}"#,
            r#"{"jti":{}}"#,
            r#"{"aud":[]}"#,
            r#"{"aud":["a",1]}"#,
            r#"{"aud":7}"#,
        ] {
            assert!(
                matches!(claims(bad), Err(ClaimsError::WrongType(_))),
                "{bad}"
            );
        }
        for bad in ["[]", "", "{", r#"{"exp":1,"exp":2}"#] {
            assert_eq!(claims(bad), Err(ClaimsError::NotAnObject), "{bad}");
        }
    }

    #[test]
    fn times_are_checked_with_leeway_either_way() {
        let c = claims(r#"{"exp":1000,"nbf":900,"iat":900}"#).unwrap();
        assert_eq!(c.check_times(999, 0), Ok(()));
        assert_eq!(c.check_times(1000, 0), Err(ClaimsError::Expired));
        assert_eq!(c.check_times(1029, 30), Ok(()));
        assert_eq!(c.check_times(1030, 30), Err(ClaimsError::Expired));
        assert_eq!(c.check_times(899, 0), Err(ClaimsError::NotYetValid));
        assert_eq!(c.check_times(870, 30), Ok(()));
        let future_iat = claims(r#"{"exp":1000,"iat":950}"#).unwrap();
        assert_eq!(
            future_iat.check_times(900, 10),
            Err(ClaimsError::IssuedInTheFuture)
        );
        assert_eq!(
            claims("{}").unwrap().check_times(0, 0),
            Err(ClaimsError::MissingExpiry)
        );
        let extreme = claims(r#"{"exp":9223372036854775807,"nbf":-9223372036854775808}"#).unwrap();
        assert_eq!(extreme.check_times(i64::MAX - 1, u64::MAX), Ok(()));
    }

    #[test]
    fn now_is_after_2020() {
        assert!(unix_now() > 1_577_836_800);
    }
}
