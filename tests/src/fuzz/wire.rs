//! Target `wire`: the frame decoders of protocols v1 and v2 (`sync::wire`, with the v2
//! change section of `wire/pack.rs`).
//!
//! The first input byte picks a mode: raw frames for both versions and both directions;
//! a v2 `Push`/`PullBatch` whose change section is raw fuzz bytes behind a valid message
//! (the section decoder gets input past the postcard layer); a compressed payload (raw
//! DEFLATE for v1, zstd with the dictionary for v2); or a structured message that must
//! survive encode → decode unchanged in both versions. Every frame that decodes must
//! re-encode to a frame that decodes to the same message.

use arbitrary::Unstructured;
use fieldsync_core::sync::wire::*;

use super::msgs;
use super::pool::pool;

const VERSIONS: [u16; 2] = [PROTOCOL_V1, PROTOCOL_VERSION];

/// Whatever decodes must re-encode to the same message.
fn check_roundtrip<T: WireMsg + PartialEq + std::fmt::Debug>(version: u16, msg: &T) {
    let frame = encode_for(version, msg);
    let back = decode_frame_for::<T>(version, &frame);
    match back {
        Ok(Some((m, n))) => {
            assert_eq!(n, frame.len(), "v{version}: frame length");
            assert_eq!(&m, msg, "v{version}: re-encoded message differs");
        }
        other => panic!(
            "v{version}: our own frame of {} bytes does not decode: {other:?}",
            frame.len()
        ),
    }
}

fn decode_both(version: u16, body: &[u8]) {
    if let Ok(m) = decode_body_for::<ClientMsg>(version, body) {
        check_roundtrip(version, &m);
    }
    if let Ok(m) = decode_body_for::<ServerMsg>(version, body) {
        check_roundtrip(version, &m);
    }
}

fn frame_of(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(payload.len() + 1);
    body.push(flags);
    body.extend_from_slice(payload);
    body
}

/// The harness.
pub fn wire(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        // Raw frames, length prefix included (a stream of them).
        0 => {
            for v in VERSIONS {
                let mut buf = rest;
                while let Ok(Some((m, n))) = decode_frame_for::<ClientMsg>(v, buf) {
                    check_roundtrip(v, &m);
                    buf = &buf[n..];
                }
                if let Ok(Some((m, _))) = decode_frame_for::<ServerMsg>(v, rest) {
                    check_roundtrip(v, &m);
                }
                // The same bytes as a frame body (flags + payload).
                decode_both(v, rest);
            }
        }
        // v2: a valid message with change slots, then a raw change section.
        1 => {
            let mut u = Unstructured::new(rest);
            let p = pool();
            let Ok(docs) = msgs::doc_changes(&mut u, p) else {
                return;
            };
            let slots: Vec<DocChanges> = docs
                .into_iter()
                .map(|mut d| {
                    d.changes.iter_mut().for_each(|c| c.clear());
                    d
                })
                .collect();
            let section = u.take_rest();
            let push = ClientMsg::Push(Push {
                batch: 1,
                docs: slots.clone(),
            });
            let batch = ServerMsg::PullBatch(PullBatch {
                docs: slots,
                actors: Vec::new(),
                cursors: Vec::new(),
                more: false,
            });
            for head in [
                postcard::to_allocvec(&push).unwrap_or_default(),
                postcard::to_allocvec(&batch).unwrap_or_default(),
            ] {
                let mut payload = head;
                payload.extend_from_slice(section);
                decode_both(PROTOCOL_VERSION, &frame_of(0, &payload));
            }
        }
        // Compressed payloads: DEFLATE (v1) and zstd (v2).
        2 => {
            decode_both(PROTOCOL_V1, &frame_of(1, rest));
            decode_both(PROTOCOL_VERSION, &frame_of(2, rest));
            // And a valid zstd frame of the raw bytes (the decoder then sees fuzz bytes
            // as the payload, past the decompressor).
            let z = zstd::bulk::Compressor::with_dictionary(1, DICTIONARY_V2)
                .and_then(|mut c| c.compress(rest));
            if let Ok(z) = z {
                decode_both(PROTOCOL_VERSION, &frame_of(2, &z));
            }
        }
        // Structured messages: encode → decode is the identity.
        _ => {
            let mut u = Unstructured::new(rest);
            let p = pool();
            while !u.is_empty() {
                let (Ok(c), Ok(s)) = (
                    msgs::client_msg(&mut u, p, None),
                    msgs::server_msg(&mut u, p, 8),
                ) else {
                    return;
                };
                for v in VERSIONS {
                    check_roundtrip(v, &c);
                    check_roundtrip(v, &s);
                }
            }
        }
    }
}
