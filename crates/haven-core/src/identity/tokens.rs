//! My Tokens: create a soft token (MobileID/Time-Based TOTP or Event-Based HOTP), set its PIN,
//! deliver it (by a single-use email link or on screen; the seed is shown once and never sent),
//! activate it with its first code, resynchronise, disable, enable and delete it.
//!
//! A token is usable only once it is active, and it becomes active only after a correct code:
//! the user has proved that their app holds the seed. Delivering again makes a new seed, so a
//! token's seed never sits in two apps.

use haven_crypto::otp::{Algorithm, OtpKey, UriKind, key_uri};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::Identity;
use super::otp_check;
use super::records::{LinkPurpose, LinkRecord, OtpKind, OtpTokenRecord, TokenState};
use crate::audit::{NewAuditEvent, action, actor};
use crate::authz::{Action, Resource, require};
use crate::caller::{Caller, Level};
use crate::{CoreError, Tx, read, to_micros, transact};

/// 160-bit seeds, as RFC 4226 recommends and every authenticator app accepts.
const SEED_BYTES: usize = 20;
const MAX_PIN_DIGITS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// "MobileID/Time-Based": TOTP, SHA1, 6 digits, 30 s.
    MobileIdTotp,
    /// "Event-Based": HOTP, SHA1, 6 digits.
    EventHotp,
}

impl Product {
    pub fn parse(s: &str) -> Option<Product> {
        match s {
            "mobileid_totp" => Some(Product::MobileIdTotp),
            "event_hotp" => Some(Product::EventHotp),
            _ => None,
        }
    }
    fn id(self) -> &'static str {
        match self {
            Product::MobileIdTotp => "mobileid_totp",
            Product::EventHotp => "event_hotp",
        }
    }
}

/// What the user's app needs, shown once.
pub struct Enrolment {
    pub serial: String,
    pub uri: Zeroizing<String>,
    pub product_label: &'static str,
}

/// PINs refused as too easy to guess, beyond repeated digits and runs.
const TRIVIAL_PINS: &[&str] =
    &["1212", "1004", "2000", "6969", "1122", "1313", "4321", "2001", "1010", "2580", "0852", "1379", "9731"];

pub fn validate_pin(pin: &str, min_digits: usize) -> Result<(), CoreError> {
    let bad = |m: String| CoreError::invalid("pin", m);
    if !pin.bytes().all(|b| b.is_ascii_digit()) || pin.is_empty() {
        return Err(bad("a PIN is made of digits only (0-9)".into()));
    }
    if pin.len() < min_digits || pin.len() > MAX_PIN_DIGITS {
        return Err(bad(format!("a PIN has {min_digits} to {MAX_PIN_DIGITS} digits")));
    }
    let d: Vec<i16> = pin.bytes().map(|b| i16::from(b - b'0')).collect();
    let steps: Vec<i16> = d.windows(2).map(|w| w[1] - w[0]).collect();
    let constant_step = steps.windows(2).all(|w| w[0] == w[1]);
    if constant_step || TRIVIAL_PINS.contains(&pin) {
        return Err(bad("this PIN is too easy to guess (like 0000 or 1234); choose another".into()));
    }
    Ok(())
}

impl Identity {
    /// The user's tokens, oldest first.
    pub async fn my_tokens(&self, who: &Caller) -> Result<Vec<OtpTokenRecord>, CoreError> {
        require(who, Action::ManageOwnTokens, Resource::Account(&who.user_id))?;
        let user = who.user_id.clone();
        read(self.store.as_ref(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.tokens_of(&user).await?) }))
            .await
    }

    /// Full sessions need a recent MFA sign-in for credential changes; ICE and enrolment sessions
    /// are short-lived and were just authenticated, so they pass.
    fn require_recent(&self, who: &Caller) -> Result<(), CoreError> {
        if who.level == Level::Full { self.check_fresh(who) } else { Ok(()) }
    }

    /// Load a token the signed-in user may act on. Others' tokens and unknown serials get the
    /// same refusal (audited), so serials cannot be enumerated.
    async fn own_token(&self, who: &Caller, serial: &str, source: &str) -> Result<OtpTokenRecord, CoreError> {
        let s = serial.to_string();
        let token =
            read(self.store.as_ref(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.token(&s).await?) }))
                .await?;
        let owner = token.as_ref().and_then(|t| t.user_id.clone()).unwrap_or_default();
        match token {
            Some(t) if require(who, Action::ManageOwnTokens, Resource::Account(&owner)).is_ok() => Ok(t),
            _ => {
                let shown: String = serial.chars().take(32).collect();
                self.audit_simple(
                    &who.user_id,
                    action::TOKEN_ACCESS_REFUSED,
                    &owner,
                    source,
                    serde_json::json!({"serial": shown}),
                )
                .await?;
                Err(CoreError::Forbidden)
            }
        }
    }

    pub(crate) async fn audit_simple(
        &self,
        actor: &str,
        action: &'static str,
        target: &str,
        source: &str,
        details: serde_json::Value,
    ) -> Result<(), CoreError> {
        self.audit_one(NewAuditEvent::new(self.now().0, actor, action), target, source, details, false).await
    }

    /// Audit an anonymous refusal, aggregated per source (see [`crate::audit::append_refusal`]).
    pub(crate) async fn audit_refusal(
        &self,
        action: &'static str,
        target: &str,
        source: &str,
        details: serde_json::Value,
    ) -> Result<(), CoreError> {
        let event = NewAuditEvent::new(self.now().0, actor::ANONYMOUS, action);
        self.audit_one(event, target, source, details, true).await
    }

    /// One audit event in a unit of its own; `aggregated`: through `append_refusal`.
    async fn audit_one(
        &self,
        event: NewAuditEvent,
        target: &str,
        source: &str,
        details: serde_json::Value,
        aggregated: bool,
    ) -> Result<(), CoreError> {
        let event = event.target(target).source(source).details(details);
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if aggregated {
                    crate::audit::append_refusal(tx, event).await?;
                } else {
                    tx.append_audit(event).await?;
                }
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// Save `token` and its audit event together; optionally end the user's other sessions.
    async fn save_token(
        &self,
        who: &Caller,
        token: OtpTokenRecord,
        action: &'static str,
        source: &str,
        end_others: bool,
    ) -> Result<(), CoreError> {
        let (now, _) = self.now();
        let (user, src, keep) = (who.user_id.clone(), source.to_string(), who.session()?.hash);
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.put_token(&token).await?;
                let ended = if end_others { tx.delete_sessions_of(&user, Some(&keep)).await? } else { 0 };
                tx.append_audit(NewAuditEvent::new(now, &user, action).target(&user).source(&src).details(
                    serde_json::json!({
                        "serial": token.serial, "product": token.product, "state": token.state.as_str(),
                        "other_sessions_ended": ended,
                    }),
                ))
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// My Tokens → Create.
    pub async fn create_token(&self, who: &Caller, product: Product) -> Result<OtpTokenRecord, CoreError> {
        let source = who.source.as_str();
        require(who, Action::ManageOwnTokens, Resource::Account(&who.user_id))?;
        self.require_recent(who)?;
        let existing = self.my_tokens(who).await?;
        if existing.len() >= 10 {
            return Err(CoreError::Conflict("you have 10 tokens already; delete one you no longer use first".into()));
        }
        let (_, now_us) = self.now();
        let serial = haven_crypto::codes::serial(self.rng.as_ref(), "HVN")?;
        let seed = Zeroizing::new(haven_crypto::rng::random_array::<SEED_BYTES>(self.rng.as_ref())?);
        let kind = match product {
            Product::MobileIdTotp => OtpKind::Totp,
            Product::EventHotp => OtpKind::Hotp,
        };
        let token = OtpTokenRecord {
            seed_sealed: self.seal_seed(&serial, seed.as_ref())?,
            serial,
            user_id: Some(who.user_id.clone()),
            kind,
            product: product.id().into(),
            algorithm: Algorithm::Sha1.as_str().into(),
            digits: 6,
            period: 30,
            counter: 0,
            last_step: -1,
            drift: 0,
            pin_hash: None,
            state: TokenState::Pending,
            failures: 0,
            created_us: now_us,
            last_used_us: 0,
        };
        self.save_token(who, token.clone(), action::TOKEN_CREATED, source, false).await?;
        Ok(token)
    }

    /// Reset PIN: typed twice, digits only, not trivial. Changing the PIN of an active token is a
    /// credential change: it needs a recent MFA sign-in and ends the other sessions.
    pub async fn reset_pin(&self, who: &Caller, serial: &str, pin: &str, confirm: &str) -> Result<(), CoreError> {
        let source = who.source.as_str();
        let mut token = self.own_token(who, serial, source).await?;
        let active = token.state == TokenState::Active;
        if active {
            if who.level != Level::Full {
                return Err(CoreError::Forbidden);
            }
            self.check_fresh(who)?;
        }
        validate_pin(pin, self.policy.pin_min_digits)?;
        if !haven_crypto::ct_eq(pin.as_bytes(), confirm.as_bytes()) {
            return Err(CoreError::invalid("pin", "the two PINs differ; type the same PIN in both boxes"));
        }
        token.pin_hash = Some(self.hasher.hash(Zeroizing::new(pin.to_string())).await?);
        self.save_token(who, token, action::TOKEN_PIN_RESET, source, active).await
    }

    /// A fresh seed for a token not yet active (delivery shows it once).
    async fn reseed(&self, who: &Caller, serial: &str, source: &str) -> Result<(OtpTokenRecord, OtpKey), CoreError> {
        let mut token = self.own_token(who, serial, source).await?;
        if token.state != TokenState::Pending || token.product == "hardware" {
            return Err(CoreError::Conflict(
                "only a new soft token waiting for its first code can be delivered; create a new token instead".into(),
            ));
        }
        self.require_recent(who)?;
        let seed = Zeroizing::new(haven_crypto::rng::random_array::<SEED_BYTES>(self.rng.as_ref())?);
        token.seed_sealed = self.seal_seed(&token.serial, seed.as_ref())?;
        token.counter = 0;
        token.last_step = -1;
        token.drift = 0;
        let key = self.otp_key(&token)?;
        Ok((token, key))
    }

    fn enrolment(&self, who: &Caller, token: &OtpTokenRecord, key: &OtpKey) -> Enrolment {
        let kind = match token.kind {
            OtpKind::Totp => UriKind::Totp { period: u32::try_from(token.period).unwrap_or(30) },
            OtpKind::Hotp => UriKind::Hotp { counter: u64::try_from(token.counter).unwrap_or(0) },
        };
        Enrolment {
            serial: token.serial.clone(),
            uri: key_uri(&self.policy.token_issuer, &who.user_id, key, kind),
            product_label: token.product_label(),
        }
    }

    /// Deliver on screen: the QR code and URI, once.
    pub async fn deliver_on_screen(&self, who: &Caller, serial: &str) -> Result<Enrolment, CoreError> {
        let source = who.source.as_str();
        let (token, key) = self.reseed(who, serial, source).await?;
        let enrolment = self.enrolment(who, &token, &key);
        self.save_token(who, token, action::TOKEN_DELIVERED_ON_SCREEN, source, false).await?;
        Ok(enrolment)
    }

    /// PUSH → Email: an email with instructions and a single-use link, never the seed.
    pub async fn deliver_by_email(&self, who: &Caller, serial: &str) -> Result<(), CoreError> {
        let source = who.source.as_str();
        let (token, _) = self.reseed(who, serial, source).await?;
        let (now, now_us) = self.now();
        let link = haven_crypto::token::new_token(self.rng.as_ref())?;
        let hours = self.policy.delivery_link_hours;
        let record = LinkRecord {
            hash: link.hash,
            purpose: LinkPurpose::TokenDelivery,
            user_id: who.user_id.clone(),
            subject: token.serial.clone(),
            created_us: now_us,
            expires_us: now_us + Duration::hours(i64::from(hours)).whole_microseconds() as i64,
        };
        let (user, src) = (who.user_id.clone(), source.to_string());
        let serial = token.serial.clone();
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.put_token(&token).await?;
                tx.replace_link(&record).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, &user, action::TOKEN_DELIVERY_EMAILED)
                        .target(&user)
                        .source(&src)
                        .details(serde_json::json!({"serial": token.serial, "link_valid_hours": hours})),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        let url = self.link_url(crate::paths::TOKENS_RECEIVE, &link.secret);
        let text = super::messages::token_delivery(&who.user_id, &serial, &url, hours, &self.public_url);
        if self.notify(who.email(), &self.policy.token_email_subject, text).await {
            Ok(())
        } else {
            Err(CoreError::Unavailable(
                "The email could not be sent just now. Try again later, or choose delivery on screen.".into(),
            ))
        }
    }

    /// Open an emailed delivery link: only its signed-in owner can, and only once.
    pub async fn open_delivery_link(&self, who: &Caller, secret: &str) -> Result<Enrolment, CoreError> {
        let source = who.source.as_str();
        let now = self.now().0;
        let hash = haven_crypto::token::hash_token(secret);
        let user = who.user_id.clone();
        let src = source.to_string();
        let taken =
            transact(self.store.as_ref(), move |tx| Box::pin(take_delivery_link(tx, user, src, hash, now))).await?;
        let serial = taken.ok_or(CoreError::LinkInvalid)?;
        let token = self.own_token(who, &serial, source).await?;
        if token.state != TokenState::Pending {
            return Err(CoreError::LinkInvalid);
        }
        let key = self.otp_key(&token)?;
        Ok(self.enrolment(who, &token, &key))
    }

    /// The first code from the app: the token becomes active (its PIN must be set first).
    pub async fn activate_token(&self, who: &Caller, serial: &str, code: &str) -> Result<(), CoreError> {
        let source = who.source.as_str();
        let mut token = self.own_token(who, serial, source).await?;
        if token.state != TokenState::Pending {
            return Err(CoreError::Conflict("this token is not waiting for activation".into()));
        }
        // Binding a new authenticator: a full session must have proved both factors recently.
        self.require_recent(who)?;
        if token.pin_hash.is_none() {
            return Err(CoreError::invalid("pin", "set the token's PIN first (Reset PIN), then enter the code"));
        }
        self.check_allowed("token_activation", &who.user_id).await?;
        let key = self.otp_key(&token)?;
        let (now, _) = self.now();
        let Some(matched) = otp_check::check(&token, &key, code.trim(), now.unix_timestamp()) else {
            let details = serde_json::json!({"serial": serial});
            self.check_failed(who, action::TOKEN_ACTIVATION_FAILED, details).await?;
            return Err(CoreError::invalid(
                "code",
                "that code is not right: type the 6 digits the app shows now (check the phone's time is set automatically)",
            ));
        };
        matched.apply(&mut token);
        token.state = TokenState::Active;
        token.last_used_us = 0;
        let email = who.email().to_string();
        self.save_token(who, token, action::TOKEN_ACTIVATED, source, true).await?;
        let text = super::messages::token_changed(&who.user_id, serial, "was activated", &self.public_url);
        self.notify(&email, "Haven - a token was added to your account", text).await;
        Ok(())
    }

    /// Resynchronise an event-based token from two consecutive codes.
    pub async fn resync_token(&self, who: &Caller, serial: &str, first: &str, second: &str) -> Result<(), CoreError> {
        let source = who.source.as_str();
        let mut token = self.own_token(who, serial, source).await?;
        self.check_allowed("token_resync", &who.user_id).await?;
        let key = self.otp_key(&token)?;
        let Some(matched) = otp_check::resync_hotp(&token, &key, first.trim(), second.trim()) else {
            let details = serde_json::json!({"serial": serial});
            self.check_failed(who, action::TOKEN_RESYNC_FAILED, details).await?;
            return Err(CoreError::invalid(
                "code",
                "these are not two consecutive codes of this token; press the button twice and type both codes",
            ));
        };
        matched.apply(&mut token);
        token.failures = 0;
        self.save_token(who, token, action::TOKEN_RESYNCHRONISED, source, false).await
    }

    /// Disable (any session) or enable (full session, recent MFA) a token.
    pub async fn set_token_enabled(&self, who: &Caller, serial: &str, enabled: bool) -> Result<(), CoreError> {
        let source = who.source.as_str();
        let mut token = self.own_token(who, serial, source).await?;
        if enabled {
            if who.level != Level::Full {
                return Err(CoreError::Forbidden);
            }
            self.check_fresh(who)?;
            if token.state != TokenState::Disabled {
                return Err(CoreError::Conflict("only a disabled token can be enabled".into()));
            }
            token.state = TokenState::Active;
            self.save_token(who, token, action::TOKEN_ENABLED, source, false).await
        } else {
            if !matches!(token.state, TokenState::Active | TokenState::Pending) {
                return Err(CoreError::Conflict("this token is not in use".into()));
            }
            token.state = TokenState::Disabled;
            self.save_token(who, token, action::TOKEN_DISABLED, source, false).await
        }
    }

    /// Delete a token: a pending one from any session, an active one only with a recent MFA sign-in.
    pub async fn delete_token(&self, who: &Caller, serial: &str) -> Result<(), CoreError> {
        let source = who.source.as_str();
        let token = self.own_token(who, serial, source).await?;
        if token.state != TokenState::Pending {
            if who.level != Level::Full {
                return Err(CoreError::Forbidden);
            }
            self.check_fresh(who)?;
        }
        let (now, _) = self.now();
        let (user, src, serial) = (who.user_id.clone(), source.to_string(), token.serial.clone());
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.delete_token(&serial).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, &user, action::TOKEN_DELETED)
                        .target(&user)
                        .source(&src)
                        .details(serde_json::json!({"serial": serial})),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }
}

/// Use up a token delivery link if `user` owns it: the token's serial. Audited either way.
async fn take_delivery_link(
    tx: &mut dyn Tx,
    user: String,
    src: String,
    hash: [u8; 32],
    now: OffsetDateTime,
) -> Result<Option<String>, CoreError> {
    let now_us = to_micros(now);
    let link = tx.link(&hash, LinkPurpose::TokenDelivery, now_us).await?;
    match link {
        Some(l) if l.user_id == user => {
            tx.take_link(&hash, LinkPurpose::TokenDelivery, now_us).await?;
            tx.append_audit(
                NewAuditEvent::new(now, &user, action::TOKEN_DELIVERY_LINK_OPENED)
                    .target(&user)
                    .source(&src)
                    .details(serde_json::json!({"serial": l.subject})),
            )
            .await?;
            Ok::<_, CoreError>(Some(l.subject))
        }
        other => {
            tx.append_audit(
                NewAuditEvent::new(now, &user, action::TOKEN_DELIVERY_LINK_REFUSED).target(&user).source(&src).details(
                    serde_json::json!({"reason": if other.is_some() { "not_the_owner" } else { "invalid_or_used" }}),
                ),
            )
            .await?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate_pin;

    #[test]
    fn pins_are_digits_of_the_right_length_and_not_trivial() {
        for ok in ["4917", "30518", "84736251"] {
            assert!(validate_pin(ok, 4).is_ok(), "{ok}");
        }
        for bad in ["", "12a4", "１２３４", "0000", "1234", "4321", "2468", "9876", "1212", "123", "123456789", "12 34"]
        {
            assert!(validate_pin(bad, 4).is_err(), "{bad}");
        }
        assert!(validate_pin("4917", 6).is_err());
    }
}
