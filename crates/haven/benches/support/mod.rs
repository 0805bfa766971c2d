//! What the sign-in benchmarks share: accounts ready to sign in, and the sign-in form's CSRF token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use haven_core::caller::Caller;
use haven_core::identity::Identity;
use haven_core::identity::tokens::Product;
use haven_crypto::otp::{Algorithm, OtpKey, from_base32};
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
