//! Every fuzz seed (`fuzz/corpus/<target>/`) and every input that once crashed a target
//! (`fuzz/regressions/<target>/`) through the same harness cargo-fuzz runs
//! (`fieldsync_tests::fuzz`), in the ordinary test suite: a fixed crash stays fixed
//! without cargo-fuzz or a nightly compiler. See docs/reliability.md ("Fuzzing").

use std::path::{Path, PathBuf};

use fieldsync_tests::fuzz::{TARGETS, harness};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fuzz_dir().join(kind).join(target))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    v.sort();
    v
}

fn replay(kind: &str) -> usize {
    let mut n = 0;
    for (target, _) in TARGETS {
        let run = harness(target).expect("listed target");
        for f in inputs(kind, target) {
            let data = std::fs::read(&f).expect("read input");
            eprintln!(
                "{kind}/{target}/{}",
                f.file_name().unwrap_or_default().to_string_lossy()
            );
            run(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn every_target_has_a_seed_corpus_and_replays_it() {
    for (target, _) in TARGETS {
        assert!(
            inputs("corpus", target).len() >= 3,
            "fuzz/corpus/{target} has fewer than 3 seeds (cargo run -p fieldsync-tests --bin fuzz-seeds)"
        );
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{target}.rs"))
                .is_file(),
            "no cargo-fuzz target for {target}"
        );
    }
    assert!(replay("corpus") >= 3 * TARGETS.len());
}

#[test]
fn every_recorded_crash_replays_without_panicking() {
    // Each file is an input that crashed a target before its fix (docs/reliability.md
    // lists them); replaying it through the fixed code must not panic.
    replay("regressions");
}
