//! Protocol v2 frames (docs/protocol.md, "Version 2"): encode → decode is the identity
//! for every message, with real Automerge changes byte for byte (so their hashes stay
//! what they were); every decoder limit holds; random, truncated and tampered frames are
//! typed errors, never panics.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ObjType, ROOT};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::sync::wire::*;
use proptest::prelude::*;
use serde_bytes::ByteBuf;

const V2: u16 = PROTOCOL_VERSION;

/// Real change chunks: responses to the telecom form, then an edit of each, from one
/// actor (what a device pushes after a day of work).
fn response_changes(seed: u64, n: usize) -> Vec<DocChanges> {
    let form = sample::telecom_form(1);
    let form_id = fieldsync_core::DocId::from_slice(&[9; 16]).unwrap();
    let mut rng = Rng::new(seed);
    let actor = ActorId::from(seed.to_le_bytes().repeat(2).as_slice());
    (0..n)
        .map(|i| {
            let at = 1_700_000_000_000 + i as i64 * 60_000;
            let r = sample::telecom_response(&mut rng, form_id, &form, "north/c/d", "li", at);
            let mut doc = AutoCommit::new().with_actor(actor.clone());
            autosurgeon::reconcile(&mut doc, &r).unwrap();
            doc.commit_with(CommitOptions::default().with_time(at));
            let first = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
            doc.put(ROOT, "reviewed", true).unwrap();
            doc.put(ROOT, "lat", 30.0 + i as f64 / 1e4).unwrap();
            let t = doc.put_object(ROOT, "note", ObjType::Text).unwrap();
            doc.splice_text(&t, 0, 0, "called back, 满意").unwrap();
            doc.commit_with(CommitOptions::default().with_time(at + 1));
            let second = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            DocChanges {
                id,
                kind: 2,
                scope: "team:north".into(),
                changes: vec![ByteBuf::from(first), ByteBuf::from(second)],
            }
        })
        .collect()
}

fn push(docs: Vec<DocChanges>) -> ClientMsg {
    ClientMsg::Push(Push { batch: 3, docs })
}

fn pull_batch(docs: Vec<DocChanges>) -> ServerMsg {
    ServerMsg::PullBatch(PullBatch {
        docs,
        actors: vec![ActorInfo {
            actor: ByteBuf::from(vec![7; 16]),
            device: "d".into(),
            user: "u".into(),
        }],
        cursors: vec![Cursor {
            scope: "team:north".into(),
            position: 99,
        }],
        more: true,
    })
}

fn hashes(docs: &[DocChanges]) -> Vec<automerge::ChangeHash> {
    docs.iter()
        .flat_map(|d| &d.changes)
        .map(|c| Change::try_from(c.as_slice()).unwrap().hash())
        .collect()
}

fn docs_of_client(m: &ClientMsg) -> &[DocChanges] {
    match m {
        ClientMsg::Push(p) => &p.docs,
        _ => &[],
    }
}

#[test]
fn real_changes_round_trip_byte_identical_with_their_hashes() {
    let docs = response_changes(1, 40);
    let before = hashes(&docs);
    let msg = push(docs.clone());
    let f = encode_for(V2, &msg);
    assert_eq!(f[4], 2, "zstd flag");
    let (back, n) = decode_frame_for::<ClientMsg>(V2, &f).unwrap().unwrap();
    assert_eq!(n, f.len());
    assert_eq!(back, msg);
    // Byte for byte, hence the same hashes.
    for (a, b) in docs_of_client(&back).iter().zip(&docs) {
        assert_eq!(a.changes, b.changes);
    }
    assert_eq!(hashes(docs_of_client(&back)), before);

    let msg = pull_batch(docs);
    let f = encode_for(V2, &msg);
    let (back, _) = decode_frame_for::<ServerMsg>(V2, &f).unwrap().unwrap();
    assert_eq!(back, msg);
}

#[test]
fn v2_is_smaller_than_v1_on_responses() {
    let msg = push(response_changes(2, 20));
    let v1 = encode_for(PROTOCOL_V1, &msg).len();
    let v2 = encode_for(V2, &msg).len();
    // What the codec is for (docs/adr/0010): well under v1 on a batch of responses.
    assert!(v2 * 10 < v1 * 8, "v2 {v2} bytes, v1 {v1} bytes");
    // The change section alone (no dictionary, no zstd) is not larger than the changes.
    let payload = encode_payload(V2, &msg);
    let plain = postcard::to_allocvec(&msg).unwrap();
    assert!(
        payload.len() <= plain.len(),
        "{} > {}",
        payload.len(),
        plain.len()
    );
}

#[test]
fn v1_frames_are_unchanged_by_v2() {
    let msg = push(response_changes(3, 3));
    assert_eq!(encode_for(PROTOCOL_V1, &msg), encode(&msg));
    let f = encode(&msg);
    let back: ClientMsg = decode_frame_for(PROTOCOL_V1, &f).unwrap().unwrap().0;
    assert_eq!(back, msg);
    // A v1 (DEFLATE) frame is not a v2 frame and the other way round.
    assert_eq!(
        decode_body_for::<ClientMsg>(V2, &f[4..]),
        Err(WireError::BadFlags(1))
    );
    let f2 = encode_for(V2, &msg);
    assert_eq!(
        decode_body_for::<ClientMsg>(PROTOCOL_V1, &f2[4..]),
        Err(WireError::BadFlags(2))
    );
}

#[test]
fn every_strict_prefix_of_a_v2_frame_is_refused() {
    let msgs = [push(response_changes(4, 3)), push(response_changes(5, 30))];
    for msg in msgs {
        let f = encode_for(V2, &msg);
        let body = &f[4..];
        for cut in 0..body.len() {
            assert!(
                decode_body_for::<ClientMsg>(V2, &body[..cut]).is_err(),
                "prefix of {cut}/{} bytes decoded",
                body.len()
            );
        }
        // Uncompressed v2 payload (flags 0) too (the small one: every prefix is a
        // whole decode).
        let payload = encode_payload(V2, &msg);
        let step = if payload.len() > 20_000 { 97 } else { 1 };
        for cut in (0..payload.len()).step_by(step) {
            let mut b = vec![0u8];
            b.extend_from_slice(&payload[..cut]);
            assert!(decode_body_for::<ClientMsg>(V2, &b).is_err(), "cut {cut}");
        }
        let mut b = vec![0u8];
        b.extend_from_slice(&payload);
        assert_eq!(decode_body_for::<ClientMsg>(V2, &b).unwrap(), msg);
    }
}

#[test]
fn tampered_change_values_are_refused_by_their_checksum() {
    let msg = push(response_changes(6, 4));
    let payload = encode_payload(V2, &msg);
    let plain_len = postcard::to_allocvec(&msg).unwrap().len();
    let mut refused = 0;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut t = payload.clone();
        let at = (x as usize) % t.len();
        t[at] ^= 1 << (x >> 61);
        let mut b = vec![0u8];
        b.extend_from_slice(&t);
        match decode_body_for::<ClientMsg>(V2, &b) {
            Err(_) => refused += 1,
            // A flip the decoder accepts must still yield parseable changes with valid
            // checksums (Automerge checks them): never a silently corrupted change.
            Ok(m) => {
                for c in docs_of_client(&m).iter().flat_map(|d| &d.changes) {
                    let _ = Change::try_from(c.as_slice());
                }
            }
        }
    }
    assert!(refused > 1500, "only {refused} of 2000 flips refused");
    assert!(payload.len() < plain_len + 64);
}

#[test]
fn decoder_limits_v2() {
    // Frame size, unknown flags, DEFLATE (not a v2 flag), empty body.
    let big = vec![0u8; MAX_FRAME + 1];
    assert_eq!(
        decode_body_for::<ClientMsg>(V2, &big),
        Err(WireError::FrameTooLarge(MAX_FRAME + 1))
    );
    assert_eq!(
        decode_body_for::<ClientMsg>(V2, &[]),
        Err(WireError::Truncated)
    );
    for f in [1u8, 3, 4, 0x80] {
        assert_eq!(
            decode_body_for::<ClientMsg>(V2, &[f, 0]),
            Err(WireError::BadFlags(f))
        );
    }
    // A zstd bomb stops at the cap.
    let bomb = zstd::bulk::compress(&vec![0u8; MAX_INFLATED + 10], 3).unwrap();
    assert!(bomb.len() < MAX_FRAME);
    let mut body = vec![2u8];
    body.extend_from_slice(&bomb);
    assert_eq!(
        decode_body_for::<ClientMsg>(V2, &body),
        Err(WireError::InflateTooLarge)
    );
    assert_eq!(
        zstd_decompress_capped(&bomb, 1000),
        Err(WireError::InflateTooLarge)
    );
    // A frame header asking for a 2 GiB window is refused before any allocation.
    let huge_window = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0, 0, 0, 0];
    assert_eq!(
        zstd_decompress_capped(&huge_window, MAX_INFLATED),
        Err(WireError::BadCompression)
    );
    // Not zstd at all.
    assert_eq!(
        decode_body_for::<ClientMsg>(V2, &[2, 1, 2, 3, 4, 5]),
        Err(WireError::BadCompression)
    );
    // Trailing bytes after a message without changes.
    let mut b = vec![0u8];
    b.extend_from_slice(&postcard::to_allocvec(&ClientMsg::Bye).unwrap());
    b.push(0);
    assert_eq!(
        decode_body_for::<ClientMsg>(V2, &b),
        Err(WireError::Malformed)
    );
    // A push whose placeholders are not empty (changes inside the message) is not v2.
    let mut b = vec![0u8];
    b.extend_from_slice(&postcard::to_allocvec(&push(response_changes(7, 1))).unwrap());
    assert_eq!(
        decode_body_for::<ClientMsg>(V2, &b),
        Err(WireError::Malformed)
    );
    // A section that claims a change longer than itself.
    let mut p = postcard::to_allocvec(&push(vec![DocChanges {
        id: [1; 16],
        kind: 2,
        scope: "s".into(),
        changes: vec![ByteBuf::new()],
    }]))
    .unwrap();
    p.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let mut b = vec![0u8];
    b.extend_from_slice(&p);
    assert_eq!(
        decode_body_for::<ClientMsg>(V2, &b),
        Err(WireError::Malformed)
    );
    // A push announcing a million empty placeholders in a tiny frame is refused without
    // allocating for them.
    let mut p = vec![2u8, 3, 1, 1];
    p.extend_from_slice(&[1; 16]);
    p.extend_from_slice(&[2, 1, b's']);
    p.extend_from_slice(&[0xc0, 0x84, 0x3d]);
    let mut b = vec![0u8];
    b.extend_from_slice(&p);
    assert!(decode_body_for::<ClientMsg>(V2, &b).is_err());
}

#[test]
fn frames_compressed_with_the_dictionary_need_it() {
    let msg = push(response_changes(8, 20));
    let f = encode_for(V2, &msg);
    assert_eq!(f[4], 2);
    let without = zstd::bulk::Decompressor::new()
        .unwrap()
        .decompress(&f[5..], MAX_INFLATED);
    assert!(without.is_err(), "frame decoded without the v2 dictionary");
}

fn arb_change() -> impl Strategy<Value = ByteBuf> {
    prop_oneof![
        // Real changes, sometimes with a byte changed (then they travel as they are or
        // are refused by the packer's own check, and still round-trip).
        (0u64..50, any::<u16>(), any::<u8>(), any::<bool>()).prop_map(|(seed, at, x, flip)| {
            let d = response_changes(seed, 1);
            let mut c = d[0].changes[usize::from(at % 2)].to_vec();
            if flip {
                let i = usize::from(at) % c.len();
                c[i] ^= x | 1;
            }
            ByteBuf::from(c)
        }),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(ByteBuf::from),
        // Chunk-shaped junk: the magic and the change type byte, then noise.
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|mut v| {
            let mut c = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1];
            c.append(&mut v);
            ByteBuf::from(c)
        }),
    ]
}

fn arb_docs() -> impl Strategy<Value = Vec<DocChanges>> {
    proptest::collection::vec(
        (
            any::<[u8; 16]>(),
            any::<u8>(),
            "[a-z:]{0,12}",
            proptest::collection::vec(arb_change(), 0..4),
        )
            .prop_map(|(id, kind, scope, changes)| DocChanges {
                id,
                kind,
                scope,
                changes,
            }),
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn push_and_pull_batches_round_trip(docs in arb_docs(), batch in any::<u32>()) {
        let msg = ClientMsg::Push(Push { batch, docs: docs.clone() });
        let f = encode_for(V2, &msg);
        let back = decode_frame_for::<ClientMsg>(V2, &f).unwrap().unwrap().0;
        prop_assert_eq!(back, msg);
        let msg = pull_batch(docs);
        let f = encode_for(V2, &msg);
        let back = decode_frame_for::<ServerMsg>(V2, &f).unwrap().unwrap().0;
        prop_assert_eq!(back, msg);
    }

    #[test]
    fn random_bodies_never_panic(flags in prop_oneof![Just(0u8), Just(2u8), any::<u8>()],
                                 payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut body = vec![flags];
        body.extend_from_slice(&payload);
        let c = decode_body_for::<ClientMsg>(V2, &body);
        let s = decode_body_for::<ServerMsg>(V2, &body);
        if flags == 2 && payload.get(..4) != Some(&[0x28, 0xb5, 0x2f, 0xfd][..]) {
            prop_assert!(c.is_err() && s.is_err());
        }
        if flags != 0 && flags != 2 {
            prop_assert_eq!(c, Err(WireError::BadFlags(flags)));
        }
    }

    #[test]
    fn random_change_sections_are_errors_not_panics(
        n in 1usize..5,
        section in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut p = postcard::to_allocvec(&ClientMsg::Push(Push {
            batch: 1,
            docs: vec![DocChanges { id: [1; 16], kind: 2, scope: "s".into(), changes: vec![ByteBuf::new(); n] }],
        })).unwrap();
        p.extend_from_slice(&section);
        let mut body = vec![0u8];
        body.extend_from_slice(&p);
        if let Ok(ClientMsg::Push(back)) = decode_body_for::<ClientMsg>(V2, &body) {
            prop_assert_eq!(back.docs[0].changes.len(), n);
        }
    }

    #[test]
    fn mutated_v2_frames_never_panic(seed in 0u64..20, at in any::<usize>(), x in 1u8..=255, cut in any::<bool>()) {
        let f = encode_for(V2, &push(response_changes(seed, 3)));
        let mut body = f[4..].to_vec();
        let i = at % body.len();
        if cut { body.truncate(i); } else { body[i] ^= x; }
        let r = decode_body_for::<ClientMsg>(V2, &body);
        if cut {
            prop_assert!(r.is_err());
        }
    }
}
