//! Operator actions shared by the CLI, the demo and tests: first-start set-up, users,
//! scopes, grants, enrolment codes, devices, epochs.

use fieldsync_core::now_ms;
use fieldsync_core::sync::auth::{EnrolmentLink, ServerTrust, code_hash, new_enrolment_code};

use crate::storage::{Storage, StorageError};

/// Default tenant of a zero-configuration server.
pub const DEFAULT_TENANT: &str = "default";

/// Make sure the tenant exists; on a fresh server also create a starter user and scope
/// (`field-1` with read/write on `team:default`) so the first device can enrol at once.
/// Returns true when the tenant was new.
pub fn first_start<S: Storage + ?Sized>(storage: &S, tenant: &str) -> Result<bool, StorageError> {
    let fresh = !storage.tenants()?.iter().any(|t| t == tenant);
    storage.ensure_tenant(tenant)?;
    if fresh {
        storage.create_scope(tenant, "team:default")?;
        storage.create_user(tenant, "field-1", "Field user 1")?;
        storage.set_grant(tenant, "field-1", "team:default", true, true)?;
    }
    Ok(fresh)
}

/// Create a one-time enrolment code for `user`, valid for `ttl_hours`, and the link a
/// device scans.
pub fn enrolment_link<S: Storage + ?Sized>(
    storage: &S,
    tenant: &str,
    user: &str,
    host: &str,
    port: u16,
    pin: [u8; 32],
    ttl_hours: i64,
) -> Result<EnrolmentLink, StorageError> {
    let code = new_enrolment_code()?;
    let hash = code_hash(&code).ok_or_else(|| StorageError::Invalid("code".into()))?;
    let now = now_ms();
    storage.create_enrolment(tenant, user, hash, now, now + ttl_hours * 3_600_000)?;
    Ok(EnrolmentLink {
        host: host.to_string(),
        port,
        server_name: "localhost".to_string(),
        trust: ServerTrust::PinnedKey(pin),
        code,
    })
}

/// On a server without console accounts, create the first one: sign-in name `admin`,
/// role admin, acting as tenant user `admin` (created if missing), with a random
/// password. Returns the name and password (shown once), or `None` when accounts exist.
pub fn first_console_admin<S>(
    storage: &S,
    tenant: &str,
) -> Result<Option<(String, String)>, StorageError>
where
    S: Storage + crate::storage::console::ConsoleStore + ?Sized,
{
    if !storage.list_console_accounts(tenant)?.is_empty() {
        return Ok(None);
    }
    if !storage
        .list_users(tenant)?
        .iter()
        .any(|(u, _)| u == "admin")
    {
        storage.create_user(tenant, "admin", "Administrator")?;
    }
    let password = crate::console::password::random_token(15)
        .map_err(|e| StorageError::Invalid(e.to_string()))?;
    add_console_account(
        storage,
        tenant,
        "admin",
        "admin",
        crate::storage::console::Role::Admin,
        &password,
    )?;
    Ok(Some(("admin".into(), password)))
}

/// Create a console account with a password (hashed here).
pub fn add_console_account<S>(
    storage: &S,
    tenant: &str,
    username: &str,
    user_id: &str,
    role: crate::storage::console::Role,
    password: &str,
) -> Result<(), StorageError>
where
    S: crate::storage::console::ConsoleStore + ?Sized,
{
    let hash = crate::console::password::hash(password)
        .map_err(|e| StorageError::Invalid(e.to_string()))?;
    storage.create_console_account(&crate::storage::console::ConsoleAccount {
        tenant: tenant.to_string(),
        username: username.to_string(),
        user_id: user_id.to_string(),
        role,
        password_hash: hash,
        language: None,
        created_at: now_ms(),
        disabled_at: None,
        failed_logins: 0,
        locked_until: None,
    })
}
