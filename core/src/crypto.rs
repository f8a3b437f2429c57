//! Sealing of document content at rest.
//!
//! The app supplies a 32-byte master key (kept in the Android Keystore or the iOS
//! Keychain). Each store file derives its own data key from it with HKDF-SHA256 and a
//! random per-file salt, so one master key shared by two files never shares a nonce
//! space. Rows are sealed with AES-256-GCM under a fresh random 96-bit nonce; the
//! additional data binds the ciphertext to its document and row, so rows cannot be
//! swapped between documents or positions. See docs/adr/0003-sealing-at-rest.md.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;

use crate::error::Error;
use crate::ids::random_bytes;

/// Length of the master key the caller supplies.
pub const KEY_LEN: usize = 32;
/// Bytes a sealed value adds to its plaintext (format byte, nonce, tag).
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + 16;
const FORMAT_V1: u8 = 1;

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Too short or unknown format byte: the row was truncated or overwritten.
    Malformed,
    /// Authentication failed: wrong key, flipped bits, or a row moved elsewhere.
    Unauthentic,
}

/// Seals and opens rows for one store file.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl Sealer {
    /// Derive the data key of one store file from the master key and the file's salt.
    pub fn derive(master: &[u8], salt: &[u8]) -> Result<Self, Error> {
        if master.len() != KEY_LEN {
            return Err(Error::WrongKey);
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(master);
        let info: [&[u8]; 1] = [b"fieldsync store data key v1"];
        let okm = prk
            .expand(&info, Len32)
            .map_err(|_| Error::Crypto("hkdf expand"))?;
        let mut raw = [0u8; 32];
        okm.fill(&mut raw).map_err(|_| Error::Crypto("hkdf fill"))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| Error::Crypto("aead key"))?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Seal `plain`, bound to `aad`. Output: format byte, nonce, ciphertext, tag.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[1 + NONCE_LEN..],
            )
            .map_err(|_| Error::Crypto("aead seal"))?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Open a value sealed by [`Sealer::seal`] with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < SEAL_OVERHEAD || sealed[0] != FORMAT_V1 {
            return Err(OpenError::Malformed);
        }
        let nonce = <[u8; NONCE_LEN]>::try_from(&sealed[1..1 + NONCE_LEN])
            .map_err(|_| OpenError::Malformed)?;
        let mut buf = sealed[1 + NONCE_LEN..].to_vec();
        let plain_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| OpenError::Unauthentic)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

/// Additional authenticated data for a row: a domain tag, the row's table, its
/// document and its key within the document.
pub fn row_aad(table: &'static str, doc: &[u8], row: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + table.len() + doc.len() + row.len());
    aad.extend_from_slice(b"fieldsync/1/");
    aad.extend_from_slice(table.as_bytes());
    aad.push(0);
    aad.extend_from_slice(doc);
    aad.push(0);
    aad.extend_from_slice(row);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() -> Result<(), Error> {
        let s = Sealer::derive(&[7u8; 32], b"salt")?;
        let aad = row_aad("changes", b"doc1", b"h1");
        let sealed = s.seal(&aad, b"hello")?;
        assert_eq!(s.open(&aad, &sealed), Ok(b"hello".to_vec()));
        // other row
        let other = row_aad("changes", b"doc2", b"h1");
        assert_eq!(s.open(&other, &sealed), Err(OpenError::Unauthentic));
        // other key
        let s2 = Sealer::derive(&[8u8; 32], b"salt")?;
        assert_eq!(s2.open(&aad, &sealed), Err(OpenError::Unauthentic));
        // other salt (another file)
        let s3 = Sealer::derive(&[7u8; 32], b"salt2")?;
        assert_eq!(s3.open(&aad, &sealed), Err(OpenError::Unauthentic));
        // truncation
        assert_eq!(s.open(&aad, &sealed[..5]), Err(OpenError::Malformed));
        // every single bit flip is detected
        for i in 0..sealed.len() * 8 {
            let mut bad = sealed.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(s.open(&aad, &bad).is_err(), "flip {i} undetected");
        }
        Ok(())
    }

    #[test]
    fn short_master_key_is_refused() {
        assert!(matches!(
            Sealer::derive(&[1u8; 16], b"s"),
            Err(Error::WrongKey)
        ));
    }

    #[test]
    fn nonces_differ() -> Result<(), Error> {
        let s = Sealer::derive(&[7u8; 32], b"salt")?;
        let a = s.seal(b"", b"x")?;
        let b = s.seal(b"", b"x")?;
        assert_ne!(a, b);
        Ok(())
    }
}
