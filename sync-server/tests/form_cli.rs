//! `fieldsync form import`: the binary on a corpus form, the example telecom workbook and
//! a broken form — output, JSON and exit status.

use std::path::PathBuf;
use std::process::{Command, Output};

use fieldsync_core::model::{Form, QuestionKind};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sync-server/ is inside the workspace")
        .to_path_buf()
}

fn fieldsync(args: &[&str]) -> Output {
    // These check the English texts: pin the language whatever the machine's locale.
    Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("run the fieldsync binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn path(rel: &str) -> String {
    workspace().join(rel).to_string_lossy().into_owned()
}

#[test]
fn outline_of_a_corpus_form() {
    let out = fieldsync(&[
        "form",
        "import",
        &path("core/tests/xlsforms/12-repeats.csv"),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.starts_with("Repeats\nform_key: repeats\n"),
        "{stdout}"
    );
    assert!(stdout.contains("choice lists: plan (2)"), "{stdout}");
    // Nesting: the device repeat is inside the line repeat.
    assert!(stdout.contains("\n  repeat line \"Line\"\n"), "{stdout}");
    assert!(
        stdout.contains("\n      repeat_count: ${line_count}\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n    repeat device \"Device on this line\"\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n      text model \"Model\"\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n    select_one plan plan \"Plan\"\n"),
        "{stdout}"
    );
}

#[test]
fn telecom_example_as_json() {
    let out = fieldsync(&[
        "form",
        "import",
        "--json",
        &path("examples/forms/telecom-satisfaction.xlsx"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let form: Form = serde_json::from_slice(&out.stdout).expect("the form as JSON");
    assert_eq!(form.form_key, "telecom-sat");
    assert_eq!(form.default_language.as_deref(), Some("English (en)"));
    assert_eq!(form.languages, ["English (en)", "中文 (zh)"]);
    let overall = form.question("overall").expect("overall score");
    assert_eq!(overall.kind, QuestionKind::Score);
    assert!(overall.required);
    assert!(
        form.question("complaints")
            .is_some_and(|q| q.kind == QuestionKind::Repeat)
    );

    let outline = fieldsync(&[
        "form",
        "import",
        &path("examples/forms/telecom-satisfaction.xlsx"),
    ]);
    let stdout = text(&outline.stdout);
    assert!(outline.status.success(), "{stdout}");
    assert!(
        stdout.contains("languages: English (en) (default), 中文 (zh)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("score network 1-10 (select_one) network_coverage \"Network coverage\""),
        "{stdout}"
    );
}

#[test]
fn errors_with_sheet_row_column_and_status() {
    let broken = path("core/tests/xlsforms/errors/01-unknown-type.csv");
    let out = fieldsync(&["form", "import", &broken]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "survey!2 type: unknown type `intger`; did you mean `integer`? (unknown_type)\n"
    );
    assert!(
        text(&out.stderr).contains("1 error"),
        "{}",
        text(&out.stderr)
    );

    let out = fieldsync(&["form", "import", "--json", &broken]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("errors as JSON");
    let e = &doc["errors"][0];
    assert_eq!(e["sheet"], "survey");
    assert_eq!(e["row"], 2);
    assert_eq!(e["column"], "type");
    assert_eq!(e["code"], "unknown_type");

    let out = fieldsync(&["form", "import", &path("README.md")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("(unreadable)"),
        "{}",
        text(&out.stdout)
    );
}
