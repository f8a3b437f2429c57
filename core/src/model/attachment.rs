//! Attachment references: photos, signatures, voice notes and files live outside the
//! CRDT as content-addressed blobs (`store/blobs.rs`); documents hold only an
//! [`AttachmentRef`] (SHA-256, size, media type, name). Responses reference blobs from
//! attachment answers (image, audio, video, file questions, also inside repeats);
//! visits carry a list of attachments. This module owns the checks every reference
//! passes before it is written and the walk that finds a document's references (the
//! `blob_refs` projection, which download and server authorisation read).

use super::response::{Answer, AttachmentRef, RepeatInstance, Response};
use super::visit::Visit;
use crate::error::{Error, ValidationError};

/// Largest blob the engine stores or transfers (256 MiB). Image downscaling is the
/// app's job.
pub const MAX_BLOB_BYTES: u64 = 256 << 20;

impl AttachmentRef {
    /// A reference to `bytes`-long content with SHA-256 `hash`.
    pub fn new(hash: [u8; 32], size: u64, media_type: &str, name: &str) -> Self {
        AttachmentRef {
            sha256: hex::encode(hash),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            media_type: media_type.to_string(),
            name: name.to_string(),
        }
    }

    /// The content hash as bytes.
    pub fn hash(&self) -> Result<[u8; 32], Error> {
        parse_hash(&self.sha256).ok_or_else(|| {
            ValidationError::new("sha256", "bad_hash", "not a lowercase hex SHA-256").into()
        })
    }

    /// Check the reference's shape: hash, size within [`MAX_BLOB_BYTES`], a
    /// `type/subtype` media type, a plain file name. `field` names it in the error.
    pub fn check(&self, field: &str) -> Result<(), Error> {
        let bad = |sub: &str, code: &'static str, msg: &str| -> Error {
            ValidationError::new(format!("{field}.{sub}"), code, msg).into()
        };
        if parse_hash(&self.sha256).is_none() {
            return Err(bad("sha256", "bad_hash", "not a lowercase hex SHA-256"));
        }
        if self.size < 0 || self.size as u64 > MAX_BLOB_BYTES {
            return Err(bad("size", "out_of_range", "size outside 0..=256 MiB"));
        }
        let mt = &self.media_type;
        let mt_ok = mt.len() <= 127
            && mt.split_once('/').is_some_and(|(t, s)| {
                !t.is_empty()
                    && !s.is_empty()
                    && mt
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/+-.".contains(&b))
                    && !s.contains('/')
            });
        if !mt_ok {
            return Err(bad(
                "media_type",
                "bad_media_type",
                "not a type/subtype media type",
            ));
        }
        let n = &self.name;
        if n.is_empty()
            || n.len() > 255
            || n.chars().any(|c| c.is_control() || c == '/' || c == '\\')
        {
            return Err(bad(
                "name",
                "bad_name",
                "a file name of 1..=255 bytes, no path",
            ));
        }
        Ok(())
    }
}

/// Parse 64 lowercase hex characters.
pub fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Records that may reference blobs.
pub trait BlobRefs {
    /// Every attachment the record references (duplicates possible).
    fn blob_refs(&self) -> Vec<&AttachmentRef>;
}

fn repeat_refs<'a>(r: &'a RepeatInstance, out: &mut Vec<&'a AttachmentRef>) {
    for a in r.answers.values() {
        if let Answer::Attachment(x) = a {
            out.push(x);
        }
    }
    for list in r.repeats.values() {
        for i in list {
            repeat_refs(i, out);
        }
    }
}

impl BlobRefs for Response {
    fn blob_refs(&self) -> Vec<&AttachmentRef> {
        let mut out = Vec::new();
        for a in self.answers.values() {
            if let Answer::Attachment(x) = a {
                out.push(x);
            }
        }
        for list in self.repeats.values() {
            for i in list {
                repeat_refs(i, &mut out);
            }
        }
        out
    }
}

impl BlobRefs for Visit {
    fn blob_refs(&self) -> Vec<&AttachmentRef> {
        self.attachments.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> AttachmentRef {
        AttachmentRef::new([0xab; 32], 1000, "image/jpeg", "site.jpg")
    }

    #[test]
    fn shapes_are_checked() {
        assert!(r().check("a").is_ok());
        let mut x = r();
        x.sha256 = x.sha256.to_uppercase();
        assert!(x.check("a").is_err());
        let mut x = r();
        x.size = (MAX_BLOB_BYTES + 1) as i64;
        assert!(x.check("a").is_err());
        let mut x = r();
        x.size = -1;
        assert!(x.check("a").is_err());
        for mt in ["image", "/jpeg", "image/", "image/jp eg", "a/b/c"] {
            let mut x = r();
            x.media_type = mt.into();
            assert!(x.check("a").is_err(), "{mt}");
        }
        for n in ["", "../x", "a/b", "a\nb"] {
            let mut x = r();
            x.name = n.into();
            assert!(x.check("a").is_err(), "{n:?}");
        }
        assert_eq!(r().hash().ok(), Some([0xab; 32]));
    }
}
