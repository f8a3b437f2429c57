//! Blob messages on the wire (docs/protocol.md, "Blobs"): a snapshot of every new
//! encoding in v2 framing (a changed byte is a protocol change), chunks never
//! compressed, round trips, and hostile input — truncation, oversize frames, offers and
//! chunks that do not add up — refused with typed errors before anything is stored.

use fieldsync_core::store::blobs::{CHUNK_SIZE, chunk_count};
use fieldsync_core::sync::wire::blob::{check_chunk, check_info, check_offer};
use fieldsync_core::sync::wire::*;
use serde_bytes::ByteBuf;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn client() -> Vec<(&'static str, ClientMsg, &'static str)> {
    vec![
        (
            "blob_offer",
            ClientMsg::BlobOffer(BlobOffer {
                hash: [1; 32],
                size: 300_000,
                chunk_hashes: vec![[2; 32], [3; 32]],
            }),
            "0000006600080101010101010101010101010101010101010101010101010101010101010101e0a7120202020202020202020202020202020202020202020202020202020202020202020303030303030303030303030303030303030303030303030303030303030303",
        ),
        (
            "blob_chunk",
            ClientMsg::BlobChunk(BlobChunk {
                hash: [4; 32],
                index: 1,
                bytes: ByteBuf::from(vec![5u8; 3]),
            }),
            "00000027000904040404040404040404040404040404040404040404040404040404040404040103050505",
        ),
        (
            "blob_get",
            ClientMsg::BlobGet(BlobGet {
                hash: [6; 32],
                from_chunk: 2,
            }),
            "00000023000a060606060606060606060606060606060606060606060606060606060606060602",
        ),
    ]
}

fn server() -> Vec<(&'static str, ServerMsg, &'static str)> {
    vec![
        (
            "blob_status",
            ServerMsg::BlobStatus(BlobStatus {
                hash: [1; 32],
                held: false,
                next_chunk: 3,
            }),
            "00000024000a01010101010101010101010101010101010101010101010101010101010101010003",
        ),
        (
            "blob_chunk_ack",
            ServerMsg::BlobChunkAck(BlobChunkAck {
                hash: [2; 32],
                index: 4,
                result: ChunkResult::Corrupt,
            }),
            "00000024000b02020202020202020202020202020202020202020202020202020202020202020401",
        ),
        (
            "blob_info",
            ServerMsg::BlobInfo(BlobInfo {
                hash: [3; 32],
                size: 10,
                chunk_hashes: vec![[4; 32]],
            }),
            "00000044000c03030303030303030303030303030303030303030303030303030303030303030a010404040404040404040404040404040404040404040404040404040404040404",
        ),
        (
            "blob_data",
            ServerMsg::BlobData(BlobChunk {
                hash: [5; 32],
                index: 0,
                bytes: ByteBuf::from(vec![6u8; 2]),
            }),
            "00000026000d0505050505050505050505050505050505050505050505050505050505050505000206 06",
        ),
        (
            "blob_refused",
            ServerMsg::BlobRefused(BlobRefused {
                hash: [7; 32],
                reason: BlobRefusal::Forbidden,
            }),
            "00000023000e070707070707070707070707070707070707070707070707070707070707070700",
        ),
    ]
}

fn norm(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn blob_encodings_are_frozen_and_round_trip() {
    for (name, msg, want) in client() {
        let f = encode_for(PROTOCOL_VERSION, &msg);
        assert_eq!(hex(&f), norm(want), "encoding of {name} changed");
        let back: ClientMsg = decode_frame_for(PROTOCOL_VERSION, &f).unwrap().unwrap().0;
        assert_eq!(back, msg);
    }
    for (name, msg, want) in server() {
        let f = encode_for(PROTOCOL_VERSION, &msg);
        assert_eq!(hex(&f), norm(want), "encoding of {name} changed");
        let back: ServerMsg = decode_frame_for(PROTOCOL_VERSION, &f).unwrap().unwrap().0;
        assert_eq!(back, msg);
    }
}

#[test]
fn a_full_chunk_is_one_uncompressed_frame_within_the_cap() {
    // Compressible bytes on purpose: chunks are still sent as they are.
    let msg = ClientMsg::BlobChunk(BlobChunk {
        hash: [0; 32],
        index: 0,
        bytes: ByteBuf::from(vec![0u8; CHUNK_SIZE]),
    });
    let f = encode_for(PROTOCOL_VERSION, &msg);
    assert_eq!(f[4], 0, "no compression flag");
    assert!(f.len() < MAX_FRAME);
    assert!(f.len() < CHUNK_SIZE + 64);
    let back: ClientMsg = decode_frame_for(PROTOCOL_VERSION, &f).unwrap().unwrap().0;
    assert_eq!(back, msg);
}

#[test]
fn hostile_frames_are_refused_with_typed_errors() {
    let msg = ServerMsg::BlobInfo(BlobInfo {
        hash: [3; 32],
        size: 600_000,
        chunk_hashes: vec![[4; 32]; 3],
    });
    let f = encode_for(PROTOCOL_VERSION, &msg);
    // Every truncation: not a whole frame yet, or a malformed message — never a panic.
    for n in 0..f.len() {
        let r = decode_frame_for::<ServerMsg>(PROTOCOL_VERSION, &f[..n]);
        assert!(matches!(r, Ok(None)), "prefix {n}");
        if n > 5 {
            let mut body = f[4..n].to_vec();
            body[0] = 0;
            assert!(decode_body_for::<ServerMsg>(PROTOCOL_VERSION, &body).is_err());
        }
    }
    // A frame header announcing more than the cap.
    let mut big = vec![0u8; 8];
    big[..4].copy_from_slice(&((MAX_FRAME as u32) + 1).to_be_bytes());
    assert!(matches!(
        decode_frame_for::<ClientMsg>(PROTOCOL_VERSION, &big),
        Err(WireError::FrameTooLarge(_))
    ));
    // A chunk list claiming a billion entries in a small frame.
    let mut lie = f[4..].to_vec();
    // After flags(1) + variant(1) + hash(32) + size varint(3): the list length.
    lie.truncate(37);
    lie.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(
        decode_body_for::<ServerMsg>(PROTOCOL_VERSION, &lie),
        Err(WireError::Malformed)
    );
    // Unknown variant index.
    assert_eq!(
        decode_body_for::<ClientMsg>(PROTOCOL_VERSION, &[0, 0x7f]),
        Err(WireError::Malformed)
    );
}

#[test]
fn offers_and_chunks_that_do_not_add_up_are_refused() {
    let ok = BlobOffer {
        hash: [1; 32],
        size: (CHUNK_SIZE * 2 + 1) as u64,
        chunk_hashes: vec![[0; 32]; 3],
    };
    assert_eq!(check_offer(&ok), Ok(()));
    let mut few = ok.clone();
    few.chunk_hashes.pop();
    assert_eq!(check_offer(&few), Err(BlobRefusal::Malformed));
    let huge = BlobOffer {
        hash: [1; 32],
        size: 1 << 40,
        chunk_hashes: Vec::new(),
    };
    assert_eq!(check_offer(&huge), Err(BlobRefusal::TooLarge));
    let info = BlobInfo {
        hash: [1; 32],
        size: 0,
        chunk_hashes: vec![[0; 32]],
    };
    assert_eq!(check_info(&info), Err(BlobRefusal::Malformed));
    assert_eq!(chunk_count(0), 0);
    let size = ok.size;
    let c = |index: u32, len: usize| BlobChunk {
        hash: [1; 32],
        index,
        bytes: ByteBuf::from(vec![0u8; len]),
    };
    assert_eq!(check_chunk(size, &c(0, CHUNK_SIZE)), Ok(()));
    assert_eq!(check_chunk(size, &c(2, 1)), Ok(()));
    assert_eq!(check_chunk(size, &c(2, 2)), Err(BlobRefusal::Malformed));
    assert_eq!(
        check_chunk(size, &c(0, CHUNK_SIZE + 1)),
        Err(BlobRefusal::Malformed)
    );
    assert_eq!(check_chunk(size, &c(3, 1)), Err(BlobRefusal::Malformed));
}
