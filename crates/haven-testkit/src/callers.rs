//! Callers for tests that are about what a caller may do, not about how it signed in (sign-in
//! itself is tested through the real flow).

use haven_core::accounts::Role;
use haven_core::caller::{Caller, Level, Session};

/// `id` signed in fully from `192.0.2.20`, both factors proven at `mfa_at_us`.
pub fn signed_in(id: &str, roles: &[Role], mfa_at_us: i64) -> Caller {
    Caller {
        user_id: id.into(),
        roles: roles.to_vec(),
        level: Level::Full,
        source: "192.0.2.20".into(),
        user_agent: String::new(),
        session: Some(Session {
            hash: [7; 32],
            email: format!("{id}@example.org"),
            mfa_at_us,
            created_us: mfa_at_us,
            password_expired: false,
            needs_token: false,
        }),
    }
}
