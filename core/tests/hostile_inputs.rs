//! Hostile inputs — decompression bombs, deep nesting, oversize frames and documents —
//! get a typed error with memory bounded by the decoder's own limits, not by what the
//! input claims. Memory is measured by a counting global allocator (the peak of the Rust
//! heap held by the test's thread above where it started); the time each input takes is
//! printed by `cargo run --release -p fieldsync-bench -- hostile` beside a normal input's
//! (no timed assertion here). The typed errors of the same limits on small inputs are in
//! `wire_snapshots.rs` (`decoder_limits`), `wire_v2.rs` (`decoder_limits_v2`) and the
//! expression tests; these add the memory bound and the sizes an attacker would use.

use std::io::Write;

use fieldsync_core::Error;
use fieldsync_core::forms::expr::{Expr, MAX_DEPTH};
use fieldsync_core::forms::xlsform::{self, Format, MAX_UNZIPPED_BYTES};
use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::sync::wire::*;
use fieldsync_core::{DocId, Kind, Scope};

#[allow(unsafe_code)]
mod counting {
    //! Per-thread live and peak bytes of the Rust heap. Tests run on several threads at
    //! once; each measures only its own allocations (the decoders are single-threaded).
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn add(n: isize) {
        // `try_with`: the thread-local may be gone while a thread shuts down.
        let _ = LIVE.try_with(|l| {
            let v = l.get() + n;
            l.set(v);
            let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
        });
    }

    pub struct Counting;

    // SAFETY: every method forwards to `System` unchanged and only updates
    // thread-local counters (const-initialised `Cell`s, which never allocate).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded unchanged; the caller upholds the contract.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as for `alloc`.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System` with `layout`.
            unsafe { System.dealloc(ptr, layout) };
            add(-(layout.size() as isize));
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: `ptr`/`layout` come from this allocator; forwarded unchanged.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                add(new_size as isize - layout.size() as isize);
            }
            p
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Run `f`; its result and the most heap (bytes) this thread held during it above
    /// the level it started at.
    pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let start = LIVE.with(Cell::get);
        PEAK.with(|p| p.set(start));
        let out = f();
        let peak = PEAK.with(Cell::get);
        (out, usize::try_from(peak - start).unwrap_or(0))
    }
}
use counting::peak_during;

const MIB: usize = 1 << 20;

/// `n` zero bytes compressed with zstd, streamed (never `n` bytes in memory).
fn zstd_bomb(n: usize) -> Vec<u8> {
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    let chunk = vec![0u8; MIB];
    for _ in 0..n / MIB {
        e.write_all(&chunk).unwrap();
    }
    e.finish().unwrap()
}

/// `n` zero bytes as raw DEFLATE, streamed.
fn deflate_bomb(n: usize) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; MIB];
    for _ in 0..n / MIB {
        e.write_all(&chunk).unwrap();
    }
    e.finish().unwrap()
}

fn body(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![flags];
    b.extend_from_slice(payload);
    b
}

/// What a capped inflate may hold: the output vector grows by doubling up to the cap.
const INFLATE_BOUND: usize = 2 * MAX_INFLATED + MIB;

#[test]
fn a_zstd_bomb_of_256_mib_stops_at_the_cap() {
    let bomb = zstd_bomb(256 * MIB);
    assert!(
        bomb.len() < 64 * 1024,
        "the bomb is small: {} bytes",
        bomb.len()
    );
    let frame = body(2, &bomb);
    let (r, peak) = peak_during(|| decode_body_for::<ClientMsg>(PROTOCOL_VERSION, &frame));
    assert_eq!(r, Err(WireError::InflateTooLarge));
    assert!(peak <= INFLATE_BOUND, "zstd bomb held {peak} bytes");
    let (r, peak) = peak_during(|| decode_body_for::<ServerMsg>(PROTOCOL_VERSION, &frame));
    assert_eq!(r, Err(WireError::InflateTooLarge));
    assert!(peak <= INFLATE_BOUND, "zstd bomb held {peak} bytes");
}

#[test]
fn a_deflate_bomb_of_256_mib_stops_at_the_cap() {
    let bomb = deflate_bomb(256 * MIB);
    assert!(bomb.len() < MAX_FRAME);
    let frame = body(1, &bomb);
    let (r, peak) = peak_during(|| decode_body_for::<ClientMsg>(PROTOCOL_V1, &frame));
    assert_eq!(r, Err(WireError::InflateTooLarge));
    assert!(peak <= INFLATE_BOUND, "deflate bomb held {peak} bytes");
}

#[test]
fn an_oversize_frame_is_refused_from_its_header() {
    let mut buf = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
    buf.extend_from_slice(&[0; 64]);
    for v in [PROTOCOL_V1, PROTOCOL_VERSION] {
        let (r, peak) = peak_during(|| decode_frame_for::<ClientMsg>(v, &buf));
        assert_eq!(r.err(), Some(WireError::FrameTooLarge(MAX_FRAME + 1)));
        assert!(
            peak < 4096,
            "v{v}: refusing a header allocated {peak} bytes"
        );
    }
}

#[test]
fn counts_claimed_in_a_frame_do_not_allocate_for_themselves() {
    // A push claiming 2^32 - 1 documents (postcard varint) in 20 bytes, and a v2 push
    // claiming a 4 GiB change in its section: refused, with memory near the frame's size.
    let mut claim = vec![0u8, 2, 7, 0xff, 0xff, 0xff, 0xff, 0x0f];
    claim.extend_from_slice(&[1; 12]);
    for v in [PROTOCOL_V1, PROTOCOL_VERSION] {
        let (r, peak) = peak_during(|| decode_body_for::<ClientMsg>(v, &claim));
        assert_eq!(r, Err(WireError::Malformed));
        assert!(
            peak < 64 * 1024,
            "v{v}: a claimed count allocated {peak} bytes"
        );
    }
    let slot = ClientMsg::Push(Push {
        batch: 1,
        docs: vec![DocChanges {
            id: [1; 16],
            kind: 2,
            scope: "s".into(),
            changes: vec![serde_bytes::ByteBuf::new()],
        }],
    });
    let mut p = vec![0u8];
    p.extend_from_slice(&postcard::to_allocvec(&slot).unwrap());
    p.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let (r, peak) = peak_during(|| decode_body_for::<ClientMsg>(PROTOCOL_VERSION, &p));
    assert_eq!(r, Err(WireError::Malformed));
    assert!(
        peak < 64 * 1024,
        "a claimed change length allocated {peak} bytes"
    );
}

/// An Automerge compressed change chunk (type 2) whose DEFLATE body inflates to `n`.
fn change_bomb(n: usize) -> Vec<u8> {
    let body = deflate_bomb(n);
    let mut c = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = body.len() as u64;
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            c.push(b);
            break;
        }
        c.push(b | 0x80);
    }
    c.extend_from_slice(&body);
    c
}

#[test]
fn a_compressed_change_bomb_is_refused_by_the_store() {
    let store = Store::open_in_memory(&[1; 32], StoreOptions::new("d", "u")).unwrap();
    let bomb = change_bomb(256 * MIB);
    assert!(bomb.len() < 1 << 20);
    let id = DocId::from_slice(&[7; 16]).unwrap();
    let scope = Scope::new("s:a").unwrap();
    let (r, peak) = peak_during(|| store.apply_changes(id, Kind::Account, &scope, &[bomb], true));
    assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
    // The store's inflate cap is 16 MiB (MAX_CHANGE_INFLATED), like the wire's.
    assert!(peak <= INFLATE_BOUND, "change bomb held {peak} bytes");
    assert!(store.ids(None).unwrap().is_empty(), "nothing stored");
}

#[test]
fn an_oversize_change_is_refused_before_parsing() {
    let store = Store::open_in_memory(&[1; 32], StoreOptions::new("d", "u")).unwrap();
    let mut big = vec![
        0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0x80, 0x80, 0x80, 0x03,
    ];
    big.resize(6 * MIB, 0);
    let id = DocId::from_slice(&[8; 16]).unwrap();
    let scope = Scope::new("s:a").unwrap();
    let (r, peak) = peak_during(|| store.apply_changes(id, Kind::Account, &scope, &[big], true));
    assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
    // `apply_changes` copies its input once into the batch; nothing past that.
    assert!(
        peak <= 2 * 6 * MIB + MIB,
        "an oversize change held {peak} bytes"
    );
}

#[test]
fn deep_expressions_are_refused_with_memory_linear_in_their_length() {
    for src in [
        "(".repeat(60_000),
        "not(".repeat(16_000),
        format!("{}1{}", "concat(".repeat(7_000), ")".repeat(7_000)),
        format!("{}1", "1 + (".repeat(12_000)),
        "-(".repeat(30_000),
    ] {
        let (r, peak) = peak_during(|| Expr::parse(&src));
        let e = r.expect_err("too deep");
        assert_eq!(e.code, "too_deep", "{}", &src[..20]);
        assert!(
            e.position <= MAX_DEPTH * 8,
            "the fault is reported where it starts"
        );
        assert!(
            peak <= 64 * src.len() + MIB,
            "{} bytes of source held {peak} bytes",
            src.len()
        );
    }
}

/// A zip whose central directory declares one part of `size` bytes.
fn zip_declaring(size: u32) -> Vec<u8> {
    let name = b"xl/worksheets/sheet1.xml";
    let mut z = Vec::new();
    // Central directory entry.
    z.extend_from_slice(b"PK\x01\x02");
    z.extend_from_slice(&[20, 0, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    z.extend_from_slice(&100u32.to_le_bytes()); // compressed size
    z.extend_from_slice(&size.to_le_bytes()); // uncompressed size
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0; 12]);
    z.extend_from_slice(name);
    let cd_len = z.len() as u32;
    // End of central directory.
    z.extend_from_slice(b"PK\x05\x06");
    z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z
}

#[test]
fn an_xlsx_declaring_more_than_the_unzip_limit_is_refused_before_inflating() {
    let z = zip_declaring(u32::MAX - 1);
    assert!(u64::from(u32::MAX - 1) > MAX_UNZIPPED_BYTES);
    let (r, peak) = peak_during(|| xlsform::import_bytes(&z, Format::Xlsx));
    let errors = r.expect_err("refused").errors;
    assert_eq!(errors[0].code, "too_large", "{errors:?}");
    assert!(peak < 64 * 1024, "refusing held {peak} bytes");
}

/// Found by fuzzing (`sync_client`): a pull batch listing one document twice made
/// `apply_batch` lock the document's slot twice and hang the device. Now its changes
/// are applied once, in order; a repeat with another kind is refused.
#[test]
fn one_document_twice_in_a_batch_is_applied_once() {
    use automerge::transaction::Transactable;
    let store = Store::open_in_memory(&[1; 32], StoreOptions::new("d", "u")).unwrap();
    let mut doc = automerge::AutoCommit::new();
    doc.put(automerge::ROOT, "name", "Acme").unwrap();
    doc.commit();
    let c1 = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    doc.put(automerge::ROOT, "region", "north").unwrap();
    doc.commit();
    let c2 = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    let id = DocId::from_slice(&[9; 16]).unwrap();
    let scope = Scope::new("s:a").unwrap();
    let entry = |kind, changes: Vec<Vec<u8>>| fieldsync_core::store::Incoming {
        id,
        kind,
        scope: scope.clone(),
        changes,
    };
    let r = store
        .apply_batch(
            vec![
                entry(Kind::Account, vec![c1]),
                entry(Kind::Account, vec![c2]),
                entry(Kind::Visit, vec![]),
            ],
            true,
        )
        .unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(
        r[0].as_ref().unwrap().new_changes,
        2,
        "both entries' changes"
    );
    assert_eq!(r[1].as_ref().unwrap().new_changes, 2);
    assert!(matches!(r[2], Err(Error::Malformed(_))));
    assert_eq!(store.heads(id).unwrap(), doc.get_heads());
}
