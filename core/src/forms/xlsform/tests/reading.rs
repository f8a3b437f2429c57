//! Reading: the CSV layout, JSON workbooks, `.xlsx` archives assembled here (typed
//! cells, layout rules, zip bombs), the size limits, and damaged input of every format.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

// An .xlsx written here: a stored (uncompressed) zip with the parts calamine needs.

#[derive(Clone)]
enum X {
    S(&'static str),
    N(f64),
    B(bool),
    /// A number with a date/time style: 1 date, 2 time, 3 duration.
    D(f64, u8),
    E(&'static str),
    /// A cell at an explicit reference (row 1-based, column 0-based), text.
    At(u32, u32, &'static str),
    /// A cell with a literal `r` attribute (possibly not a valid reference), text.
    Ref(&'static str, &'static str),
}

fn col_name(mut c: u32) -> String {
    let mut s = String::new();
    c += 1;
    while c > 0 {
        let r = (c - 1) % 26;
        s.insert(0, char::from(b'A' + u8::try_from(r).unwrap()));
        c = (c - 1) / 26;
    }
    s
}

fn sheet_xml(rows: &[Vec<X>]) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    let esc = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;");
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r).unwrap() + 1;
        s.push_str(&format!(r#"<row r="{r}">"#));
        for (c, cell) in row.iter().enumerate() {
            let at = format!("{}{r}", col_name(u32::try_from(c).unwrap()));
            match cell {
                X::S(t) => s.push_str(&format!(
                    r#"<c r="{at}" t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>"#,
                    esc(t)
                )),
                X::N(v) => s.push_str(&format!(r#"<c r="{at}"><v>{v:?}</v></c>"#)),
                X::B(b) => s.push_str(&format!(r#"<c r="{at}" t="b"><v>{}</v></c>"#, u8::from(*b))),
                X::D(v, style) => {
                    s.push_str(&format!(r#"<c r="{at}" s="{style}"><v>{v:?}</v></c>"#));
                }
                X::E(e) => s.push_str(&format!(r#"<c r="{at}" t="e"><v>{e}</v></c>"#)),
                X::At(rr, cc, t) => s.push_str(&format!(
                    r#"<c r="{}{rr}" t="inlineStr"><is><t>{}</t></is></c>"#,
                    col_name(*cc),
                    esc(t)
                )),
                X::Ref(at, t) => s.push_str(&format!(
                    r#"<c r="{at}" t="inlineStr"><is><t>{}</t></is></c>"#,
                    esc(t)
                )),
            }
        }
        s.push_str("</row>");
    }
    s.push_str("</sheetData></worksheet>");
    s
}

/// A zip archive of stored entries; `declared` overrides an entry's declared
/// uncompressed size (to build lying archives).
fn zip(entries: &[(&str, Vec<u8>)], declared: &BTreeMap<&str, u32>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc.sum();
        let size = u32::try_from(data.len()).unwrap();
        let usize_ = declared.get(name).copied().unwrap_or(size);
        let offset = u32::try_from(out.len()).unwrap();
        let name_len = u16::try_from(name.len()).unwrap();
        let local = [
            &b"PK\x03\x04"[..],
            &20u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &crc.to_le_bytes(),
            &size.to_le_bytes(),
            &usize_.to_le_bytes(),
            &name_len.to_le_bytes(),
            &0u16.to_le_bytes(),
        ]
        .concat();
        out.extend_from_slice(&local);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(
            &[
                &b"PK\x01\x02"[..],
                &20u16.to_le_bytes(),
                &20u16.to_le_bytes(),
                &0u16.to_le_bytes(),
                &0u16.to_le_bytes(),
                &0u16.to_le_bytes(),
                &0u16.to_le_bytes(),
                &crc.to_le_bytes(),
                &size.to_le_bytes(),
                &usize_.to_le_bytes(),
                &name_len.to_le_bytes(),
                &0u16.to_le_bytes(),
                &0u16.to_le_bytes(),
                &0u16.to_le_bytes(),
                &0u16.to_le_bytes(),
                &0u32.to_le_bytes(),
                &offset.to_le_bytes(),
            ]
            .concat(),
        );
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).unwrap();
    let n = u16::try_from(entries.len()).unwrap();
    let cd_len = u32::try_from(central.len()).unwrap();
    out.extend_from_slice(&central);
    out.extend_from_slice(
        &[
            &b"PK\x05\x06"[..],
            &0u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &n.to_le_bytes(),
            &n.to_le_bytes(),
            &cd_len.to_le_bytes(),
            &cd_offset.to_le_bytes(),
            &0u16.to_le_bytes(),
        ]
        .concat(),
    );
    out
}

fn xlsx_with(sheets: &[(&str, Vec<Vec<X>>)], declared: &BTreeMap<&str, u32>) -> Vec<u8> {
    let mut types = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>"#,
    );
    let mut wb = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#,
    );
    let mut rels = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>"#,
    );
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, (name, rows)) in sheets.iter().enumerate() {
        let n = i + 1;
        types.push_str(&format!(r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#));
        wb.push_str(&format!(
            r#"<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>"#
        ));
        rels.push_str(&format!(r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#));
        parts.push((
            format!("xl/worksheets/sheet{n}.xml"),
            sheet_xml(rows).into_bytes(),
        ));
    }
    types.push_str("</Types>");
    wb.push_str("</sheets></workbook>");
    rels.push_str("</Relationships>");
    let styles = r#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="20" applyNumberFormat="1"/><xf numFmtId="46" applyNumberFormat="1"/></cellXfs></styleSheet>"#;
    let root_rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        ("[Content_Types].xml".into(), types.into_bytes()),
        ("_rels/.rels".into(), root_rels.as_bytes().to_vec()),
        ("xl/workbook.xml".into(), wb.into_bytes()),
        ("xl/_rels/workbook.xml.rels".into(), rels.into_bytes()),
        ("xl/styles.xml".into(), styles.as_bytes().to_vec()),
    ];
    entries.extend(parts);
    let refs: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.clone()))
        .collect();
    zip(&refs, declared)
}

fn xlsx(sheets: &[(&str, Vec<Vec<X>>)]) -> Vec<u8> {
    xlsx_with(sheets, &BTreeMap::new())
}

fn row(cells: &[&'static str]) -> Vec<X> {
    cells.iter().map(|c| X::S(c)).collect()
}

// -------------------------------------------------------------------------------------
#[test]
fn csv_layout_quirks() {
    // BOM, the sheet name on the header row or above it, blank lines unnumbered.
    let f = form(
        "\u{feff}survey\n,type,name,label\n\n,text,a,A\n,,,\n,integer,b,B\nchoices,list_name,name,label\n",
    );
    assert_eq!(f.questions.len(), 2);
    let errs = errors("survey,type,name,label\n,text,a,A\n\n,,,\n,intger,b,B\n");
    assert_eq!(
        errs[0].row,
        Some(3),
        "rows without content are not numbered (as pyxform)"
    );
    error_at(
        "survey,type,name,label\n,text,a,A\nSurvey,type,name\n,text,b\n",
        "duplicate_sheet",
        "Survey",
        None,
        None,
    );
    error_at(
        "survey,type,name,name\n,text,a,b\n",
        "duplicate_column",
        "survey",
        Some(1),
        Some("name"),
    );
    let e = csv("just text").expect_err("not a form");
    assert_eq!(e.errors[0].code, "unreadable");
    let e = import_bytes(b"survey,type,name,label\n,text,a,\xff\xfe\n", Format::Csv)
        .expect_err("not UTF-8");
    assert_eq!(e.errors[0].code, "unreadable");
}

#[test]
fn json_workbooks() {
    let doc = json!({
        "survey": [
            {"type": "integer", "name": "n", "label": "N", "default": 3.0},
            {"type": "select_one yes_no", "name": "q", "label": "Q", "required": true},
        ],
        "choices": [
            {"list_name": "yes_no", "name": "yes", "label": "Yes"},
            {"list_name": "yes_no", "name": "no", "label": "No"},
        ],
        "settings": {"form_id": "from-json", "version": 7},
    });
    let i = import_bytes(doc.to_string().as_bytes(), Format::Json).expect("import");
    assert_eq!(i.form.form_key, "from-json");
    assert_eq!(
        i.form.settings.get("version").map(String::as_str),
        Some("7")
    );
    assert_eq!(
        i.form.question("n").and_then(|q| q.default.as_deref()),
        Some("3")
    );
    assert!(
        i.form.question("q").is_some_and(|q| q.required),
        "TRUE is a yes"
    );
    let bad = json!({"survey": [{"type": "text", "name": "a", "label": ["not", "text"]}]});
    let e = import_bytes(bad.to_string().as_bytes(), Format::Json).expect_err("a list cell");
    assert_eq!(
        (
            e.errors[0].code,
            e.errors[0].row,
            e.errors[0].column.as_deref()
        ),
        ("invalid_cell", Some(2), Some("label"))
    );
    for bad in ["[1, 2]", "{not json", "\"survey\""] {
        let e = import_bytes(bad.as_bytes(), Format::Json).expect_err(bad);
        assert_eq!(e.errors[0].code, "unreadable", "{bad}");
    }
}

#[test]
fn xlsx_cells_render_as_pyxform() {
    let bytes = xlsx(&[
        (
            "survey",
            vec![
                row(&["type", "name", "label", "default", "hint"]),
                vec![X::S("integer"), X::S("a"), X::S("A"), X::N(7.0), X::N(2.5)],
                vec![
                    X::S("date"),
                    X::S("b"),
                    X::N(12.0),
                    X::D(45306.0, 1),
                    X::B(true),
                ],
                vec![
                    X::S("time"),
                    X::S("c"),
                    X::S("C"),
                    X::D(0.5, 2),
                    X::E("#N/A"),
                ],
                vec![
                    X::S("dateTime"),
                    X::S("d"),
                    X::S("D"),
                    X::D(45306.75, 1),
                    X::D(1.5, 3),
                ],
                vec![
                    X::S("decimal"),
                    X::S("e"),
                    X::S("  E  "),
                    X::N(0.00001),
                    X::N(-1e20),
                ],
            ],
        ),
        ("settings", vec![row(&["form_id"]), row(&["xl"])]),
    ]);
    let f = import_bytes(&bytes, Format::Xlsx).expect("import").form;
    let q = |n: &str| f.question(n).expect(n);
    assert_eq!(q("a").default.as_deref(), Some("7"), "1.0 renders as 1");
    assert_eq!(q("a").hint.as_deref(), Some("2.5"));
    assert_eq!(q("b").label, "12");
    assert_eq!(q("b").default.as_deref(), Some("2024-01-15 00:00:00"));
    assert_eq!(q("b").hint.as_deref(), Some("TRUE"));
    assert_eq!(q("c").default.as_deref(), Some("12:00:00"));
    assert_eq!(q("c").hint.as_deref(), Some("#N/A"));
    assert_eq!(q("d").default.as_deref(), Some("2024-01-15 18:00:00"));
    assert_eq!(q("d").hint.as_deref(), Some("1 day, 12:00:00"));
    assert_eq!(q("e").label, "E", "trimmed");
    assert_eq!(q("e").default.as_deref(), Some("1e-05"));
    assert_eq!(q("e").hint.as_deref(), Some("-100000000000000000000"));
    assert_eq!(f.form_key, "xl");
}

#[test]
fn xlsx_layout_rules() {
    // A lone sheet of any name is the survey; empty header columns are ignored; after
    // 60 empty rows the rest is ignored (with a warning), as pyxform.
    let mut rows = vec![
        vec![
            X::S("type"),
            X::S("name"),
            X::S("label"),
            X::S(""),
            X::S("x"),
        ],
        vec![
            X::S("text"),
            X::S("a"),
            X::S("A"),
            X::S("ignored"),
            X::S("kept"),
        ],
    ];
    rows.extend((0..61).map(|_| Vec::new()));
    rows.push(row(&["text", "late", "Late"]));
    let i = import_bytes(&xlsx(&[("Sheet1", rows)]), Format::Xlsx).expect("import");
    assert_eq!(i.form.questions.len(), 1);
    assert_eq!(
        i.form.questions[0].extra.get("x").map(String::as_str),
        Some("kept")
    );
    assert!(i.warnings.iter().any(|w| w.code == "ignored_rows"));
    // Duplicate headers.
    let bytes = xlsx(&[(
        "survey",
        vec![row(&["type", "name", "name"]), row(&["text", "a", "b"])],
    )]);
    let e = import_bytes(&bytes, Format::Xlsx).expect_err("duplicate header");
    assert_eq!(
        (e.errors[0].code, e.errors[0].column.as_deref()),
        ("duplicate_column", Some("name"))
    );
}

#[test]
fn limits() {
    let big = vec![b'a'; MAX_FILE_BYTES + 1];
    for format in [Format::Csv, Format::Json, Format::Xlsx] {
        let e = import_bytes(&big, format).expect_err("too large");
        assert_eq!(e.errors[0].code, "too_large");
    }
    let mut src = String::from("survey,type,name,label\n");
    for i in 0..=MAX_ROWS {
        src.push_str(&format!(",text,q{i},Q\n"));
    }
    let e = csv(&src).expect_err("too many rows");
    assert!(e.errors.iter().any(|e| e.code == "too_many_rows"), "{e}");
    let wide = format!(
        "survey,type,name,label{}\n,text,a,A\n",
        ",c".repeat(MAX_COLUMNS)
    );
    let e = csv(&wide).expect_err("too many columns");
    assert_eq!(e.errors[0].code, "too_many_columns", "{e}");
    let cell = "x".repeat(MAX_CELL_BYTES + 1);
    error_at(
        &format!("survey,type,name,label\n,text,a,{cell}\n"),
        "cell_too_large",
        "survey",
        Some(2),
        Some("label"),
    );
}

#[test]
fn xlsx_long_cells_name_their_column() {
    let long: &'static str = Box::leak("x".repeat(MAX_CELL_BYTES + 1).into_boxed_str());
    let bytes = xlsx(&[(
        "survey",
        vec![row(&["type", "name", "label"]), row(&["text", "a", long])],
    )]);
    let e = import_bytes(&bytes, Format::Xlsx).expect_err("long cell");
    let issue = e
        .errors
        .iter()
        .find(|i| i.code == "cell_too_large")
        .expect("cell_too_large");
    assert_eq!((issue.row, issue.column.as_deref()), (Some(2), Some("C")));
}

#[test]
fn xlsx_zip_bombs_and_far_cells_are_refused() {
    let good = || vec![row(&["type", "name", "label"]), row(&["text", "a", "A"])];
    // An entry declaring more than the cap is refused before it is inflated.
    let mut declared = BTreeMap::new();
    declared.insert("xl/worksheets/sheet1.xml", u32::MAX);
    let e = import_bytes(&xlsx_with(&[("survey", good())], &declared), Format::Xlsx)
        .expect_err("declared too large");
    assert_eq!(e.errors[0].code, "too_large");
    // An entry lying about its size (smaller than its data) fails to read.
    let mut declared = BTreeMap::new();
    declared.insert("xl/worksheets/sheet1.xml", 10);
    let e = import_bytes(&xlsx_with(&[("survey", good())], &declared), Format::Xlsx)
        .expect_err("lying size");
    assert!(
        e.errors
            .iter()
            .all(|e| e.code == "unreadable" || e.code == "missing_sheet"),
        "{e}"
    );
    // A cell at the far corner allocates nothing: the row is past the cap.
    let mut rows = good();
    rows.push(vec![X::At(1_048_576, 16_383, "far")]);
    let e = import_bytes(&xlsx(&[("survey", rows)]), Format::Xlsx).expect_err("far cell");
    assert!(e.errors.iter().any(|e| e.code == "too_many_rows"), "{e}");
    // A far column is ignored.
    let mut rows = good();
    rows.push(vec![
        X::S("text"),
        X::S("b"),
        X::S("B"),
        X::At(3, 16_383, "far"),
    ]);
    assert!(import_bytes(&xlsx(&[("survey", rows)]), Format::Xlsx).is_ok());
    // A cell reference of 16 letters overflows calamine's column arithmetic (a panic
    // with overflow checks, found by the xlsform fuzz target): an unreadable file.
    let mut rows = good();
    rows.push(vec![X::Ref("ZZZZZZZZZZZZZZZZ3", "far")]);
    let e = import_bytes(&xlsx(&[("survey", rows)]), Format::Xlsx);
    match e {
        Err(e) => assert!(e.errors.iter().any(|e| e.code == "unreadable"), "{e}"),
        // Without overflow checks calamine wraps the column; whatever it reads, the
        // cell is not in the first three columns.
        Ok(f) => assert!(!format!("{f:?}").contains("far"), "{f:?}"),
    }
    // Not a zip at all.
    let e = import_bytes(b"PK\x03\x04 not really", Format::Xlsx).expect_err("not a zip");
    assert_eq!(e.errors[0].code, "unreadable");
}

/// Damaged input of every format comes back as errors, never a panic.
#[test]
fn damaged_input_never_panics() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let csv_src = format!(
        "{}{YES_NO}settings,form_id\n,x\n",
        survey(",begin group,g,G\n,select_one yes_no or_other,q,Q\n,range,r,R\n,end group,,\n")
    );
    let json_src = json!({"survey": [{"type": "text", "name": "a", "label": "A"}]}).to_string();
    let xlsx_src = xlsx(&[(
        "survey",
        vec![
            row(&["type", "name", "label", "parameters"]),
            row(&["range", "a", "A", "start=1"]),
        ],
    )]);
    for (seed, format) in [
        (csv_src.as_bytes().to_vec(), Format::Csv),
        (json_src.into_bytes(), Format::Json),
        (xlsx_src, Format::Xlsx),
    ] {
        for round in 0..300 {
            let mut bytes = seed.clone();
            let edits = 1 + (next() % 8) as usize;
            for _ in 0..edits {
                let at = (next() as usize) % bytes.len().max(1);
                match next() % 4 {
                    0 if !bytes.is_empty() => {
                        bytes[at] = next() as u8;
                    }
                    1 => bytes.insert(at.min(bytes.len()), b",${=\"|'("[next() as usize % 8]),
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at),
                }
            }
            let r = std::panic::catch_unwind(|| import_bytes(&bytes, format));
            assert!(r.is_ok(), "panic on round {round} of {format:?}");
        }
    }
}
