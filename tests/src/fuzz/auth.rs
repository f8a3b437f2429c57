//! Target `auth`: enrolment and device authentication input.
//!
//! Enrolment links (the QR text a device scans), typed one-time codes, PKCS#8 key bytes
//! and Ed25519 proofs from outside; then the server's side of enrolment: a session over
//! real storage holding one open enrolment code gets `Enrol` and `Hello` messages with
//! the real code (sometimes mistyped), fuzzed device ids, names and public keys, and a
//! `Hello` from whatever enrolled.

use arbitrary::Unstructured;
use fieldsync_core::sync::auth::{
    DeviceKey, EnrolmentLink, code_hash, normalize_code, verify_proof,
};
use fieldsync_core::sync::wire::*;
use fieldsync_server::session::{ServerSession, SessionLimits};
use fieldsync_server::storage::{self, StorageConfig};
use serde_bytes::ByteBuf;

use crate::memnet::EXPORTER;

/// The open enrolment code of the harness's storage.
pub const CODE: &str = "ABCD-EFGH-JKMN-PQRS";

/// The harness.
pub fn auth(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        if let Ok(link) = EnrolmentLink::parse(&text) {
            // A parsed link renders to a link that parses.
            let again = EnrolmentLink::parse(&link.to_uri());
            assert!(
                again.is_ok(),
                "a parsed link's URI does not parse: {again:?}"
            );
        }
        let _ = normalize_code(&text);
        let _ = code_hash(&text);
        let _ = DeviceKey::from_pkcs8(rest);
        let key = rest.get(..32).unwrap_or(rest);
        let proof = rest.get(32..96).unwrap_or(&[]);
        assert!(!verify_proof(key, &text, &EXPORTER, proof) || rest.len() >= 96);
        return;
    }
    let mut u = Unstructured::new(rest);
    let dir = tempfile::tempdir().expect("temporary folder");
    // Invariant (harness set-up): a fresh SQLite storage takes a tenant, a user and a
    // code.
    let st = storage::open(&StorageConfig::Sqlite(dir.path().join("server.db"))).expect("storage");
    st.ensure_tenant("t").expect("tenant");
    st.create_scope("t", "s:a").expect("scope");
    st.create_user("t", "u", "u").expect("user");
    st.set_grant("t", "u", "s:a", true, true).expect("grant");
    let now = fieldsync_core::now_ms();
    let h = code_hash(CODE).expect("valid code");
    st.create_enrolment("t", "u", h, now, now + 600_000)
        .expect("code");
    let key = DeviceKey::from_pkcs8(&[]).ok();
    let real_key = key.or_else(|| DeviceKey::generate().ok());
    for _ in 0..4 {
        let (Ok(code_kind), Ok(device_id), Ok(name), Ok(key_kind), Ok(replica)) = (
            u.int_in_range(0u8..=3),
            u.arbitrary::<String>(),
            u.arbitrary::<String>(),
            u.int_in_range(0u8..=2),
            u.arbitrary::<[u8; 16]>(),
        ) else {
            return;
        };
        let code = match code_kind {
            0 | 1 => CODE.to_string(),
            2 => CODE.to_lowercase().replace('-', " "),
            _ => u.arbitrary().unwrap_or_default(),
        };
        let public_key = match (&real_key, key_kind) {
            (Some(k), 0 | 1) => k.public_key().to_vec(),
            _ => u.arbitrary().unwrap_or_default(),
        };
        let mut s = ServerSession::new(st.clone(), SessionLimits::default(), EXPORTER.to_vec());
        let enrol = ClientMsg::Enrol(Enrol {
            protocol: PROTOCOL_VERSION,
            code,
            device_id: device_id.clone(),
            public_key: ByteBuf::from(public_key),
            device_name: name,
            replica,
        });
        let _ = s.handle(enrol);
        // Whatever enrolled now says Hello with its key.
        if let Some(k) = &real_key {
            let mut s = ServerSession::new(st.clone(), SessionLimits::default(), EXPORTER.to_vec());
            let hello = ClientMsg::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                device_id: device_id.clone(),
                replica,
                proof: ByteBuf::from(k.prove(&device_id, &EXPORTER)),
            });
            let _ = s.handle(hello);
        }
    }
}
