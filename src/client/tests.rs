//! The token client's unit tests: its schedule, jitter and the replacement of refused tokens.

use super::*;

#[test]
fn tokens_are_renewed_before_they_expire() {
    let (renew, usable) = schedule(Duration::from_secs(3600));
    assert_eq!(usable, Duration::from_secs(3598));
    assert_eq!(renew, Duration::from_secs(3538));
    let (renew, usable) = schedule(Duration::from_secs(2));
    assert_eq!(usable, Duration::from_secs(1));
    assert!(renew < usable && renew > Duration::ZERO);
}

fn token(generation: u64) -> Arc<Token> {
    let now = Instant::now();
    Arc::new(Token {
        value: SecretString::new(format!("token-{generation}")),
        generation,
        renew_at: now + Duration::from_secs(60),
        usable_until: now + Duration::from_secs(120),
    })
}

#[test]
fn a_refused_token_is_replaced_at_most_once_a_second_and_a_replaced_one_always() {
    let current = RwLock::new(Some(token(1)));
    let last = Mutex::new(None);
    let start = Instant::now();
    assert!(replace_refused(&current, &last, &token(1), start));
    assert!(current.read().unwrap().is_none());
    // Refused again with the token that replaced it, within the second: the refusal stands.
    *current.write().unwrap() = Some(token(2));
    assert!(!replace_refused(&current, &last, &token(2), start));
    assert_eq!(current.read().unwrap().as_ref().unwrap().generation, 2);
    // A late refusal of the first token: the new one is used.
    assert!(replace_refused(&current, &last, &token(1), start));
    assert!(replace_refused(
        &current,
        &last,
        &token(2),
        start + MIN_REPLACEMENT_INTERVAL
    ));
}

#[test]
fn concurrent_refusals_of_one_token_all_send_again() {
    const CALLS: usize = 4;
    for _ in 0..500 {
        let current = RwLock::new(Some(token(1)));
        let last = Mutex::new(None);
        let barrier = std::sync::Barrier::new(CALLS);
        let now = Instant::now();
        let again = std::thread::scope(|scope| {
            let calls: Vec<_> = (0..CALLS)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        replace_refused(&current, &last, &token(1), now)
                    })
                })
                .collect();
            calls
                .into_iter()
                .map(|call| call.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(again, [true; CALLS]);
        assert!(current.read().unwrap().is_none());
    }
}

#[test]
fn jitter_stays_within_half_and_whole() {
    for _ in 0..100 {
        let wait = jittered(Duration::from_millis(100));
        assert!(wait >= Duration::from_millis(50) && wait < Duration::from_millis(100));
    }
}
