//! Password hashing for console accounts: PBKDF2-HMAC-SHA256 (ring) with a random
//! 16-byte salt and 600,000 iterations (OWASP's figure for this function), stored as
//! `pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64, no padding). Verification is
//! constant-time (ring) and reads the iteration count from the stored string, so the
//! count can rise later without breaking old hashes.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

/// Iterations for new hashes.
pub const ITERATIONS: u32 = 600_000;
/// Shortest password accepted.
pub const MIN_LENGTH: usize = 10;

const ALG: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;

/// Why a password cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Too short.
    #[error("passwords are at least {MIN_LENGTH} characters")]
    TooShort,
    /// Too long (a denial of service on hashing).
    #[error("passwords are at most 1024 bytes")]
    TooLong,
    /// The system random source failed.
    #[error("no randomness")]
    Random,
}

/// Hash a new password.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    hash_with(password, ITERATIONS)
}

/// Hash with a given iteration count (tests use fewer).
pub fn hash_with(password: &str, iterations: u32) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if password.len() > 1024 {
        return Err(PasswordError::TooLong);
    }
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| PasswordError::Random)?;
    let iterations = NonZeroU32::new(iterations.max(1)).unwrap_or(NonZeroU32::MIN);
    let mut out = [0u8; 32];
    pbkdf2::derive(ALG, iterations, &salt, password.as_bytes(), &mut out);
    Ok(format!(
        "pbkdf2-sha256${}${}${}",
        iterations,
        B64.encode(salt),
        B64.encode(out)
    ))
}

/// Check `password` against a stored hash. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(iter), Some(salt), Some(expected), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(iter), Ok(salt), Ok(expected)) =
        (iter.parse::<u32>(), B64.decode(salt), B64.decode(expected))
    else {
        return false;
    };
    let Some(iter) = NonZeroU32::new(iter) else {
        return false;
    };
    password.len() <= 1024
        && pbkdf2::verify(ALG, iter, &salt, password.as_bytes(), &expected).is_ok()
}

/// A random secret of `n` bytes, base64url without padding (session tokens, CSRF
/// tokens, first-start passwords).
pub fn random_token(n: usize) -> Result<String, PasswordError> {
    let mut b = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| PasswordError::Random)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() -> Result<(), PasswordError> {
        let h = hash_with("correct horse battery", 1000)?;
        assert!(h.starts_with("pbkdf2-sha256$1000$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        // Same password, new salt: a different hash.
        assert_ne!(h, hash_with("correct horse battery", 1000)?);
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        for bad in [
            "",
            "pbkdf2-sha256$0$AA$AA",
            "md5$1$a$b",
            "pbkdf2-sha256$1000$!!$!!",
        ] {
            assert!(!verify("correct horse battery", bad), "{bad}");
        }
        assert_eq!(random_token(32)?.len(), 43);
        Ok(())
    }
}
