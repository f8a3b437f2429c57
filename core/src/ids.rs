//! Identifiers shared by every layer: document ids, kinds, scopes and timestamps.
//!
//! A document id is 128 random bits shown as 32 lowercase hex characters. The kind and
//! the scope of a document are fixed when it is created and stored beside the document
//! (never read from its mutable CRDT content), because access control depends on them.

use std::fmt;
use std::str::FromStr;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ValidationError};

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// The current wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Fill `buf` with random bytes from the operating system.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), Error> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::Crypto("system random source failed"))
}

/// A document identifier: 128 random bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId([u8; 16]);

impl DocId {
    /// A fresh random id.
    pub fn random() -> Result<Self, Error> {
        let mut b = [0u8; 16];
        random_bytes(&mut b)?;
        Ok(DocId(b))
    }

    /// The raw 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Build from raw bytes; `None` unless exactly 16 bytes.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(b).ok().map(DocId)
    }

    /// Build from an array of bytes.
    pub const fn from_bytes(b: [u8; 16]) -> Self {
        DocId(b)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({self})")
    }
}

impl FromStr for DocId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Validation(ValidationError::new(
                "id",
                "invalid_id",
                "a document id is 32 hex characters",
            ))
        };
        if s.len() != 32 {
            return Err(bad());
        }
        let v = hex::decode(s).map_err(|_| bad())?;
        DocId::from_slice(&v).ok_or_else(bad)
    }
}

impl Serialize for DocId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DocId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a document is. Stored beside the document; never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A survey definition (one version of it).
    Form,
    /// One filled-in form for one respondent.
    Response,
    /// An enterprise or government client organisation.
    Account,
    /// One meeting of an account manager with an account.
    Visit,
    /// A complaint and its closed-loop handling.
    Case,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 5] = [
        Kind::Form,
        Kind::Response,
        Kind::Account,
        Kind::Visit,
        Kind::Case,
    ];

    /// The stable lowercase name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Form => "form",
            Kind::Response => "response",
            Kind::Account => "account",
            Kind::Visit => "visit",
            Kind::Case => "case",
        }
    }

    /// The stable one-byte code used in binary encodings.
    pub fn code(self) -> u8 {
        match self {
            Kind::Form => 1,
            Kind::Response => 2,
            Kind::Account => 3,
            Kind::Visit => 4,
            Kind::Case => 5,
        }
    }

    /// Inverse of [`Kind::code`].
    pub fn from_code(c: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == c)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::Validation(ValidationError::new(
                    "kind",
                    "invalid_kind",
                    "unknown document kind",
                ))
            })
    }
}

/// The unit of access control: a team, an account, a region.
///
/// 1..=128 characters of `a-z 0-9 : _ - . /`. Fixed at document creation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    /// Longest scope name accepted.
    pub const MAX_LEN: usize = 128;

    /// Validate and wrap a scope name.
    pub fn new(s: impl Into<String>) -> Result<Self, Error> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":_-./".contains(&b));
        if ok {
            Ok(Scope(s))
        } else {
            Err(Error::Validation(ValidationError::new(
                "scope",
                "invalid_scope",
                "a scope is 1-128 characters of a-z 0-9 : _ - . /",
            )))
        }
    }

    /// The scope name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Scope {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Scope::new(s)
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_id_round_trips_through_text() -> Result<(), Error> {
        let id = DocId::random()?;
        let back: DocId = id.to_string().parse()?;
        assert_eq!(id, back);
        assert!("xyz".parse::<DocId>().is_err());
        assert!("zz".repeat(16).parse::<DocId>().is_err());
        Ok(())
    }

    #[test]
    fn scope_rules() {
        assert!(Scope::new("team:north-1").is_ok());
        assert!(Scope::new("").is_err());
        assert!(Scope::new("Team").is_err());
        assert!(Scope::new("a".repeat(129)).is_err());
        assert!(Scope::new("region/county.7").is_ok());
    }

    #[test]
    fn kind_codes_are_stable() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
            assert_eq!(k.as_str().parse::<Kind>().ok(), Some(k));
        }
        assert_eq!(Kind::Response.code(), 2);
    }
}
