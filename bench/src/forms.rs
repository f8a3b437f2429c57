//! `forms`: XLSForm import and form-engine re-evaluation.
//!
//! - Import of a generated 500-question XLSForm (`.xlsx`, two languages, groups, a
//!   repeat, choice lists, skip logic and constraints): p50/p99 of
//!   `xlsform::import_path` (read, build, check, compile), beside pyxform's
//!   `xls2json` on the same file in the same run (the reference implementation every
//!   XLSForm tool is judged against). pyxform must be importable by `python3`
//!   (`scripts/test-all` installs it into `.tools/python`); without it the baseline
//!   is null.
//! - Re-evaluation after one answer in a 300-question form with 200 relevant and
//!   constraint expressions: p50/p99 of `Evaluation::set_answer` (incremental), beside
//!   a full re-evaluation of the same response (what an engine without a dependency
//!   graph does per keystroke). Goal: p99 <= 1 ms, well under a 16 ms frame.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use fieldsync_core::forms::engine::EvalContext;
use fieldsync_core::forms::{CompiledForm, xlsform};
use fieldsync_core::model::{Answer, QuestionKind, Response, Score};

use crate::BenchResult;
use crate::report::{Goal, Reporter, Samples, env_usize};

/// Rows of a generated XLSForm: (survey, choices, settings), header first.
pub(crate) struct Workbook {
    survey: Vec<Vec<String>>,
    choices: Vec<Vec<String>>,
    settings: Vec<Vec<String>>,
}

/// A realistic large survey: `questions` questions in groups of 20, every third with a
/// relevant on an earlier answer and every third with a constraint, scores on a 1–10
/// list, two languages, one repeat. About two thirds of the questions carry an
/// expression (`expressions` caps the total).
pub(crate) fn generate(questions: usize, expressions: usize) -> Workbook {
    let s = |x: &str| x.to_string();
    let mut survey = vec![vec![
        s("type"),
        s("name"),
        s("label::English (en)"),
        s("label::中文 (zh)"),
        s("hint::English (en)"),
        s("required"),
        s("relevant"),
        s("constraint"),
        s("constraint_message::English (en)"),
        s("calculation"),
        s("appearance"),
        s("dimension"),
    ]];
    let dims = ["service", "product", "price", "network", "care"];
    let mut exprs = 0usize;
    let mut n = 0usize;
    let mut group = 0usize;
    let row = |t: &str, name: &str, rel: &str, con: &str, calc: &str, dim: &str| {
        vec![
            t.to_string(),
            name.to_string(),
            format!("Question {name}"),
            format!("问题 {name}"),
            "Ask the respondent".to_string(),
            if name.ends_with('0') {
                "yes".into()
            } else {
                String::new()
            },
            rel.to_string(),
            con.to_string(),
            if con.is_empty() {
                String::new()
            } else {
                "Out of range".into()
            },
            calc.to_string(),
            String::new(),
            dim.to_string(),
        ]
    };
    while n < questions {
        if n.is_multiple_of(20) {
            group += 1;
            let mut g = row("begin_group", &format!("g{group}"), "", "", "", "");
            g[10] = if group.is_multiple_of(2) {
                "field-list".into()
            } else {
                String::new()
            };
            survey.push(g);
        }
        let name = format!("q{n}");
        let prev = if n > 0 {
            format!("q{}", n - 1)
        } else {
            String::new()
        };
        let want_rel = n % 3 == 1 && exprs < expressions && n > 0;
        let rel = if want_rel {
            exprs += 1;
            format!("${{{prev}}} != '' and ${{{prev}}} <= 7")
        } else {
            String::new()
        };
        let (t, con, dim) = match n % 5 {
            0 => ("select_one score10", "", dims[n / 5 % 5]),
            1 => ("integer", ". >= 0 and . <= 120", ""),
            2 => ("text", "string-length(.) <= 200", ""),
            3 => ("select_one yes_no", "", ""),
            _ => ("decimal", ". >= 0", ""),
        };
        let con = if n % 3 != 1 && !con.is_empty() && exprs < expressions {
            exprs += 1;
            con
        } else {
            ""
        };
        survey.push(row(t, &name, &rel, con, "", dim));
        n += 1;
        if n.is_multiple_of(20) || n == questions {
            survey.push(row("end_group", "", "", "", "", ""));
        }
    }
    survey.push(row("begin_repeat", "visits", "", "", "", ""));
    survey.push(row("text", "visit_note", "", "", "", ""));
    survey.push(row("end_repeat", "", "", "", "", ""));
    survey.push(row("calculate", "n_visits", "", "", "count(${visits})", ""));
    let mut choices = vec![vec![
        s("list_name"),
        s("name"),
        s("label::English (en)"),
        s("label::中文 (zh)"),
    ]];
    for i in 1..=10 {
        choices.push(vec![
            s("score10"),
            i.to_string(),
            i.to_string(),
            i.to_string(),
        ]);
    }
    choices.push(vec![s("yes_no"), s("yes"), s("Yes"), s("是")]);
    choices.push(vec![s("yes_no"), s("no"), s("No"), s("否")]);
    let settings = vec![
        vec![
            s("form_title"),
            s("form_id"),
            s("version"),
            s("default_language"),
        ],
        vec![
            s("Generated survey"),
            s("bench-generated"),
            s("2026120101"),
            s("English (en)"),
        ],
    ];
    Workbook {
        survey,
        choices,
        settings,
    }
}

/// Write the workbook as `.xlsx`.
pub(crate) fn write_xlsx(wb: &Workbook, path: &Path) -> BenchResult<()> {
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, rows) in [
        ("survey", &wb.survey),
        ("choices", &wb.choices),
        ("settings", &wb.settings),
    ] {
        let sheet = book.add_worksheet();
        sheet.set_name(name)?;
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if !v.is_empty() {
                    sheet.write_string(u32::try_from(r)?, u16::try_from(c)?, v)?;
                }
            }
        }
    }
    book.save(path)?;
    Ok(())
}

/// pyxform's `xls2json` on `path`, `runs` times in one Python process: per-run
/// milliseconds (the interpreter's start-up is not counted).
fn pyxform_ms(path: &Path, runs: usize) -> Option<Vec<f64>> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/python");
    let mut pythonpath = tools.display().to_string();
    if let Ok(p) = std::env::var("PYTHONPATH") {
        pythonpath = format!("{pythonpath}:{p}");
    }
    let script = format!(
        "import sys, time\n\
         from pyxform.xls2json import parse_file_to_json\n\
         out = []\n\
         for _ in range({runs}):\n\
         \x20   t = time.perf_counter()\n\
         \x20   parse_file_to_json(sys.argv[1])\n\
         \x20   out.append((time.perf_counter() - t) * 1000)\n\
         print(' '.join(str(x) for x in out))\n"
    );
    let out = Command::new(std::env::var("FIELDSYNC_PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg("-c")
        .arg(script)
        .arg(path)
        .env("PYTHONPATH", pythonpath)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "forms: pyxform baseline unavailable: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    String::from_utf8(out.stdout)
        .ok()?
        .split_whitespace()
        .map(|x| x.parse::<f64>().ok())
        .collect()
}

fn import_bench(r: &Reporter, dir: &Path) -> BenchResult<()> {
    let questions = env_usize("FIELDSYNC_BENCH_FORM_QUESTIONS", 500);
    let runs = env_usize("FIELDSYNC_BENCH_FORM_RUNS", 20);
    let wb = generate(questions, questions);
    let path = dir.join("generated.xlsx");
    write_xlsx(&wb, &path)?;
    eprintln!(
        "forms: import of a {questions}-question XLSForm ({} KB), {runs} runs",
        std::fs::metadata(&path)?.len() / 1024
    );
    let mut ours = Samples::with_capacity(runs);
    let mut exprs = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let import = xlsform::import_path(&path).map_err(|e| format!("import failed: {e}"))?;
        let compiled = CompiledForm::compile(&import.form)?;
        ours.push(t.elapsed());
        exprs = compiled.expression_count();
    }
    eprintln!("forms: {exprs} expressions compiled per import");
    let py = pyxform_ms(&path, runs.min(10));
    let py_p50 = py.as_ref().map(|v| {
        let mut s = v.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    });
    r.emit("import_500q_p50", ours.p50(), "ms", py_p50, Goal::None);
    r.emit("import_500q_p99", ours.p99(), "ms", None, Goal::None);
    if let Some(b) = py_p50 {
        r.emit(
            "import_500q_vs_pyxform",
            ours.p50() / b,
            "ratio",
            Some(1.0),
            Goal::Text("< 1x"),
        );
    }
    Ok(())
}

/// A full response to the generated form.
fn answer_all(form: &CompiledForm, response: &mut Response) {
    let f = form.form();
    for (i, q) in f.questions.iter().enumerate() {
        if form.repeat_depth(i) > 0 {
            continue;
        }
        let a = match q.kind {
            QuestionKind::Score => Answer::Score(q.score(6)),
            QuestionKind::Integer => Answer::Integer(30),
            QuestionKind::Decimal => Answer::Decimal(2.5),
            QuestionKind::Text => Answer::Text("fine".into()),
            QuestionKind::SelectOne => Answer::Choice("yes".into()),
            _ => continue,
        };
        response.answers.insert(q.id.clone(), a);
    }
}

fn reeval_bench(r: &Reporter, dir: &Path) -> BenchResult<()> {
    let edits = env_usize("FIELDSYNC_BENCH_FORM_EDITS", 5_000);
    let wb = generate(300, 200);
    let path = dir.join("reeval.xlsx");
    write_xlsx(&wb, &path)?;
    let import = xlsform::import_path(&path).map_err(|e| format!("import failed: {e}"))?;
    let form = CompiledForm::compile(&import.form)?;
    eprintln!(
        "forms: re-evaluation in a {}-element form with {} expressions, {edits} edits",
        form.len(),
        form.expression_count()
    );
    let ctx = EvalContext::at(1_764_590_400_000);
    let mut response = Response::draft("00000000000000000000000000000001", 1, "bench", "north", 0);
    answer_all(&form, &mut response);
    let mut ev = form.evaluate(&response, &ctx);
    // Edit score and integer questions (the ones skip logic reads), cycling values.
    let targets: Vec<(String, QuestionKind)> = form
        .form()
        .questions
        .iter()
        .filter(|q| matches!(q.kind, QuestionKind::Score | QuestionKind::Integer))
        .map(|q| (q.id.clone(), q.kind))
        .collect();
    let mut inc = Samples::with_capacity(edits);
    let mut full = Samples::with_capacity(edits / 10 + 1);
    let mut changed_total = 0usize;
    for i in 0..edits {
        let (id, kind) = &targets[i % targets.len()];
        let v = (i % 10) as i64 + 1;
        let a = match kind {
            QuestionKind::Score => Answer::Score(Score::of_ten(v, None)),
            _ => Answer::Integer(v * 10),
        };
        // The score's dimension comes from the form; copy it so the answer is valid.
        let a = match a {
            Answer::Score(s) => {
                Answer::Score(form.form().question(id).map_or(s, |q| q.score(s.value)))
            }
            other => other,
        };
        let t = Instant::now();
        let changed = ev.set_answer(
            &fieldsync_core::forms::NodeRef::top(id.clone()),
            Some(a.clone()),
        );
        inc.push(t.elapsed());
        changed_total += changed.len();
        response.answers.insert(id.clone(), a);
        if i % 10 == 0 {
            let t = Instant::now();
            let fresh = form.evaluate(&response, &ctx);
            let issues = fresh.issues().len();
            full.push(t.elapsed());
            std::hint::black_box(issues);
        }
    }
    eprintln!(
        "forms: {:.1} nodes changed state per edit on average",
        changed_total as f64 / edits as f64
    );
    r.emit(
        "reeval_300q_one_answer_p50",
        inc.p50(),
        "ms",
        Some(full.p50()),
        Goal::None,
    );
    r.emit(
        "reeval_300q_one_answer_p99",
        inc.p99(),
        "ms",
        Some(full.p99()),
        Goal::AtMost(1.0),
    );
    Ok(())
}

/// Run the suite.
pub fn run() -> BenchResult<()> {
    let r = Reporter::new("forms");
    let dir = tempfile::tempdir()?;
    let only = std::env::var("FIELDSYNC_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "import" {
        import_bench(&r, dir.path())?;
    }
    if only.is_empty() || only == "reeval" {
        reeval_bench(&r, dir.path())?;
    }
    Ok(())
}
