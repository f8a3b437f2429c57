//! Sign-in, sessions, roles and CSRF for the console.
//!
//! - A session is a random 32-byte token in an `HttpOnly`, `SameSite=Strict` cookie
//!   (`Secure` when the console is served over TLS or behind a TLS proxy); the server
//!   keeps only its SHA-256. Sessions slide: each use moves the expiry.
//! - Every form post carries the session's CSRF token (a hidden field), compared in
//!   constant time; the sign-in form carries a token bound to a pre-session cookie.
//! - Five failed sign-ins lock an account for five minutes; the password check runs
//!   the same PBKDF2 work for unknown accounts, so timing does not tell which exist.
//! - Admins see every scope of the tenant; reviewers and viewers see the scopes their
//!   tenant user may read (no grant: nothing).

use std::collections::HashSet;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use fieldsync_i18n::t;

use super::ConsoleState;
use super::i18n::lang;
use crate::storage::console::{ConsoleAccount, ConsoleSession, Role};

/// The session cookie.
pub const SESSION_COOKIE: &str = "fs_session";
/// The pre-session cookie the sign-in form is bound to.
pub const LOGIN_COOKIE: &str = "fs_login";
/// Failed sign-ins before a lock.
pub const LOCK_AFTER: u32 = 5;
/// How long a lock lasts.
pub const LOCK_MS: i64 = 5 * 60_000;

/// A signed-in request.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The account.
    pub account: ConsoleAccount,
    /// The session.
    pub session: ConsoleSession,
    /// Scopes this user may read (`None`: every scope — admins).
    pub readable: Option<Vec<String>>,
    /// Scopes this user may write (reviews are changes to documents in them).
    pub writable: HashSet<String>,
}

impl Signed {
    /// Refuse unless the account has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), Refusal> {
        if self.account.role >= role {
            Ok(())
        } else {
            Err(Refusal::Forbidden)
        }
    }

    /// Refuse a form post whose CSRF token is not this session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), Refusal> {
        if constant_time_eq(token.as_bytes(), self.session.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(Refusal::Csrf)
        }
    }

    /// True when the user may read documents of `scope`.
    pub fn can_read(&self, scope: &str) -> bool {
        self.readable
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == scope))
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not signed in (or the session ended): sign in.
    SignIn {
        /// An API request gets 401, a page a redirect.
        api: bool,
    },
    /// Signed in, but the role does not allow it.
    Forbidden,
    /// A form post without this session's token.
    Csrf,
    /// Storage failed.
    Unavailable,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn { api: false } => Redirect::to("/login").into_response(),
            Refusal::SignIn { api: true } => (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"error":"sign_in_required"}"#,
            )
                .into_response(),
            Refusal::Forbidden => {
                (StatusCode::FORBIDDEN, t!(lang(), "console-forbidden")).into_response()
            }
            Refusal::Csrf => (StatusCode::FORBIDDEN, t!(lang(), "console-csrf")).into_response(),
            Refusal::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                t!(lang(), "console-unavailable"),
            )
                .into_response(),
        }
    }
}

/// Compare two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 of a session token.
pub fn token_hash(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value for `name=value` with the console's attributes.
pub fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    )
}

impl FromRequestParts<ConsoleState> for Signed {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let api = parts.uri.path().starts_with("/api/") || parts.method != Method::GET;
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Refusal::SignIn { api });
        };
        let st = state.clone();
        tokio::task::spawn_blocking(move || load_session(&st, &token))
            .await
            .map_err(|_| Refusal::Unavailable)?
            .map_err(|r| match r {
                Refusal::SignIn { .. } => Refusal::SignIn { api },
                other => other,
            })
    }
}

fn load_session(state: &ConsoleState, token: &str) -> Result<Signed, Refusal> {
    let storage = &state.inner.storage;
    let h = token_hash(token);
    let now = fieldsync_core::now_ms();
    let session = storage
        .session(&h)
        .map_err(|_| Refusal::Unavailable)?
        .ok_or(Refusal::SignIn { api: false })?;
    if session.expires_at < now || session.tenant != state.inner.config.tenant {
        let _ = storage.delete_session(&h);
        return Err(Refusal::SignIn { api: false });
    }
    let account = storage
        .console_account(&session.tenant, &session.username)
        .map_err(|_| Refusal::Unavailable)?
        .ok_or(Refusal::SignIn { api: false })?;
    if account.disabled_at.is_some() {
        return Err(Refusal::SignIn { api: false });
    }
    // Slide the expiry, at most once a minute.
    let expires_at = now + state.inner.config.session_ms;
    if expires_at - session.expires_at > 60_000 {
        let _ = storage.touch_session(&h, expires_at);
    }
    let grants = storage
        .grants(&account.tenant, &account.user_id)
        .map_err(|_| Refusal::Unavailable)?;
    let writable: HashSet<String> = grants
        .iter()
        .filter(|g| g.write)
        .map(|g| g.scope.clone())
        .collect();
    let readable = if account.role == Role::Admin {
        None
    } else {
        Some(
            grants
                .iter()
                .filter(|g| g.read)
                .map(|g| g.scope.clone())
                .collect(),
        )
    };
    Ok(Signed {
        account,
        session,
        readable,
        writable,
    })
}

/// Why a sign-in failed (shown as one message, whatever the cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInError {
    /// Wrong name or password, disabled account.
    Refused,
    /// Too many failures: try later.
    Locked,
    /// Storage failed.
    Unavailable,
}

/// Check a name and password; on success store a new session and return its token,
/// with the account's interface language if it chose one. Blocking (PBKDF2 and
/// SQLite): call from a blocking task.
pub fn sign_in(
    state: &ConsoleState,
    username: &str,
    password: &str,
) -> Result<(String, ConsoleSession, Option<String>), SignInError> {
    let storage = &state.inner.storage;
    let tenant = &state.inner.config.tenant;
    let now = fieldsync_core::now_ms();
    let account = storage
        .console_account(tenant, username)
        .map_err(|_| SignInError::Unavailable)?;
    let Some(account) = account else {
        // Same work as a real check, so the time does not tell unknown names apart.
        let _ = super::password::verify(password, &state.inner.dummy_hash);
        return Err(SignInError::Refused);
    };
    if account.locked_until.is_some_and(|t| t > now) {
        return Err(SignInError::Locked);
    }
    let ok = super::password::verify(password, &account.password_hash);
    if !ok || account.disabled_at.is_some() {
        let _ = storage.record_login_failure(tenant, username, LOCK_AFTER, now + LOCK_MS);
        return Err(SignInError::Refused);
    }
    storage
        .record_login_success(tenant, username)
        .map_err(|_| SignInError::Unavailable)?;
    let token = super::password::random_token(32).map_err(|_| SignInError::Unavailable)?;
    let csrf = super::password::random_token(24).map_err(|_| SignInError::Unavailable)?;
    let session = ConsoleSession {
        token_hash: token_hash(&token),
        tenant: tenant.clone(),
        username: username.to_string(),
        csrf,
        created_at: now,
        expires_at: now + state.inner.config.session_ms,
    };
    storage
        .create_session(&session)
        .map_err(|_| SignInError::Unavailable)?;
    let _ = storage.delete_expired_sessions(now);
    Ok((token, session, account.language))
}

/// The account name of the request's live session, if it has one. Blocking.
pub fn session_user(state: &ConsoleState, headers: &HeaderMap) -> Option<String> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let s = state.inner.storage.session(&token_hash(&token)).ok()??;
    (s.tenant == state.inner.config.tenant && s.expires_at > fieldsync_core::now_ms())
        .then_some(s.username)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_comparison() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; fs_session=tok; b=2"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        let c = set_cookie(SESSION_COOKIE, "x", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
    }
}
