//! Reading an XLSForm workbook into sheets of text cells, rendered the way pyxform
//! renders them (`pyxform/xls2json_backends.py`), so the rest of the importer sees the
//! same strings pyxform does whatever the file format:
//!
//! - `.xlsx` through calamine's streaming cell reader (never the dense
//!   `worksheet_range`, which allocates the sheet's whole bounding box). Numbers that
//!   are whole render without a fraction (`1.0` -> `1`), other floats as Python's
//!   `str(float)`, booleans as `TRUE`/`FALSE`, date cells as Python's
//!   `str(datetime)` (openpyxl's `from_excel`), errors as `#N/A` etc. Header cells are
//!   trimmed with runs of spaces collapsed; reading stops after 20 adjacent empty
//!   header cells and after 60 adjacent empty rows, as pyxform does.
//! - `.csv` in pyxform's layout: the first column names the sheet (a row with a
//!   sheet name starts that sheet), the first row with content after it holds the
//!   headers, rows without content are skipped (and not numbered).
//! - `.json`: `{"survey": [{column: value}], "choices": [...], "settings": [...]}`
//!   (`settings` may also be one object); headers are the keys in order of first
//!   appearance, rows are numbered from 2.
//!
//! Untrusted input is bounded before it is expanded: the file size, the declared
//! uncompressed size of every zip entry (read from the central directory before
//! calamine opens the archive; the zip reader refuses to inflate past a declared
//! size), the number of rows and columns per sheet and the size of a cell.

use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{DataRef, ExcelDateTime, ExcelDateTimeType, Reader, Xlsx, XlsxError};

use super::{
    Format, ImportIssue, MAX_CELL_BYTES, MAX_CELLS, MAX_COLUMNS, MAX_FILE_BYTES, MAX_ROWS,
    MAX_UNZIPPED_BYTES,
};

/// A workbook: its sheets in file order.
#[derive(Debug, Default)]
pub(super) struct Workbook {
    pub sheets: Vec<Sheet>,
}

/// One sheet: headers by column position (`None`: an empty header cell, whose
/// column pyxform ignores) and the rows below them.
#[derive(Debug, Default)]
pub(super) struct Sheet {
    /// The sheet name as written.
    pub name: String,
    pub headers: Vec<Option<String>>,
    pub rows: Vec<Row>,
}

/// One data row: its 1-based spreadsheet number (the header row is 1) and its
/// non-empty cells as (column position, text).
#[derive(Debug, Default)]
pub(super) struct Row {
    pub number: usize,
    pub cells: Vec<(usize, String)>,
}

impl Row {
    /// True when the row has no cell under a non-empty header.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// What reading produced: the workbook and the problems met on the way.
pub(super) struct Read {
    pub workbook: Workbook,
    pub errors: Vec<ImportIssue>,
    pub warnings: Vec<ImportIssue>,
}

fn issue(sheet: &str, code: &'static str, message: impl Into<String>) -> ImportIssue {
    ImportIssue {
        sheet: sheet.to_string(),
        row: None,
        column: None,
        code,
        message: message.into(),
    }
}

/// Read `bytes` as `format`. Fatal problems (an unreadable file) come back as an
/// error list; problems with single cells are reported in [`Read::errors`] while the
/// rest of the workbook is still read.
pub(super) fn read(bytes: &[u8], format: Format) -> Result<Read, Vec<ImportIssue>> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(vec![issue(
            "",
            "too_large",
            format!(
                "the file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
                bytes.len()
            ),
        )]);
    }
    let mut r = Read {
        workbook: Workbook::default(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    match format {
        // calamine parses the untrusted bytes; a panic inside it is an unreadable file,
        // not a crash of the importer (the fuzzer found one: an arithmetic overflow on
        // an over-long cell reference in calamine 0.38, fuzz/regressions/xlsform/).
        Format::Xlsx => {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_xlsx(bytes, &mut r)
            })) {
                Ok(res) => res?,
                Err(_) => {
                    return Err(vec![issue(
                        "",
                        "unreadable",
                        "the file is not a readable .xlsx workbook",
                    )]);
                }
            }
        }
        Format::Csv => read_csv(bytes, &mut r)?,
        Format::Json => read_json(bytes, &mut r)?,
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------
// Text cleaning shared by the formats.

/// Python's `str.strip()`: Rust's whitespace plus the ASCII separators Python also
/// counts as whitespace.
pub(super) fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// pyxform's header cleaning: trimmed, runs of spaces collapsed to one.
fn clean_header(s: &str) -> String {
    collapse_spaces(py_strip(s))
}

/// Runs of ASCII spaces collapsed to one (pyxform's `RE_WHITESPACE`).
pub(super) fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_space = false;
    for c in s.chars() {
        if c == ' ' {
            if !prev_space {
                out.push(' ');
            }
            prev_space = true;
        } else {
            out.push(c);
            prev_space = false;
        }
    }
    out
}

/// Check a cell's size; an over-long cell is reported (by position, not content) and
/// dropped.
fn cell_ok(
    text: &str,
    sheet: &str,
    row: usize,
    column: Option<&str>,
    errors: &mut Vec<ImportIssue>,
) -> bool {
    if text.len() <= MAX_CELL_BYTES {
        return true;
    }
    errors.push(ImportIssue {
        sheet: sheet.to_string(),
        row: Some(row),
        column: column.map(str::to_string),
        code: "cell_too_large",
        message: format!(
            "the cell holds {} bytes; the limit is {MAX_CELL_BYTES}",
            text.len()
        ),
    });
    false
}

// ---------------------------------------------------------------------------------
// Numbers and dates rendered as Python renders them.

/// A float as pyxform writes it: whole numbers without a fraction (`str(int(v))`),
/// others as Python's `str(float)` (shortest round-trip digits, exponent form below
/// 1e-4 and from 1e16).
pub(super) fn py_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v.fract() == 0.0 {
        if v.abs() < 1e38 {
            // Exact: every f64 below 2^127 with no fraction fits an i128.
            return format!("{}", v as i128);
        }
        return format!("{v:.0}");
    }
    py_repr(v)
}

/// Python's `repr(float)` for a finite, non-integral value.
fn py_repr(v: f64) -> String {
    let a = v.abs();
    if (1e-4..1e16).contains(&a) {
        return format!("{v}");
    }
    // `{:e}` gives the shortest digits as `d.ddde-5`; Python writes `d.ddde-05`.
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((mant, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let digits = if digits.len() < 2 {
                format!("0{digits}")
            } else {
                digits.to_string()
            };
            format!("{mant}e{sign}{digits}")
        }
        None => s,
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn hms(ms_of_day: i64) -> String {
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    if ms == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{:06}", ms * 1000)
    }
}

/// An Excel date cell as openpyxl's `from_excel` turns it into a Python value, then
/// `str()` of it: `2024-01-15 00:00:00`, `10:30:00`, or a timedelta `1 day, 2:00:00`.
fn excel_datetime(dt: &ExcelDateTime) -> String {
    let value = dt.as_f64();
    if !value.is_finite() {
        return "#VALUE!".into();
    }
    if dt.is_duration() {
        return py_timedelta(value);
    }
    // calamine keeps the epoch private; it is the only field that can differ here.
    let is_1904 = *dt != ExcelDateTime::new(value, ExcelDateTimeType::DateTime, false);
    let mut day = value.floor();
    let fraction = value - day;
    let diff_ms = (fraction * 86_400_000.0).round_ties_even() as i64;
    if (0.0..1.0).contains(&value) && diff_ms < 86_400_000 {
        return hms(diff_ms);
    }
    if !is_1904 && 0.0 < value && value < 60.0 {
        day += 1.0;
    }
    // Epochs as days since 1970-01-01: 1899-12-30 and 1904-01-01.
    let epoch = if is_1904 { -24_107 } else { -25_569 };
    if day.abs() > 4_000_000.0 {
        return "#VALUE!".into();
    }
    let total_ms = (epoch + day as i64) * 86_400_000 + diff_ms;
    let days = total_ms.div_euclid(86_400_000);
    let ms = total_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return "#VALUE!".into();
    }
    format!("{y:04}-{m:02}-{d:02} {}", hms(ms))
}

/// Python's `str(timedelta(days=v))` after openpyxl's rounding to milliseconds.
fn py_timedelta(v: f64) -> String {
    let total_us = (v * 86_400_000_000.0).round_ties_even();
    if total_us.abs() > 1e17 {
        return "#VALUE!".into();
    }
    let mut total_us = total_us as i64;
    let us = total_us.rem_euclid(1_000_000);
    if us != 0 {
        let secs = total_us.div_euclid(1_000_000);
        let ms = ((us as f64) / 1000.0).round_ties_even() as i64;
        total_us = secs * 1_000_000 + ms * 1000;
    }
    let days = total_us.div_euclid(86_400_000_000);
    let rest = total_us.rem_euclid(86_400_000_000);
    let (secs, us) = (rest / 1_000_000, rest % 1_000_000);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if days != 0 {
        let plural = if days.abs() != 1 { "s" } else { "" };
        out.push_str(&format!("{days} day{plural}, "));
    }
    out.push_str(&format!("{h}:{m:02}:{s:02}"));
    if us != 0 {
        out.push_str(&format!(".{us:06}"));
    }
    out
}

/// A calamine cell as pyxform's `xlsx_value_to_str` renders openpyxl's value; `None`
/// for an empty cell.
fn xlsx_cell(v: &DataRef<'_>) -> Option<String> {
    let text = |s: &str| -> Option<String> {
        let s = py_strip(s);
        if s.is_empty() {
            None
        } else {
            Some(s.replace('\u{a0}', " "))
        }
    };
    match v {
        DataRef::Empty => None,
        DataRef::String(s) => text(s),
        DataRef::SharedString(s) => text(s),
        DataRef::Int(i) => Some(i.to_string()),
        DataRef::Float(f) => Some(py_float(*f)),
        DataRef::Bool(b) => Some(if *b { "TRUE" } else { "FALSE" }.into()),
        DataRef::DateTime(dt) => Some(excel_datetime(dt)),
        DataRef::DateTimeIso(s) => text(&s.replacen('T', " ", 1)),
        DataRef::DurationIso(s) => text(s),
        DataRef::Error(e) => Some(e.to_string()),
    }
}

// ---------------------------------------------------------------------------------
// Shaping raw cells into a sheet, pyxform's way.

/// pyxform's `get_excel_column_headers`: positions kept, empty headers `None`, stop
/// after a run of 20 empty cells, trailing empties trimmed.
fn excel_headers(first: &BTreeMap<usize, String>) -> Vec<Option<String>> {
    let max = first.keys().next_back().map_or(0, |m| m + 1);
    let mut out: Vec<Option<String>> = Vec::new();
    let mut adjacent_empty = 0usize;
    for col in 0..max {
        match first.get(&col) {
            Some(h) => {
                adjacent_empty = 0;
                out.push(Some(clean_header(h)));
            }
            None => {
                out.push(None);
                if adjacent_empty == 20 {
                    break;
                }
                adjacent_empty += 1;
            }
        }
    }
    let keep = out.len() - adjacent_empty.min(out.len());
    out.truncate(keep);
    while matches!(out.last(), Some(None)) {
        out.pop();
    }
    out
}

/// Check headers for duplicates (pyxform: "Duplicate column header") and the column
/// cap.
fn check_headers(sheet: &str, headers: &[Option<String>], errors: &mut Vec<ImportIssue>) -> bool {
    if headers.len() > MAX_COLUMNS {
        errors.push(issue(
            sheet,
            "too_many_columns",
            format!(
                "the sheet has {} columns; the limit is {MAX_COLUMNS}",
                headers.len()
            ),
        ));
        return false;
    }
    let mut seen = std::collections::HashSet::new();
    for h in headers.iter().flatten() {
        if !seen.insert(h.as_str()) {
            errors.push(ImportIssue {
                sheet: sheet.to_string(),
                row: Some(1),
                column: Some(h.clone()),
                code: "duplicate_column",
                message: format!("the column header `{h}` appears more than once"),
            });
        }
    }
    true
}

/// pyxform's `get_excel_rows` over a sparse sheet (row index 0 is the header row):
/// empty rows are kept for numbering, reading stops after 60 adjacent empty rows, and
/// trailing empty rows are dropped.
fn excel_rows(
    sheet: &str,
    headers: &[Option<String>],
    cells: BTreeMap<usize, BTreeMap<usize, String>>,
    warnings: &mut Vec<ImportIssue>,
) -> Vec<Row> {
    let last = cells.keys().next_back().copied().unwrap_or(0);
    let mut rows = Vec::new();
    let mut adjacent_empty = 0usize;
    let mut stopped_at = None;
    for r in 1..=last {
        let mut row = Row {
            number: r + 1,
            cells: Vec::new(),
        };
        if let Some(cs) = cells.get(&r) {
            for (&c, v) in cs {
                if headers.get(c).is_some_and(Option::is_some) {
                    row.cells.push((c, v.clone()));
                }
            }
        }
        if row.is_empty() {
            if adjacent_empty == 60 {
                stopped_at = Some(r + 1);
                break;
            }
            adjacent_empty += 1;
        } else {
            adjacent_empty = 0;
        }
        rows.push(row);
    }
    if let Some(at) = stopped_at
        && cells.range(at..).next().is_some()
    {
        warnings.push(ImportIssue {
            sheet: sheet.to_string(),
            row: Some(at),
            column: None,
            code: "ignored_rows",
            message: "rows after 60 empty rows are ignored (as pyxform does)".into(),
        });
    }
    let keep = rows.len() - adjacent_empty.min(rows.len());
    rows.truncate(keep);
    rows
}

// ---------------------------------------------------------------------------------
// .xlsx

/// Sum the declared uncompressed sizes in a zip's central directory and refuse an
/// archive that would inflate past [`MAX_UNZIPPED_BYTES`]. The zip reader under
/// calamine stops inflating an entry at its declared size, so the declared sizes
/// bound the real ones.
fn check_zip_sizes(bytes: &[u8]) -> Result<(), ImportIssue> {
    let bad = || {
        issue(
            "",
            "unreadable",
            "the file is not a readable .xlsx (zip) workbook",
        )
    };
    let u16_at = |i: usize| -> Option<u64> {
        Some(u64::from(u16::from_le_bytes(
            bytes.get(i..i + 2)?.try_into().ok()?,
        )))
    };
    let u32_at = |i: usize| -> Option<u64> {
        Some(u64::from(u32::from_le_bytes(
            bytes.get(i..i + 4)?.try_into().ok()?,
        )))
    };
    let u64_at = |i: usize| -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(i..i + 8)?.try_into().ok()?))
    };
    // End of central directory: the last `PK\x05\x06` within the final 64 KiB + 22.
    let min = bytes.len().saturating_sub(65_557);
    let eocd = (min..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes.get(i..i + 4) == Some(b"PK\x05\x06"))
        .ok_or_else(bad)?;
    let mut entries = u16_at(eocd + 10).ok_or_else(bad)?;
    let mut cd_offset = u32_at(eocd + 16).ok_or_else(bad)?;
    if (entries == 0xFFFF || cd_offset == 0xFFFF_FFFF) && eocd >= 20 {
        // Zip64: the locator sits just before the EOCD record.
        let loc = eocd - 20;
        if bytes.get(loc..loc + 4) == Some(b"PK\x06\x07") {
            let rec = usize::try_from(u64_at(loc + 8).ok_or_else(bad)?).map_err(|_| bad())?;
            if bytes.get(rec..rec + 4) != Some(b"PK\x06\x06") {
                return Err(bad());
            }
            entries = u64_at(rec + 32).ok_or_else(bad)?;
            cd_offset = u64_at(rec + 48).ok_or_else(bad)?;
        }
    }
    if entries > 100_000 {
        return Err(issue(
            "",
            "too_large",
            "the workbook has too many parts to be an XLSForm",
        ));
    }
    let mut at = usize::try_from(cd_offset).map_err(|_| bad())?;
    let mut total: u64 = 0;
    for _ in 0..entries {
        if bytes.get(at..at + 4) != Some(b"PK\x01\x02") {
            return Err(bad());
        }
        let mut size = u32_at(at + 24).ok_or_else(bad)?;
        let name_len = usize::try_from(u16_at(at + 28).ok_or_else(bad)?).map_err(|_| bad())?;
        let extra_len = usize::try_from(u16_at(at + 30).ok_or_else(bad)?).map_err(|_| bad())?;
        let comment_len = usize::try_from(u16_at(at + 32).ok_or_else(bad)?).map_err(|_| bad())?;
        if size == 0xFFFF_FFFF {
            // The zip64 extended information extra field carries the real size first.
            let mut e = at + 46 + name_len;
            let end = e + extra_len;
            size = u64::MAX;
            while e + 4 <= end {
                let id = u16_at(e).ok_or_else(bad)?;
                let len = usize::try_from(u16_at(e + 2).ok_or_else(bad)?).map_err(|_| bad())?;
                if id == 0x0001 {
                    size = u64_at(e + 4).ok_or_else(bad)?;
                    break;
                }
                e += 4 + len;
            }
        }
        total = total.saturating_add(size);
        if total > MAX_UNZIPPED_BYTES {
            return Err(issue(
                "",
                "too_large",
                format!("the workbook would unpack to more than {MAX_UNZIPPED_BYTES} bytes"),
            ));
        }
        at = at + 46 + name_len + extra_len + comment_len;
    }
    Ok(())
}

/// `A`, `B`, ..., `AA` for a 0-based column (used where the header is not known yet).
fn column_letters(col: usize) -> String {
    let mut n = col + 1;
    let mut s = Vec::new();
    while n > 0 {
        let r = (n - 1) % 26;
        // r < 26: an ASCII capital.
        s.push(b'A' + r as u8);
        n = (n - 1) / 26;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn xlsx_error(e: &XlsxError) -> ImportIssue {
    let message = match e {
        XlsxError::Password => "the workbook is password-protected".to_string(),
        _ => "the file is not a readable .xlsx workbook".to_string(),
    };
    issue("", "unreadable", message)
}

fn read_xlsx(bytes: &[u8], r: &mut Read) -> Result<(), Vec<ImportIssue>> {
    check_zip_sizes(bytes).map_err(|e| vec![e])?;
    let mut xlsx: Xlsx<Cursor<&[u8]>> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| vec![xlsx_error(&e)])?;
    let mut total_cells = 0usize;
    for name in xlsx.sheet_names() {
        let mut reader = match xlsx.worksheet_cells_reader(&name) {
            Ok(reader) => reader,
            // Chart sheets and the like hold no cells pyxform would read.
            Err(XlsxError::NotAWorksheet(_)) => continue,
            Err(e) => return Err(vec![xlsx_error(&e)]),
        };
        let mut cells: BTreeMap<usize, BTreeMap<usize, String>> = BTreeMap::new();
        let mut too_many_rows = false;
        loop {
            let cell = match reader.next_cell() {
                Ok(Some(cell)) => cell,
                Ok(None) => break,
                Err(e) => {
                    r.errors.push(ImportIssue {
                        sheet: name.clone(),
                        ..xlsx_error(&e)
                    });
                    break;
                }
            };
            let (row, col) = cell.get_position();
            let (row, col) = (row as usize, col as usize);
            if row > MAX_ROWS {
                too_many_rows = true;
                break;
            }
            if col >= MAX_COLUMNS * 2 {
                continue;
            }
            let Some(text) = xlsx_cell(cell.get_value()) else {
                continue;
            };
            if !cell_ok(
                &text,
                &name,
                row + 1,
                Some(&column_letters(col)),
                &mut r.errors,
            ) {
                continue;
            }
            total_cells += 1;
            if total_cells > MAX_CELLS {
                return Err(vec![issue(
                    &name,
                    "too_large",
                    format!("the workbook has more than {MAX_CELLS} non-empty cells"),
                )]);
            }
            cells.entry(row).or_default().insert(col, text);
        }
        if too_many_rows {
            r.errors.push(issue(
                &name,
                "too_many_rows",
                format!("the sheet has more than {MAX_ROWS} rows"),
            ));
        }
        let first = cells.remove(&0).unwrap_or_default();
        let headers = excel_headers(&first);
        if !check_headers(&name, &headers, &mut r.errors) {
            continue;
        }
        let rows = excel_rows(&name, &headers, cells, &mut r.warnings);
        r.workbook.sheets.push(Sheet {
            name,
            headers,
            rows,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// .csv

fn read_csv(bytes: &[u8], r: &mut Read) -> Result<(), Vec<ImportIssue>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes)
        .map_err(|_| vec![issue("", "unreadable", "the CSV file is not UTF-8 text")])?;
    // pyxform's `is_csv`: a form needs at least 4 commas in its first 5,000 characters.
    if text.chars().take(5000).filter(|&c| c == ',').count() < 4 {
        return Err(vec![issue(
            "",
            "unreadable",
            "the file does not look like an XLSForm CSV (sheet name in the first column)",
        )]);
    }
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut current: Option<usize> = None;
    let mut have_headers = false;
    let mut warned_orphan = false;
    let mut overflow: std::collections::HashSet<usize> = std::collections::HashSet::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rd.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                return Err(vec![issue(
                    "",
                    "unreadable",
                    format!(
                        "the CSV file cannot be parsed (line {})",
                        rd.position().line()
                    ),
                )]);
            }
        }
        let line = record
            .position()
            .and_then(|p| usize::try_from(p.line()).ok())
            .unwrap_or(0);
        let first = record.get(0).unwrap_or("");
        if record.len() <= 1 && py_strip(first).is_empty() {
            // A blank line.
            continue;
        }
        let (sheet_name, content): (Option<&str>, Option<Vec<&str>>) = if record.len() == 1 {
            (Some(py_strip(first)), None)
        } else {
            let name = py_strip(first);
            let content: Vec<&str> = record.iter().skip(1).map(py_strip).collect();
            let any = content.iter().any(|c| !c.is_empty());
            ((!name.is_empty()).then_some(name), any.then_some(content))
        };
        if let Some(name) = sheet_name {
            let lower = name.to_lowercase();
            if r.workbook
                .sheets
                .iter()
                .any(|s| s.name.to_lowercase() == lower)
            {
                r.errors.push(issue(
                    name,
                    "duplicate_sheet",
                    format!("the sheet is named twice in the CSV file (again on line {line})"),
                ));
                current = None;
            } else {
                r.workbook.sheets.push(Sheet {
                    name: name.to_string(),
                    ..Sheet::default()
                });
                current = Some(r.workbook.sheets.len() - 1);
            }
            have_headers = false;
        }
        let Some(content) = content else { continue };
        let Some(ix) = current else {
            if !warned_orphan {
                warned_orphan = true;
                r.warnings.push(issue(
                    "",
                    "ignored_rows",
                    format!(
                        "CSV rows before the first sheet name (or under a repeated one) are \
                         ignored (from line {line})"
                    ),
                ));
            }
            continue;
        };
        let sheet = &mut r.workbook.sheets[ix];
        if !have_headers {
            have_headers = true;
            sheet.headers = content
                .iter()
                .map(|h| (!h.is_empty()).then(|| collapse_spaces(h)))
                .collect();
            while matches!(sheet.headers.last(), Some(None)) {
                sheet.headers.pop();
            }
            if !check_headers(&sheet.name, &sheet.headers, &mut r.errors) {
                sheet.headers.clear();
            }
            continue;
        }
        if sheet.rows.len() >= MAX_ROWS {
            if overflow.insert(ix) {
                r.errors.push(issue(
                    &sheet.name,
                    "too_many_rows",
                    format!("the sheet has more than {MAX_ROWS} rows"),
                ));
            }
            continue;
        }
        let number = sheet.rows.len() + 2;
        let mut row = Row {
            number,
            cells: Vec::new(),
        };
        for (c, v) in content.iter().enumerate() {
            let Some(Some(header)) = sheet.headers.get(c) else {
                continue;
            };
            if v.is_empty() || !cell_ok(v, &sheet.name, number, Some(header), &mut r.errors) {
                continue;
            }
            row.cells.push((c, (*v).to_string()));
        }
        sheet.rows.push(row);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// .json

fn json_cell(v: &serde_json::Value) -> Result<Option<String>, ()> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => None,
        J::String(s) => {
            let s = py_strip(s);
            (!s.is_empty()).then(|| s.to_string())
        }
        J::Bool(b) => Some(if *b { "TRUE" } else { "FALSE" }.into()),
        J::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => py_float(f),
            _ => n.to_string(),
        }),
        J::Array(_) | J::Object(_) => return Err(()),
    })
}

fn read_json(bytes: &[u8], r: &mut Read) -> Result<(), Vec<ImportIssue>> {
    use serde_json::Value as J;
    let doc: J = serde_json::from_slice(bytes)
        .map_err(|_| vec![issue("", "unreadable", "the file is not valid JSON")])?;
    let J::Object(sheets) = doc else {
        return Err(vec![issue(
            "",
            "unreadable",
            "a JSON workbook is an object of sheets: {\"survey\": [rows], ...}",
        )]);
    };
    for (name, value) in sheets {
        let rows: Vec<&serde_json::Map<String, J>> = match &value {
            J::Array(items) => {
                let mut rows = Vec::with_capacity(items.len().min(MAX_ROWS));
                for (i, item) in items.iter().enumerate() {
                    match item {
                        J::Object(o) => rows.push(o),
                        _ => r.errors.push(ImportIssue {
                            row: Some(i + 2),
                            ..issue(
                                &name,
                                "invalid_cell",
                                "each row must be an object of column: value",
                            )
                        }),
                    }
                }
                rows
            }
            J::Object(o) => vec![o],
            _ => {
                r.errors.push(issue(
                    &name,
                    "invalid_cell",
                    "a sheet must be a list of row objects",
                ));
                continue;
            }
        };
        if rows.len() > MAX_ROWS {
            r.errors.push(issue(
                &name,
                "too_many_rows",
                format!("the sheet has more than {MAX_ROWS} rows"),
            ));
            continue;
        }
        let mut headers: Vec<Option<String>> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let mut sheet_rows = Vec::with_capacity(rows.len());
        for (i, obj) in rows.iter().enumerate() {
            let number = i + 2;
            let mut row = Row {
                number,
                cells: Vec::new(),
            };
            for (k, v) in obj.iter() {
                let header = clean_header(k);
                if header.is_empty() {
                    continue;
                }
                let col = match index.get(&header) {
                    Some(&c) => c,
                    None => {
                        if headers.len() >= MAX_COLUMNS {
                            continue;
                        }
                        headers.push(Some(header.clone()));
                        index.insert(header.clone(), headers.len() - 1);
                        headers.len() - 1
                    }
                };
                match json_cell(v) {
                    Ok(Some(text)) => {
                        if cell_ok(&text, &name, number, Some(&header), &mut r.errors) {
                            row.cells.push((col, text));
                        }
                    }
                    Ok(None) => {}
                    Err(()) => r.errors.push(ImportIssue {
                        sheet: name.clone(),
                        row: Some(number),
                        column: Some(header.clone()),
                        code: "invalid_cell",
                        message: "a cell must be text, a number or a boolean".into(),
                    }),
                }
            }
            row.cells.sort_by_key(|(c, _)| *c);
            sheet_rows.push(row);
        }
        r.workbook.sheets.push(Sheet {
            name,
            headers,
            rows: sheet_rows,
        });
    }
    Ok(())
}
