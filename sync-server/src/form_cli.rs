//! `fieldsync form ...`: operator commands on survey definitions.
//!
//! `fieldsync form import FILE [--json]` reads an XLSForm (`.xlsx`, `.csv` in pyxform's
//! layout, `.json`) with `fieldsync_core::forms::xlsform` and prints either a readable
//! outline of the form (title, key, languages, every element indented by group with
//! its type, name, label and expressions) or every problem found, one per line as
//! `sheet!row column: message (code)`. With `--json` it prints the normalised form as
//! JSON, or `{"errors": [...], "warnings": [...]}`. The exit status is 1 when the
//! workbook has errors. Nothing is stored: this is the check an operator runs before
//! publishing a form version.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use fieldsync_core::forms::xlsform;
use fieldsync_core::model::{Form, Question, QuestionKind};
use fieldsync_i18n::{Lang, t};

/// `fieldsync form` subcommands.
#[derive(Subcommand)]
pub enum FormCmd {
    /// Read an XLSForm (.xlsx, .csv in pyxform's layout, or .json) and print its outline,
    /// or every problem with its sheet, row and column (exit status 1).
    Import {
        /// The workbook.
        file: PathBuf,
        /// Print the normalised form (or the errors) as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a `form` subcommand; returns the exit status.
pub fn run(cmd: FormCmd, ui: Lang) -> io::Result<i32> {
    match cmd {
        FormCmd::Import { file, json } => {
            let stdout = io::stdout();
            let stderr = io::stderr();
            import(&file, json, ui, &mut stdout.lock(), &mut stderr.lock())
        }
    }
}

/// `form import`: the outline (or JSON) on `out`, warnings and the summary on `err`.
pub fn import(
    path: &Path,
    json: bool,
    ui: Lang,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    match xlsform::import_path(path) {
        Ok(import) => {
            if json {
                serde_json::to_writer_pretty(&mut *out, &import.form)?;
                writeln!(out)?;
            } else {
                outline(&import.form, ui, out)?;
            }
            for w in &import.warnings {
                writeln!(
                    err,
                    "{}",
                    t!(ui, "cli-form-warning", warning = issue_line(ui, w))
                )?;
            }
            out.flush()?;
            Ok(0)
        }
        Err(e) => {
            if json {
                let doc = serde_json::json!({ "errors": e.errors, "warnings": e.warnings });
                serde_json::to_writer_pretty(&mut *out, &doc)?;
                writeln!(out)?;
            } else {
                for issue in &e.errors {
                    writeln!(out, "{}", issue_line(ui, issue))?;
                }
                for w in &e.warnings {
                    writeln!(
                        err,
                        "{}",
                        t!(ui, "cli-form-warning", warning = issue_line(ui, w))
                    )?;
                }
            }
            writeln!(
                err,
                "{}",
                t!(
                    ui,
                    "cli-form-errors",
                    path = path.display().to_string(),
                    n = e.errors.len()
                )
            )?;
            out.flush()?;
            Ok(1)
        }
    }
}

/// `sheet!row column: what is wrong (code)`: in English the engine's own message
/// (it names the cell's value); in Chinese the catalogue's text for the code, or the
/// engine's message for a code without one.
pub fn issue_line(ui: Lang, issue: &xlsform::ImportIssue) -> String {
    let what = match ui {
        Lang::En => issue.message.clone(),
        _ => fieldsync_i18n::labels::form_issue(ui, issue.code)
            .unwrap_or_else(|| issue.message.clone()),
    };
    xlsform::ImportIssue {
        message: what,
        ..issue.clone()
    }
    .to_string()
}

/// Labels are survey text an operator wrote; keep one line per element readable.
fn one_line(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 70 {
        flat.chars().take(69).collect::<String>() + "…"
    } else {
        flat
    }
}

fn type_name(q: &Question) -> String {
    let base = xlsform::type_name(q);
    if q.kind == QuestionKind::Score {
        let s = q.effective_scale();
        let dim = q
            .dimension
            .map_or(String::new(), |d| format!(" {}", d.as_str()));
        return format!("score{dim} {}-{} ({base})", s.min, s.max);
    }
    match (&q.list_name, &q.file) {
        (Some(l), _) => format!("{base} {l}{}", if q.or_other { " or_other" } else { "" }),
        (None, Some(f)) => format!("{base} {f}"),
        _ => base.to_string(),
    }
}

fn outline(form: &Form, ui: Lang, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", one_line(&form.title))?;
    writeln!(out, "{}", t!(ui, "cli-form-key", key = &form.form_key))?;
    if let Some(v) = form.settings.get("version") {
        writeln!(out, "{}", t!(ui, "cli-form-version-setting", version = v))?;
    }
    if !form.languages.is_empty() {
        let langs: Vec<String> = form
            .languages
            .iter()
            .map(|l| {
                if form.default_language.as_deref() == Some(l) {
                    t!(ui, "cli-form-default-language", language = l)
                } else {
                    l.clone()
                }
            })
            .collect();
        writeln!(
            out,
            "{}",
            t!(ui, "cli-form-languages", languages = langs.join(", "))
        )?;
    }
    if !form.choice_lists.is_empty() {
        let lists: Vec<String> = form
            .choice_lists
            .iter()
            .map(|(name, cs)| format!("{name} ({})", cs.len()))
            .collect();
        writeln!(
            out,
            "{}",
            t!(ui, "cli-form-choice-lists", lists = lists.join(", "))
        )?;
    }
    let answers = form
        .questions
        .iter()
        .filter(|q| !q.kind.takes_no_answer())
        .count();
    writeln!(
        out,
        "{}",
        t!(
            ui,
            "cli-form-elements",
            n = form.questions.len(),
            answers = answers
        )
    )?;
    writeln!(out)?;
    let mut depth: Vec<&str> = Vec::new();
    for q in &form.questions {
        // Elements come in sheet order, each after its group: unwind to its parent.
        while let Some(top) = depth.last() {
            if q.group.as_deref() == Some(*top) {
                break;
            }
            depth.pop();
        }
        let indent = "  ".repeat(depth.len() + 1);
        let mut line = format!("{indent}{} {}", type_name(q), q.id);
        if !q.label.is_empty() {
            // The label in the form language nearest the CLI's (zh-CN → zh), else
            // the form's default texts.
            let label = q.label_in(form.language(ui.tag()));
            line.push_str(&format!(" \"{}\"", one_line(label)));
        }
        if q.required {
            line.push_str(" [required]");
        }
        writeln!(out, "{line}")?;
        let detail = format!("{indent}    ");
        let exprs = [
            ("required if", &q.required_if),
            ("relevant", &q.relevant),
            ("constraint", &q.constraint),
            ("calculation", &q.calculation),
            ("default", &q.default),
            ("read_only", &q.read_only),
            ("choice_filter", &q.choice_filter),
            ("repeat_count", &q.repeat_count),
            ("appearance", &q.appearance),
        ];
        for (name, v) in exprs {
            if let Some(v) = v {
                writeln!(out, "{detail}{name}: {}", one_line_expr(v))?;
            }
        }
        if !q.parameters.is_empty() {
            let p: Vec<String> = q
                .parameters
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            writeln!(out, "{detail}parameters: {}", p.join(" "))?;
        }
        if q.kind.is_container() {
            depth.push(&q.id);
        }
    }
    Ok(())
}

/// Expressions are shown whole (they are the point of the outline), on one line.
fn one_line_expr(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
