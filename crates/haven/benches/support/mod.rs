//! What the sign-in benchmarks share: accounts ready to sign in, the sign-in itself, the load of
//! them all signing in at once, and the sign-in form's CSRF token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use haven_core::caller::Caller;
use haven_core::identity::Identity;
use haven_core::identity::tokens::Product;
use haven_crypto::otp::{Algorithm, OtpKey, from_base32};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use zeroize::Zeroizing;

pub const USERS: usize = 50;
pub const PASSWORD: &str = "cobalt lantern meadow quarrel";

/// `USERS` onboarded accounts (`load00`…), each with an active event-based token (PIN 4917);
/// their OTP keys.
pub async fn accounts(identity: &Identity) -> Vec<OtpKey> {
    let q = identity.policy.security_questions.clone();
    let bench = Caller::anonymous("bench", "");
    let mut keys = Vec::new();
    for i in 0..USERS {
        let id = format!("load{i:02}");
        let link = identity.add_account(&Caller::console(), &id, &format!("{id}@example.org"), false).await.unwrap();
        let token = link.split("token=").nth(1).unwrap();
        let answers: Vec<(String, Zeroizing<String>)> =
            (0..3).map(|k| (q[k].clone(), Zeroizing::new(format!("answer {k}")))).collect();
        let session = identity.onboard(&bench, token, PASSWORD, PASSWORD, &answers).await.unwrap();
        let who = identity.authenticate(&session.secret, "bench", "").await.unwrap().unwrap();
        let t = identity.create_token(&who, Product::EventHotp).await.unwrap();
        identity.reset_pin(&who, &t.serial, "4917", "4917").await.unwrap();
        let e = identity.deliver_on_screen(&who, &t.serial).await.unwrap();
        let secret = e.uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_string();
        let key = OtpKey::new(&from_base32(&secret).unwrap(), Algorithm::Sha1, 6).unwrap();
        identity.activate_token(&who, &t.serial, &key.code(0)).await.unwrap();
        keys.push(key);
    }
    keys
}

/// One full sign-in of `user` at `url` with the passcode of `key` at `counter` (the form, then
/// its post): whether it signed in (303); a failed request counts as not.
pub async fn sign_in(c: &reqwest::Client, url: &str, user: &str, key: &OtpKey, counter: u64) -> bool {
    let Ok(page) = c.get(format!("{url}/security/signin")).send().await else { return false };
    let page = page.text().await.unwrap_or_default();
    let form = [
        ("csrf_token", csrf(&page)),
        ("user_id", user.to_string()),
        ("password", PASSWORD.to_string()),
        ("passcode", format!("4917{}", key.code(counter))),
        ("next", "/security".to_string()),
    ];
    let r = c.post(format!("{url}/security/signin")).header("origin", url).form(&form).send().await;
    r.is_ok_and(|r| r.status().as_u16() == 303)
}

pub fn csrf(html: &str) -> String {
    let m = "name=\"csrf_token\" value=\"";
    let s = html.find(m).unwrap() + m.len();
    html[s..s + html[s..].find('"').unwrap()].to_string()
}

/// Every account of `keys` (`load00`, …) signing in at `url` over and over, each on a client of
/// its own, until `until`: how many sign-ins succeeded and how many failed.
pub async fn sign_in_until(
    url: &str,
    keys: Vec<OtpKey>,
    client: impl Fn() -> reqwest::Client,
    until: Instant,
) -> (u64, u64) {
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let (url, done, failed, c) = (url.to_string(), done.clone(), failed.clone(), client());
        tasks.push(tokio::spawn(async move {
            let user = format!("load{i:02}");
            let mut counter = 1u64;
            while Instant::now() < until {
                let ok = sign_in(&c, &url, &user, &key, counter).await;
                counter += 1;
                if ok {
                    done.fetch_add(1, Ordering::Relaxed)
                } else {
                    failed.fetch_add(1, Ordering::Relaxed)
                };
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}
