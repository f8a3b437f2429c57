//! fieldsync-bench: `cargo run --release -p fieldsync-bench -- <suite>`.
//!
//! Each suite prints one JSON object per line on stdout (see `report`), with the peer
//! or baseline figure measured in the same run; progress goes to stderr. A suite is a
//! module with a `run()` function, listed in `SUITES`.

// The counting global allocator needs `unsafe` (GlobalAlloc is an unsafe trait); it is
// confined to this one module, which the workspace-wide `deny(unsafe_code)` exempts.
#[allow(unsafe_code)]
mod alloc;
mod blobs;
mod enrol;
mod field;
mod forms;
mod load;
mod quota;
mod report;
mod scale;
mod store;
mod store_profile;
mod sync;

/// Errors of a benchmark run: anything, reported and exit code 1.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Suite {
    name: &'static str,
    about: &'static str,
    run: fn() -> BenchResult<()>,
}

const SUITES: &[Suite] = &[
    Suite {
        name: "store",
        about: "device store: durable create vs JSON in SQLite, edit, pages over 100k, heap",
        run: store::run,
    },
    Suite {
        name: "sync",
        about: "reconnect cost vs per-document Automerge sync, round trips, bytes per response, ingest",
        run: sync::run,
    },
    Suite {
        name: "forms",
        about: "XLSForm import beside pyxform, re-evaluation after one answer beside a full pass",
        run: forms::run,
    },
    Suite {
        name: "scale",
        about: "1, 2 and 3 server nodes on one PostgreSQL beside one SQLite node: ingest, pull latency",
        run: scale::run,
    },
    Suite {
        name: "field",
        about: "fieldsync beside PouchDB over emulated links (EDGE, bad 3G, satellite, flapping)",
        run: field::run,
    },
    Suite {
        name: "load",
        about: "simulated devices against one server process: lost changes, RSS, fds, p50/p99",
        run: load::run,
    },
    Suite {
        name: "quota",
        about: "other devices' sync p50/p99 with and without one device at 10x its quota",
        run: quota::run,
    },
    Suite {
        name: "blobs",
        about: "attachments: throughput on loopback and over the edge profile beside its capacity, bytes re-sent after a kill",
        run: blobs::run,
    },
    Suite {
        name: "store-profile",
        about: "where one create and one edit spend their time, step by step",
        run: store_profile::run,
    },
];

fn usage() -> ! {
    eprintln!("usage: fieldsync-bench <suite>\n\nsuites:");
    for s in SUITES {
        eprintln!("  {:<14} {}", s.name, s.about);
    }
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The `load` suite's server child (not a suite).
    if args.first().is_some_and(|a| a == "__load-server") {
        if let Err(e) = load::serve_child(&args[1..]) {
            eprintln!("fieldsync-bench load server: {e}");
            std::process::exit(1);
        }
        return;
    }
    let [name] = args.as_slice() else { usage() };
    let Some(suite) = SUITES.iter().find(|s| s.name == name) else {
        eprintln!("unknown suite {name:?}");
        usage()
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; figures are meaningless without --release");
    }
    if let Err(e) = (suite.run)() {
        eprintln!("fieldsync-bench {name}: {e}");
        std::process::exit(1);
    }
}
