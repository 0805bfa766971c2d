//! The session cookie and the extractors that read it. The cookie is `__Host-` prefixed, Secure,
//! HttpOnly and SameSite=Strict, and holds only a random reference; the session lives server-side.
//! [`Signed`] also keeps limited sessions in their lane: an ICE session reaches only tokens and
//! emergency codes, an enrolment session only tokens and security questions, an account without an
//! active token only its token enrolment, and an expired password only the password page.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use haven_core::identity::SignedIn;
use haven_core::identity::records::SessionKind;

use crate::{AppState, WebError};

pub const COOKIE: &str = "__Host-haven-session";

pub fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    crate::source::token_cookie(headers, COOKIE)
}

/// A session cookie: no Max-Age, so the browser forgets it when it closes.
pub fn set_cookie(secret: &str) -> Result<HeaderValue, WebError> {
    HeaderValue::from_str(&format!("{COOKIE}={secret}; Path=/; Secure; HttpOnly; SameSite=Strict"))
        .map_err(WebError::internal)
}

pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-haven-session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whoever the session cookie names, if anyone.
pub struct Viewer(pub Option<SignedIn>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(secret) = cookie_secret(&parts.headers) else { return Ok(Viewer(None)) };
        Ok(Viewer(state.identity.authenticate(&secret).await?))
    }
}

/// A signed-in user allowed on this page.
pub struct Signed(pub SignedIn);

fn allowed(who: &SignedIn, path: &str) -> Result<(), &'static str> {
    let under = |prefixes: &[&str]| prefixes.iter().any(|p| path == *p || path.starts_with(&format!("{p}/")));
    let always = ["/security/signout"];
    if under(&always) || path == "/security" {
        return Ok(());
    }
    match who.kind {
        SessionKind::Ice if !under(&["/security/tokens", "/security/emergency"]) => Err("/security"),
        SessionKind::Enrol if !under(&["/security/tokens", "/security/questions"]) => Err("/security/tokens"),
        SessionKind::Full if who.password_expired && !under(&["/security/password", "/security/confirm"]) => {
            Err("/security/password")
        }
        SessionKind::Full
            if who.needs_token
                && !under(&["/security/tokens", "/security/questions", "/security/confirm", "/security/password"]) =>
        {
            Err("/security/tokens")
        }
        _ => Ok(()),
    }
}

/// The portals a sign-in or step-up may return to.
const RETURN_PORTALS: [&str; 2] = ["/security", "/packages"];

/// Where sign-in should return to: a path inside one of Haven's portals, spelled only with the
/// characters a URL path and query use. Anything else (another site, a scheme, whitespace or
/// control characters, backslashes, which browsers read as slashes) goes to the portal's home.
pub fn safe_next(next: Option<&str>) -> String {
    let fine = |n: &str| {
        n.len() < 512
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~/?=&%+:@!$,;*".contains(&b))
            && !n.contains("//")
            && RETURN_PORTALS.iter().any(|p| {
                n.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
            })
    };
    match next {
        Some(n) if fine(n) => n.to_string(),
        _ => "/security".to_string(),
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Viewer(who) = Viewer::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let path = parts.uri.path();
        let Some(who) = who else {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/security");
            let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            return Err(Redirect::to(&format!("/security/signin?next={encoded}")).into_response());
        };
        allowed(&who, path).map_err(|to| Redirect::to(to).into_response())?;
        Ok(Signed(who))
    }
}

/// Where to send someone whose credential change needs a fresh sign-in.
pub fn step_up(back_to: &str) -> Response {
    let encoded: String = form_urlencoded::byte_serialize(back_to.as_bytes()).collect();
    Redirect::to(&format!("/security/confirm?next={encoded}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(kind: SessionKind, expired: bool, needs_token: bool) -> SignedIn {
        SignedIn {
            user_id: "alice".into(),
            email: "a@example.org".into(),
            roles: vec![],
            kind,
            session_hash: [0; 32],
            mfa_at_us: 0,
            created_us: 0,
            password_expired: expired,
            needs_token,
        }
    }

    #[test]
    fn limited_sessions_stay_in_their_lane() {
        let ice = who(SessionKind::Ice, false, true);
        assert!(allowed(&ice, "/security/tokens/X/pin").is_ok());
        assert!(allowed(&ice, "/security/emergency/request").is_ok());
        assert!(allowed(&ice, "/security/password").is_err());
        assert!(allowed(&ice, "/security/desk").is_err());
        assert!(allowed(&ice, "/security/tokensX").is_err());
        let enrol = who(SessionKind::Enrol, false, true);
        assert!(allowed(&enrol, "/security/questions").is_ok());
        assert!(allowed(&enrol, "/security/emergency").is_err());
        let expired = who(SessionKind::Full, true, false);
        assert_eq!(allowed(&expired, "/security/tokens"), Err("/security/password"));
        let new_admin = who(SessionKind::Full, false, true);
        assert_eq!(allowed(&new_admin, "/security/desk"), Err("/security/tokens"));
        assert!(allowed(&who(SessionKind::Full, false, false), "/security/desk").is_ok());
    }

    #[test]
    fn sign_in_returns_only_to_haven_portal_paths() {
        for hostile in [
            "//evil.example",
            "https://evil.example",
            "/\t/evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "/security/\r\nSet-Cookie: x=1",
            "/security\n",
            "/security/../\t/evil.example",
            "/securityX",
            "/security//evil.example",
            "/ /evil.example",
            "/",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/security", "{hostile:?}");
        }
        for fine in ["/security", "/security/tokens", "/security/tokens?x=1", "/packages/requests/new?name=a%2Fb"] {
            assert_eq!(safe_next(Some(fine)), fine);
        }
        assert_eq!(safe_next(None), "/security");
    }
}
