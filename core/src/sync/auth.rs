//! Device identity: the Ed25519 key a device keeps, the proof it presents on every
//! connection, and the one-time enrolment codes and links it enrols with.
//!
//! The proof binds the key to the TLS session: the device signs
//! `"fieldsync/1 device-auth" 0 device_id 0 exporter`, where `exporter` is 32 bytes of
//! TLS keying material exported with the label [`EXPORTER_LABEL`]. Both sides derive the
//! same exporter value only inside this TLS session (it mixes both handshake randoms), so
//! a recorded proof is useless on any other connection.

use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::error::{Error, Result};
use crate::ids::random_bytes;

/// TLS exporter label of the device proof.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-fieldsync-device-auth";
/// Length of the exported keying material.
pub const EXPORTER_LEN: usize = 32;

/// The transcript a device signs.
pub fn proof_transcript(device_id: &str, exporter: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(32 + device_id.len() + exporter.len());
    t.extend_from_slice(b"fieldsync/1 device-auth");
    t.push(0);
    t.extend_from_slice(device_id.as_bytes());
    t.push(0);
    t.extend_from_slice(exporter);
    t
}

/// A device's signing key (Ed25519), stored sealed in the device store.
pub struct DeviceKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({})", hex::encode(self.public_key()))
    }
}

impl DeviceKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| Error::Crypto("ed25519 keygen"))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Load from PKCS#8 bytes.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| Error::Crypto("ed25519 key"))?;
        Ok(DeviceKey {
            pair,
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// PKCS#8 bytes, for sealed storage.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.pair.public_key().as_ref());
        k
    }

    /// Sign the proof for `device_id` on a session with this exporter value.
    pub fn prove(&self, device_id: &str, exporter: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&proof_transcript(device_id, exporter))
            .as_ref()
            .to_vec()
    }
}

/// Check a device's proof against its registered public key.
pub fn verify_proof(public_key: &[u8], device_id: &str, exporter: &[u8], proof: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&proof_transcript(device_id, exporter), proof)
        .is_ok()
}

/// Crockford base32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh one-time enrolment code: 80 random bits as `XXXX-XXXX-XXXX-XXXX`
/// (Crockford base32, QR- and phone-keyboard-friendly).
pub fn new_enrolment_code() -> Result<String> {
    let mut b = [0u8; 10];
    random_bytes(&mut b)?;
    let mut bits: u128 = 0;
    for x in b {
        bits = (bits << 8) | u128::from(x);
    }
    let mut s = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        let idx = usize::try_from((bits >> (75 - 5 * i)) & 31).unwrap_or(0);
        s.push(char::from(ALPHABET[idx]));
    }
    Ok(s)
}

/// Normalise a typed code: upper case, no separators or spaces, `I/L -> 1`, `O -> 0`.
/// `None` unless it is 16 valid characters.
pub fn normalize_code(code: &str) -> Option<String> {
    let mut out = String::with_capacity(16);
    for c in code.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        };
        if !ALPHABET.contains(&(c as u8)) || !c.is_ascii() {
            return None;
        }
        out.push(c);
    }
    (out.len() == 16).then_some(out)
}

/// The server stores only this hash of a code.
pub fn code_hash(code: &str) -> Option<[u8; 32]> {
    let n = normalize_code(code)?;
    let d = digest::digest(&digest::SHA256, n.as_bytes());
    let mut h = [0u8; 32];
    h.copy_from_slice(d.as_ref());
    Some(h)
}

/// How a device finds and trusts a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// Trust a certificate whose SubjectPublicKeyInfo hashes (SHA-256) to this value:
    /// self-hosted servers with a self-signed certificate.
    PinnedKey([u8; 32]),
    /// Verify the certificate chain against the platform's / given CA roots.
    CaIssued,
}

/// What an enrolment QR code carries: where the server is, how to trust it, the code.
///
/// Text form: `fieldsync://HOST:PORT/enrol?code=XXXX-XXXX-XXXX-XXXX&pin=HEX` (`pin`
/// omitted for CA-issued certificates; `name` = the TLS server name when it differs
/// from HOST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentLink {
    /// Host name or IP.
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// TLS server name to verify.
    pub server_name: String,
    /// Trust.
    pub trust: ServerTrust,
    /// One-time code.
    pub code: String,
}

impl EnrolmentLink {
    /// Render the link.
    pub fn to_uri(&self) -> String {
        let mut s = format!(
            "fieldsync://{}:{}/enrol?code={}",
            self.host, self.port, self.code
        );
        if let ServerTrust::PinnedKey(p) = &self.trust {
            s.push_str("&pin=");
            s.push_str(&hex::encode(p));
        }
        if self.server_name != self.host {
            s.push_str("&name=");
            s.push_str(&self.server_name);
        }
        s
    }

    /// Parse a link.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::Malformed(format!("enrolment link: {why}"));
        let rest = s
            .trim()
            .strip_prefix("fieldsync://")
            .ok_or_else(|| bad("scheme"))?;
        let (addr, query) = rest.split_once("/enrol?").ok_or_else(|| bad("path"))?;
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("port"))?;
        let port: u16 = port.parse().map_err(|_| bad("port"))?;
        if host.is_empty() {
            return Err(bad("host"));
        }
        let (mut code, mut pin, mut name) = (None, None, None);
        for kv in query.split('&') {
            match kv.split_once('=') {
                Some(("code", v)) => code = normalize_code(v).map(|_| v.to_string()),
                Some(("pin", v)) => {
                    let b = hex::decode(v).map_err(|_| bad("pin"))?;
                    pin = Some(<[u8; 32]>::try_from(b.as_slice()).map_err(|_| bad("pin"))?);
                }
                Some(("name", v)) => name = Some(v.to_string()),
                _ => {}
            }
        }
        Ok(EnrolmentLink {
            host: host.to_string(),
            port,
            server_name: name.unwrap_or_else(|| host.to_string()),
            trust: pin.map_or(ServerTrust::CaIssued, ServerTrust::PinnedKey),
            code: code.ok_or_else(|| bad("code"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_binds_device_and_session() -> Result<()> {
        let k = DeviceKey::generate()?;
        let p = k.prove("dev-1", &[7u8; 32]);
        assert!(verify_proof(&k.public_key(), "dev-1", &[7u8; 32], &p));
        assert!(!verify_proof(&k.public_key(), "dev-2", &[7u8; 32], &p));
        assert!(!verify_proof(&k.public_key(), "dev-1", &[8u8; 32], &p));
        let other = DeviceKey::generate()?;
        assert!(!verify_proof(&other.public_key(), "dev-1", &[7u8; 32], &p));
        let back = DeviceKey::from_pkcs8(k.pkcs8())?;
        assert_eq!(back.public_key(), k.public_key());
        Ok(())
    }

    #[test]
    fn codes_are_typable() -> Result<()> {
        let c = new_enrolment_code()?;
        assert_eq!(c.len(), 19);
        assert_eq!(
            normalize_code(&c.to_lowercase().replace('-', " ")),
            normalize_code(&c)
        );
        assert_eq!(code_hash(&c), code_hash(&c.to_lowercase()));
        assert!(normalize_code("ABCD-EFGH").is_none());
        assert!(normalize_code("ABCD-EFGH-JKMN-PQR!").is_none());
        assert_eq!(
            normalize_code("oooo-iiii-llll-0000").as_deref(),
            Some("0000111111110000")
        );
        assert_ne!(new_enrolment_code()?, c);
        Ok(())
    }

    #[test]
    fn links_round_trip() -> Result<()> {
        let l = EnrolmentLink {
            host: "10.0.0.5".into(),
            port: 4433,
            server_name: "fieldsync.local".into(),
            trust: ServerTrust::PinnedKey([9u8; 32]),
            code: "ABCD-EFGH-JKMN-PQRS".into(),
        };
        assert_eq!(EnrolmentLink::parse(&l.to_uri())?, l);
        let ca = EnrolmentLink {
            trust: ServerTrust::CaIssued,
            server_name: "10.0.0.5".into(),
            ..l
        };
        assert_eq!(EnrolmentLink::parse(&ca.to_uri())?, ca);
        assert!(EnrolmentLink::parse("http://x:1/enrol?code=ABCD-EFGH-JKMN-PQRS").is_err());
        assert!(EnrolmentLink::parse("fieldsync://x:1/enrol?code=short").is_err());
        Ok(())
    }
}
