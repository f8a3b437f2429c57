//! Snapshot of every wire encoding of protocol v1. A failing test here means the bytes on
//! the wire changed: that is a protocol change and needs a new version (docs/protocol.md),
//! not a new snapshot. Frames are compared uncompressed (payloads below 256 bytes) so the
//! snapshot pins the message encoding itself; compression has its own test.

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
