//! Snapshot of every wire encoding of protocols v1 and v2, and of the v2 dictionary. A
//! failing test here means the bytes on the wire changed: that is a protocol change and
//! needs a new version (docs/protocol.md), not a new snapshot. Frames are compared
//! uncompressed (payloads below 256 bytes) so the snapshot pins the message encoding
//! itself; compression has its own test (and `wire_v2.rs`).

use fieldsync_core::sync::wire::*;
use serde_bytes::ByteBuf;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn snap(msg: &impl serde::Serialize) -> String {
    hex(&encode(msg))
}

fn b(v: &[u8]) -> ByteBuf {
    ByteBuf::from(v.to_vec())
}

fn client_messages() -> Vec<(&'static str, ClientMsg)> {
    vec![
        (
            "hello",
            ClientMsg::Hello(Hello {
                protocol: 1,
                device_id: "d1".into(),
                replica: [1; 16],
                proof: b(&[2; 4]),
            }),
        ),
        (
            "enrol",
            ClientMsg::Enrol(Enrol {
                protocol: 1,
                code: "ABCD".into(),
                device_id: "d1".into(),
                public_key: b(&[3; 4]),
                device_name: "n".into(),
                replica: [4; 16],
            }),
        ),
        (
            "push",
            ClientMsg::Push(Push {
                batch: 7,
                docs: vec![DocChanges {
                    id: [5; 16],
                    kind: 2,
                    scope: "s".into(),
                    changes: vec![b(&[6, 7])],
                }],
            }),
        ),
        (
            "pull",
            ClientMsg::Pull(Pull {
                epoch: [8; 16],
                cursors: vec![Cursor {
                    scope: "s".into(),
                    position: 300,
                }],
                max_bytes: 1 << 20,
            }),
        ),
        (
            "repair_heads",
            ClientMsg::RepairHeads(RepairHeads {
                docs: vec![DocHeads {
                    id: [9; 16],
                    kind: 4,
                    scope: "s".into(),
                    heads: vec![[10; 32]],
                }],
                last: true,
            }),
        ),
        (
            "repair_sync",
            ClientMsg::RepairSync(DocSync {
                id: [11; 16],
                kind: 5,
                scope: "s".into(),
                message: b(&[12]),
            }),
        ),
        ("subscribe", ClientMsg::Subscribe),
        ("bye", ClientMsg::Bye),
    ]
}

fn server_messages() -> Vec<(&'static str, ServerMsg)> {
    vec![
        (
            "welcome",
            ServerMsg::Welcome(Welcome {
                tenant: "t".into(),
                user_id: "u".into(),
                epoch: [1; 16],
                server_time: 1_700_000_000_000,
                scopes: vec![ScopeGrant {
                    scope: "s".into(),
                    read: true,
                    write: false,
                }],
            }),
        ),
        (
            "enrolled",
            ServerMsg::Enrolled(Enrolled {
                device_id: "d".into(),
                tenant: "t".into(),
                user_id: "u".into(),
            }),
        ),
        (
            "push_ack",
            ServerMsg::PushAck(PushAck {
                batch: 7,
                accepted: 3,
                duplicates: 1,
                rejected: vec![Rejected {
                    doc: [2; 16],
                    hash: [3; 32],
                    index: 4,
                    reason: RejectReason::Forbidden,
                }],
            }),
        ),
        (
            "pull_batch",
            ServerMsg::PullBatch(PullBatch {
                docs: vec![DocChanges {
                    id: [4; 16],
                    kind: 3,
                    scope: "s".into(),
                    changes: vec![b(&[5])],
                }],
                actors: vec![ActorInfo {
                    actor: b(&[6; 2]),
                    device: "d".into(),
                    user: "u".into(),
                }],
                cursors: vec![Cursor {
                    scope: "s".into(),
                    position: 9,
                }],
                more: true,
            }),
        ),
        (
            "repair_needed",
            ServerMsg::RepairNeeded(RepairNeeded {
                reason: RepairReason::EpochChanged,
            }),
        ),
        (
            "repair_plan",
            ServerMsg::RepairPlan(RepairPlan {
                reconcile: vec![[7; 16]],
                cursors: vec![],
                epoch: [8; 16],
            }),
        ),
        (
            "repair_sync",
            ServerMsg::RepairSync(DocSync {
                id: [9; 16],
                kind: 1,
                scope: "s".into(),
                message: b(&[]),
            }),
        ),
        (
            "scopes_changed",
            ServerMsg::ScopesChanged(ScopesChanged {
                scopes: vec!["s".into()],
                position: 42,
            }),
        ),
        (
            "error",
            ServerMsg::Error(ErrorMsg {
                code: ErrorCode::Unauthorized,
                message: "no".into(),
            }),
        ),
        ("done", ServerMsg::Done),
        (
            "throttled",
            ServerMsg::Throttled(Throttled {
                limit: QuotaLimit::PushBytes,
                retry_after_ms: 1500,
            }),
        ),
    ]
}

/// The frozen bytes of protocol v1.
const CLIENT: &[(&str, &str)] = &[
    (
        "hello",
        "0000001b000001026431010101010101010101010101010101010402020202",
    ),
    (
        "enrol",
        "0000002200010104414243440264310403030303016e04040404040404040404040404040404",
    ),
    (
        "push",
        "0000001b000207010505050505050505050505050505050502017301020607",
    ),
    (
        "pull",
        "0000001a000308080808080808080808080808080808010173ac02808040",
    ),
    (
        "repair_heads",
        "0000003800040109090909090909090909090909090909040173010a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a01",
    ),
    (
        "repair_sync",
        "0000001700050b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b050173010c",
    ),
    ("subscribe", "000000020006"),
    ("bye", "000000020007"),
];

const SERVER: &[(&str, &str)] = &[
    (
        "welcome",
        "000000210000017401750101010101010101010101010101010180a0abfef9620101730100",
    ),
    ("enrolled", "000000080001016401740175"),
    (
        "push_ack",
        "000000380002070301010202020202020202020202020202020203030303030303030303030303030303030303030303030303030303030303030400",
    ),
    (
        "pull_batch",
        "000000260003010404040404040404040404040404040403017301010501020606016401750101730901",
    ),
    ("repair_needed", "00000003000400"),
    (
        "repair_plan",
        "00000024000501070707070707070707070707070707070008080808080808080808080808080808",
    ),
    (
        "repair_sync",
        "0000001600060909090909090909090909090909090901017300",
    ),
    ("scopes_changed", "0000000600070101732a"),
    ("error", "00000006000800026e6f"),
    ("done", "000000020009"),
    ("throttled", "00000005000f01dc0b"),
];

fn norm(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn client_encodings_are_frozen() {
    let msgs = client_messages();
    assert_eq!(
        msgs.len(),
        CLIENT.len(),
        "every ClientMsg variant has a snapshot"
    );
    for ((name, msg), (sname, want)) in msgs.iter().zip(CLIENT) {
        assert_eq!(name, sname);
        assert_eq!(snap(msg), norm(want), "encoding of {name} changed");
        let back: ClientMsg = decode_frame(&encode(msg)).unwrap().unwrap().0;
        assert_eq!(&back, msg);
    }
}

#[test]
fn server_encodings_are_frozen() {
    let msgs = server_messages();
    assert_eq!(
        msgs.len(),
        SERVER.len(),
        "every ServerMsg variant has a snapshot"
    );
    for ((name, msg), (sname, want)) in msgs.iter().zip(SERVER) {
        assert_eq!(name, sname);
        assert_eq!(snap(msg), norm(want), "encoding of {name} changed");
        let back: ServerMsg = decode_frame(&encode(msg)).unwrap().unwrap().0;
        assert_eq!(&back, msg);
    }
}

#[test]
fn large_payloads_are_compressed_and_round_trip() {
    let msg = ClientMsg::Push(Push {
        batch: 1,
        docs: (0..50)
            .map(|i| DocChanges {
                id: [i; 16],
                kind: 2,
                scope: "team:north".into(),
                changes: vec![b(b"same change bytes, repeated for compression")],
            })
            .collect(),
    });
    let f = encode(&msg);
    assert_eq!(f[4], 1, "deflate flag");
    assert!(f.len() < postcard::to_allocvec(&msg).unwrap().len() / 2);
    let back: ClientMsg = decode_frame(&f).unwrap().unwrap().0;
    assert_eq!(back, msg);
    // partial frames wait for more bytes
    assert!(
        decode_frame::<ClientMsg>(&f[..f.len() - 1])
            .unwrap()
            .is_none()
    );
    assert!(decode_frame::<ClientMsg>(&f[..3]).unwrap().is_none());
}

#[test]
fn decoder_limits() {
    assert_eq!(
        frame_len((5u32 << 20).to_be_bytes()),
        Err(WireError::FrameTooLarge(5 << 20))
    );
    assert_eq!(frame_len([0; 4]), Err(WireError::Truncated));
    assert_eq!(
        decode_body::<ClientMsg>(&[2, 0]),
        Err(WireError::BadFlags(2))
    );
    assert_eq!(
        decode_body::<ClientMsg>(&[0, 200]),
        Err(WireError::Malformed)
    );
    assert_eq!(
        decode_body::<ClientMsg>(&[1, 0xff, 0xff]),
        Err(WireError::BadCompression)
    );
    let bomb = {
        use std::io::Write;
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![0u8; MAX_INFLATED + 10]).unwrap();
        e.finish().unwrap()
    };
    let mut body = vec![1u8];
    body.extend_from_slice(&bomb);
    assert_eq!(
        decode_body::<ClientMsg>(&body),
        Err(WireError::InflateTooLarge)
    );
}

// ---- protocol v2 ----------------------------------------------------------------------

/// v2 frames of the messages that carry changes (the change section follows the
/// message, whose changes are empty placeholders). Every other message is encoded as in
/// v1 (checked below against the v1 snapshots).
const V2_CHANGES: &[(&str, &str)] = &[
    (
        "push",
        "0000001c00020701050505050505050505050505050505050201730100040607",
    ),
    (
        "pull_batch",
        "00000027000301040404040404040404040404040404040301730100010206060164017501017309010205",
    ),
    (
        "push_real_change",
        "000000c100020101050505050505050505050505050505050201730100ab02856f4a8342d1d22d01
        9f010010abababababababababababababababab010180d095ffbc3100000a010802081104130515
        2a34024208560a571570020001030000010200000103010001020500067f0000057e00067b07616e
        737765727309715f6f766572616c6c05715f6c617409715f7365676d656e74046e6f746500020502
        7f0003017f0402017b00148501a6010002160700087ceeb612656e74657270726973656f6b",
    ),
];

/// A real Automerge change, deterministic (fixed actor and time): a score, a decimal, a
/// string and a text, as a response writes them.
fn real_change() -> Vec<u8> {
    use automerge::transaction::{CommitOptions, Transactable};
    let mut d =
        automerge::AutoCommit::new().with_actor(automerge::ActorId::from([0xabu8; 16].as_slice()));
    let a = d
        .put_object(automerge::ROOT, "answers", automerge::ObjType::Map)
        .unwrap();
    d.put(&a, "q_overall", 8i64).unwrap();
    d.put(&a, "q_lat", 30.1934f64).unwrap();
    d.put(&a, "q_segment", "enterprise").unwrap();
    let t = d
        .put_object(automerge::ROOT, "note", automerge::ObjType::Text)
        .unwrap();
    d.splice_text(&t, 0, 0, "ok").unwrap();
    d.commit_with(CommitOptions::default().with_time(1_700_000_000_000));
    d.get_last_local_change().unwrap().raw_bytes().to_vec()
}

fn v2_change_messages() -> Vec<(&'static str, Vec<u8>)> {
    let c = client_messages();
    let s = server_messages();
    let push = c.iter().find(|(n, _)| *n == "push").unwrap();
    let pull = s.iter().find(|(n, _)| *n == "pull_batch").unwrap();
    let real = ClientMsg::Push(Push {
        batch: 1,
        docs: vec![DocChanges {
            id: [5; 16],
            kind: 2,
            scope: "s".into(),
            changes: vec![ByteBuf::from(real_change())],
        }],
    });
    vec![
        ("push", encode_for(PROTOCOL_VERSION, &push.1)),
        ("pull_batch", encode_for(PROTOCOL_VERSION, &pull.1)),
        ("push_real_change", encode_for(PROTOCOL_VERSION, &real)),
    ]
}

#[test]
fn v2_encodings_are_frozen() {
    // Messages without changes: the v1 bytes exactly.
    for ((name, msg), (_, want)) in client_messages().iter().zip(CLIENT) {
        if msg.carries_changes() {
            continue;
        }
        assert_eq!(
            hex(&encode_for(PROTOCOL_VERSION, msg)),
            norm(want),
            "v2 {name}"
        );
        let f = encode_for(PROTOCOL_VERSION, msg);
        let back: ClientMsg = decode_frame_for(PROTOCOL_VERSION, &f).unwrap().unwrap().0;
        assert_eq!(&back, msg);
    }
    for ((name, msg), (_, want)) in server_messages().iter().zip(SERVER) {
        if msg.carries_changes() {
            continue;
        }
        assert_eq!(
            hex(&encode_for(PROTOCOL_VERSION, msg)),
            norm(want),
            "v2 {name}"
        );
        let f = encode_for(PROTOCOL_VERSION, msg);
        let back: ServerMsg = decode_frame_for(PROTOCOL_VERSION, &f).unwrap().unwrap().0;
        assert_eq!(&back, msg);
    }
    // Messages with changes: their own snapshots.
    let got = v2_change_messages();
    assert_eq!(got.len(), V2_CHANGES.len());
    let all: Vec<String> = got
        .iter()
        .map(|(n, f)| format!("{n}: {}", hex(f)))
        .collect();
    for ((name, f), (sname, want)) in got.iter().zip(V2_CHANGES) {
        assert_eq!(name, sname);
        assert_eq!(
            hex(f),
            norm(want),
            "v2 encoding of {name} changed; now {all:#?}"
        );
        assert_eq!(f[4], 0, "snapshots are uncompressed frames");
    }
    // They decode back to the messages (the real change byte for byte).
    let c = client_messages();
    let push = &c.iter().find(|(n, _)| *n == "push").unwrap().1;
    let back: ClientMsg = decode_frame_for(PROTOCOL_VERSION, &got[0].1)
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(&back, push);
    let back: ClientMsg = decode_frame_for(PROTOCOL_VERSION, &got[2].1)
        .unwrap()
        .unwrap()
        .0;
    match back {
        ClientMsg::Push(p) => assert_eq!(p.docs[0].changes[0].as_slice(), real_change()),
        m => panic!("{m:?}"),
    }
}

/// SHA-256 of `dict_v2.bin`, the v2 preset dictionary. Part of the protocol.
const DICTIONARY_V2_SHA256: &str =
    "8f5024ef21d1a4ce5b491b7bc9c4c664c9ac6fc13bdc2ae737c8cbf832c4275d";

#[test]
fn v2_dictionary_is_pinned_and_reproducible() {
    let h = ring::digest::digest(&ring::digest::SHA256, DICTIONARY_V2);
    assert_eq!(
        hex(h.as_ref()),
        DICTIONARY_V2_SHA256,
        "the v2 dictionary changed"
    );
    assert_eq!(DICTIONARY_V2.len(), 43_625);
    // The generator still produces the committed file (scripts/gen-dict-v2.sh). If this
    // fails because the sample data or a dependency's encoding changed, the committed
    // file stays the protocol: keep the generator's inputs as they were.
    assert!(
        dict::generate().unwrap() == DICTIONARY_V2,
        "dict::generate() no longer reproduces dict_v2.bin"
    );
}
