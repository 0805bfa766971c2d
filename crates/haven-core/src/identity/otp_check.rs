//! Checking a code against a token's state: TOTP within one step either side of the learned drift,
//! never a step at or before the last one accepted; HOTP with a look-ahead of 10 and
//! resynchronisation from two consecutive codes. Pure functions: the caller stores the outcome.

use haven_crypto::otp::{OtpKey, totp_step};

use super::records::{OtpKind, OtpTokenRecord};

/// HOTP codes tried ahead of the expected counter at sign-in.
pub const HOTP_LOOK_AHEAD: i64 = 10;
/// HOTP counters searched when resynchronising from two consecutive codes.
pub const HOTP_RESYNC_WINDOW: i64 = 1000;
/// Drift is learned, but never beyond this many steps (5 minutes at 30 s).
pub const MAX_DRIFT_STEPS: i64 = 10;

/// What a matching code changes on the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// TOTP: the step accepted (the new `last_step`); HOTP: the next counter expected.
    pub position: i64,
    pub drift: i64,
}

impl Matched {
    pub fn apply(self, token: &mut OtpTokenRecord) {
        match token.kind {
            OtpKind::Totp => {
                token.last_step = self.position;
                token.drift = self.drift;
            }
            OtpKind::Hotp => token.counter = self.position,
        }
    }
}

/// Whether `code` is valid now for `token`; `None` also for a replayed TOTP step.
pub fn check(token: &OtpTokenRecord, key: &OtpKey, code: &str, now_unix: i64) -> Option<Matched> {
    if code.len() != key.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match token.kind {
        OtpKind::Totp => {
            let now_step = totp_step(now_unix, u32::try_from(token.period).unwrap_or(30));
            let centre = now_step + token.drift;
            [centre, centre - 1, centre + 1].into_iter().find_map(|step| {
                let fresh = step > token.last_step && step >= 0;
                (fresh && key.matches(step as u64, code)).then(|| Matched {
                    position: step,
                    drift: (step - now_step).clamp(-MAX_DRIFT_STEPS, MAX_DRIFT_STEPS),
                })
            })
        }
        OtpKind::Hotp => (token.counter..token.counter + HOTP_LOOK_AHEAD)
            .find(|c| *c >= 0 && key.matches(*c as u64, code))
            .map(|c| Matched { position: c + 1, drift: 0 }),
    }
}

/// HOTP resynchronisation: two consecutive codes found within the resync window.
pub fn resync_hotp(token: &OtpTokenRecord, key: &OtpKey, first: &str, second: &str) -> Option<Matched> {
    if token.kind != OtpKind::Hotp {
        return None;
    }
    (token.counter.max(0)..token.counter.max(0) + HOTP_RESYNC_WINDOW)
        .find(|c| key.matches(*c as u64, first) && key.matches(*c as u64 + 1, second))
        .map(|c| Matched { position: c + 2, drift: 0 })
}

#[cfg(test)]
mod tests {
    use haven_crypto::otp::Algorithm;

    use super::*;
    use crate::identity::records::TokenState;

    fn token(kind: OtpKind) -> OtpTokenRecord {
        OtpTokenRecord {
            serial: "T".into(),
            user_id: Some("alice".into()),
            kind,
            product: "mobileid_totp".into(),
            algorithm: "SHA1".into(),
            digits: 6,
            period: 30,
            seed_sealed: vec![],
            counter: 0,
            last_step: -1,
            drift: 0,
            pin_hash: None,
            state: TokenState::Active,
            failures: 0,
            created_us: 0,
            last_used_us: 0,
        }
    }

    fn key() -> OtpKey {
        OtpKey::new(b"12345678901234567890", Algorithm::Sha1, 6).unwrap()
    }

    #[test]
    fn totp_accepts_one_step_either_side_once() {
        let mut t = token(OtpKind::Totp);
        let k = key();
        let now = 1_111_111_111;
        let step = totp_step(now, 30);
        let code = k.code(step as u64);
        let m = check(&t, &k, &code, now).unwrap();
        assert_eq!(m, Matched { position: step, drift: 0 });
        m.apply(&mut t);
        assert_eq!(check(&t, &k, &code, now), None, "a used step is never accepted again");
        assert_eq!(check(&t, &k, &k.code(step as u64 - 1), now), None, "nor an earlier one");
        let next = k.code(step as u64 + 1);
        assert_eq!(check(&t, &k, &next, now).map(|m| m.drift), Some(1), "one step ahead, drift learned");
        assert_eq!(check(&t, &k, &k.code(step as u64 + 2), now), None, "two steps ahead is too far");
        assert_eq!(check(&t, &k, "12345", now), None);
        assert_eq!(check(&t, &k, "abcdef", now), None);
    }

    #[test]
    fn learned_drift_moves_the_window() {
        let mut t = token(OtpKind::Totp);
        let k = key();
        let now = 1_000_000_000;
        let step = totp_step(now, 30);
        // The phone runs one step fast; after one success the window centres there.
        check(&t, &k, &k.code(step as u64 + 1), now).unwrap().apply(&mut t);
        assert_eq!(t.drift, 1);
        let later = now + 300;
        let later_step = totp_step(later, 30);
        let m = check(&t, &k, &k.code(later_step as u64 + 2), later).unwrap();
        assert_eq!(m.drift, 2);
    }

    #[test]
    fn hotp_looks_ahead_ten_and_resynchronises() {
        let mut t = token(OtpKind::Hotp);
        let k = key();
        assert_eq!(check(&t, &k, "755224", 0), Some(Matched { position: 1, drift: 0 }));
        check(&t, &k, &k.code(9), 0).unwrap().apply(&mut t);
        assert_eq!(t.counter, 10);
        assert_eq!(check(&t, &k, &k.code(9), 0), None, "used counters are behind us");
        assert_eq!(check(&t, &k, &k.code(25), 0), None, "beyond the look-ahead");
        let m = resync_hotp(&t, &k, &k.code(500), &k.code(501)).unwrap();
        assert_eq!(m.position, 502);
        assert_eq!(resync_hotp(&t, &k, &k.code(500), &k.code(502)), None, "not consecutive");
    }
}
