//! The session cookie and the extractors that read it. The cookie is `__Host-` prefixed, Secure,
//! HttpOnly and SameSite=Strict, and holds only a random reference; the session lives server-side.
//! [`Signed`] gives a handler its [`Caller`] after asking `can()` for the action its route serves
//! ([`serving`]): a limited session (ICE, enrolment, an expired password, no token yet) that may
//! not do it is sent to the page of its own task instead.

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use haven_core::authz::{Action, can};
use haven_core::caller::{Caller, Level};

use crate::paths;
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

/// Marks a request that must not count as use of the sign-in (a web session's page polling its
/// application): the sign-in is checked, not renewed.
#[derive(Clone, Copy, Debug)]
pub struct Quiet;

/// Whoever the session cookie names, if anyone.
pub struct Viewer(pub Option<Caller>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(secret) = cookie_secret(&parts.headers) else { return Ok(Viewer(None)) };
        let source = crate::source::address(&parts.extensions);
        let agent = crate::source::user_agent(&parts.headers);
        let renew = parts.extensions.get::<Quiet>().is_none();
        let Some(caller) = state.identity.authenticate_renewing(&secret, &source, &agent, renew).await? else {
            return Ok(Viewer(None));
        };
        // A staff role whose required IG courses have lapsed gives nothing in this session.
        Ok(Viewer(Some(state.governance.gate_roles(caller).await?)))
    }
}

/// Whoever is asking, signed in or not, as the anonymous caller of this request (its address and
/// browser): for sign-in, ICE logon and the links from emails.
pub struct Visitor(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let source = crate::source::address(&parts.extensions);
        Ok(Visitor(Caller::anonymous(&source, &crate::source::user_agent(&parts.headers))))
    }
}

/// The action a group of routes serves, declared where the routes are (see [`serving`]).
#[derive(Clone, Copy, Debug)]
pub struct Serves(pub Action);

/// Declare that `routes` serve `action`: [`Signed`] asks `can()` for it before the handler runs.
pub fn serving(action: Action, routes: Router<AppState>) -> Router<AppState> {
    routes.route_layer(axum::Extension(Serves(action)))
}

/// A signed-in caller that `can()` allows the route's action (routes that declare none, like
/// the portal's home and sign-out, take anyone signed in).
pub struct Signed(pub Caller);

/// What a signed-in portal page needs, in one extractor: the caller (after [`Signed`]'s check)
/// and the CSRF token its forms carry.
pub struct Page {
    pub who: Caller,
    pub csrf: String,
}

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Signed(who) = Signed::from_request_parts(parts, state).await?;
        let csrf = parts
            .extensions
            .get::<crate::csrf::CsrfToken>()
            .map(|t| t.0.clone())
            .ok_or_else(|| WebError::internal("the CSRF layer did not run before this handler").into_response())?;
        Ok(Page { who, csrf })
    }
}

/// The page of the one task a limited session is kept to, where it is sent from any other.
fn own_task(who: &Caller) -> Option<&'static str> {
    match who.level {
        Level::Ice => Some(paths::SECURITY),
        Level::Enrol => Some(paths::TOKENS),
        Level::Full if who.password_expired() => Some(paths::PASSWORD),
        Level::Full if who.needs_token() => Some(paths::TOKENS),
        _ => None,
    }
}

/// Whether `who` may use a route serving `serves`; if not, where to send them (None: refused).
fn admit(who: &Caller, serves: Option<Serves>) -> Result<(), Option<&'static str>> {
    match serves {
        Some(Serves(action)) if !can(who, action, action.default_resource(who)) => Err(own_task(who)),
        _ => Ok(()),
    }
}

/// The portals a sign-in or step-up may return to.
const RETURN_PORTALS: [&str; 3] = [paths::SECURITY, paths::PACKAGES, paths::GOVERNANCE];

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
        _ => paths::SECURITY.to_string(),
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Viewer(who) = Viewer::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let Some(who) = who else {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(paths::SECURITY);
            let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            return Err(Redirect::to(&paths::signin_then(&encoded)).into_response());
        };
        match admit(&who, parts.extensions.get::<Serves>().copied()) {
            Ok(()) => Ok(Signed(who)),
            Err(Some(to)) => Err(Redirect::to(to).into_response()),
            Err(None) => Err(WebError::from(haven_core::CoreError::Forbidden).into_response()),
        }
    }
}

/// Where to send someone whose credential change needs a fresh sign-in.
pub fn step_up(back_to: &str) -> Response {
    let encoded: String = form_urlencoded::byte_serialize(back_to.as_bytes()).collect();
    Redirect::to(&paths::confirm_then(&encoded)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(level: Level, expired: bool, needs_token: bool) -> Caller {
        let mut c = Caller::anonymous("", "");
        c.user_id = "alice".into();
        c.level = level;
        c.session = Some(haven_core::caller::Session {
            hash: [0; 32],
            email: "a@example.org".into(),
            mfa_at_us: 0,
            created_us: 0,
            password_expired: expired,
            needs_token,
        });
        c
    }

    /// The lanes the URL prefixes used to draw, now `can()` rows: each limited session reaches
    /// its own task's routes and is sent back to that task's page from any other.
    #[test]
    fn limited_sessions_stay_in_their_lane() {
        let serves = |a| Some(Serves(a));
        let ice = who(Level::Ice, false, true);
        assert!(admit(&ice, serves(Action::ManageOwnTokens)).is_ok());
        assert!(admit(&ice, serves(Action::RequestEmergencyCode)).is_ok());
        assert_eq!(admit(&ice, serves(Action::ChangeOwnPassword)), Err(Some("/security")));
        assert_eq!(admit(&ice, serves(Action::ManageAccounts)), Err(Some("/security")));
        assert!(admit(&ice, None).is_ok(), "the portal's home and sign-out");
        let enrol = who(Level::Enrol, false, true);
        assert!(admit(&enrol, serves(Action::SetSecurityAnswers)).is_ok());
        assert_eq!(admit(&enrol, serves(Action::RequestEmergencyCode)), Err(Some("/security/tokens")));
        assert_eq!(admit(&enrol, serves(Action::RequestPackages)), Err(Some("/security/tokens")));
        let expired = who(Level::Full, true, false);
        assert_eq!(admit(&expired, serves(Action::ManageOwnTokens)), Err(Some("/security/password")));
        assert!(admit(&expired, serves(Action::ConfirmIdentity)).is_ok());
        let new_admin = who(Level::Full, false, true);
        assert_eq!(admit(&new_admin, serves(Action::ManageAccounts)), Err(Some("/security/tokens")));
        assert!(admit(&new_admin, serves(Action::ChangeOwnPassword)).is_ok());
        let full = who(Level::Full, false, false);
        assert!(admit(&full, serves(Action::ManageOwnCredentials)).is_ok());
        // A full session that may not do it is refused, not sent anywhere.
        assert_eq!(admit(&full, serves(Action::ManageAccounts)), Err(None));
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
