//! Writes the seed corpus of every fuzz target (`fuzz/corpus/<target>/`) from real
//! encodings: protocol frames of both versions built from real Automerge changes,
//! saved documents, the XLSForm test workbooks and the example `.xlsx`, expressions,
//! enrolment links. Deterministic: the same build writes the same files.
//!
//! `cargo run -p fieldsync-tests --bin fuzz-seeds -- fuzz/corpus`

use std::path::{Path, PathBuf};

use arbitrary::Unstructured;
use automerge::AutoCommit;
use fieldsync_core::sync::wire::*;
use fieldsync_tests::fuzz::{msgs, pool::pool};

/// Deterministic pseudo-random bytes (splitmix64).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(body);
    v
}

struct Out {
    dir: PathBuf,
    n: usize,
}

impl Out {
    fn new(root: &Path, target: &str) -> Out {
        let dir = root.join(target);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        Out { dir, n: 0 }
    }
    fn put(&mut self, name: &str, bytes: &[u8]) {
        self.n += 1;
        std::fs::write(self.dir.join(format!("{:03}-{name}", self.n)), bytes).expect("write seed");
    }
}

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let p = pool();

    // wire: frames of real messages in both versions and directions (mode 0), a v2 push
    // section (mode 1), compressed payloads (mode 2), structured messages (mode 3).
    let mut o = Out::new(&root, "wire");
    for seed in 0..12u64 {
        let buf = noise(seed, 600);
        let mut u = Unstructured::new(&buf);
        let (Ok(c), Ok(s)) = (
            msgs::client_msg(&mut u, p, None),
            msgs::server_msg(&mut u, p, 4),
        ) else {
            continue;
        };
        for v in [PROTOCOL_V1, PROTOCOL_VERSION] {
            o.put(&format!("v{v}-client"), &tagged(0, &encode_for(v, &c)));
            o.put(&format!("v{v}-server"), &tagged(0, &encode_for(v, &s)));
        }
        let payload = encode_payload(PROTOCOL_VERSION, &c);
        if let Ok(z) = zstd::bulk::Compressor::with_dictionary(3, DICTIONARY_V2)
            .and_then(|mut z| z.compress(&payload))
        {
            o.put("zstd", &tagged(2, &z));
        }
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = std::io::Write::write_all(&mut d, &postcard::to_allocvec(&c).unwrap_or_default());
        if let Ok(z) = d.finish() {
            o.put("deflate", &tagged(2, &z));
        }
        o.put("section", &tagged(1, &buf[..200]));
        o.put("structured", &tagged(3, &buf));
    }

    // The state machines take structured input only: noise of several lengths.
    for target in ["sync_server", "sync_client"] {
        let mut o = Out::new(&root, target);
        for (i, len) in [64usize, 256, 512, 1024, 2048, 4096, 8192, 16384]
            .into_iter()
            .enumerate()
        {
            o.put("noise", &noise(100 + i as u64, len));
        }
    }

    // doc_load: saved documents (mode 0), chunk lists (1, 2), pull batches (3).
    let mut o = Out::new(&root, "doc_load");
    for d in &p.docs {
        let mut doc = AutoCommit::new();
        for c in &d.changes {
            let _ = doc.load_incremental(c);
        }
        o.put("saved", &tagged(0, &doc.save()));
        o.put("change", &tagged(2, &d.changes[0]));
    }
    for i in 0..6u64 {
        o.put("chunks", &tagged(1, &noise(200 + i, 512)));
        o.put("batch", &tagged(3, &noise(300 + i, 2048)));
    }

    // xlsform: the importer's test workbooks as CSV (mode 1), the example workbook as
    // .xlsx (mode 0) and its CSV, structured workbooks (mode 3).
    let mut o = Out::new(&root, "xlsform");
    let mut csvs: Vec<PathBuf> = std::fs::read_dir(repo.join("core/tests/xlsforms"))
        .into_iter()
        .flatten()
        .chain(
            std::fs::read_dir(repo.join("core/tests/xlsforms/errors"))
                .into_iter()
                .flatten(),
        )
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    csvs.sort();
    for f in csvs
        .iter()
        .chain([&repo.join("examples/forms/telecom-satisfaction.csv")])
    {
        if let Ok(b) = std::fs::read(f) {
            let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("csv");
            o.put(name, &tagged(1, &b));
        }
    }
    if let Ok(b) = std::fs::read(repo.join("examples/forms/telecom-satisfaction.xlsx")) {
        o.put("telecom.xlsx", &tagged(0, &b));
    }
    o.put("json", &tagged(2, br#"{"survey":[{"type":"integer","name":"n","label":"N"},{"type":"begin repeat","name":"r","repeat_count":"${n}"},{"type":"text","name":"t","label":"T","relevant":"${n} > 1"},{"type":"end repeat"}],"settings":[{"form_id":"f"}]}"#));
    for i in 0..8u64 {
        o.put("structured", &tagged(3, &noise(400 + i, 1024)));
    }

    // expr: real expressions (mode 0) and grammar-built trees (odd modes).
    let mut o = Out::new(&root, "expr");
    for e in [
        "${q1} > 3 and ${q2} != 'no'",
        "if(selected(${services}, 'data'), count-selected(${services}) * 2, 0)",
        "concat(${first}, ' ', substr(${last}, 0, 1), '.')",
        "format-date(date(${visit_date}) + 7, '%Y-%m-%d')",
        "regex(., '^[0-9]{4}$') and string-length(.) = 4",
        "sum(${line_fee}) div count(${line})",
        "indexed-repeat(${model}, ${device}, position(..))",
        "jr:choice-name(${plan}, '${plan}')",
        "round(decimal-date-time(now()) - decimal-date-time(${start}), 2)",
        "coalesce(${nickname}, ${name}) = 'x' or not(${consent})",
        "county = ${county} and region != ''",
    ] {
        o.put("src", &tagged(0, e.as_bytes()));
    }
    for (i, depth) in [3u8, 9, 17, 33, 65, 129, 191].into_iter().enumerate() {
        o.put("tree", &tagged(depth, &noise(500 + i as u64, 512)));
    }

    // auth: links and codes (mode 0), enrolment sessions (mode 1).
    let mut o = Out::new(&root, "auth");
    for l in [
        "fieldsync://10.0.0.5:4433/enrol?code=ABCD-EFGH-JKMN-PQRS&pin=0909090909090909090909090909090909090909090909090909090909090909&name=fieldsync.local",
        "fieldsync://sync.example.org:443/enrol?code=abcd efgh jkmn pqrs",
        "fieldsync://[::1]:1/enrol?code=0000-1111-2222-3333&pin=zz",
    ] {
        o.put("link", &tagged(0, l.as_bytes()));
    }
    for i in 0..4u64 {
        o.put("enrol", &tagged(1, &noise(600 + i, 256)));
    }
    println!("seeds written under {}", root.display());
}
