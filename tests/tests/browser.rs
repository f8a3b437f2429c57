//! The back-office console in a real browser: Debian's headless Chromium, driven by
//! `tests/browser/console.mjs` (playwright-core), against a server this test starts.
//! It signs in through the form, reads the overview figures (compared here with
//! figures worked out by hand from the seeded scores), approves a response through
//! the review form, and the collector's device then syncs and sees the review. Then
//! the main pages in Chinese (from the browser's `Accept-Language`) and in English and
//! Chinese again (from the switcher): each page's title, the navigation, a chart title,
//! a table header and a locale-formatted date are compared with the catalogues.
//!
//! Screenshots (`overview.png`, `overview-tablet.png`, `response.png`, and
//! `<page>.<lang>.png` for each page of the language tour) are kept in
//! `target/test-artifacts/console/`. Chromium, Node.js and `tests/browser/node_modules`
//! come from `scripts/test-all` (`ensure_browser` in `scripts/lib.sh`); without them
//! this test fails rather than skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fieldsync_core::model::{
    Answer, Dimension, QuestionKind, Response, ResponseStatus, SegmentKind,
};
use fieldsync_core::sample::{self, Rng};
use fieldsync_i18n::labels::{Domain, label};
use fieldsync_i18n::{Lang, format as lf, tr};
use fieldsync_server::admin;
use fieldsync_server::console::ConsoleConfig;
use fieldsync_server::storage::console::Role;
use fieldsync_tests::harness::*;

const PW: &str = "correct horse battery staple";
const CHROMIUM: &str = "/usr/bin/chromium";
const COMMENT: &str = "Checked in the browser";

/// The seeded responses: segment, overall score, and the score given to every
/// service, product, price and care question (network questions all get 1).
const SEEDED: [(SegmentKind, i64, i64); 6] = [
    (SegmentKind::Individual, 9, 7),
    (SegmentKind::Individual, 6, 7),
    (SegmentKind::Individual, 10, 8),
    (SegmentKind::Family, 3, 5),
    (SegmentKind::Family, 8, 2),
    (SegmentKind::Enterprise, 4, 10),
];

/// One row of a band table as the page prints it: group, n, high, middle, low, mean.
type Row = [&'static str; 6];

// The figures, by hand from SEEDED (bands: high 8–10, middle 5–7, low 1–4; shares to
// one decimal, means to two, as the page prints them).
//
// Overall scores 9 6 10 3 8 4: n 6, high {9,10,8} 3/6, middle {6} 1/6, low {3,4} 2/6,
// mean 40/6 = 6.666…
const OVERALL: [&str; 5] = ["6", "50.0%", "16.7%", "33.3%", "6.67"];

// Individual 9 6 10: high 2/3, middle 1/3, mean 25/3 = 8.333…
// Family 3 8: high 1/2, low 1/2, mean 5.5. Enterprise 4: low 1/1, mean 4.
const BY_SEGMENT: [Row; 3] = [
    ["Individual", "3", "66.7%", "33.3%", "0.0%", "8.33"],
    ["Family", "2", "50.0%", "0.0%", "50.0%", "5.50"],
    [
        "Government / enterprise",
        "1",
        "0.0%",
        "0.0%",
        "100.0%",
        "4.00",
    ],
];

// Each score answer counts once. Per response: service 3 questions, product 2, price 3,
// network 3, care 2, overall 1. The non-network scores 7 7 8 5 2 10: high {8,10} 2/6,
// middle {7,7,5} 3/6, low {2} 1/6, mean 39/6 = 6.5; network all 1.
const BY_DIMENSION: [Row; 6] = [
    ["Service", "18", "33.3%", "50.0%", "16.7%", "6.50"],
    ["Product", "12", "33.3%", "50.0%", "16.7%", "6.50"],
    ["Price", "18", "33.3%", "50.0%", "16.7%", "6.50"],
    ["Network", "18", "0.0%", "0.0%", "100.0%", "1.00"],
    ["Customer care", "12", "33.3%", "50.0%", "16.7%", "6.50"],
    ["Overall", "6", "50.0%", "16.7%", "33.3%", "6.67"],
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Node.js, Chromium and playwright-core are installed by `scripts/test-all`; say so
/// instead of skipping.
fn require_browser_tools(root: &Path) {
    let mut missing = Vec::new();
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => missing.push("node (Node.js >= 20) on PATH".to_string()),
    }
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!("{CHROMIUM} (Debian package chromium)"));
    }
    let pw = root.join("tests/browser/node_modules/playwright-core/package.json");
    if !pw.exists() {
        missing.push(format!(
            "{} (npm ci --prefix tests/browser)",
            pw.parent().expect("a folder").display()
        ));
    }
    assert!(
        missing.is_empty(),
        "the browser test needs {}: run scripts/test-all, which installs them \
         (ensure_browser in scripts/lib.sh)",
        missing.join(", ")
    );
}

/// A response to `form` with the given segment and scores (the rest of it sampled).
fn seeded_response(
    rng: &mut Rng,
    form_id: fieldsync_core::DocId,
    form: &fieldsync_core::model::Form,
    (segment, overall, others): (SegmentKind, i64, i64),
    at: i64,
) -> Response {
    let region = sample::region(rng);
    let mut r = sample::telecom_response(rng, form_id, form, &region, "li", at);
    r.respondent.segment.kind = segment;
    r.status = ResponseStatus::Complete;
    for q in form
        .questions
        .iter()
        .filter(|q| q.kind == QuestionKind::Score)
    {
        let v = match q.dimension {
            Some(Dimension::Overall) => overall,
            Some(Dimension::Network) => 1,
            _ => others,
        };
        r.answers.insert(q.id.clone(), Answer::Score(q.score(v)));
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let root = workspace_root();
    require_browser_tools(&root);
    let artifacts = root.join("target/test-artifacts/console");
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");
    for f in ["overview.png", "overview-tablet.png", "response.png"] {
        let _ = std::fs::remove_file(artifacts.join(f));
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let srv = TestServer::start_with(dir, |cfg| {
        let mut cc = ConsoleConfig::new("127.0.0.1:0".parse().expect("addr"));
        cc.tenant = TENANT.into();
        cfg.console = Some(cc);
        cfg.public_host = Some("127.0.0.1".into());
    })
    .await;
    srv.user("li", &[("team:north", true, true)]);
    srv.user("rev", &[("team:north", true, true)]);
    admin::add_console_account(
        &*srv.server.storage,
        TENANT,
        "rev",
        "rev",
        Role::Reviewer,
        PW,
    )
    .expect("console reviewer");

    let li = Device::enrolled(&srv, "phone-li", "li").await;
    let sc = scope("team:north");
    let form = sample::telecom_form(1);
    let form_id = li.store.create(&sc, &form).expect("form");
    let mut rng = Rng::new(11);
    let mut ids = Vec::new();
    for (i, seed) in SEEDED.into_iter().enumerate() {
        let at = 1_764_000_000_000 + i as i64 * 60_000;
        let r = seeded_response(&mut rng, form_id, &form, seed, at);
        ids.push(li.store.create(&sc, &r).expect("response"));
    }
    li.sync().await.expect("device syncs");
    assert!(
        srv.server.wait_materialized(Duration::from_secs(20)).await,
        "the merged view caught up"
    );
    let approve = ids[3];

    let url = format!(
        "http://{}",
        srv.server
            .console
            .as_ref()
            .expect("console runs")
            .local_addr
    );
    println!("screenshots: {}", artifacts.display());
    let out = tokio::task::block_in_place(|| {
        Command::new("node")
            .arg(root.join("tests/browser/console.mjs"))
            .args(["--url", &url, "--user", "rev", "--response"])
            .arg(approve.to_string())
            .arg("--artifacts")
            .arg(&artifacts)
            .env("CONSOLE_PASSWORD", PW)
            .env("REVIEW_COMMENT", COMMENT)
            .env("CHROMIUM", CHROMIUM)
            .current_dir(&root)
            .output()
            .expect("node runs")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "console.mjs failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    let line = stdout
        .lines()
        .rfind(|l| l.starts_with('{'))
        .expect("console.mjs prints a JSON line");
    println!("{line}");
    let got = json::parse(line).unwrap_or_else(|e| panic!("{e}: {line}"));

    let overall = got.get("overall");
    let overall: Vec<&str> = ["n", "high", "middle", "low", "mean"]
        .iter()
        .map(|k| overall.get(k).str())
        .collect();
    assert_eq!(
        overall, OVERALL,
        "overall figures (n, high, middle, low, mean)"
    );
    assert_eq!(rows(&got, "by_segment"), BY_SEGMENT, "the by-segment table");
    assert_eq!(
        rows(&got, "by_dimension"),
        BY_DIMENSION,
        "the by-dimension table"
    );
    assert_eq!(got.get("status_before").str(), "complete");
    assert_eq!(got.get("status").str(), "approved");
    // The review handler waits for the merged view before redirecting: the first
    // page after the review already shows it.
    assert_eq!(
        got.get("status_after_redirect").str(),
        "approved",
        "the page the review redirected to (reloads: {:?})",
        got.get("reloads")
    );
    assert_eq!(got.get("message").str(), "reviewed");
    assert_eq!(
        got.get("message_text").str(),
        tr(Lang::En, "console-message-reviewed")
    );

    // The language tour: Accept-Language first, then the switcher (kept in a cookie).
    let i18n = got.get("i18n");
    assert_eq!(i18n.get("by_accept_language").str(), "zh-CN");
    const PAGES: [(&str, &str); 6] = [
        ("overview", "console-overview-title"),
        ("responses", "console-responses-title"),
        ("accounts", "console-accounts-title"),
        ("commitments", "console-commitments-title"),
        ("cases", "console-cases-title"),
        ("warnings", "console-warnings-title"),
    ];
    for (run, lang) in [
        ("zh-CN", Lang::ZhCn),
        ("switched_en", Lang::En),
        ("switched_zh-CN", Lang::ZhCn),
    ] {
        let v = i18n.get(run);
        assert_eq!(v.get("html_lang").str(), lang.tag(), "{run}");
        for (page, key) in PAGES {
            let p = v.get("pages").get(page);
            assert_eq!(
                p.get("title").str(),
                tr(lang, key),
                "{run}: title of {page}"
            );
            assert_eq!(
                p.get("nav").str(),
                tr(lang, "console-nav-responses"),
                "{run}: navigation on {page}"
            );
            let f = format!("{page}.{}.png", lang.tag());
            let png = std::fs::read(artifacts.join(&f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{f} is a PNG");
        }
        assert_eq!(
            v.get("chart_title").str(),
            tr(lang, "console-chart-by-dimension"),
            "{run}: chart title"
        );
        let header: Vec<&str> = v
            .get("dimension_header")
            .array()
            .iter()
            .map(json::Value::str)
            .collect();
        let want: Vec<String> = ["group", "n", "high", "middle", "low", "mean"]
            .iter()
            .map(|k| tr(lang, &format!("console-col-{k}")))
            .collect();
        assert_eq!(header, want, "{run}: table header");
        assert_eq!(v.get("overview_mean").str(), "6.67", "{run}: the mean");
        // The newest response's start, formatted for the language by the page, is the
        // seeded time formatted by the catalogue's conventions.
        let newest = v.get("newest");
        let id = newest
            .get("href")
            .str()
            .trim_start_matches("/responses/")
            .to_string();
        let i = ids
            .iter()
            .position(|x| x.to_string() == id)
            .unwrap_or_else(|| panic!("{run}: {id} is a seeded response"));
        assert_eq!(i, SEEDED.len() - 1, "newest first");
        let at = 1_764_000_000_000 + i as i64 * 60_000;
        assert_eq!(newest.get("started").str(), lf::datetime(lang, at), "{run}");
        assert_eq!(
            newest.get("status").str(),
            label(lang, Domain::Status, "complete"),
            "{run}"
        );
    }
    assert!(
        i18n.get("zh-CN")
            .get("newest")
            .get("started")
            .str()
            .contains('年'),
        "a Chinese date"
    );
    for f in ["overview.png", "overview-tablet.png", "response.png"] {
        let png = std::fs::read(artifacts.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{f} is a PNG");
    }

    // The review went into the log: the collector's device sees it.
    li.sync().await.expect("device syncs after the review");
    let r: Response = li.store.get(approve).expect("response on the device");
    assert_eq!(r.status, ResponseStatus::Approved);
    let entry = r.review.last().expect("a review entry");
    assert_eq!(entry.by, "rev");
    assert_eq!(entry.decision, Some(ResponseStatus::Approved));
    assert_eq!(entry.comment.as_deref(), Some(COMMENT));
    for other in ids.iter().filter(|id| **id != approve) {
        let r: Response = li.store.get(*other).expect("response on the device");
        assert_eq!(r.status, ResponseStatus::Complete, "only one was reviewed");
    }
    srv.stop().await;
}

/// The rows of table `key` as printed: group, n, high, middle, low, mean.
fn rows(got: &json::Value, key: &str) -> Vec<[String; 6]> {
    got.get(key)
        .array()
        .iter()
        .map(|r| {
            ["group", "n", "high", "middle", "low", "mean"].map(|k| r.get(k).str().to_string())
        })
        .collect()
}

/// Just enough JSON to read console.mjs's line (the tests crate has no JSON library).
mod json {
    use std::collections::BTreeMap;

    /// A JSON value.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Null,
        Bool(bool),
        Number(f64),
        String(String),
        Array(Vec<Value>),
        Object(BTreeMap<String, Value>),
    }

    const NULL: Value = Value::Null;

    impl Value {
        /// A member of an object (`null` when absent or not an object).
        pub fn get(&self, key: &str) -> &Value {
            match self {
                Value::Object(m) => m.get(key).unwrap_or(&NULL),
                _ => &NULL,
            }
        }
        /// A string's text; panics on anything else (a test failure).
        pub fn str(&self) -> &str {
            match self {
                Value::String(s) => s,
                other => panic!("expected a string, got {other:?}"),
            }
        }
        /// An array's items; panics on anything else.
        pub fn array(&self) -> &[Value] {
            match self {
                Value::Array(a) => a,
                other => panic!("expected an array, got {other:?}"),
            }
        }
    }

    /// Parse one JSON text.
    pub fn parse(s: &str) -> Result<Value, String> {
        let mut p = Parser {
            b: s.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.b.len() {
            return Err(format!("trailing bytes at {}", p.i));
        }
        Ok(v)
    }

    struct Parser<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> Result<(), String> {
            self.ws();
            if self.b.get(self.i) == Some(&c) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("expected '{}' at {}", c as char, self.i))
            }
        }
        fn lit(&mut self, word: &str, v: Value) -> Result<Value, String> {
            if self.b[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                Ok(v)
            } else {
                Err(format!("bad literal at {}", self.i))
            }
        }
        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.b.get(self.i) {
                Some(b'{') => {
                    self.i += 1;
                    let mut m = BTreeMap::new();
                    self.ws();
                    if self.b.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Value::Object(m));
                    }
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.eat(b':')?;
                        m.insert(k, self.value()?);
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(Value::Object(m));
                            }
                            _ => return Err(format!("bad object at {}", self.i)),
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut a = Vec::new();
                    self.ws();
                    if self.b.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Value::Array(a));
                    }
                    loop {
                        a.push(self.value()?);
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(Value::Array(a));
                            }
                            _ => return Err(format!("bad array at {}", self.i)),
                        }
                    }
                }
                Some(b'"') => Ok(Value::String(self.string()?)),
                Some(b't') => self.lit("true", Value::Bool(true)),
                Some(b'f') => self.lit("false", Value::Bool(false)),
                Some(b'n') => self.lit("null", Value::Null),
                Some(_) => {
                    let start = self.i;
                    while self
                        .b
                        .get(self.i)
                        .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
                    {
                        self.i += 1;
                    }
                    std::str::from_utf8(&self.b[start..self.i])
                        .ok()
                        .and_then(|t| t.parse().ok())
                        .map(Value::Number)
                        .ok_or_else(|| format!("bad number at {start}"))
                }
                None => Err("unexpected end".into()),
            }
        }
        fn string(&mut self) -> Result<String, String> {
            if self.b.get(self.i) != Some(&b'"') {
                return Err(format!("expected a string at {}", self.i));
            }
            self.i += 1;
            let mut out: Vec<u16> = Vec::new();
            let mut bytes: Vec<u8> = Vec::new();
            loop {
                let c = *self.b.get(self.i).ok_or("unterminated string")?;
                self.i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let e = *self.b.get(self.i).ok_or("unterminated escape")?;
                        self.i += 1;
                        let ch = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hex = self
                                    .b
                                    .get(self.i..self.i + 4)
                                    .and_then(|h| std::str::from_utf8(h).ok())
                                    .and_then(|h| u16::from_str_radix(h, 16).ok())
                                    .ok_or("bad \\u escape")?;
                                self.i += 4;
                                flush(&mut bytes, &mut out);
                                out.push(hex);
                                continue;
                            }
                            _ => return Err(format!("bad escape at {}", self.i)),
                        };
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    c => bytes.push(c),
                }
            }
            flush(&mut bytes, &mut out);
            Ok(String::from_utf16_lossy(&out))
        }
    }

    /// Move UTF-8 bytes read so far into the UTF-16 buffer (where `\u` escapes and
    /// surrogate pairs land).
    fn flush(bytes: &mut Vec<u8>, out: &mut Vec<u16>) {
        out.extend(String::from_utf8_lossy(bytes).encode_utf16());
        bytes.clear();
    }

    #[test]
    fn parses_what_console_mjs_prints() {
        let v = parse(r#"{"a":[{"n":"6","m":"4.00"}],"s":"caf\u00e9 \"x\" – ok","t":true,"z":null,"k":-1.5e2}"#)
            .expect("parses");
        assert_eq!(v.get("a").array()[0].get("m").str(), "4.00");
        assert_eq!(v.get("s").str(), "café \"x\" – ok");
        assert_eq!(v.get("k"), &Value::Number(-150.0));
        assert!(parse("{\"a\":1} x").is_err());
        assert!(parse("[1,").is_err());
    }
}
