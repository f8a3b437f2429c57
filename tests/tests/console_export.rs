//! Exports read back by real readers: the console's CSV and XLSX of the example
//! telecom survey (imported XLSForm, a repeat of complaints, two languages) opened
//! by Python's csv module and openpyxl, compared with what the merged view holds;
//! and `fieldsync export`'s code path from the log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fieldsync_core::forms::{NodeRef, xlsform};
use fieldsync_core::model::{Answer, Form, Response};
use fieldsync_core::store::Locale;
use fieldsync_server::admin;
use fieldsync_server::console::{ConsoleConfig, ExportFormat, ExportOptions, export_from_log};
use fieldsync_server::storage::console::Role;
use fieldsync_tests::harness::*;
use fieldsync_tests::http::{Http, input_value};

const PW: &str = "correct horse battery staple";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Python with openpyxl: `.tools/python` (scripts/test-all installs it) on the path.
fn python(script: &str, args: &[&Path]) -> serde_json::Value {
    let tools = root().join(".tools/python");
    let mut path = tools.display().to_string();
    if let Ok(p) = std::env::var("PYTHONPATH") {
        path = format!("{path}:{p}");
    }
    let out = Command::new(std::env::var("FIELDSYNC_PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg("-c")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed (is openpyxl installed? scripts/test-all installs it into .tools/python): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python prints JSON")
}

const READ: &str = r#"
import csv, json, sys, openpyxl
with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:
    rows = list(csv.reader(f))
with open(sys.argv[2], newline='', encoding='utf-8-sig') as f:
    labelled = list(csv.reader(f))
wb = openpyxl.load_workbook(sys.argv[3], read_only=True)
sheets = {}
for ws in wb.worksheets:
    sheets[ws.title] = [[c for c in r] for r in ws.iter_rows(values_only=True)]
print(json.dumps({"csv": rows, "labelled": labelled, "xlsx": sheets}, default=str))
"#;

fn sign_in(h: &mut Http, user: &str) {
    let form = h.get("/login");
    let token = input_value(&form.text(), "token").expect("token");
    let r = h.post(
        "/login",
        &[("username", user), ("password", PW), ("token", &token)],
    );
    assert_eq!(r.status, 303, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_read_back_by_csv_and_openpyxl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = TestServer::start_with(dir, |cfg| {
        let mut cc = ConsoleConfig::new("127.0.0.1:0".parse().expect("addr"));
        cc.tenant = TENANT.into();
        cfg.console = Some(cc);
    })
    .await;
    srv.user("li", &[("team:north", true, true)]);
    srv.user("admin", &[]);
    admin::add_console_account(
        &*srv.server.storage,
        TENANT,
        "admin",
        "admin",
        Role::Admin,
        PW,
    )
    .expect("admin");
    let li = Device::enrolled(&srv, "phone-li", "li").await;
    let sc = scope("team:north");
    let mut form: Form =
        xlsform::import_path(&root().join("examples/forms/telecom-satisfaction.xlsx"))
            .expect("example imports")
            .form;
    form.published = true;
    form.published_at = Some(1);
    let form_id = li.store.create(&sc, &form).expect("form");
    let en = Locale {
        language: Some("en".into()),
        utc_offset_minutes: 480,
    };
    let choice = |v: &str| Some(Answer::Choice(v.into()));
    let mut ids = Vec::new();
    for (i, (segment, overall, complaints)) in
        [("individual", 9, 0), ("enterprise", 3, 2), ("family", 6, 1)]
            .into_iter()
            .enumerate()
    {
        let s = &li.store;
        let id = s
            .start_response(&sc, form_id, &format!("north/county-{i}"), &en, |r| {
                r.respondent.customer_id = Some(format!("C{i}"));
            })
            .expect("start");
        for (q, v) in [
            ("segment", segment),
            ("value_tier", "high"),
            ("core_customer", "no"),
            ("region", "north"),
            ("contact_consent", "no"),
        ] {
            s.set_answer(id, &NodeRef::top(q), choice(v))
                .expect("answer");
        }
        s.set_answer(id, &NodeRef::top("overall"), choice(&overall.to_string()))
            .expect("overall");
        s.set_answer(id, &NodeRef::top("network_coverage"), choice("2"))
            .expect("network");
        if overall <= 4 {
            s.set_answer(
                id,
                &NodeRef::top("why_overall"),
                Some(Answer::Text("Dropped calls".into())),
            )
            .expect("why");
        }
        s.set_answer(
            id,
            &NodeRef::top("complaint_count"),
            Some(Answer::Integer(complaints)),
        )
        .expect("count");
        for k in 0..complaints {
            let p = s
                .add_repeat_instance(id, "complaints", &[])
                .expect("instance");
            let cat = if k == 0 { "network" } else { "billing" };
            s.set_answer(id, &NodeRef::at("complaint_category", &p), choice(cat))
                .expect("category");
        }
        assert!(s.complete_response(id, &en).expect("complete"));
        ids.push(id);
    }
    li.sync().await.expect("sync");
    assert!(srv.server.wait_materialized(Duration::from_secs(20)).await);

    let addr = srv.server.console.as_ref().expect("console").local_addr;
    let out = tempfile::tempdir().expect("out");
    let (csv_path, labelled_path, xlsx_path) = (
        out.path().join("r.csv"),
        out.path().join("labels.csv"),
        out.path().join("r.xlsx"),
    );
    tokio::task::block_in_place(|| {
        let mut h = Http::new(addr);
        sign_in(&mut h, "admin");
        for (q, path) in [
            ("form=telecom-sat", &csv_path),
            ("form=telecom-sat&labels=1&lang=zh", &labelled_path),
        ] {
            let r = h.get(&format!("/export/responses.csv?{q}"));
            assert_eq!(r.status, 200, "{}", r.text());
            assert!(
                r.header("content-type")
                    .is_some_and(|c| c.starts_with("text/csv"))
            );
            std::fs::write(path, &r.body).expect("write csv");
        }
        let r = h.get("/export/responses.xlsx?form=telecom-sat");
        assert_eq!(r.status, 200);
        std::fs::write(&xlsx_path, &r.body).expect("write xlsx");
        let api = h.get("/api/v1/responses?limit=2");
        let v: serde_json::Value = serde_json::from_slice(&api.body).expect("json");
        assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
        assert!(v["next"].is_string(), "a next page");
    });
    let got = python(READ, &[&csv_path, &labelled_path, &xlsx_path]);
    let csv = got["csv"].as_array().expect("csv rows");
    let header: Vec<&str> = csv[0]
        .as_array()
        .expect("header")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(
        csv.len(),
        1 + ids.len(),
        "a header and one row per response"
    );
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    // Each row equals the merged view's response.
    let merged = srv.server.merged.as_ref().expect("merged");
    for row in &csv[1..] {
        let row: Vec<&str> = row
            .as_array()
            .expect("row")
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        let id: fieldsync_core::DocId = row[col("_id")].parse().expect("id");
        let r: Response = merged.get(id).expect("in the merged view");
        assert_eq!(row[col("_status")], r.status.as_str());
        assert_eq!(row[col("_region")], r.region);
        assert_eq!(row[col("_segment")], r.respondent.segment.kind.as_str());
        assert_eq!(
            row[col("segment")],
            r.respondent.segment.kind.as_str(),
            "the answer column"
        );
        assert_eq!(
            row[col("_overall")],
            format!("{:.2}", r.overall().expect("overall"))
        );
        assert_eq!(row[col("_band")], r.band().expect("band").as_str());
        let Some(Answer::Score(s)) = r.answers.get("overall") else {
            panic!("overall is a score");
        };
        assert_eq!(
            row[col("overall")].parse::<f64>().ok(),
            Some(s.value as f64)
        );
        // Calculations the device wrote on completion are exported too.
        let Some(Answer::Text(b)) = r.answers.get("overall_band") else {
            panic!("overall_band written at completion");
        };
        assert_eq!(row[col("overall_band")], b);
    }
    // Labels mode in Chinese: headers and choices in the form's Chinese texts.
    let lab = got["labelled"].as_array().expect("labelled");
    let lh: Vec<&str> = lab[0]
        .as_array()
        .expect("h")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(
        lh.contains(&"客户类型"),
        "question labels as headers: {lh:?}"
    );
    // The fixed columns' headers in the same language (names mode keeps `_id` ...).
    assert_eq!(
        &lh[..2],
        ["问卷 ID", "表单"],
        "fixed headers in Chinese: {lh:?}"
    );
    assert!(lh.contains(&"状态") && !lh.contains(&"_status"), "{lh:?}");
    let seg = lh
        .iter()
        .position(|h| *h == "客户类型")
        .expect("segment column");
    let segments: Vec<&str> = lab[1..].iter().filter_map(|r| r[seg].as_str()).collect();
    assert!(segments.contains(&"政企客户"), "{segments:?}");
    // XLSX: the responses sheet, and the complaints repeat as its own sheet.
    let sheets = got["xlsx"].as_object().expect("sheets");
    let main = sheets["responses"].as_array().expect("responses sheet");
    assert_eq!(main.len(), 1 + ids.len());
    let comp = sheets["complaints"].as_array().expect("complaints sheet");
    assert_eq!(comp.len(), 1 + 3, "2 + 1 complaint instances");
    let ch: Vec<&str> = comp[0]
        .as_array()
        .expect("h")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(&ch[..3], ["_id", "_instance", "_instance_id"]);
    let cat = ch
        .iter()
        .position(|h| *h == "complaint_category")
        .expect("category");
    let mut cats: Vec<&str> = comp[1..].iter().filter_map(|r| r[cat].as_str()).collect();
    cats.sort();
    assert_eq!(cats, ["billing", "network", "network"]);
    // Numbers are numbers in the workbook.
    let oc = main[0]
        .as_array()
        .expect("h")
        .iter()
        .position(|h| h.as_str() == Some("overall"))
        .expect("overall");
    assert!(
        main[1..].iter().all(|r| r[oc].is_number()),
        "overall cells are numeric"
    );

    // `fieldsync export` from the log gives the same rows as the console.
    let mut from_log = Vec::new();
    let n = export_from_log(
        &*srv.server.storage,
        TENANT,
        &ExportOptions {
            form_key: "telecom-sat".into(),
            ..Default::default()
        },
        ExportFormat::Csv,
        &mut from_log,
    )
    .expect("export from the log");
    assert_eq!(n, ids.len());
    let console_csv = std::fs::read(&csv_path).expect("csv");
    let lines = |b: &[u8]| {
        let mut v: Vec<String> = String::from_utf8_lossy(b)
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(lines(&from_log), lines(&console_csv));
}
