//! Every problem the XLSForm importer reports for the error corpus
//! (`core/tests/xlsforms/errors/`) and every warning it gives on the corpus of good
//! forms has a text in both languages (`fieldsync_i18n::labels::FORM_ISSUES`), so a
//! form author reading Chinese never meets the engine's English message.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fieldsync_core::forms::xlsform;
use fieldsync_i18n::{Lang, labels};

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "core/tests/xlsforms",
        "core/tests/xlsforms/errors",
        "examples/forms",
    ] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension()
                .is_some_and(|x| x == "csv" || x == "xlsx" || x == "json")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_reported_code_has_a_text_in_both_languages() {
    let files = corpus();
    assert!(
        files.len() > 30,
        "the corpus is found ({} files)",
        files.len()
    );
    let mut codes = BTreeSet::new();
    let mut errors = 0;
    for f in &files {
        match xlsform::import_path(f) {
            Ok(i) => codes.extend(i.warnings.iter().map(|w| w.code)),
            Err(e) => {
                errors += e.errors.len();
                codes.extend(e.errors.iter().map(|w| w.code));
                codes.extend(e.warnings.iter().map(|w| w.code));
            }
        }
    }
    assert!(errors >= 26, "the error corpus fails ({errors} errors)");
    assert!(codes.len() > 20, "codes met: {codes:?}");
    let missing: Vec<&&str> = codes
        .iter()
        .filter(|c| labels::form_issue(Lang::ZhCn, c).is_none())
        .collect();
    assert!(missing.is_empty(), "no text for {missing:?}");
    for c in &codes {
        let (en, zh) = (
            labels::form_issue(Lang::En, c),
            labels::form_issue(Lang::ZhCn, c),
        );
        assert_ne!(en, zh, "{c} is translated");
    }
}
