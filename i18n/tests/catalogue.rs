//! The catalogues are complete and lean: every key used in the source exists in both
//! languages, every key of one language exists in the other with the same variables,
//! every key is used somewhere, and the `.ftl` files parse.
//!
//! Keys are found in the source by how they are written (the only ways code refers to
//! a key): `t!(lang, "key" …)` and `k!("key")` in Rust, `tr.t("key")` /
//! `tr.t1("key", …)` (and other `tr.t…` helpers) in the askama templates. Unit-test
//! sections (`#[cfg(test)]` to the end of a file) and comment lines do not count as use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use fieldsync_i18n::{Lang, SOURCES, keys, problems};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Folders whose `.rs` and `.html` files may refer to catalogue keys.
const SCANNED: [&str; 6] = [
    "i18n/src",
    "core/src",
    "ffi/src",
    "sync-server/src",
    "sync-server/templates",
    "bench/src",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs" || x == "html") {
            out.push(p);
        }
    }
}

fn used_keys() -> BTreeMap<String, Vec<String>> {
    let root = workspace();
    let mut all = Vec::new();
    for d in SCANNED {
        files(&root.join(d), &mut all);
    }
    assert!(
        all.len() > 20,
        "the scan found the source ({} files)",
        all.len()
    );
    let patterns = [
        regex::Regex::new(r#"\bt!\(\s*[^",;]+,\s*"([a-z][a-z0-9-]*)""#),
        regex::Regex::new(r#"\bk!\(\s*"([a-z][a-z0-9-]*)"\s*\)"#),
        regex::Regex::new(r#"\btr\.t[a-z0-9_]*\(\s*"([a-z][a-z0-9-]*)""#),
    ]
    .map(|r| r.expect("valid pattern"));
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in all {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let rust = f.extension().is_some_and(|x| x == "rs");
        let text = match text.find("#[cfg(test)]") {
            Some(i) if rust => &text[..i],
            _ => &text[..],
        };
        // Comments (docs showing `t!(lang, "key")`) are not use.
        let text: String = text
            .lines()
            .filter(|l| !(rust && l.trim_start().starts_with("//")))
            .collect::<Vec<_>>()
            .join("\n");
        let text = text.as_str();
        let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        for p in &patterns {
            for c in p.captures_iter(text) {
                used.entry(c[1].to_string()).or_default().push(rel.clone());
            }
        }
    }
    used
}

/// Message id → variables it uses, from the `.ftl` text of one language.
fn variables(lang: Lang) -> BTreeMap<String, BTreeSet<String>> {
    let var = regex::Regex::new(r"\$([a-zA-Z_][a-zA-Z0-9_-]*)").expect("valid pattern");
    let head = regex::Regex::new(r"^([a-z][a-z0-9-]*)\s*=").expect("valid pattern");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let files = SOURCES
        .iter()
        .find(|(l, _)| *l == lang)
        .map(|(_, f)| *f)
        .unwrap_or_default();
    for (_, text) in files {
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(c) = head.captures(line) {
                current = Some(c[1].to_string());
                out.entry(c[1].to_string()).or_default();
            } else if !line.starts_with([' ', '\t']) {
                current = None;
            }
            if let Some(id) = &current {
                for v in var.captures_iter(line) {
                    out.entry(id.clone()).or_default().insert(v[1].to_string());
                }
            }
        }
    }
    out
}

#[test]
fn catalogues_parse() {
    for lang in Lang::ALL {
        assert!(problems(lang).is_empty(), "{lang}: {:?}", problems(lang));
        assert!(keys(lang).len() > 100, "{lang} has its messages");
    }
}

#[test]
fn every_key_in_both_languages_with_the_same_variables() {
    let en = variables(Lang::En);
    let zh = variables(Lang::ZhCn);
    let a: BTreeSet<&String> = en.keys().collect();
    let b: BTreeSet<&String> = zh.keys().collect();
    let only_en: Vec<_> = a.difference(&b).collect();
    let only_zh: Vec<_> = b.difference(&a).collect();
    assert!(
        only_en.is_empty() && only_zh.is_empty(),
        "missing in zh-CN: {only_en:?}; missing in en: {only_zh:?}"
    );
    for (k, vars) in &en {
        assert_eq!(
            Some(vars),
            zh.get(k),
            "variables of {k} differ between en and zh-CN"
        );
    }
    // The bundle agrees with the text scan.
    for lang in Lang::ALL {
        let from_bundle: BTreeSet<String> = keys(lang).iter().cloned().collect();
        let from_text: BTreeSet<String> = variables(lang).into_keys().collect();
        assert_eq!(from_bundle, from_text, "{lang}");
    }
}

#[test]
fn every_used_key_exists_and_every_key_is_used() {
    let used = used_keys();
    assert!(used.len() > 100, "the scan found the keys ({})", used.len());
    for lang in Lang::ALL {
        let have: BTreeSet<&str> = keys(lang).iter().map(String::as_str).collect();
        let missing: Vec<String> = used
            .iter()
            .filter(|(k, _)| !have.contains(k.as_str()))
            .map(|(k, at)| format!("{k} (used in {})", at.join(", ")))
            .collect();
        assert!(missing.is_empty(), "keys missing from {lang}: {missing:#?}");
        let unused: Vec<&&str> = have.iter().filter(|k| !used.contains_key(**k)).collect();
        assert!(unused.is_empty(), "keys of {lang} used nowhere: {unused:?}");
    }
}

#[test]
fn the_scan_finds_each_way_of_writing_a_key() -> Result<(), regex::Error> {
    // The same patterns as `used_keys`, on one line each: a change to them that stops
    // finding a form fails here rather than silently passing the test above.
    let text = r#"t!(lang, "a-b") t!(self.lang, "c-d", n = 1) k!("e-f") {{ tr.t("g-h") }} {{ tr.t1("i-j", "n", 2) }}"#;
    let mut found = Vec::new();
    for p in [
        r#"\bt!\(\s*[^",;]+,\s*"([a-z][a-z0-9-]*)""#,
        r#"\bk!\(\s*"([a-z][a-z0-9-]*)"\s*\)"#,
        r#"\btr\.t[a-z0-9_]*\(\s*"([a-z][a-z0-9-]*)""#,
    ] {
        for c in regex::Regex::new(p)?.captures_iter(text) {
            found.push(c[1].to_string());
        }
    }
    found.sort();
    assert_eq!(found, ["a-b", "c-d", "e-f", "g-h", "i-j"]);
    Ok(())
}
