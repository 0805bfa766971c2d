//! The texts of Haven's identity emails. Each says why it was sent and what to do if the reader
//! did not expect it, and none carries a secret: at most a single-use, short-lived link.

fn footer(public_url: &str) -> String {
    format!(
        "\n\nIf you did not expect this email, contact the service desk at once: someone may be using your account.\n\nHaven — {public_url}\n"
    )
}

pub fn onboarding(user_id: &str, link: &str, hours: u32, public_url: &str) -> String {
    format!(
        "Hello,\n\nA Haven account with the user id \"{user_id}\" has been made for you.\n\n\
         To start, open this link within {hours} hours. It works once. You will choose a password and three security questions, \
         then set up a token on your phone:\n\n{link}{}",
        footer(public_url)
    )
}

pub fn password_reset(user_id: &str, link: &str, hours: u32, public_url: &str) -> String {
    format!(
        "Hello,\n\nThe service desk has started a password reset for your Haven account \"{user_id}\".\n\n\
         Open this link within {hours} hours (it works once). You will confirm it is you with your token passcode, \
         a recovery code or your security questions, then choose a new password:\n\n{link}{}",
        footer(public_url)
    )
}

pub fn reset_link_cancelled(user_id: &str, tries: i64, public_url: &str) -> String {
    format!(
        "Hello,\n\nSomeone following the password reset link for your Haven account \"{user_id}\" failed {tries} times to \
         prove it was you (with a token passcode or the answers to your security questions), so Haven has cancelled that link. \
         Your password has not been changed.\n\nIf this was you, ask the service desk for a new link.{}",
        footer(public_url)
    )
}

pub fn token_delivery(user_id: &str, serial: &str, link: &str, hours: u32, public_url: &str) -> String {
    format!(
        "Hello,\n\nYou asked Haven to send you your token {serial} (MobileID) for the account \"{user_id}\".\n\n\
         1. Install an authenticator app on your phone if you have none (Deepnet MobileID, or any app that reads \
         time-based QR codes).\n\
         2. Open this link within {hours} hours, signed in to the Security & Tokens portal. It works once:\n\n   {link}\n\n\
         3. Scan the QR code the page shows with the app.\n\
         4. Type the code the app shows into the page. The token becomes active only then.\n\n\
         When you sign in, type your token PIN followed by the code the app shows.\n\n\
         This email does not contain the token itself: it is shown only once, on the page the link opens.{}",
        footer(public_url)
    )
}

pub fn ice_used(user_id: &str, source: &str, public_url: &str) -> String {
    format!(
        "Hello,\n\nSomeone signed in to your Haven account \"{user_id}\" with the In Case of Emergency (ICE) logon, \
         from the address {source}.\n\nIf this was you, there is nothing to do.{}",
        footer(public_url)
    )
}

pub fn emergency_code_issued(user_id: &str, hours: u32, public_url: &str) -> String {
    format!(
        "Hello,\n\nAn emergency code was requested for your Haven account \"{user_id}\". It was shown on screen, not in this \
         email, and it works once, for at most {hours} hours.{}",
        footer(public_url)
    )
}

pub fn password_changed(user_id: &str, public_url: &str) -> String {
    format!(
        "Hello,\n\nThe password of your Haven account \"{user_id}\" was changed, and your other sessions were signed out.{}",
        footer(public_url)
    )
}

pub fn recovery_codes_generated(user_id: &str, public_url: &str) -> String {
    format!(
        "Hello,\n\nNew recovery codes were made for your Haven account \"{user_id}\". Your old recovery codes no longer work.{}",
        footer(public_url)
    )
}

pub fn account_locked(user_id: &str, minutes: u32, public_url: &str) -> String {
    format!(
        "Hello,\n\nYour Haven account \"{user_id}\" was locked for {minutes} minutes after too many failed sign-ins in a row. \
         It unlocks by itself; the service desk can unlock it sooner.{}",
        footer(public_url)
    )
}

pub fn token_changed(user_id: &str, serial: &str, what: &str, public_url: &str) -> String {
    format!("Hello,\n\nYour Haven token {serial} (account \"{user_id}\") {what}.{}", footer(public_url))
}
