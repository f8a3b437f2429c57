//! Agreement with pyxform 4.5: every XLSForm of the corpus (`core/tests/xlsforms/*.csv`
//! and the example telecom survey) is imported from its CSV source and from an .xlsx
//! made of it by openpyxl — both must give the same form — and pyxform reads the .xlsx;
//! the canonical trees (`canonical_tree` here, `pyxform_tree.py` there) must be equal.
//! The broken forms of `core/tests/xlsforms/errors/` must fail in both, and ours must
//! say where (sheet, row, column).
//!
//! Python comes from `FIELDSYNC_PYTHON` (default `python3`); `<workspace>/.tools/python`
//! is added to `PYTHONPATH` when it exists (`scripts/test-all` installs pyxform there).
//! Without pyxform the tests fail and say how to install it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use fieldsync_core::forms::xlsform::{self, Import, canonical_tree};
use fieldsync_core::model::{Form, Record, RecordContext};
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core/ is inside the workspace")
        .to_path_buf()
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/xlsforms")
}

fn telecom_csv() -> PathBuf {
    workspace().join("examples/forms/telecom-satisfaction.csv")
}

/// A `python3` with pyxform and openpyxl importable, or a failure saying how to get one.
fn python() -> Command {
    let exe = std::env::var("FIELDSYNC_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut path: Vec<PathBuf> = Vec::new();
    let tools = workspace().join(".tools/python");
    if tools.is_dir() {
        path.push(tools);
    }
    if let Some(p) = std::env::var_os("PYTHONPATH") {
        path.extend(std::env::split_paths(&p));
    }
    let make = || {
        let mut c = Command::new(&exe);
        if !path.is_empty() {
            let joined: OsString = std::env::join_paths(&path).expect("valid PYTHONPATH");
            c.env("PYTHONPATH", joined);
        }
        c
    };
    let probe = make()
        .args(["-c", "import pyxform, openpyxl; print(pyxform.__version__)"])
        .output();
    let ok = matches!(&probe, Ok(o) if o.status.success());
    assert!(
        ok,
        "pyxform is needed for this test and `{exe}` cannot import it ({}).\n\
         Install it once with scripts/test-all, or:\n  \
         python3 -m pip install --target {}/.tools/python pyxform==4.5.0 openpyxl==3.1.5\n\
         (or point FIELDSYNC_PYTHON at a python that has them)",
        match &probe {
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        },
        workspace().display()
    );
    if let Ok(o) = &probe {
        let version = String::from_utf8_lossy(&o.stdout);
        assert!(
            version.trim() == "4.5.0",
            "the agreement corpus is checked against pyxform 4.5.0; found {}",
            version.trim()
        );
    }
    make()
}

/// Run `pyxform_tree.py batch` on `files`: file -> {"xlsx", "tree" | "error"}.
fn pyxform_batch(out: &Path, files: &[PathBuf]) -> BTreeMap<String, Value> {
    let script = corpus_dir().join("pyxform_tree.py");
    let output = python()
        .arg(&script)
        .arg("batch")
        .arg(out)
        .args(files)
        .output()
        .expect("run pyxform_tree.py");
    assert!(
        output.status.success(),
        "pyxform_tree.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("pyxform_tree.py prints JSON")
}

fn csv_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    files
}

/// A line diff of two pretty JSON texts (LCS), `-` ours, `+` pyxform's.
fn diff(ours: &Value, theirs: &Value) -> String {
    let a: Vec<String> = serde_json::to_string_pretty(ours)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let b: Vec<String> = serde_json::to_string_pretty(theirs)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            out.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    // Keep the changed lines with three lines of context.
    let changed: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.starts_with("  "))
        .map(|(i, _)| i)
        .collect();
    let keep = |k: usize| changed.iter().any(|&c| k + 3 >= c && k <= c + 3);
    let mut s = String::new();
    let mut skipped = false;
    for (k, l) in out.iter().enumerate() {
        if keep(k) {
            s.push_str(l);
            s.push('\n');
            skipped = false;
        } else if !skipped {
            s.push_str("  ...\n");
            skipped = true;
        }
    }
    s
}

struct NoContext;
impl RecordContext for NoContext {
    fn form(&self, id: &fieldsync_core::DocId) -> Result<Form, fieldsync_core::Error> {
        Err(fieldsync_core::Error::NotFound { id: *id })
    }
    fn now(&self) -> fieldsync_core::Timestamp {
        0
    }
}

fn import(path: &Path) -> Result<Import, String> {
    xlsform::import_path(path).map_err(|e| e.to_string())
}

#[test]
fn corpus_agrees_with_pyxform() {
    let mut files = csv_files(&corpus_dir());
    let mut failures = Vec::new();
    if files.len() < 30 {
        failures.push(format!(
            "the corpus should hold at least 30 forms, found {}",
            files.len()
        ));
    }
    files.push(telecom_csv());
    let tmp = tempfile::tempdir().expect("temp dir");
    let results = pyxform_batch(tmp.path(), &files);
    for file in &files {
        let key = file.to_string_lossy().to_string();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let r = &results[&key];
        let from_csv = match import(file) {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!("{name}: our import of the CSV failed:\n{e}"));
                continue;
            }
        };
        let xlsx = PathBuf::from(r["xlsx"].as_str().expect("xlsx path"));
        match import(&xlsx) {
            Ok(i) if i.form == from_csv.form => {}
            Ok(i) => failures.push(format!(
                "{name}: the CSV and the .xlsx import differently:\n{}",
                diff(
                    &serde_json::to_value(&from_csv.form).unwrap_or_default(),
                    &serde_json::to_value(&i.form).unwrap_or_default()
                )
            )),
            Err(e) => failures.push(format!("{name}: our import of the .xlsx failed:\n{e}")),
        }
        if let Err(e) = from_csv.form.validate(None, &NoContext) {
            failures.push(format!("{name}: the imported form does not validate: {e}"));
        }
        if let Some(err) = r.get("error") {
            failures.push(format!("{name}: pyxform refuses it: {err}"));
            continue;
        }
        let ours = canonical_tree(&from_csv.form);
        let theirs = &r["tree"];
        if &ours != theirs {
            failures.push(format!(
                "{name}: canonical trees differ (- ours, + pyxform):\n{}",
                diff(&ours, theirs)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} forms disagree:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn broken_forms_fail_like_pyxform() {
    let files = csv_files(&corpus_dir().join("errors"));
    assert!(
        !files.is_empty(),
        "no broken forms in core/tests/xlsforms/errors"
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let results = pyxform_batch(tmp.path(), &files);
    let mut failures = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let r = &results[&file.to_string_lossy().to_string()];
        if r.get("error").is_none() {
            failures.push(format!(
                "{name}: pyxform accepts it; it belongs in the corpus"
            ));
        }
        // The expected code is in the file name: `NN-<code>.csv`.
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let want = stem
            .split_once('-')
            .map_or("", |(_, c)| c)
            .replace('-', "_");
        for path in [
            file.clone(),
            PathBuf::from(r["xlsx"].as_str().expect("xlsx path")),
        ] {
            match xlsform::import_path(&path) {
                Ok(_) => failures.push(format!("{name}: we accept {}", path.display())),
                Err(e) => {
                    for issue in &e.errors {
                        if issue.sheet.is_empty() {
                            failures.push(format!("{name}: an error without a sheet: {issue}"));
                        }
                        if issue.row.is_none() && issue.code != "missing_sheet" {
                            failures.push(format!("{name}: an error without a row: {issue}"));
                        }
                        if issue.column.is_none() && issue.code != "missing_sheet" {
                            failures.push(format!("{name}: an error without a column: {issue}"));
                        }
                    }
                    if !e.errors.iter().any(|i| i.code == want) {
                        failures.push(format!("{name}: expected an error `{want}`, got:\n{e}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn typed_xlsx_cells_render_like_openpyxl() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("typed.xlsx");
    let out = python()
        .arg(corpus_dir().join("pyxform_tree.py"))
        .arg("typed-cells")
        .arg(&path)
        .output()
        .expect("run pyxform_tree.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = pyxform_batch(tmp.path(), std::slice::from_ref(&path));
    let r = &results[&path.to_string_lossy().to_string()];
    let ours = import(&path).expect("import typed cells");
    let theirs = &r["tree"];
    let ours = canonical_tree(&ours.form);
    assert!(
        &ours == theirs,
        "typed cells differ (- ours, + pyxform):\n{}",
        diff(&ours, theirs)
    );
}

#[test]
fn telecom_example_xlsx_matches_its_csv() {
    let csv = import(&telecom_csv()).expect("import the telecom CSV");
    let xlsx = import(&workspace().join("examples/forms/telecom-satisfaction.xlsx"))
        .expect("import the telecom .xlsx");
    assert_eq!(
        csv.form, xlsx.form,
        "examples/forms/telecom-satisfaction.xlsx is stale: run examples/forms/make_telecom_xlsx.py"
    );
    assert_eq!(csv.form.form_key, "telecom-sat");
    assert!(csv.form.validate(None, &NoContext).is_ok());
}
