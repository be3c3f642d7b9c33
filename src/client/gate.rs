//! When the next token request may be sent, after the last one failed.
//!
//! Owns: the gate in front of the token endpoint and its rules. A failure the authorization
//! server *answered* (a refusal, 400 or 401; an unusable answer; 429 or 5xx) closes the gate:
//! for the backoff, one second after the first such failure in a row, doubling up to
//! [`MAX_GATE`]; and for at least the answer's `Retry-After`, capped at [`MAX_RETRY_AFTER`].
//! While it is closed no token request is sent, in the foreground or in the background, and a
//! call that needs one gets the last failure at once. A failure with no answer at all (the
//! server unreachable, or silent) does not close it: reaching for a server that is down costs
//! it nothing, and the client's own retries within a call are bounded (see the client), so the
//! first call after the server is back is served. A token received opens the gate and resets
//! the backoff. Does not own: sending requests or reading answers (the client,
//! `token_request`).

use std::time::Duration;

use tokio::time::Instant;

use super::TokenError;

/// The first wait after an answered failure.
pub const FIRST_GATE: Duration = Duration::from_secs(1);
/// The longest backoff after answered failures in a row.
pub const MAX_GATE: Duration = Duration::from_secs(30);
/// The longest `Retry-After` obeyed; a longer one is shortened to it, so that a confused or
/// hostile answer cannot stop this client for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How a token request failed, as the gate needs to know it.
#[derive(Debug)]
pub(super) struct Failed {
    pub(super) error: TokenError,
    /// Whether the authorization server answered (with a status or a body); `false` when it
    /// could not be reached or did not answer in time.
    pub(super) answered: bool,
    /// The answer's `Retry-After`, if it had one.
    pub(super) retry_after: Option<Duration>,
}

impl Failed {
    pub(super) fn answered(error: TokenError, retry_after: Option<Duration>) -> Failed {
        Failed {
            error,
            answered: true,
            retry_after,
        }
    }

    pub(super) fn unanswered(error: TokenError) -> Failed {
        Failed {
            error,
            answered: false,
            retry_after: None,
        }
    }
}

/// The gate's state.
#[derive(Debug, Default)]
pub(super) struct Gate {
    /// No token request before this instant.
    closed_until: Option<Instant>,
    /// Answered failures in a row, for the doubling backoff.
    answered_failures: u32,
    /// The failure that closed the gate, handed to calls while it stays closed.
    failure: Option<TokenError>,
}

impl Gate {
    /// Records a failed token request; the wait it imposes, if any.
    pub(super) fn after_failure(&mut self, failed: &Failed, now: Instant) -> Option<Duration> {
        if !failed.answered {
            return None;
        }
        self.answered_failures = self.answered_failures.saturating_add(1);
        let retry_after = failed.retry_after.unwrap_or_default().min(MAX_RETRY_AFTER);
        let wait = backoff(self.answered_failures).max(retry_after);
        self.closed_until = Some(now + wait);
        self.failure = Some(failed.error.clone());
        Some(wait)
    }

    /// Records a token received: the gate opens and the backoff starts again.
    pub(super) fn after_success(&mut self) {
        *self = Gate::default();
    }

    /// While the gate is closed at `now`: how long it stays closed, and why.
    pub(super) fn closed(&self, now: Instant) -> Option<(Duration, TokenError)> {
        let until = self.closed_until.filter(|until| *until > now)?;
        let failure = self.failure.clone()?;
        Some((until - now, failure))
    }
}

/// The backoff after `failures` answered failures in a row (at least one): one second,
/// doubling, at most [`MAX_GATE`], and up to a quarter longer at random so that clients
/// refused together do not come back together.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(5);
    let base = (FIRST_GATE * 2u32.pow(doublings)).min(MAX_GATE);
    base.mul_f64(1.0 + random_fraction() / 4.0).min(MAX_GATE)
}

/// A random number in [0, 1); 0.5 if the OS cannot give one.
pub(super) fn random_fraction() -> f64 {
    let mut bytes = [0u8; 2];
    match getrandom::getrandom(&mut bytes) {
        Ok(()) => f64::from(u16::from_le_bytes(bytes)) / 65536.0,
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Failed {
        Failed::answered(
            TokenError::Refused {
                status: 401,
                error: "invalid_client".into(),
            },
            None,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn answered_failures_close_the_gate_for_one_second_doubling_to_thirty() {
        let mut gate = Gate::default();
        let mut waits = Vec::new();
        for _ in 0..8 {
            let now = Instant::now();
            let wait = gate.after_failure(&refused(), now).unwrap();
            let (left, failure) = gate.closed(now).unwrap();
            assert_eq!(left, wait);
            assert!(matches!(failure, TokenError::Refused { status: 401, .. }));
            tokio::time::advance(wait - Duration::from_millis(1)).await;
            assert!(
                gate.closed(Instant::now()).is_some(),
                "closed until the end"
            );
            tokio::time::advance(Duration::from_millis(1)).await;
            assert!(gate.closed(Instant::now()).is_none(), "open at the end");
            waits.push(wait.as_secs_f64());
        }
        for (wait, base) in waits
            .iter()
            .zip([1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0])
        {
            assert!(
                *wait >= base && *wait <= (base * 1.25f64).min(30.0),
                "{waits:?}"
            );
        }
        gate.after_success();
        let wait = gate.after_failure(&refused(), Instant::now()).unwrap();
        assert!(wait < Duration::from_millis(1250), "a success resets it");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_obeyed_up_to_a_minute() {
        let mut gate = Gate::default();
        let unavailable = |secs| {
            Failed::answered(
                TokenError::AuthServerUnavailable("429".into()),
                Some(Duration::from_secs(secs)),
            )
        };
        let now = Instant::now();
        assert_eq!(
            gate.after_failure(&unavailable(3), now),
            Some(Duration::from_secs(3))
        );
        gate.after_success();
        assert_eq!(
            gate.after_failure(&unavailable(86_400), now),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_server_leaves_the_gate_open() {
        let mut gate = Gate::default();
        let unreachable = Failed::unanswered(TokenError::AuthServerUnavailable("down".into()));
        assert_eq!(gate.after_failure(&unreachable, Instant::now()), None);
        assert!(gate.closed(Instant::now()).is_none());
    }
}
