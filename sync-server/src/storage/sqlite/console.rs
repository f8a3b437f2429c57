//! [`ConsoleStore`] on SQLite: the `console_accounts` and `console_sessions` tables
//! (server schema 2).

use fieldsync_core::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::SqliteStorage;
use crate::storage::console::{
    ConsoleAccount, ConsoleSession, ConsoleStore, Role, changed, valid_username,
};
use crate::storage::{Result, StorageError};

/// Server schema step 2.
pub(super) const SCHEMA_2: &str = r#"
CREATE TABLE console_accounts (
    tenant        TEXT NOT NULL,
    username      TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    language      TEXT,
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    PRIMARY KEY (tenant, username),
    FOREIGN KEY (tenant, user_id) REFERENCES users(tenant, id)
) WITHOUT ROWID;

CREATE TABLE console_sessions (
    token_hash BLOB PRIMARY KEY,
    tenant     TEXT NOT NULL,
    username   TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (tenant, username) REFERENCES console_accounts(tenant, username)
) WITHOUT ROWID;
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
"#;

const ACCOUNT_COLUMNS: &str = "tenant, username, user_id, role, password_hash, language, created_at, \
     disabled_at, failed_logins, locked_until";

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConsoleAccount> {
    let role: String = r.get(3)?;
    Ok(ConsoleAccount {
        tenant: r.get(0)?,
        username: r.get(1)?,
        user_id: r.get(2)?,
        // An unknown role (a newer build's) reads as the least privilege.
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        password_hash: r.get(4)?,
        language: r.get(5)?,
        created_at: r.get(6)?,
        disabled_at: r.get(7)?,
        failed_logins: u32::try_from(r.get::<_, i64>(8)?).unwrap_or(u32::MAX),
        locked_until: r.get(9)?,
    })
}

impl ConsoleStore for SqliteStorage {
    fn create_console_account(&self, a: &ConsoleAccount) -> Result<()> {
        if !valid_username(&a.username) {
            return Err(StorageError::Invalid(
                "console user names are 1-64 of a-z A-Z 0-9 . _ - @".into(),
            ));
        }
        self.write(|tx| {
            let user: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM users WHERE tenant = ?1 AND id = ?2",
                    params![a.tenant, a.user_id],
                    |r| r.get(0),
                )
                .optional()?;
            if user.is_none() {
                return Err(StorageError::NotFound(format!("user {}", a.user_id)));
            }
            let n = tx.execute(
                &format!(
                    "INSERT INTO console_accounts ({ACCOUNT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT DO NOTHING"
                ),
                params![
                    a.tenant,
                    a.username,
                    a.user_id,
                    a.role.as_str(),
                    a.password_hash,
                    a.language,
                    a.created_at,
                    a.disabled_at,
                    i64::from(a.failed_logins),
                    a.locked_until
                ],
            )?;
            if n == 0 {
                return Err(StorageError::Exists(format!("console user {}", a.username)));
            }
            Ok(())
        })
    }

    fn console_account(&self, tenant: &str, username: &str) -> Result<Option<ConsoleAccount>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM console_accounts WHERE tenant = ?1 AND username = ?2"
                ),
                params![tenant, username],
                account_row,
            )
            .optional()?)
        })
    }

    fn list_console_accounts(&self, tenant: &str) -> Result<Vec<ConsoleAccount>> {
        self.with_reader(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM console_accounts WHERE tenant = ?1 ORDER BY username"
            ))?;
            let rows = st.query_map([tenant], account_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn set_console_password(&self, tenant: &str, username: &str, hash: &str) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE console_accounts SET password_hash = ?3, failed_logins = 0, locked_until = NULL
                 WHERE tenant = ?1 AND username = ?2",
                params![tenant, username, hash],
            )?;
            changed(n as u64, &format!("console user {username}"))?;
            // A new password ends every session of the account.
            tx.execute(
                "DELETE FROM console_sessions WHERE tenant = ?1 AND username = ?2",
                params![tenant, username],
            )?;
            Ok(())
        })
    }

    fn set_console_role(&self, tenant: &str, username: &str, role: Role) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE console_accounts SET role = ?3 WHERE tenant = ?1 AND username = ?2",
                params![tenant, username, role.as_str()],
            )?;
            changed(n as u64, &format!("console user {username}"))
        })
    }

    fn set_console_language(
        &self,
        tenant: &str,
        username: &str,
        language: Option<&str>,
    ) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE console_accounts SET language = ?3 WHERE tenant = ?1 AND username = ?2",
                params![tenant, username, language],
            )?;
            changed(n as u64, &format!("console user {username}"))
        })
    }

    fn set_console_disabled(
        &self,
        tenant: &str,
        username: &str,
        at: Option<Timestamp>,
    ) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE console_accounts SET disabled_at = ?3 WHERE tenant = ?1 AND username = ?2",
                params![tenant, username, at],
            )?;
            changed(n as u64, &format!("console user {username}"))?;
            if at.is_some() {
                tx.execute(
                    "DELETE FROM console_sessions WHERE tenant = ?1 AND username = ?2",
                    params![tenant, username],
                )?;
            }
            Ok(())
        })
    }

    fn record_login_failure(
        &self,
        tenant: &str,
        username: &str,
        lock_after: u32,
        lock_until: Timestamp,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE console_accounts SET failed_logins = failed_logins + 1,
                    locked_until = CASE WHEN failed_logins + 1 >= ?3 THEN ?4 ELSE locked_until END
                 WHERE tenant = ?1 AND username = ?2",
                params![tenant, username, i64::from(lock_after), lock_until],
            )?;
            Ok(())
        })
    }

    fn record_login_success(&self, tenant: &str, username: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE console_accounts SET failed_logins = 0, locked_until = NULL
                 WHERE tenant = ?1 AND username = ?2",
                params![tenant, username],
            )?;
            Ok(())
        })
    }

    fn create_session(&self, s: &ConsoleSession) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO console_sessions (token_hash, tenant, username, csrf, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    &s.token_hash[..],
                    s.tenant,
                    s.username,
                    s.csrf,
                    s.created_at,
                    s.expires_at
                ],
            )?;
            Ok(())
        })
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<ConsoleSession>> {
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT tenant, username, csrf, created_at, expires_at FROM console_sessions
                 WHERE token_hash = ?1",
                [&token_hash[..]],
                |r| {
                    Ok(ConsoleSession {
                        token_hash: *token_hash,
                        tenant: r.get(0)?,
                        username: r.get(1)?,
                        csrf: r.get(2)?,
                        created_at: r.get(3)?,
                        expires_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
        })
    }

    fn touch_session(&self, token_hash: &[u8; 32], expires_at: Timestamp) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE console_sessions SET expires_at = ?2 WHERE token_hash = ?1",
                params![&token_hash[..], expires_at],
            )?;
            Ok(())
        })
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM console_sessions WHERE token_hash = ?1",
                [&token_hash[..]],
            )?;
            Ok(())
        })
    }

    fn delete_expired_sessions(&self, now: Timestamp) -> Result<usize> {
        self.write(
            |tx| Ok(tx.execute("DELETE FROM console_sessions WHERE expires_at < ?1", [now])?),
        )
    }
}
