//! Back-office sign-in: console accounts (a password, a role, and the tenant user whose
//! grants decide which scopes they see) and their sessions. Passwords are stored only
//! as PBKDF2 hashes (`console::password`), sessions only by the SHA-256 of their
//! token, so a copy of the database opens no session.

use fieldsync_core::Timestamp;

use super::Result;

/// What a console user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Read the pages and exports of their scopes.
    Viewer,
    /// Also approve, reject, ask for follow-up and comment.
    Reviewer,
    /// Also operations: devices, enrolment, forms, users and grants — in every scope.
    Admin,
}

impl Role {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    /// Parse the stable name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "reviewer" => Some(Role::Reviewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A console account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleAccount {
    /// Tenant.
    pub tenant: String,
    /// Sign-in name.
    pub username: String,
    /// The tenant user it acts as (grants, review attribution).
    pub user_id: String,
    /// Role.
    pub role: Role,
    /// `pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64).
    pub password_hash: String,
    /// Preferred language of the console (`en`, `zh-CN`), if set.
    pub language: Option<String>,
    /// Created at.
    pub created_at: Timestamp,
    /// Disabled at: no sign-in, sessions refused.
    pub disabled_at: Option<Timestamp>,
    /// Failed sign-ins since the last success.
    pub failed_logins: u32,
    /// Sign-in refused until then (too many failures).
    pub locked_until: Option<Timestamp>,
}

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 of the cookie's token.
    pub token_hash: [u8; 32],
    /// Tenant.
    pub tenant: String,
    /// Account.
    pub username: String,
    /// The token every form post must carry.
    pub csrf: String,
    /// Created at.
    pub created_at: Timestamp,
    /// Refused after this (sliding: each use moves it).
    pub expires_at: Timestamp,
}

/// Storage of console accounts and sessions.
pub trait ConsoleStore: Send + Sync + 'static {
    /// Create an account. The tenant user must exist.
    fn create_console_account(&self, account: &ConsoleAccount) -> Result<()>;
    /// One account.
    fn console_account(&self, tenant: &str, username: &str) -> Result<Option<ConsoleAccount>>;
    /// Every account of a tenant, by name.
    fn list_console_accounts(&self, tenant: &str) -> Result<Vec<ConsoleAccount>>;
    /// Replace an account's password hash (and unlock it).
    fn set_console_password(&self, tenant: &str, username: &str, hash: &str) -> Result<()>;
    /// Change an account's role.
    fn set_console_role(&self, tenant: &str, username: &str, role: Role) -> Result<()>;
    /// Keep the account's interface language (a tag such as `zh-CN`; `None`: no
    /// choice, the browser's decides).
    fn set_console_language(
        &self,
        tenant: &str,
        username: &str,
        language: Option<&str>,
    ) -> Result<()>;
    /// Disable (or re-enable with `None`) an account; disabling ends its sessions.
    fn set_console_disabled(
        &self,
        tenant: &str,
        username: &str,
        at: Option<Timestamp>,
    ) -> Result<()>;
    /// A failed sign-in: count it, and lock the account until `lock_until` once
    /// `failed_logins` reaches `lock_after`.
    fn record_login_failure(
        &self,
        tenant: &str,
        username: &str,
        lock_after: u32,
        lock_until: Timestamp,
    ) -> Result<()>;
    /// A successful sign-in: reset the failure count.
    fn record_login_success(&self, tenant: &str, username: &str) -> Result<()>;
    /// Store a new session.
    fn create_session(&self, session: &ConsoleSession) -> Result<()>;
    /// A session by token hash, if it exists (expired or not).
    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<ConsoleSession>>;
    /// Move a session's expiry.
    fn touch_session(&self, token_hash: &[u8; 32], expires_at: Timestamp) -> Result<()>;
    /// End a session.
    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()>;
    /// End every expired session; returns how many.
    fn delete_expired_sessions(&self, now: Timestamp) -> Result<usize>;
}

/// Console user names: 1-64 of a-z A-Z 0-9 . _ - @ (both backends check the same).
pub(crate) fn valid_username(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// `NotFound(what)` when an update touched no row.
pub(crate) fn changed(rows: u64, what: &str) -> Result<()> {
    if rows == 0 {
        Err(super::StorageError::NotFound(what.to_string()))
    } else {
        Ok(())
    }
}
